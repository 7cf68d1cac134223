"""Test-set evaluation: accuracy, per-class accuracy, confusion matrix and firing rate.

The prediction is the arg-max of the time-mean logits (spec §4.4). The firing rate is the share of
neuron outputs that are spikes, over every spiking layer (``snnctl.nn.Neuron``), step and sample.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Optional

import torch
from torch import Tensor

from snnctl.engine.losses import run_loss

__all__ = ["EvalResult", "evaluate", "autocast", "SpikeCounter"]


@dataclass
class EvalResult:
    samples: int
    loss: float
    top1: float
    top5: Optional[float]
    firing_rate: float
    confusion: list[list[int]] = field(default_factory=list)  # rows: true class, columns: predicted

    @property
    def per_class(self) -> list[Optional[float]]:
        """Accuracy per true class (None for a class with no test sample)."""
        return [row[i] / sum(row) if sum(row) else None for i, row in enumerate(self.confusion)]

    def to_json(self, classes: list[str]) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "loss": self.loss,
            "top1": self.top1,
            "top5": self.top5,
            "firing_rate": self.firing_rate,
            "per_class": {c: a for c, a in zip(classes, self.per_class)},
            "confusion": self.confusion,
            "classes": classes,
        }


class SpikeCounter:
    """Counts spikes and neuron outputs of every ``snnctl.nn.Neuron`` while active (forward hooks)."""

    def __init__(self, model: torch.nn.Module) -> None:
        from snnctl.nn import Neuron

        self.spikes = 0.0
        self.elements = 0
        self._handles = [m.register_forward_hook(self._hook) for m in model.modules() if isinstance(m, Neuron)]

    def _hook(self, module: Any, inputs: Any, out: Tensor) -> None:
        if torch.is_tensor(out):
            self.spikes += float(out.detach().float().sum())
            self.elements += out.numel()

    def close(self) -> None:
        for h in self._handles:
            h.remove()

    @property
    def rate(self) -> float:
        return self.spikes / self.elements if self.elements else 0.0


def autocast(device: torch.device, precision: str):
    """The autocast context of a precision (``fp32``: none)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


@torch.no_grad()
def evaluate(model: torch.nn.Module, batches, encode, num_classes: int, device: torch.device, precision: str,
             loss_cfg: Any, dist: Any = None) -> EvalResult:
    """Evaluate ``model`` on ``(x, y)`` batches; sums are reduced over distributed processes."""
    from snnctl.nn import reset_states

    was_training = model.training
    model.eval()
    counter = SpikeCounter(model)
    confusion = torch.zeros(num_classes, num_classes, dtype=torch.long)
    sums = torch.zeros(4, dtype=torch.float64)  # loss * n, n, top-1 hits, top-5 hits
    k5 = min(5, num_classes)
    try:
        for x, y in batches:
            x = encode(x.to(device, non_blocking=True).float())
            y = y.to(device)
            with autocast(device, precision):
                out = model(x)
            out = out.float()
            loss = run_loss(out, y, loss_cfg)
            reset_states(model)
            mean = out.mean(0) if out.dim() == 3 else out
            pred = mean.argmax(-1)
            top = mean.topk(k5, -1).indices
            n = y.numel()
            sums += torch.tensor([float(loss) * n, n, float((pred == y).sum()), float((top == y[:, None]).any(-1).sum())],
                                 dtype=torch.float64)
            confusion += torch.bincount((y * num_classes + pred).cpu(), minlength=num_classes * num_classes) \
                .view(num_classes, num_classes)
    finally:
        counter.close()
        model.train(was_training)
    spikes = torch.tensor([counter.spikes, float(counter.elements)], dtype=torch.float64)
    if dist is not None and dist.enabled:
        packed = torch.cat([sums, spikes, confusion.double().flatten()]).to(device)
        dist.sum(packed)
        packed = packed.cpu()
        sums, spikes = packed[:4], packed[4:6]
        confusion = packed[6:].round().long().view(num_classes, num_classes)
    n = max(float(sums[1]), 1.0)
    return EvalResult(
        samples=int(sums[1]),
        loss=float(sums[0]) / n,
        top1=float(sums[2]) / n,
        top5=float(sums[3]) / n if num_classes > 5 else None,
        firing_rate=float(spikes[0] / spikes[1]) if float(spikes[1]) else 0.0,
        confusion=confusion.tolist(),
    )
