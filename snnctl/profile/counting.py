"""The counting pass: forward hooks from the registered monitors over a real forward pass.

:func:`profile_model` runs the model on batches of samples (time first, ``[T, B, ...]``) with a
forward hook on every layer some monitor claims, resets every neuron between batches, and adds the
:class:`~snnctl.profile.monitors.Counts` of every call up per layer (:class:`LayerStats`). Figures are
per sample: totals divided by the number of samples. :func:`dense_ops` runs the same pass on the meta
device, so the dense operation counts of a large model cost no compute and no memory.

Classification, per call of a layer: its input is *binary* when every value is 0 or 1 (syops-counter's
and the field's rule). Then its dense synaptic operations count as ``SOP = rate x ops`` (rate: the
input's share of non-zero elements), otherwise as MACs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Optional

import torch
from torch import Tensor, nn

from snnctl.nn import Attention, SeqFold, reset_states
from snnctl.profile.monitors import Context, Counts, Monitor, Sparsity, choose_monitor, load_monitors

__all__ = ["LayerStats", "AttentionModule", "ProfileResult", "profile_model", "dense_ops", "attention_name"]


@dataclass
class LayerStats:
    """One layer's counts, summed over every call and sample (see :class:`ProfileResult` for per-sample)."""

    name: str
    type: str
    monitor: str
    attention: Optional[str]  # qualified name of the attention module this layer is part of (None: backbone)
    params: int
    weights: int
    zero_weights: int
    label: str = ""  # the name without SeqFold's inner ".layers" (features.0.conv for features.0.conv.layers)
    attention_name: Optional[str] = None  # registry name of the attention module this layer is part of
    order: int = -1
    calls: int = 0
    # synapses
    synaptic: float = 0.0
    bias: float = 0.0
    sop: float = 0.0
    mac: float = 0.0
    unknown: float = 0.0  # synaptic operations of shapes-only calls (no data, so neither SOP nor MAC)
    effective_ac: float = 0.0
    effective_mac: float = 0.0
    reachable: float = 0.0
    synapses: bool = False
    elementwise: float = 0.0
    # the syops convention, per call
    syops_ac: float = 0.0
    syops_mac: float = 0.0
    # input
    in_numel: int = 0
    in_nonzero: int = 0
    binary_calls: int = 0
    analog_calls: int = 0
    # neurons
    neuron_updates: float = 0.0
    leaky: bool = False
    spiking: bool = False
    spikes: float = 0.0
    out_numel: int = 0
    step_spikes: Optional[Tensor] = None  # [T] float64
    step_numel: Optional[Tensor] = None  # [T] float64
    silent_sum: float = 0.0  # sum over samples of the share of neurons that never fired in that sample
    silent_samples: int = 0
    fired_any: Optional[Tensor] = None  # per neuron: fired in some sample
    neurons: int = 0  # neurons per sample (elements of one step of one sample)
    state_bytes: int = 0  # membrane state per sample
    shapes: list[tuple[int, ...]] = field(default_factory=list)  # input shapes in the first forward
    series: dict[str, Tensor] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def input_kind(self) -> str:
        """``spikes``, ``analog``, ``mixed`` or ``unknown`` (shapes only, or never called with a tensor)."""
        if self.binary_calls and self.analog_calls:
            return "mixed"
        if self.binary_calls:
            return "spikes"
        if self.analog_calls:
            return "analog"
        return "unknown"

    @property
    def input_rate(self) -> Optional[float]:
        return self.in_nonzero / self.in_numel if self.in_numel else None

    def add(self, c: Counts, sparsity: Optional[Sparsity], first_forward: bool, shape: Optional[tuple[int, ...]]) -> None:
        self.calls += 1
        if first_forward and shape is not None:
            self.shapes.append(shape)
        self.synaptic += c.synaptic
        self.bias += c.bias
        self.elementwise += c.elementwise
        self.neuron_updates += c.neuron_updates
        self.leaky = self.leaky or c.leaky
        if c.reachable is not None:
            self.synapses = True
            self.reachable += c.reachable
        if c.always_mac:
            self.syops_mac += c.elementwise
        if sparsity is None:
            self.unknown += c.synaptic
        else:
            self.in_numel += sparsity.numel
            self.in_nonzero += sparsity.nonzero
            rate = sparsity.rate
            base = c.synaptic + c.bias + (0.0 if c.always_mac else c.elementwise)
            if sparsity.binary:
                self.binary_calls += 1
                self.sop += c.synaptic * rate
                self.effective_ac += c.effective or 0.0
                self.syops_ac += base * rate + c.neuron_updates * rate
            else:
                self.analog_calls += 1
                self.mac += c.synaptic
                self.effective_mac += c.effective or 0.0
                self.syops_mac += base
                self.syops_ac += c.neuron_updates
            if c.leaky:
                self.syops_mac += c.neuron_updates
        if c.spikes is not None:
            self._add_spikes(c.spikes)
        for key, value in c.series.items():
            value = value.detach().double().cpu()
            self.series[key] = self.series[key] + value if key in self.series else value
        self.info.update(c.info)

    def _add_spikes(self, s: Tensor) -> None:
        self.spiking = True
        if s.dim() < 2:
            raise ValueError(f"{self.name}: spikes must be time first [T, B, ...], got shape {tuple(s.shape)}")
        t, b = s.shape[:2]
        per_sample = s[0, 0].numel() if b else 0
        self.neurons = per_sample
        self.state_bytes = per_sample * s.element_size()
        if s.is_meta:
            return
        s = s.detach()
        steps = s.reshape(t, -1).sum(1, dtype=torch.float64).cpu()
        numel = torch.full((t,), float(s[0].numel()), dtype=torch.float64)
        if self.step_spikes is None or self.step_spikes.shape[0] != t:
            if self.step_spikes is not None:  # calls with different T: keep totals, pad the per-step series
                n = max(t, self.step_spikes.shape[0])
                steps, numel = _pad(steps, n), _pad(numel, n)
                self.step_spikes, self.step_numel = _pad(self.step_spikes, n), _pad(self.step_numel, n)
            else:
                self.step_spikes = torch.zeros(t, dtype=torch.float64)
                self.step_numel = torch.zeros(t, dtype=torch.float64)
        self.step_spikes += steps
        self.step_numel += numel
        self.spikes += float(steps.sum())
        self.out_numel += s.numel()
        fired = (s != 0).any(0).reshape(b, -1)  # [B, neurons]
        self.silent_sum += float((1.0 - fired.sum(1, dtype=torch.float64) / fired.shape[1]).sum()) if fired.shape[1] else 0.0
        self.silent_samples += b
        any_fired = fired.any(0).cpu()
        self.fired_any = any_fired if self.fired_any is None or self.fired_any.shape != any_fired.shape \
            else self.fired_any | any_fired


#: module types that only hold other modules (no forward of their own to count)
_CONTAINERS = (nn.ModuleList, nn.ModuleDict, nn.ParameterList, nn.ParameterDict)


def _pad(x: Tensor, n: int) -> Tensor:
    return torch.cat([x, x.new_zeros(n - x.shape[0])]) if x.shape[0] < n else x


@dataclass
class AttentionModule:
    """One attention module (a :class:`snnctl.nn.Attention`) of the profiled model.

    ``kind`` is the name its class is registered under (``register_attention``), or the class name
    for a class no registration names; ``monitor`` the monitor counting the module itself (None: only
    its children are counted). ``order`` places it before the first of its layers to run.
    """

    name: str
    label: str
    kind: str
    type: str
    monitor: Optional[str] = None
    calls: int = 0
    order: int = -1

    def to_json(self) -> dict[str, Any]:
        return {"module": self.name, "label": self.label, "name": self.kind, "type": self.type,
                "monitor": self.monitor, "calls": self.calls}


@dataclass
class ProfileResult:
    """Per-layer counts of a profiling pass; every ``per_sample`` figure divides by :attr:`samples`."""

    layers: list[LayerStats]
    uncounted: list[dict[str, Any]]
    not_called: list[str]
    samples: int
    timesteps: int
    batch_size: int
    parameters: int
    param_bytes: int
    buffer_bytes: int
    shapes_only: bool = False
    attention: list[AttentionModule] = field(default_factory=list)

    @property
    def attention_names(self) -> list[str]:
        """The registry names of the model's attention modules, each once, in execution order."""
        return list(dict.fromkeys(a.kind for a in self.attention))

    def layer(self, name: str) -> LayerStats:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    def per_sample(self, value: float) -> float:
        return value / self.samples if self.samples else 0.0

    @property
    def synaptic_layers(self) -> list[LayerStats]:
        return [l for l in self.layers if l.synaptic > 0]

    @property
    def spiking_layers(self) -> list[LayerStats]:
        return [l for l in self.layers if l.spiking]

    @property
    def first_layer(self) -> Optional[LayerStats]:
        """The first layer with synaptic operations to run (execution order)."""
        syn = self.synaptic_layers
        return min(syn, key=lambda l: l.order) if syn else None


def _own_params(module: nn.Module) -> tuple[int, int, int]:
    """Parameters held by the module itself, and the elements and zeros of its weight matrices/kernels."""
    params = weights = zeros = 0
    for pname, p in module.named_parameters(recurse=False):
        params += p.numel()
        if pname == "weight" and p.dim() >= 2:
            weights += p.numel()
            if not p.is_meta:
                zeros += int((p == 0).sum())
    return params, weights, zeros


def attention_name(module: nn.Module) -> str:
    """The name ``module``'s class is registered under as an attention (``register_attention``).

    Found through the registry: the attention entry whose factory is the module's class. A module
    whose class no entry names (one built by a factory function, say) is named by its class.
    """
    import snnctl

    for entry in snnctl.registry().entries("attention"):
        if entry.factory is type(module):
            return entry.name
    return type(module).__name__


#: the registry name of "no attention" (the identity): never reported as an attention module
NO_ATTENTION = "none"


def _attention_owners(model: nn.Module, kinds: dict[str, str]) -> dict[str, str]:
    """Qualified name of every module inside (or being) an attention module -> that attention's name.

    ``kinds`` maps the qualified name of every attention module to its registry name.
    """
    owners: dict[str, str] = {}
    roots = [name for name in kinds if kinds[name] != NO_ATTENTION]
    for name, _ in model.named_modules():
        for root in roots:
            if name == root or name.startswith(root + ".") or root == "":
                owners[name] = root
                break
    return owners


def _labels(model: nn.Module) -> dict[str, str]:
    """Short names: the qualified names without the ``layers`` step of :class:`snnctl.nn.SeqFold` wrappers.

    A model may name its layers itself with a ``layer_labels()`` method (module path -> label), as the
    NIR interpreter does with the graph's node names.
    """
    modules = dict(model.named_modules())
    out = {}
    for name in modules:
        parts = name.split(".") if name else []
        kept = [part for i, part in enumerate(parts)
                if not (part == "layers" and isinstance(modules.get(".".join(parts[:i])), SeqFold))]
        out[name] = ".".join(kept) or name
    own = getattr(model, "layer_labels", None)
    if callable(own):
        out.update({k: v for k, v in own().items() if k in out})
    return out


def _first_tensor(value: Any) -> Optional[Tensor]:
    if isinstance(value, Tensor):
        return value
    if isinstance(value, (tuple, list)):
        for v in value:
            t = _first_tensor(v)
            if t is not None:
                return t
    return None


class Profiler:
    """Hooks the layers of a model with their monitors; use as a context manager around forward passes."""

    def __init__(self, model: nn.Module, timesteps: int, monitors: Optional[list[tuple[str, Monitor]]] = None,
                 shapes_only: bool = False) -> None:
        self.model = model
        self.ctx = Context(timesteps, shapes_only)
        self.monitors = load_monitors() if monitors is None else monitors
        self.layers: dict[str, LayerStats] = {}
        self.attention: dict[str, AttentionModule] = {}
        self.uncounted: list[dict[str, Any]] = []
        self._uncounted_calls: dict[str, int] = {}
        self._handles: list[Any] = []
        self._order = 0
        self.forwards = 0
        self.samples = 0
        self.max_batch = 0

    # -- hooks -------------------------------------------------------------------------------------
    def __enter__(self) -> "Profiler":
        labels = _labels(self.model)
        modules = dict(self.model.named_modules())
        kinds = {name: attention_name(m) for name, m in modules.items() if isinstance(m, Attention)}
        owners = _attention_owners(self.model, kinds)
        for root in sorted(set(owners.values()), key=list(modules).index):
            att = AttentionModule(root, labels[root], kinds[root], type(modules[root]).__name__)
            self.attention[root] = att
            self._handles.append(modules[root].register_forward_hook(self._attention_hook(att)))
        for name, module in self.model.named_modules():
            chosen = choose_monitor(module, self.monitors)
            params, weights, zeros = _own_params(module)
            if chosen is None:
                leaf = next(module.children(), None) is None
                if (leaf and not isinstance(module, _CONTAINERS)) or params:
                    self.uncounted.append({"name": name, "label": labels[name], "type": type(module).__name__,
                                           "parameters": params})
                    self._uncounted_calls[name] = 0
                    self._handles.append(module.register_forward_pre_hook(self._uncounted_hook(name)))
                continue
            mon_name, monitor = chosen
            owner = owners.get(name)
            stats = LayerStats(name, type(module).__name__, mon_name, owner, params, weights, zeros,
                               labels[name], kinds.get(owner))
            if name in self.attention:
                self.attention[name].monitor = mon_name
            self.layers[name] = stats
            self._handles.append(module.register_forward_hook(self._hook(stats, monitor)))
            self._handles.extend(monitor.attach(module, self.ctx) or [])
        return self

    def __exit__(self, *exc: Any) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def _attention_hook(self, att: AttentionModule) -> Callable:
        def hook(module: nn.Module, inputs: Any, output: Any) -> None:
            att.calls += 1
        return hook

    def _uncounted_hook(self, name: str) -> Callable:
        def hook(module: nn.Module, inputs: Any) -> None:
            self._uncounted_calls[name] += 1
        return hook

    def _hook(self, stats: LayerStats, monitor: Monitor) -> Callable:
        ctx = self.ctx

        def hook(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
            if stats.order < 0:  # completion order: a container (SMA) after the children it runs
                stats.order = self._order
                self._order += 1
            counts = monitor.count(module, inputs, output, ctx)
            if counts is None:
                return
            x = _first_tensor(inputs)
            sparsity = counts.sparsity
            works = counts.synaptic or counts.bias or counts.elementwise or counts.neuron_updates
            if sparsity is None and x is not None and works:
                sparsity = ctx.sparsity(x)  # only where it classifies some work
            shape = tuple(x.shape) if x is not None else None
            stats.add(counts, sparsity, self.forwards == 0, shape)
        return hook

    # -- running -------------------------------------------------------------------------------------
    @torch.no_grad()
    def forward(self, x: Tensor) -> Tensor:
        """One forward pass over a batch ``[T, B, ...]`` from a fresh neuron state."""
        reset_states(self.model)
        self.ctx.batch = int(x.shape[1])
        self.ctx.forward = self.forwards
        out = self.model(x)
        reset_states(self.model)
        self.forwards += 1
        self.samples += self.ctx.batch
        self.max_batch = max(self.max_batch, self.ctx.batch)
        return out

    def result(self) -> ProfileResult:
        params = list(self.model.parameters())
        buffers = list(self.model.buffers())
        called = [l for l in self.layers.values() if l.calls]
        for u in self.uncounted:
            u["calls"] = self._uncounted_calls.get(u["name"], 0)
        for att in self.attention.values():
            inside = [l.order for l in called if l.attention == att.name]
            att.order = min(inside) if inside else self._order
        attention = sorted(self.attention.values(), key=lambda a: a.order)
        return ProfileResult(
            layers=sorted(called, key=lambda l: l.order),
            uncounted=self.uncounted,
            not_called=[l.name for l in self.layers.values() if not l.calls],
            samples=self.samples,
            timesteps=self.ctx.timesteps,
            batch_size=self.max_batch,
            parameters=sum(p.numel() for p in params),
            param_bytes=sum(p.numel() * p.element_size() for p in params),
            buffer_bytes=sum(b.numel() * b.element_size() for b in buffers),
            shapes_only=self.ctx.shapes_only,
            attention=attention,
        )


def profile_model(model: nn.Module, batches: Iterable[Tensor], timesteps: Optional[int] = None,
                  monitors: Optional[list[tuple[str, Monitor]]] = None,
                  progress: Optional[Callable[[int], None]] = None) -> ProfileResult:
    """Count every layer of ``model`` over ``batches`` (each ``[T, B, ...]``, on the model's device).

    ``timesteps`` defaults to ``model.timesteps``; ``monitors`` to every registered one. The model is
    put in evaluation mode; neurons are reset before and after every batch. ``progress(samples)`` is
    called after each batch.
    """
    if timesteps is None:
        timesteps = getattr(model, "timesteps", None)
        if timesteps is None:
            raise ValueError("profile_model: give timesteps for a model without a 'timesteps' attribute")
    was_training = model.training
    model.eval()
    prof = Profiler(model, timesteps, monitors)
    try:
        with prof:
            for x in batches:
                prof.forward(x)
                if progress is not None:
                    progress(prof.samples)
    finally:
        model.train(was_training)
    return prof.result()


def dense_ops(model: nn.Module, input_shape: Optional[tuple[int, ...]] = None, timesteps: Optional[int] = None,
              monitors: Optional[list[tuple[str, Monitor]]] = None) -> ProfileResult:
    """Shape-derived counts of one sample on the meta device: dense operations, neurons, no sparsity.

    ``model`` should be built on the meta device (``with torch.device("meta"): create_model(...)``);
    a model with real weights works too but is run on meta copies of nothing: its inputs are meta
    tensors, so its parameters must be meta as well. ``input_shape`` is ``[T, B, ...]`` (default: the
    SpikingModel's own input with batch 1).
    """
    if input_shape is None:
        input_shape = (model.timesteps, 1, model.in_channels, *model.input_size)
    if timesteps is None:
        timesteps = getattr(model, "timesteps", input_shape[0])
    model.eval()
    prof = Profiler(model, timesteps, monitors, shapes_only=True)
    with prof:
        prof.forward(torch.empty(input_shape, device="meta"))
    return prof.result()
