"""Attention ZoneOut (AZO), the regularizer of Shan et al. (AAAI 2025), spec §3.

Per scale n of a multiscale attention, in training only:

1. the ``n_T = floor(T / RTR)`` time steps with the smallest batch-summed temporal attention;
2. among those steps, the ``n_C = floor(C / RCR)`` channels with the smallest summed channel attention;
3. at every selected step t > 0 and selected channel c, for every sample and pixel, the
   attention-weighted feature ``Z_n[t, :, c]`` is replaced by ``Z_n[t-1, :, c]`` of the un-replaced
   tensor. Step 0 has no predecessor and is skipped.

The selection is deterministic (top-k smallest) and not differentiated. ``chained=True`` reproduces the
reference code's in-place loop instead, which visits the selected steps in ascending-attention order and
so lets a step read an already replaced predecessor (spec §3.4); it exists for replication studies.

AZO attaches to every attention module that accepts zoneouts (``snnctl.nn.Attention.supports_zoneout``)
as a small :class:`AttentionZoneOut` submodule, so ``model.train()`` / ``model.eval()`` switch it.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor, nn

from snnctl import hookimpl
from snnctl.errors import ConfigError
from snnctl.nn import Attention, Regularizer


def select(a_t: Optional[Tensor], a_c: Tensor, n_t: int, n_c: int) -> tuple[Tensor, Tensor]:
    """The least attended steps ``[N, n_t]`` (ascending score) and channels ``[N, n_c]`` of each scale.

    ``a_t`` is ``[N, T, B]`` and ``a_c`` ``[N, T, B, C]``. Without a temporal attention (``sma-c``) the
    step score is the channel-mean of ``a_c``.
    """
    n, t, b, c = a_c.shape
    score_t = (a_t if a_t is not None else a_c.mean(-1)).sum(-1)  # [N, T]
    steps = score_t.topk(n_t, dim=1, largest=False).indices  # sorted by ascending score
    picked = a_c.gather(1, steps[:, :, None, None].expand(n, n_t, b, c))  # [N, n_t, B, C]
    channels = picked.sum((1, 2)).topk(n_c, dim=1, largest=False).indices
    return steps, channels


def zoneout_sources(a_t: Optional[Tensor], a_c: Tensor, rtr: float, rcr: float, chained: bool = False) -> Optional[Tensor]:
    """AZO's source-step map ``[N, T, C]`` (identity where nothing moves), or None if it selects nothing."""
    n, t, _, c = a_c.shape
    n_t, n_c = math.floor(t / rtr), math.floor(c / rcr)
    if n_t == 0 or n_c == 0:
        return None
    with torch.no_grad():
        steps, channels = select(a_t, a_c, n_t, n_c)
        src = torch.arange(t, device=a_c.device).view(1, t, 1).repeat(n, 1, c)
        for i in range(n):
            ch = channels[i]
            if chained:
                for step in steps[i].tolist():  # the in-place loop's visiting order
                    if step > 0:
                        src[i, step, ch] = src[i, step - 1, ch]
            else:
                st = steps[i][steps[i] > 0]
                src[i, st[:, None], ch[None, :]] = st[:, None] - 1
    return src


def apply_sources(z: Tensor, src: Tensor) -> Tensor:
    """``Z'[n, t, b, c] = Z[n, src[n, t, c], b, c]`` for an explicit ``[N, T, B, C, ...]`` tensor."""
    n, t, b, c = z.shape[:4]
    index = src[:, :, None, :].expand(n, t, b, c)
    index = index.reshape(*index.shape, *([1] * (z.dim() - 4))).expand_as(z)
    return torch.gather(z, 1, index)


class AttentionZoneOut(nn.Module):
    """The AZO step inside one attention module: returns the source map in training, None in eval."""

    def __init__(self, rtr: float = 4.0, rcr: float = 4.0, chained: bool = False) -> None:
        super().__init__()
        self.rtr, self.rcr, self.chained = float(rtr), float(rcr), bool(chained)

    def forward(self, a_t: Optional[Tensor], a_c: Tensor) -> Optional[Tensor]:
        if not self.training:
            return None
        return zoneout_sources(a_t, a_c, self.rtr, self.rcr, self.chained)

    def extra_repr(self) -> str:
        return f"rtr={self.rtr}, rcr={self.rcr}, chained={self.chained}"


class AZO(Regularizer):
    """Attention ZoneOut: least-attended steps and channels take the previous step's feature (training only)."""

    name = "azo"

    def __init__(self, rtr: float = 4.0, rcr: float = 4.0, chained: bool = False) -> None:
        self.rtr, self.rcr, self.chained = float(rtr), float(rcr), bool(chained)

    def attach(self, model: nn.Module) -> list[str]:
        targets = [(name, m) for name, m in model.named_modules() if isinstance(m, Attention) and m.supports_zoneout]
        if not targets:
            raise ConfigError(
                f"regularizer 'azo' found no multiscale attention in {type(model).__name__} to act on",
                "Use a model with SMA (e.g. vgg8-sma, resnet18-sma), set its attention to 'sma', "
                "or train without it ('snnctl train --reg none').",
            )
        for name, m in targets:
            if any(isinstance(z, AttentionZoneOut) for z in m.zoneouts):
                raise ConfigError(f"regularizer 'azo' is already attached to '{name}'", "Attach it once per model.")
        for _, m in targets:
            m.add_zoneout(AttentionZoneOut(self.rtr, self.rcr, self.chained))
        return [name for name, _ in targets]

    def __repr__(self) -> str:
        return f"AZO(rtr={self.rtr}, rcr={self.rcr}, chained={self.chained})"


class AZOConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rtr: float = Field(4.0, ge=1, description="RTR: floor(T / RTR) least-attended steps are selected per scale")
    rcr: float = Field(4.0, ge=1, description="RCR: floor(C / RCR) least-attended channels are selected per scale")
    chained: bool = Field(False, description="reproduce the reference code's in-place loop (chained carry-over)")


@hookimpl
def register_regularizers(register):
    register("azo", AZO, config=AZOConfig)
