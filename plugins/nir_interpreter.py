"""snnctl's NIR interpreter: runs a NIR graph (``nir.read``) as a ``SpikingModel``.

Written from NIR's node definitions alone; it shares no code with snnctl's NIR exporter, so a graph
that the exporter got wrong is not read back as right. Any graph whose node types are listed below
runs, whichever tool wrote it.

**Time.** A graph describes one time step; the input ``[T, B, C, H, W]`` is fed one frame per step
and the ``Output`` node's value at every step is the logits ``[T, B, K]``. Continuous-time nodes are
integrated with forward Euler at ``dt`` seconds per step: ``dt`` from the caller, else from the
graph's metadata (snnctl writes it), else 1e-4 s (what snnTorch's NIR import assumes).

**Nodes.** Each node runs over the whole sequence (layers on time folded into the batch, neurons
step by step), so hooks and ``snnctl profile`` see ``[T, B, ...]`` tensors. A node's input is the sum
of its predecessors' outputs (NIR's fan-in). With ``a = dt / tau``, per step:

==============  ===========================================================================
``Affine``      ``W x + b``;  ``Linear``: ``W x``;  ``Scale``: ``s * x``
``Conv1d/2d``   cross-correlation with stride, padding (numbers, ``same``, ``valid``), dilation, groups
``Flatten``     axes ``start_dim..end_dim`` of the per-step shape (the batch excluded)
``AvgPool2d``   average over the kernel (zero padding counted);  ``SumPool2d``: the sum
``Threshold``   ``z = I > threshold``
``I`` / ``IF``  ``v += dt * r * I``; IF fires ``z = v > v_threshold`` and sets ``v = v_reset`` where it fired
``LI`` / ``LIF``  ``v += a * (v_leak - v + r * I)``; LIF fires and resets as IF
``CubaLI/LIF``  ``i += (dt / tau_syn) * (w_in * I - i)``, then the LI/LIF update driven by ``r * i``
==============  ===========================================================================

States start at rest: ``v = v_leak`` (``v_reset`` for IF, 0 for I), ``i = 0``. Recurrent edges
(cycles), ``Delay`` and nested graphs are not run: a graph holding them is refused with the list
of those nodes.
"""

from __future__ import annotations

import json
from collections import deque
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
from torch import Tensor, nn

from snnctl.errors import SnnctlError
from snnctl.nn import Neuron, SeqFold, SpikingModel, spike

DEFAULT_DT = 1e-4
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


# -- neurons -------------------------------------------------------------------------------------------------
class NIRNeuron(Neuron):
    """A NIR neuron node, integrated step by step. Parameters stay float64 and are cast to the input's dtype."""

    kind = ""
    leaky = True

    def __init__(self, params: dict[str, np.ndarray], dt: float) -> None:
        super().__init__(surrogate="atan", step_mode="m")
        self.params = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
        self.dt = float(dt)
        self._cast: dict[tuple[str, torch.dtype, torch.device], Tensor] = {}
        self.i: Optional[Tensor] = None

    def p(self, name: str, like: Tensor) -> Tensor:
        key = (name, like.dtype, like.device)
        if key not in self._cast:
            self._cast[key] = torch.as_tensor(self.coefficient(name), dtype=like.dtype, device=like.device)
        return self._cast[key]

    def coefficient(self, name: str) -> np.ndarray:
        """A parameter, or a derived per-step factor (``a`` = dt / tau, ``c`` = dt * r, ``a_syn``)."""
        q = self.params
        if name == "a":
            return self.dt / q["tau"] if "tau" in q else self.dt / q["tau_mem"]
        if name == "a_syn":
            return self.dt / q["tau_syn"]
        if name == "c":
            return self.dt * q["r"]
        return q[name]

    def reset(self) -> None:
        super().reset()
        self.i = None

    def fire(self, v: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
        z = spike(v - self.p("v_threshold", x), self.surrogate, strict=True)
        return z, v - v * z + self.p("v_reset", x) * z

    def extra_repr(self) -> str:
        shape = next(iter(self.params.values())).shape if self.params else ()
        return f"{self.kind}, shape={list(shape)}, dt={self.dt:g}"


class NIRLeaky(NIRNeuron):
    """LI and LIF: ``v += (dt / tau) * (v_leak - v + r * I)``; LIF fires where ``v > v_threshold``."""

    def __init__(self, params: dict[str, np.ndarray], dt: float, spiking: bool) -> None:
        super().__init__(params, dt)
        self.spiking, self.kind = spiking, "LIF" if spiking else "LI"

    def single_step(self, x: Tensor) -> Tensor:
        v = self.v if self.v is not None else self.p("v_leak", x).expand_as(x)
        v = v + self.p("a", x) * ((self.p("v_leak", x) - v) + self.p("r", x) * x)
        if not self.spiking:
            self.v = v
            return v
        z, self.v = self.fire(v, x)
        return z


class NIRIntegrator(NIRNeuron):
    """I and IF: ``v += dt * r * I``; IF fires where ``v > v_threshold`` and resets to ``v_reset``."""

    leaky = False

    def __init__(self, params: dict[str, np.ndarray], dt: float, spiking: bool) -> None:
        super().__init__(params, dt)
        self.spiking, self.kind = spiking, "IF" if spiking else "I"

    def single_step(self, x: Tensor) -> Tensor:
        start = self.p("v_reset", x).expand_as(x) if self.spiking else torch.zeros_like(x)
        v = (self.v if self.v is not None else start) + self.p("c", x) * x
        if not self.spiking:
            self.v = v
            return v
        z, self.v = self.fire(v, x)
        return z


class NIRCuba(NIRNeuron):
    """CubaLI and CubaLIF: a synaptic current ``i += (dt / tau_syn) * (w_in * I - i)`` drives the LI/LIF update."""

    def __init__(self, params: dict[str, np.ndarray], dt: float, spiking: bool) -> None:
        super().__init__(params, dt)
        self.spiking, self.kind = spiking, "CubaLIF" if spiking else "CubaLI"

    def single_step(self, x: Tensor) -> Tensor:
        i = self.i if self.i is not None else torch.zeros_like(x)
        i = i + self.p("a_syn", x) * (self.p("w_in", x) * x - i)
        self.i = i
        v = self.v if self.v is not None else self.p("v_leak", x).expand_as(x)
        v = v + self.p("a", x) * ((self.p("v_leak", x) - v) + self.p("r", x) * i)
        if not self.spiking:
            self.v = v
            return v
        z, self.v = self.fire(v, x)
        return z


class NIRThreshold(NIRNeuron):
    """Threshold: ``z = I > threshold``, no state."""

    kind, leaky = "Threshold", False

    def single_step(self, x: Tensor) -> Tensor:
        return spike(x - self.p("threshold", x), self.surrogate, strict=True)


class Scale(nn.Module):
    """Scale: the elementwise product with a per-step array."""

    def __init__(self, scale: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("scale", torch.as_tensor(np.asarray(scale, dtype=np.float32)))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.scale


# -- stateless layers ------------------------------------------------------------------------------------------
def _tensor(a: Any) -> Tensor:
    return torch.as_tensor(np.asarray(a, dtype=np.float32))


def _ints(v: Any, n: int) -> tuple[int, ...]:
    a = np.asarray(v).reshape(-1)
    return tuple(int(x) for x in (a if a.size == n else np.repeat(a, n)))


def _padding(v: Any, n: int) -> Any:
    if isinstance(v, bytes):
        v = v.decode()
    if isinstance(v, str):
        return v
    if isinstance(v, np.ndarray) and v.dtype.kind in "SUO":
        return str(v.reshape(-1)[0].decode() if isinstance(v.reshape(-1)[0], bytes) else v.reshape(-1)[0])
    return _ints(v, n)


def _layer(kind: str, node: Any) -> nn.Module:
    """The torch layer of one stateless NIR node, applied with time folded into the batch."""
    if kind in ("Affine", "Linear"):
        w = _tensor(node.weight)
        layer = nn.Linear(w.shape[1], w.shape[0], bias=kind == "Affine")
        layer.weight.data.copy_(w)
        if kind == "Affine":
            layer.bias.data.copy_(_tensor(node.bias))
        return SeqFold(layer)
    if kind in ("Conv1d", "Conv2d"):
        n = 1 if kind == "Conv1d" else 2
        w = _tensor(node.weight)
        cls = nn.Conv1d if n == 1 else nn.Conv2d
        layer = cls(w.shape[1] * int(node.groups), w.shape[0], tuple(w.shape[2:]), stride=_ints(node.stride, n),
                    padding=_padding(node.padding, n), dilation=_ints(node.dilation, n), groups=int(node.groups))
        layer.weight.data.copy_(w)
        layer.bias.data.copy_(_tensor(node.bias) if node.bias is not None else torch.zeros(w.shape[0]))
        return SeqFold(layer)
    if kind == "Flatten":
        start, end = int(node.start_dim), int(node.end_dim)
        return SeqFold(nn.Flatten(start + 1 if start >= 0 else start, end + 1 if end >= 0 else end))
    if kind in ("AvgPool2d", "SumPool2d"):
        return SeqFold(nn.AvgPool2d(_ints(node.kernel_size, 2), _ints(node.stride, 2), _ints(node.padding, 2),
                                    divisor_override=1 if kind == "SumPool2d" else None))
    if kind == "Scale":
        return Scale(node.scale)
    raise AssertionError(kind)


NEURONS = {
    "LIF": ("tau", "r", "v_leak", "v_threshold", "v_reset"),
    "LI": ("tau", "r", "v_leak"),
    "IF": ("r", "v_threshold", "v_reset"),
    "I": ("r",),
    "CubaLIF": ("tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "v_reset", "w_in"),
    "CubaLI": ("tau_syn", "tau_mem", "r", "v_leak", "w_in"),
    "Threshold": ("threshold",),
}
LAYERS = {"Affine", "Linear", "Conv1d", "Conv2d", "Flatten", "AvgPool2d", "SumPool2d", "Scale"}


def _neuron(kind: str, node: Any, dt: float) -> NIRNeuron:
    params = {k: getattr(node, k) for k in NEURONS[kind] if getattr(node, k, None) is not None}
    if kind in ("LIF", "LI"):
        return NIRLeaky(params, dt, kind == "LIF")
    if kind in ("IF", "I"):
        return NIRIntegrator(params, dt, kind == "IF")
    if kind in ("CubaLIF", "CubaLI"):
        return NIRCuba(params, dt, kind == "CubaLIF")
    return NIRThreshold(params, dt)


# -- the model -----------------------------------------------------------------------------------------------
def _safe(name: str) -> str:
    return name.replace(".", "_") or "_"


class NIRModel(SpikingModel):
    """A NIR graph as a model: ``[T, B, C, H, W]`` in (a vector input takes ``[T, B, N, 1, 1]``), ``[T, B, K]`` out.

    ``nodes`` holds one module per node, under the node's name with dots replaced by underscores;
    ``node_names`` maps those keys back.
    """

    def __init__(self, graph: Any, dt: float, timesteps: int) -> None:
        kinds = {name: type(node).__name__ for name, node in graph.nodes.items()}
        inputs = [n for n, k in kinds.items() if k == "Input"]
        outputs = [n for n, k in kinds.items() if k == "Output"]
        problems = [f"{name} ({kind}): not supported by snnctl's NIR interpreter"
                    for name, kind in kinds.items() if kind not in LAYERS and kind not in NEURONS
                    and kind not in ("Input", "Output")]
        if len(inputs) != 1 or len(outputs) != 1:
            problems.append(f"the graph has {len(inputs)} Input and {len(outputs)} Output nodes; one of each is supported")
        order, cyclic = _topological(graph.nodes, graph.edges, inputs[:1])
        problems += [f"{name} ({kinds[name]}): part of a recurrent cycle, which the interpreter does not run"
                     for name in cyclic]
        if problems:
            raise SnnctlError("the NIR graph cannot be run: " + "; ".join(problems),
                              "snnctl runs feed-forward graphs of: " + ", ".join(sorted(LAYERS | set(NEURONS))) + ".")
        in_shape = tuple(int(v) for v in np.asarray(graph.nodes[inputs[0]].input_type["input"]).reshape(-1))
        out_shape = tuple(int(v) for v in np.asarray(graph.nodes[outputs[0]].output_type["output"]).reshape(-1))
        chw = in_shape if len(in_shape) == 3 else (int(np.prod(in_shape)), 1, 1)
        super().__init__(timesteps, chw[0], (chw[1], chw[2]), int(np.prod(out_shape)))
        self.graph_input_shape, self.dt = in_shape, float(dt)
        self.input_name, self.output_name = inputs[0], outputs[0]
        self.order = [n for n in order if n not in (self.input_name, self.output_name)]
        self.sources = {n: [a for a, b in graph.edges if b == n] for n in graph.nodes}
        self.node_names = {_safe(n): n for n in self.order}
        modules = {}
        for name in self.order:
            kind, node = kinds[name], graph.nodes[name]
            modules[_safe(name)] = _neuron(kind, node, dt) if kind in NEURONS else _layer(kind, node)
        self.nodes = nn.ModuleDict(modules)

    def module_names(self) -> dict[str, str]:
        """Module path (``nodes.<key>``) -> NIR node name, for every node."""
        return {f"nodes.{key}": name for key, name in self.node_names.items()}

    def layer_labels(self) -> dict[str, str]:
        """The graph's node names for reports (``snnctl profile``), the layers inside a node included."""
        out = self.module_names()
        out.update({f"{path}.layers": name for path, name in out.items()})
        return out

    def forward(self, x: Tensor) -> Tensor:
        self.check_input(x)
        t, b = x.shape[:2]
        values: dict[str, Tensor] = {self.input_name: x.reshape(t, b, *self.graph_input_shape)}
        for name in [*self.order, self.output_name]:
            feeds = [values[s] for s in self.sources[name]]
            if not feeds:
                raise SnnctlError(f"NIR node {name} has no input")
            total = feeds[0]
            for f in feeds[1:]:
                total = total + f
            values[name] = total if name == self.output_name else self.nodes[_safe(name)](total)
        out = values[self.output_name]
        return out.reshape(t, b, -1)


def _topological(nodes: dict[str, Any], edges: list[tuple[str, str]], start: list[str]) -> tuple[list[str], list[str]]:
    """Kahn's order of the nodes, and those left over (on or behind a cycle)."""
    indegree = {n: 0 for n in nodes}
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in edges:
        succ[a].append(b)
        indegree[b] += 1
    ready = deque(n for n in nodes if indegree[n] == 0)
    order = []
    while ready:
        n = ready.popleft()
        order.append(n)
        for m in succ[n]:
            indegree[m] -= 1
            if indegree[m] == 0:
                ready.append(m)
    return order, [n for n in nodes if n not in order]


# -- files ---------------------------------------------------------------------------------------------------
def is_nir_file(path: Path) -> bool:
    """An HDF5 file with NIR's ``node`` group."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            if f.read(8) != HDF5_MAGIC:
                return False
    except OSError:
        return False
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return "node" in f
    except OSError:
        return False


def _meta(graph: Any) -> dict[str, Any]:
    meta = dict(getattr(graph, "metadata", None) or {})
    return {k: (v.decode() if isinstance(v, bytes) else v.item() if isinstance(v, np.generic) else v) for k, v in meta.items()}


def _json(meta: dict[str, Any], key: str) -> Any:
    try:
        return json.loads(meta[key]) if isinstance(meta.get(key), str) else None
    except json.JSONDecodeError:
        return None


def load_graph(path: str | Path, dt: Optional[float] = None, timesteps: Optional[int] = None) -> Any:
    """Read a NIR file with ``nir.read`` and return it runnable, as an ``snnctl.export.OpenedModel``.

    ``dt`` (seconds per step) overrides the graph's own; ``timesteps`` sets T where the graph records
    none (0 leaves it to the data: the command line takes the dataset's T).
    """
    import nir

    from snnctl.engine.samples import DataSpec
    from snnctl.export import OpenedModel

    path = Path(path)
    try:
        graph = nir.read(str(path), type_check=False)
    except Exception as exc:  # noqa: BLE001 - nir raises assorted errors for damaged or foreign files
        raise SnnctlError(f"{path} is not a readable NIR graph ({type(exc).__name__}: {exc})",
                          "The file is damaged or not NIR; nir.read could not parse it.") from None
    meta = _meta(graph)
    step = float(dt if dt is not None else meta.get("dt") or DEFAULT_DT)
    t = int(timesteps if timesteps is not None else meta.get("timesteps") or 0)
    model = NIRModel(graph, step, t).eval()
    data = _json(meta, "data")
    source = _json(meta, "source") or {}
    dt_from = "given" if dt is not None else "the graph's metadata" if meta.get("dt") else f"the default ({DEFAULT_DT:g} s)"
    return OpenedModel(
        model=model, kind="nir", path=path, name=str(meta.get("model") or path.stem), classes=_json(meta, "classes"),
        data=DataSpec(data["name"], dict(data.get("args") or {}), split_by=data.get("split_by", "number"),
                      downsample=int(data.get("downsample", 1))) if isinstance(data, dict) else None,
        provenance={**source, "dt": step, "dt_from": dt_from, "producer": meta.get("producer")},
    )
