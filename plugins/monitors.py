"""Built-in monitors: how ``snnctl profile`` counts convolutions, linear layers, normalisation, pooling,
activations, spiking neurons and SMA.

Each monitor turns one call of a layer into :class:`snnctl.profile.Counts` (see
:mod:`snnctl.profile.monitors` for the fields). The conventions of the energy report are applied
later, from these counts alone:

* ``conv`` / ``linear``: dense synaptic operations ``k^d * C_in/groups * C_out`` per output position
  (``d_in * d_out`` per input row for linear), the spec's FLOPs; effective operations: non-zero
  inputs times the fan-out they reach (a ones-kernel convolution of the non-zero mask); reachable
  synapses: the same with every input non-zero (padding excluded); bias additions.
* ``norm``: one (no affine) or two (affine) operations per element; ``max-pool`` one comparison per
  input element; ``avg-pool`` one per input element, always a MAC; ``activation`` one per element.
* ``neuron``: any :class:`snnctl.nn.Neuron`: one update per neuron and time step, and its spikes.
  Integrate-and-fire neurons (``dynamics().kind == "if"``) have no leak; a third-party neuron class
  may declare ``leaky = False`` as a class attribute.
* ``sma``: SMA's own arithmetic, on top of its children (its multiscale convolutions, BNs, branch
  neurons and gate MLPs are counted by the monitors above and attributed to SMA): the fusion
  ``Y = sum_n w_n * U_n`` (one synaptic operation per scale and element, driven by the branch
  outputs: spikes for neuron branches, analog for ReLU), the squeeze (one addition per scale and
  element), and the scale weights ``A^t * A^c`` per scale and step (mean over samples and channels).
* ``passthrough``: layers without arithmetic (flatten, identity, dropout in evaluation, ``none``
  attention), listed so nothing is reported as uncounted that costs nothing.
"""

from __future__ import annotations

import math
from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from snnctl import hookimpl
from snnctl.nn import Neuron, StepDropout
from snnctl.profile import Context, Counts, Monitor

_CONV_FN = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


class ConvMonitor(Monitor):
    """Convolutions (1-d, 2-d, 3-d): dense, effective and reachable synaptic operations, bias."""

    types = (nn.Conv1d, nn.Conv2d, nn.Conv3d)

    def __init__(self) -> None:
        self._taps: dict[tuple, float] = {}

    def count(self, module: nn.Module, inputs: tuple[Any, ...], output: Any, ctx: Context) -> Counts:
        conv: nn.Conv1d = module  # type: ignore[assignment]
        d = len(conv.kernel_size)
        x: Tensor = inputs[0]
        if x.dim() == d + 1:  # unbatched input
            x, output = x.unsqueeze(0), output.unsqueeze(0)
        batch = x.shape[0]
        cin_g = conv.in_channels // conv.groups
        kernel = math.prod(conv.kernel_size)
        positions = math.prod(output.shape[2:])
        synaptic = float(batch * positions * conv.out_channels * cin_g * kernel)
        reachable = float(batch * conv.out_channels * cin_g) * self._reachable_taps(conv, tuple(x.shape[2:]))
        bias = float(output.numel()) if conv.bias is not None else 0.0
        effective = None if ctx.shapes_only or x.is_meta else self._effective(conv, x)
        return Counts(synaptic=synaptic, bias=bias, effective=effective, reachable=reachable)

    def _reachable_taps(self, conv: nn.Module, spatial: tuple[int, ...]) -> float:
        """Kernel taps that fall inside the input, summed over output positions (one channel)."""
        key = (conv.kernel_size, conv.stride, conv.padding, conv.dilation, conv.padding_mode, spatial)
        if key not in self._taps:
            out = _conv(conv, torch.ones(1, 1, *spatial), torch.ones(1, 1, *conv.kernel_size), 1)
            if conv.padding_mode != "zeros":  # padded values copy the input: every tap reads data
                self._taps[key] = float(out.numel() * math.prod(conv.kernel_size))
            else:
                self._taps[key] = float(out.sum(dtype=torch.float64))
        return self._taps[key]

    def _effective(self, conv: nn.Module, x: Tensor) -> float:
        """Non-zero inputs times the outputs each reaches: a ones-kernel convolution of the mask."""
        mask = (x.detach() != 0).to(torch.float32)
        ones = torch.ones(conv.groups, conv.in_channels // conv.groups, *conv.kernel_size, device=x.device)
        reached = _conv(conv, mask, ones, conv.groups)
        return float(reached.sum(dtype=torch.float64)) * (conv.out_channels // conv.groups)


def _conv(conv: nn.Module, x: Tensor, weight: Tensor, groups: int) -> Tensor:
    """``conv``'s geometry (stride, padding and its mode, dilation) applied to ``x`` with ``weight``."""
    fn = _CONV_FN[len(conv.kernel_size)]
    if conv.padding_mode != "zeros":
        x = F.pad(x, conv._reversed_padding_repeated_twice, mode=conv.padding_mode)
        return fn(x, weight, None, conv.stride, 0, conv.dilation, groups)
    return fn(x, weight, None, conv.stride, conv.padding, conv.dilation, groups)


class LinearMonitor(Monitor):
    """Linear layers: d_in x d_out synaptic operations per input row; effective: non-zero inputs x d_out."""

    types = (nn.Linear,)

    def count(self, module: nn.Module, inputs: tuple[Any, ...], output: Any, ctx: Context) -> Counts:
        x: Tensor = inputs[0]
        synaptic = float(x.numel() * module.out_features)
        bias = float(output.numel()) if module.bias is not None else 0.0
        effective = None if ctx.shapes_only or x.is_meta else float(torch.count_nonzero(x.detach())) * module.out_features
        return Counts(synaptic=synaptic, bias=bias, effective=effective, reachable=synaptic)


class NormMonitor(Monitor):
    """Normalisation layers: one operation per element, two with an affine transform."""

    types = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)

    def count(self, module: nn.Module, inputs: tuple[Any, ...], output: Any, ctx: Context) -> Counts:
        affine = getattr(module, "affine", getattr(module, "elementwise_affine", False))
        return Counts(elementwise=float(inputs[0].numel() * (2 if affine else 1)))


class MaxPoolMonitor(Monitor):
    """Max pooling: one comparison per input element."""

    types = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d)

    def count(self, module: nn.Module, inputs: tuple[Any, ...], output: Any, ctx: Context) -> Counts:
        return Counts(elementwise=float(inputs[0].numel()))


class AvgPoolMonitor(Monitor):
    """Average pooling: one operation per input element, a MAC whatever the input (it scales)."""

    types = (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d)

    def count(self, module: nn.Module, inputs: tuple[Any, ...], output: Any, ctx: Context) -> Counts:
        return Counts(elementwise=float(inputs[0].numel()), always_mac=True)


class ActivationMonitor(Monitor):
    """Analog activations (ReLU and kin): one operation per element."""

    types = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish,
             nn.Sigmoid, nn.Tanh, nn.Hardtanh, nn.Hardswish, nn.Hardsigmoid, nn.Softplus)

    def count(self, module: nn.Module, inputs: tuple[Any, ...], output: Any, ctx: Context) -> Counts:
        return Counts(elementwise=float(output.numel()))


class NeuronMonitor(Monitor):
    """Spiking neurons (any snnctl.nn.Neuron): neuron updates and the spikes they emit."""

    types = (Neuron,)

    def count(self, module: nn.Module, inputs: tuple[Any, ...], output: Any, ctx: Context) -> Counts:
        spikes: Optional[Tensor] = output
        if getattr(module, "step_mode", "m") == "s":
            # one step per call: collect the T steps of this forward pass, report them together
            key = (id(module), "steps")
            forward, steps = ctx.scratch.get(key, (ctx.forward, []))
            if forward != ctx.forward:
                steps = []
            steps.append(output.detach())
            ctx.scratch[key] = (ctx.forward, steps)
            spikes = None
            if len(steps) == ctx.timesteps:
                spikes = torch.stack(steps)
                del ctx.scratch[key]
        return Counts(neuron_updates=float(inputs[0].numel()), leaky=leaky(module), spikes=spikes)


def leaky(neuron: nn.Module) -> bool:
    """Whether a neuron's update multiplies its state by a decay (every built-in but ``if``)."""
    declared = getattr(type(neuron), "leaky", None)
    if isinstance(declared, bool):
        return declared
    dynamics = getattr(neuron, "dynamics", None)
    if callable(dynamics):  # the built-in fused neurons describe their recurrence
        try:
            dynamics = dynamics()
        except NotImplementedError:
            dynamics = None
    return getattr(dynamics, "kind", None) != "if"


class PassthroughMonitor(Monitor):
    """Layers without arithmetic: flatten, identity, dropout (the profiler runs in evaluation), no attention."""

    def __init__(self) -> None:
        from snnctl_plugins.attention import NoAttention

        self.types = (nn.Flatten, nn.Unflatten, nn.Identity, nn.modules.dropout._DropoutNd, StepDropout, NoAttention)

    def count(self, module: nn.Module, inputs: tuple[Any, ...], output: Any, ctx: Context) -> Counts:
        return Counts()


class SMAMonitor(Monitor):
    """SMA's fusion and squeeze, and its scale weights per step (its children count themselves)."""

    def __init__(self) -> None:
        from snnctl_plugins.attention import SMA

        self.types = (SMA,)

    def attach(self, module: nn.Module, ctx: Context) -> list[Any]:
        key = id(module)
        handles = []

        def branch_hook(mod: nn.Module, inputs: Any, output: Tensor) -> None:
            found = ctx.sparsity(output)
            if found is not None:
                ctx.scratch.setdefault((key, "branches"), []).append(found)

        def gate_hook(which: str):
            def hook(mod: nn.Module, inputs: Any, output: Tensor) -> None:
                ctx.scratch[(key, which)] = output.detach()
            return hook

        for act in module.acts:
            handles.append(act.register_forward_hook(branch_hook))
        handles.append(module.channel_gate.register_forward_hook(gate_hook("channel")))
        if module.temporal_gate is not None:
            handles.append(module.temporal_gate.register_forward_hook(gate_hook("temporal")))
        return handles

    def count(self, module: nn.Module, inputs: tuple[Any, ...], output: Any, ctx: Context) -> Counts:
        key = id(module)
        n = len(module.kernels)
        branches = ctx.scratch.pop((key, "branches"), [])
        a_c: Optional[Tensor] = ctx.scratch.pop((key, "channel"), None)
        a_t: Optional[Tensor] = ctx.scratch.pop((key, "temporal"), None)
        elements = float(output.numel())
        counts = Counts(synaptic=n * elements, reachable=n * elements, elementwise=n * elements,
                        info={"kernels": list(module.kernels)})
        if ctx.shapes_only or output.is_meta:
            return counts
        if len(branches) == n:
            sparsity = branches[0]
            for s in branches[1:]:
                sparsity = sparsity + s
            counts.sparsity = sparsity
            counts.effective = float(sparsity.nonzero)
        if a_c is not None:
            t = output.shape[0]
            if a_c.dim() == 3:  # SMA-L: one channel attention per sample, shared by every step
                a_c = a_c.unsqueeze(1).expand(-1, t, -1, -1)
            a_t = a_t.transpose(1, 2) if a_t is not None else None  # [N, B, T] -> [N, T, B]
            w = a_c if a_t is None else a_t.unsqueeze(-1) * a_c  # [N, T, B, C]
            counts.series["scale_weight"] = w.mean(-1).sum(-1)
            counts.series["channel_weight"] = a_c.mean(-1).sum(-1)
            if a_t is not None:
                counts.series["temporal_weight"] = a_t.sum(-1)
        return counts


@hookimpl
def register_monitors(register):
    register("conv", ConvMonitor)
    register("linear", LinearMonitor)
    register("norm", NormMonitor)
    register("max-pool", MaxPoolMonitor)
    register("avg-pool", AvgPoolMonitor)
    register("activation", ActivationMonitor)
    register("neuron", NeuronMonitor)
    register("passthrough", PassthroughMonitor)
    register("sma", SMAMonitor)
