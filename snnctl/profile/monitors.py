"""Monitors: the plugin contract that says how ``snnctl profile`` counts one family of layer types.

A monitor is registered by name (hook ``register_monitors``, registry kind ``monitor``). It declares the
module types it claims (:attr:`Monitor.types`, or an own :meth:`Monitor.claims`), and the profiler calls
:meth:`Monitor.count` from a forward hook after every call of a claimed module. ``count`` returns a
:class:`Counts`: what that one call did, summed over all samples and time steps of the call. The
profiler adds the calls up, measures the input's sparsity, and derives every figure of the report
(SOPs, MACs, energy under each convention) from these counts, so a monitor never deals with
conventions or cost tables.

Which monitor counts a module: among the monitors that claim it, the highest :attr:`Monitor.priority`,
then the one naming the most specific type (nearest in the module's MRO). Two monitors tied on both
are an error naming them. A module no monitor claims is listed as *uncounted* (when it is a leaf or holds
parameters of its own), never dropped. A monitor may claim a container (SMA does, for its fusion); its
children are still counted by their own monitors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import torch
from torch import Tensor, nn

from snnctl.errors import ConfigError

__all__ = ["Sparsity", "Counts", "Context", "Monitor", "load_monitors", "choose_monitor"]


@dataclass
class Sparsity:
    """Elements, non-zero elements and whether all values are 0 or 1, of one or more tensors."""

    numel: int = 0
    nonzero: int = 0
    binary: bool = True

    @classmethod
    def of(cls, x: Tensor) -> "Sparsity":
        """Measure a tensor (binary: every value is exactly 0 or 1)."""
        if x.numel() == 0:
            return cls(0, 0, True)
        binary = bool(((x == 0) | (x == 1)).all())
        return cls(x.numel(), int(torch.count_nonzero(x)), binary)

    @property
    def rate(self) -> float:
        """Share of non-zero elements (the firing rate of a spike tensor)."""
        return self.nonzero / self.numel if self.numel else 0.0

    def __add__(self, other: "Sparsity") -> "Sparsity":
        return Sparsity(self.numel + other.numel, self.nonzero + other.nonzero, self.binary and other.binary)


@dataclass
class Counts:
    """What one call of a layer did, summed over every sample and time step of the call.

    ``synaptic``
        Dense synaptic operations: multiply-accumulates of weights with inputs (the FLOPs of the
        energy formula), bias excluded. Each is one SOP when the input is binary spikes (times the
        input's firing rate) and one MAC when it is analog.
    ``bias``
        Bias additions (counted by the ``syops`` convention only).
    ``effective``
        Non-zero inputs times their fan-out (NeuroBench's effective operations); None for a layer
        without synapses.
    ``reachable``
        Synapses inside the input (NeuroBench's dense operations: padding excluded); None as above.
    ``elementwise``
        Other arithmetic: normalisation, pooling, activations (``syops`` counts it; ``paper`` does not).
    ``always_mac``
        The elementwise operations multiply whatever the input (average pooling): MACs under ``syops``.
    ``neuron_updates``
        Neuron state updates (neurons x time steps x samples).
    ``leaky``
        Each update also multiplies by a decay factor (one MAC per update under ``syops``).
    ``spikes``
        The output spikes, time first ``[T, B, ...]``: firing rates, silent neurons and spike counts.
    ``sparsity``
        The sparsity of the input that drives the synaptic operations; None to let the profiler
        measure the call's first tensor input.
    ``series``
        Named tensors summed over the call's samples (the profiler adds the calls up and divides by
        the sample count), e.g. SMA's mean weight per scale and time step ``[N, T]``. Shown by
        ``snnctl profile --spikes``, one line per series, and in its JSON (``spikes.series``).
    ``info``
        Static facts shown with the layer (SMA's kernel sizes).
    """

    synaptic: float = 0.0
    bias: float = 0.0
    effective: Optional[float] = None
    reachable: Optional[float] = None
    elementwise: float = 0.0
    always_mac: bool = False
    neuron_updates: float = 0.0
    leaky: bool = False
    spikes: Optional[Tensor] = None
    sparsity: Optional[Sparsity] = None
    series: dict[str, Tensor] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)


class Context:
    """What a monitor may know about the running forward pass.

    ``timesteps`` is the model's T, ``batch`` the samples of the current forward call and ``forward``
    its index. With
    ``shapes_only`` the tensors are on the meta device (dense counts from shapes, no data): a monitor
    then returns shape-derived counts only and leaves data-dependent fields unset.
    """

    def __init__(self, timesteps: int, shapes_only: bool = False) -> None:
        self.timesteps = int(timesteps)
        self.batch = 0
        #: index of the current forward pass (one per batch)
        self.forward = 0
        self.shapes_only = shapes_only
        #: scratch space that monitors may use between :meth:`Monitor.attach` hooks and :meth:`Monitor.count`
        self.scratch: dict[Any, Any] = {}

    def sparsity(self, x: Tensor) -> Optional[Sparsity]:
        """The sparsity of ``x``, or None for shapes-only runs."""
        return None if self.shapes_only or x.is_meta else Sparsity.of(x.detach())


class Monitor:
    """Base class of monitors (see the module docstring).

    Subclasses set :attr:`types` (or override :meth:`claims`) and implement :meth:`count`. Monitors are
    built with no arguments, once per profile run.
    """

    #: module types this monitor counts (subclasses included)
    types: tuple[type, ...] = ()
    #: the higher wins where several monitors claim a module
    priority: int = 0

    def claims(self, module: nn.Module) -> bool:
        """Whether this monitor counts ``module`` (default: an instance of one of :attr:`types`)."""
        return bool(self.types) and isinstance(module, self.types)

    def attach(self, module: nn.Module, ctx: Context) -> list[Any]:
        """Install extra hooks (on the module's children, say) before the run; return their handles.

        The profiler removes them afterwards. The default installs nothing.
        """
        return []

    def count(self, module: nn.Module, inputs: tuple[Any, ...], output: Any, ctx: Context) -> Optional[Counts]:
        """The counts of one call of ``module`` (from a forward hook), or None to count nothing."""
        raise NotImplementedError


def _distance(monitor: Monitor, module: nn.Module) -> int:
    mro = type(module).__mro__
    hits = [mro.index(t) for t in monitor.types if t in mro]
    return min(hits) if hits else len(mro)


def choose_monitor(module: nn.Module, monitors: list[tuple[str, Monitor]]) -> Optional[tuple[str, Monitor]]:
    """The monitor that counts ``module`` (see the module docstring), or None."""
    claims = [(name, m) for name, m in monitors if m.claims(module)]
    if not claims:
        return None
    ranked = sorted(claims, key=lambda nm: (-nm[1].priority, _distance(nm[1], module)))
    best = ranked[0]
    if len(ranked) > 1:
        second = ranked[1]
        if (second[1].priority, _distance(second[1], module)) == (best[1].priority, _distance(best[1], module)):
            raise ConfigError(
                f"monitors '{best[0]}' and '{second[0]}' both claim {type(module).__name__} layers",
                "Give one of them a higher 'priority' (a class attribute of the monitor), or remove one plugin.",
            )
    return best


def load_monitors() -> list[tuple[str, Monitor]]:
    """Every registered monitor, built, as ``(name, monitor)`` in name order."""
    import snnctl

    reg = snnctl.registry()
    return [(name, reg.create_as("monitor", name, Monitor, "snnctl.profile.Monitor")) for name in reg.names("monitor")]
