"""Spiking Multiscale Attention (SMA), its ablations ``sma-c`` and ``sma-l``, and ``none``.

SMA (Shan et al., AAAI 2025) maps ``[T, B, C, H, W]`` to the same shape:

* N scale branches ``U_n = act_n(BN_n(Conv_kn(X)))``: full C -> C convolutions with kernels 1, 3, 5, 7
  (stride 1, same padding, bias), each with its own BatchNorm and activation (a spiking neuron by
  registry name, or ReLU);
* a squeeze ``z[t, b, c]``, the spatial mean of the scale-summed branches;
* channel attention (C-MSE): ``C -> C/CR -> N*C`` per time step, softmax over scales;
* temporal attention (T-MSE): the channel mean ``q[b, t]`` through ``T -> max(1, floor(T/TR)) -> N*T``,
  softmax over scales;
* fusion ``Y = sum_n A^t_n * A^c_n * U_n``.

Fusion is one autograd node (:class:`ScaleMix`): it never materialises the N weighted branch tensors,
and when the branches are spiking neurons it keeps their spikes for the backward pass as booleans,
a quarter of the float memory. Zoneout regularizers (``azo``) reach it through
:meth:`snnctl.nn.Attention.zoneout_sources`: a map of source steps the fusion reads from.
"""

from __future__ import annotations

import math
from typing import Any, Optional

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field, field_validator
from torch import Tensor, nn

from snnctl import hookimpl
from snnctl.nn import Attention, Neuron, make_neuron


# -- fusion --------------------------------------------------------------------------------------------
Moves = list[Optional[tuple[Tensor, Tensor, Tensor]]]


def source_moves(src: Optional[Tensor], timesteps: int) -> Optional[Moves]:
    """Per scale, the (t, c, s) triples where a source map ``[N, T, C]`` reads step s instead of t."""
    if src is None:
        return None
    steps = torch.arange(timesteps, device=src.device).view(1, -1, 1)
    moved = src != steps
    if not bool(moved.any()):
        return None
    out: Moves = []
    for n in range(src.shape[0]):
        t, c = moved[n].nonzero(as_tuple=True)
        out.append((t, c, src[n, t, c]) if t.numel() else None)
    return out


def _by_channel(x: Tensor) -> Tensor:
    """View ``[T, B, C, ...]`` as ``[T, C, B, ...]`` so (step, channel) pairs index its first two dims."""
    return x.transpose(1, 2)


class ScaleMix(torch.autograd.Function):
    """``Y[t] = sum_n w[n, s] * U_n[s]`` with ``s = src[n, t, c]`` (``s = t`` without a map).

    ``w`` is ``[N, T, B, C]``, each ``U_n`` is ``[T, B, C, H, W]``. Only the few moved (t, c) pairs
    are corrected after the plain weighted sum, in forward and backward alike, so a zoneout costs
    almost nothing. With ``binary`` the branches are known to hold 0/1 spikes and are saved as bool.
    """

    @staticmethod
    def forward(ctx, w: Tensor, src: Optional[Tensor], binary: bool, *us: Tensor) -> Tensor:
        y = us[0] * w[0, ..., None, None]
        for n in range(1, len(us)):
            y.addcmul_(us[n], w[n, ..., None, None])
        moves = source_moves(src, y.shape[0])
        if moves is not None:
            yc = _by_channel(y)
            for n, move in enumerate(moves):
                if move is None:
                    continue
                t, c, s = move
                u, wn = _by_channel(us[n]), _by_channel(w[n])
                delta = u[s, c] * wn[s, c][..., None, None] - u[t, c] * wn[t, c][..., None, None]
                yc.index_put_((t, c), delta, accumulate=True)
        if any(ctx.needs_input_grad):
            saved = [u.to(torch.bool) for u in us] if binary else list(us)
            ctx.save_for_backward(w, *saved)
        ctx.moves, ctx.binary = moves, binary
        return y

    @staticmethod
    def backward(ctx, g: Tensor):
        w, *us = ctx.saved_tensors
        need_w = ctx.needs_input_grad[0]
        gw = torch.empty_like(w) if need_w else None
        gus: list[Optional[Tensor]] = []
        gc = _by_channel(g)
        for n, u in enumerate(us):
            gu = g * w[n, ..., None, None] if ctx.needs_input_grad[3 + n] else None
            if gw is not None:
                gw[n] = (torch.where(u, g, 0.0) if ctx.binary else g * u).sum((-2, -1))
            move = ctx.moves[n] if ctx.moves is not None else None
            if move is not None:
                t, c, s = move
                # A moved slot sends nothing to its own (t, c) and its gradient to (s, c) instead.
                if gu is not None:
                    guc = _by_channel(gu)
                    guc[t, c] = 0.0
                    guc.index_put_((s, c), gc[t, c] * _by_channel(w[n])[s, c][..., None, None], accumulate=True)
                if gw is not None:
                    gwc = _by_channel(gw[n])
                    gwc[t, c] = 0.0
                    src_u = _by_channel(u)[s, c].to(g.dtype)
                    gwc.index_put_((s, c), (gc[t, c] * src_u).sum((-2, -1)), accumulate=True)
            gus.append(gu)
        return (gw, None, None, *gus)


# -- gates -----------------------------------------------------------------------------------------------
class ScaleGate(nn.Module):
    """Squeeze-excite over the last axis with one expansion head per scale, softmax over scales.

    ``[..., width] -> [N, ..., width]``: ``width -> hidden`` (ReLU) then ``hidden -> N*width``. The N
    heads run as one linear layer, identical to N separate ones.
    """

    def __init__(self, width: int, hidden: int, scales: int) -> None:
        super().__init__()
        self.width, self.scales = width, scales
        self.squeeze = nn.Linear(width, hidden)
        self.excite = nn.Linear(hidden, scales * width)

    def forward(self, z: Tensor) -> Tensor:
        a = self.excite(F.relu(self.squeeze(z)))
        return a.unflatten(-1, (self.scales, self.width)).softmax(-2).movedim(-2, 0)


# -- modules ---------------------------------------------------------------------------------------------
def reduced(width: int, ratio: float) -> int:
    """Hidden width of a gate: max(1, floor(width / ratio)) (spec §7.3: T=16, TR=4 -> 4; T=6, TR=1.5 -> 4)."""
    return max(1, math.floor(width / ratio))


class SMA(Attention):
    """Spiking Multiscale Attention: multiscale branches, channel and temporal attention over scales."""

    supports_zoneout = True
    #: ablation switches of the subclasses
    temporal: bool = True
    channel_per_step: bool = True

    def __init__(
        self,
        channels: int,
        timesteps: int,
        kernels: tuple[int, ...] = (1, 3, 5, 7),
        c_reduction: float = 4.0,
        t_reduction: float = 4.0,
        branch: str = "lif",
        branch_args: Optional[dict[str, Any]] = None,
    ) -> None:
        super().__init__(channels, timesteps)
        c = self.channels
        self.kernels = tuple(int(k) for k in kernels)
        self.c_reduction, self.t_reduction, self.branch = float(c_reduction), float(t_reduction), branch
        self.convs = nn.ModuleList(nn.Conv2d(c, c, k, padding=k // 2) for k in self.kernels)
        self.norms = nn.ModuleList(nn.BatchNorm2d(c) for _ in self.kernels)
        if branch == "relu":
            self.acts = nn.ModuleList(nn.ReLU(inplace=True) for _ in self.kernels)
        else:
            self.acts = nn.ModuleList(make_neuron(branch, branch_args, features=c, step_mode="m") for _ in self.kernels)
        # Spiking branches emit exactly 0/1 (the neuron contract), so fusion can save them as bool.
        self.binary = all(isinstance(a, Neuron) for a in self.acts)
        n = len(self.kernels)
        self.channel_gate = ScaleGate(c, reduced(c, self.c_reduction), n)
        self.temporal_gate = ScaleGate(self.timesteps, reduced(self.timesteps, self.t_reduction), n) if self.temporal else None

    def branches(self, x: Tensor) -> list[Tensor]:
        """The N scale codes ``U_n``, each ``[T, B, C, H, W]``."""
        t, b = x.shape[:2]
        flat = x.flatten(0, 1)
        return [act(norm(conv(flat)).view(t, b, *x.shape[2:])) for conv, norm, act in zip(self.convs, self.norms, self.acts)]

    def attention(self, z: Tensor) -> tuple[Optional[Tensor], Tensor]:
        """Scale weights from the squeeze ``z`` ``[T, B, C]``: ``A^t`` ``[N, T, B]`` (or None) and ``A^c`` ``[N, T, B, C]``."""
        if self.channel_per_step:
            a_c = self.channel_gate(z)
        else:
            a_c = self.channel_gate(z.mean(0)).unsqueeze(1).expand(-1, z.shape[0], -1, -1)
        a_t = self.temporal_gate(z.mean(-1).t()).transpose(1, 2) if self.temporal_gate is not None else None
        return a_t, a_c

    def forward(self, x: Tensor) -> Tensor:
        self.check_input(x)
        us = self.branches(x)
        z = us[0].mean((-2, -1))
        for u in us[1:]:
            z = z + u.mean((-2, -1))
        a_t, a_c = self.attention(z)
        w = a_c if a_t is None else a_t.unsqueeze(-1) * a_c
        return ScaleMix.apply(w, self.zoneout_sources(a_t, a_c), self.binary, *us)

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, kernels={self.kernels}, c_reduction={self.c_reduction}, "
                f"t_reduction={self.t_reduction}, branch={self.branch!r}")

    def to_nir(self, ctx):
        """SMA has no NIR form: its weights come from spatial means, gate MLPs and softmaxes over scales
        that multiply the branches, and the temporal gate reads every step of the sequence at once."""
        from snnctl.export.base import NotExportable

        raise NotExportable("channel and temporal attention over scales (spatial means, gate MLPs, softmax over "
                            "scales, branch products; the temporal gate sees all T steps at once): NIR has no "
                            "softmax, reduction or multiplicative node, and its graphs run one step at a time")


class SMAC(SMA):
    """SMA-C: channel attention only (the temporal attention factor is dropped)."""

    temporal = False


class SMAL(SMA):
    """SMA-L: lightweight SMA whose channel attention runs once on the time-averaged squeeze."""

    channel_per_step = False


class NoAttention(Attention):
    """No attention: the identity, for models built without attention."""

    def forward(self, x: Tensor) -> Tensor:
        return x

    def to_nir(self, ctx):
        """The identity: left out of a NIR graph."""
        return None


# -- configs ---------------------------------------------------------------------------------------------
class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channels: int = Field(gt=0, description="channels C of the input (set by the model)")
    timesteps: int = Field(gt=0, description="time steps T of the input (set by the model from its config)")


class SMAConfig(_Base):
    kernels: tuple[int, ...] = Field((1, 3, 5, 7), min_length=1, description="kernel size of each scale branch (odd)")
    c_reduction: float = Field(4.0, ge=1, description="CR: channel attention hidden width is floor(C / CR)")
    t_reduction: float = Field(4.0, gt=0, description="TR: temporal attention hidden width is max(1, floor(T / TR))")
    branch: str = Field("lif", description="branch activation: 'relu' or a registered neuron name")
    branch_args: dict[str, Any] = Field(default_factory=dict, description="arguments of the branch neuron")

    @field_validator("kernels")
    @classmethod
    def _odd(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if any(k < 1 or k % 2 == 0 for k in v):
            raise ValueError("kernel sizes must be odd and positive (same padding keeps H x W)")
        return v


class NoneConfig(_Base):
    pass


@hookimpl
def register_attention(register):
    register("sma", SMA, config=SMAConfig)
    register("sma-c", SMAC, config=SMAConfig)
    register("sma-l", SMAL, config=SMAConfig)
    register("none", NoAttention, config=NoneConfig)
