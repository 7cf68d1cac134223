"""The ``nir`` format: the Neuromorphic Intermediate Representation, written with the ``nir`` package (HDF5).

NIR describes one time step of a network as a graph of nodes; spiking nodes are continuous-time
equations. snnctl runs discrete steps, so each neuron's update is mapped onto NIR's equations under
a stated time step ``dt`` (seconds per step, the ``dt`` setting, written into the graph's metadata)
with the forward-Euler discretisation, ``v[t] = v[t-1] + dt * dv/dt``. The neurons declare their own
mapping (``to_nir(ctx)``, docs/export.md has the formulas); this module maps torch's layers.

**Tracing.** One forward pass on a real sample records every *unit* (a module with a NIR form: a
component with ``to_nir``, or one of torch's layers listed below) and follows the tensors between
units, so every operation outside a unit is seen: reshapes that only fold time into the batch are
dropped, a flatten becomes a ``Flatten`` node, an addition of two units' outputs becomes NIR's
fan-in (edges into one node are summed), and anything else is refused, named by the module whose
``forward`` computes it. Nothing is silently dropped.

**Mapped layers.** ``Conv1d``/``Conv2d`` (zero padding), ``Linear`` (``Affine``), ``Flatten``,
``AvgPool2d`` (no padding, no ceil rounding that changes the size), ``AdaptiveAvgPool2d`` where the
output divides the input, ``BatchNorm1d/2d`` folded into the convolution or linear layer before it
(``w * g / sqrt(var + eps)``, ``(b - mean) * g / sqrt(var + eps) + beta``), and the identities at
inference (``Identity``, dropout), which are removed and reported. ``MaxPool2d`` and every other
layer are refused with the reason.

**Pre-flight.** The trace and the mapping run before anything is written; every unit that has no
exact NIR form is listed with its path and the reason, and the export stops.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from snnctl.export import Exporter, ExportContext, NIRContext, NotExportable, OpenedModel, Problem, Verification

TRACE_BATCH = 7  # a batch size unlikely to equal any feature dimension: it tells the batch axes apart
IDENTITY = "the identity at inference"


class NIRConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dt: float = Field(1e-4, gt=0, description="seconds one time step stands for (1e-4: what snnTorch's NIR import assumes)")


# -- the traced graph ---------------------------------------------------------------------------------------
@dataclass(eq=False)
class Node:
    """One unit call (or a flatten done by a function) and the nodes whose outputs feed it (summed)."""

    name: str
    path: str
    module: Optional[nn.Module]
    kind: str  # "unit", "flatten" or "input"
    inputs: list["Node"] = field(default_factory=list)
    in_shape: tuple[int, ...] = ()
    out_shape: tuple[int, ...] = ()
    batch_axes: int = 2  # leading axes of the input the module saw: 2 time-first [T, B, ...], 1 folded [T*B, ...]
    nir: Any = None
    removed: Optional[str] = None  # why the node is left out (identity, folded)
    problem: Optional[Problem] = None


#: functions that only re-lay a tensor out (time folded into the batch and back, or a flatten)
RESHAPES = {"flatten", "view", "reshape", "unflatten", "contiguous", "clone", "detach", "view_as", "reshape_as",
            "to", "float", "type_as"}
ADDS = {"add", "__add__", "__radd__", "__iadd__", "add_"}
#: tensor queries that return no tensor
QUERIES = {"dim", "size", "numel", "__len__", "__bool__", "__format__", "__repr__", "shape", "dtype", "device",
           "is_floating_point", "requires_grad", "__get__", "ndim", "is_contiguous", "stride", "data_ptr",
           "storage_offset", "element_size", "__hash__"}


def _fname(func: Any) -> str:
    name = getattr(func, "__name__", None) or repr(func)
    return name


class Tracer(TorchFunctionMode):
    """Records units and the data flow between them during one forward pass (see the module docstring)."""

    def __init__(self, model: nn.Module, units: dict[str, nn.Module], timesteps: int) -> None:
        super().__init__()
        self.model, self.units, self.t = model, units, timesteps
        self.nodes: list[Node] = []
        self.problems: list[Problem] = []
        self.producers: dict[int, tuple[Node, ...]] = {}
        self.keep: list[Tensor] = []  # keeps traced tensors alive, so their ids stay unique
        self.depth = 0
        self.stack: list[tuple[str, nn.Module]] = []
        self.calls: dict[str, int] = {}
        self.paths = {id(m): p for p, m in model.named_modules()}
        self.unit_ids = {id(m) for m in units.values()}

    # -- shapes ---------------------------------------------------------------------------------------------
    def features(self, t: Tensor) -> Optional[tuple[int, ...]]:
        """The per-sample shape of a time-first ``[T, B, ...]`` or time-folded ``[T*B, ...]`` tensor."""
        s = tuple(t.shape)
        if len(s) >= 2 and s[:2] == (self.t, TRACE_BATCH):
            return s[2:]
        if len(s) >= 1 and s[0] == self.t * TRACE_BATCH:
            return s[1:]
        return None

    def track(self, t: Tensor, producers: tuple[Node, ...]) -> None:
        self.producers[id(t)] = producers
        self.keep.append(t)

    def where(self) -> tuple[str, str]:
        """The innermost module whose forward is running: its path and type."""
        if not self.stack:
            return "", type(self.model).__name__
        path, module = self.stack[-1]
        return path, type(module).__name__

    def refuse(self, reason: str) -> None:
        path, kind = self.where()
        problem = Problem(path, kind, reason)
        if problem not in self.problems:
            self.problems.append(problem)

    # -- module hooks ---------------------------------------------------------------------------------------
    def enter(self, module: nn.Module, args: tuple) -> None:
        if self.depth == 0:
            self.stack.append((self.paths.get(id(module), "?"), module))
        if id(module) in self.unit_ids:
            self.depth += 1

    def leave(self, module: nn.Module, args: tuple, out: Any) -> None:
        is_unit = id(module) in self.unit_ids
        if is_unit:
            self.depth -= 1
        if self.depth == 0:
            path, _ = self.stack.pop()
            if is_unit:
                self.record_unit(path, module, args, out)

    def record_unit(self, path: str, module: nn.Module, args: tuple, out: Any) -> None:
        tensors = [a for a in args if torch.is_tensor(a)]
        if len(tensors) != 1 or len(args) != 1 or not torch.is_tensor(out):
            self.stack.append((path, module))
            self.refuse(f"takes {len(args)} argument(s) or returns no tensor: NIR nodes map one input to one output")
            self.stack.pop()
            if torch.is_tensor(out):
                self.track(out, tuple(p for t in tensors for p in self.producers.get(id(t), ())))
            return
        x = tensors[0]
        producers = self.producers.get(id(x))
        if producers is None:
            self.stack.append((path, module))
            self.refuse(f"the input of {path} is computed outside any layer NIR can express")
            self.stack.pop()
            producers = ()
        n = self.calls.get(path, 0)
        self.calls[path] = n + 1
        name = _node_name(path, self.model) + (f"#{n + 1}" if n else "")
        node = Node(name, path, module, "unit", list(producers), self.features(x) or (), self.features(out) or (),
                    batch_axes=2 if tuple(x.shape[:2]) == (self.t, TRACE_BATCH) else 1)
        self.nodes.append(node)
        self.track(out, (node,))

    # -- functions --------------------------------------------------------------------------------------------
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if self.depth == 0:
            self.on_function(func, args, kwargs, out)
        return out

    def on_function(self, func: Any, args: tuple, kwargs: dict, out: Any) -> None:
        name = _fname(func)
        if name in QUERIES or not (torch.is_tensor(out) or isinstance(out, (tuple, list))):
            return
        inputs = [a for a in (*args, *kwargs.values()) if torch.is_tensor(a)]
        traced = [a for a in inputs if id(a) in self.producers]
        if not traced:
            return
        if not torch.is_tensor(out):
            self.refuse(f"computes {name} (several outputs) outside any layer; NIR has no node for it")
            return
        if name in RESHAPES and len(traced) == 1:
            self.reshape(name, traced[0], out)
        elif name in ADDS and len(inputs) == 2 and len(traced) == 2 and not kwargs.get("alpha"):
            a, b = traced
            if self.features(a) != self.features(b):
                self.refuse(f"adds tensors of per-step shapes {self.features(a)} and {self.features(b)}")
            self.track(out, self.producers[id(a)] + self.producers[id(b)])
        else:
            self.refuse(f"computes {name} outside any layer; NIR has no node for it (a fan-in sum of two layers "
                        "and reshapes are the only operations allowed between layers)")
            # follow the data on, so the layers after it are checked without blaming them for it
            self.track(out, tuple(p for t in traced for p in self.producers[id(t)]))

    def reshape(self, name: str, x: Tensor, out: Tensor) -> None:
        before, after = self.features(x), self.features(out)
        if before == after or before is None or after is None:
            if before is None or after is None:
                self.refuse(f"{name} mixes the time or batch axis with the features: "
                            f"{list(x.shape)} -> {list(out.shape)}")
            self.track(out, self.producers[id(x)])
            return
        start = _flatten_start(before, after)
        if start is None:
            self.refuse(f"reshapes per-step features {list(before)} to {list(after)}: only a flatten has a NIR node")
            self.track(out, self.producers[id(x)])
            return
        path, _ = self.where()
        node = Node(f"{path or 'model'}.flatten{len(self.nodes)}", path, None, "flatten", list(self.producers[id(x)]),
                    before, after)
        node.nir = ("flatten", start, start + len(before) - len(after))
        self.nodes.append(node)
        self.track(out, (node,))


def _flatten_start(before: tuple[int, ...], after: tuple[int, ...]) -> Optional[int]:
    """The first flattened axis if ``after`` is ``before`` with consecutive axes merged into one."""
    for start in range(len(before)):
        for end in range(start + 1, len(before)):
            merged = before[:start] + (int(np.prod(before[start:end + 1])),) + before[end + 1:]
            if merged == after:
                return start
    return None


def _node_name(path: str, model: nn.Module) -> str:
    """A unit's node name: its module path, without the ``.layers`` of a one-layer ``SeqFold``."""
    from snnctl.nn import SeqFold

    head, _, tail = path.rpartition(".")
    if tail == "layers" and head:
        parent = model.get_submodule(head)
        if isinstance(parent, SeqFold):
            return head
    return path or "model"


# -- which modules are units ------------------------------------------------------------------------------
REMOVED = (nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout)
TABLE = (nn.Conv1d, nn.Conv2d, nn.Linear, nn.Flatten, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.BatchNorm1d,
         nn.BatchNorm2d, nn.MaxPool1d, nn.MaxPool2d, nn.AdaptiveMaxPool2d) + REMOVED


def find_units(model: nn.Module) -> dict[str, nn.Module]:
    """Modules mapped as a whole: those with ``to_nir``, torch layers of the table, components, and leaves."""
    from snnctl.nn import Attention, Neuron, StepDropout

    units: dict[str, nn.Module] = {}

    def visit(path: str, module: nn.Module) -> None:
        if (callable(getattr(module, "to_nir", None)) or isinstance(module, TABLE + (StepDropout, Neuron, Attention))
                or not any(True for _ in module.children())):
            units[path] = module
            return
        for name, child in module.named_children():
            visit(f"{path}.{name}" if path else name, child)

    for name, child in model.named_children():
        visit(name, child)
    return units


def trace(model: nn.Module, x: Tensor) -> tuple[list[Node], Node, tuple[Node, ...], list[Problem]]:
    """Units and data flow of one forward pass of ``model`` on ``x`` (a batch of ``TRACE_BATCH``)."""
    from snnctl.nn import reset_states

    units = find_units(model)
    tracer = Tracer(model, units, int(x.shape[0]))
    source = Node("input", "", None, "input", [], tuple(x.shape[2:]), tuple(x.shape[2:]))
    handles = []
    for m in [model, *[mm for _, mm in model.named_modules() if mm is not model]]:
        handles.append(m.register_forward_pre_hook(tracer.enter))
        handles.append(m.register_forward_hook(tracer.leave))
    try:
        with torch.no_grad(), tracer:
            tracer.track(x, (source,))
            out = model(x)
            result = tracer.producers.get(id(out))
    finally:
        for h in handles:
            h.remove()
        reset_states(model)
    if result is None:
        tracer.problems.append(Problem("", type(model).__name__, "the output is computed outside any layer NIR can express"))
        result = ()
    return tracer.nodes, source, result, tracer.problems


# -- mapping units to NIR nodes -----------------------------------------------------------------------------
def _pair(v: Any) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _arr(t: Optional[Tensor]) -> Optional[np.ndarray]:
    return None if t is None else t.detach().cpu().numpy().astype(np.float32)


def map_torch(node: Node) -> Any:
    """The NIR node of one of torch's layers (None: the identity), or NotExportable."""
    import nir

    m = node.module
    if isinstance(m, REMOVED):
        return None
    if isinstance(m, (nn.Conv1d, nn.Conv2d)):
        if m.padding_mode != "zeros":
            raise NotExportable(f"padding_mode '{m.padding_mode}': NIR convolutions pad with zeros")
        weight = _arr(m.weight)
        bias = _arr(m.bias) if m.bias is not None else np.zeros(m.out_channels, np.float32)
        padding = m.padding if isinstance(m.padding, str) else tuple(int(p) for p in m.padding)
        if isinstance(m, nn.Conv1d):
            return nir.Conv1d(input_shape=int(node.in_shape[-1]), weight=weight, stride=int(m.stride[0]),
                              padding=padding if isinstance(padding, str) else padding[0], dilation=int(m.dilation[0]),
                              groups=m.groups, bias=bias)
        return nir.Conv2d(input_shape=tuple(int(s) for s in node.in_shape[-2:]), weight=weight, stride=_pair(m.stride),
                          padding=padding, dilation=_pair(m.dilation), groups=m.groups, bias=bias)
    if isinstance(m, nn.Linear):
        if len(node.in_shape) != 1:
            raise NotExportable(f"applied to per-step shape {list(node.in_shape)}: NIR's Affine maps vectors")
        return nir.Affine(weight=_arr(m.weight), bias=_arr(m.bias)) if m.bias is not None else nir.Linear(weight=_arr(m.weight))
    if isinstance(m, nn.Flatten):
        full = len(node.in_shape) + node.batch_axes
        start, end = m.start_dim % full - node.batch_axes, m.end_dim % full - node.batch_axes
        if start < 0:
            raise NotExportable("flattens the batch or time axis into the features")
        return nir.Flatten(input_type={"input": np.array(node.in_shape)}, start_dim=start, end_dim=end)
    if isinstance(m, nn.AvgPool2d):
        if m.divisor_override:
            raise NotExportable("divisor_override: NIR's AvgPool2d divides by the kernel area")
        k, s = _pair(m.kernel_size), _pair(m.stride if m.stride is not None else m.kernel_size)
        p = _pair(m.padding)
        if any(p):
            raise NotExportable("padding: NIR does not say whether padded elements count in AvgPool2d's average")
        floor = tuple((n - kk) // ss + 1 for n, kk, ss in zip(node.in_shape[-2:], k, s))
        if tuple(node.out_shape[-2:]) != floor:
            raise NotExportable(f"ceil_mode makes the output {list(node.out_shape[-2:])}, NIR's pooling gives {list(floor)}")
        return nir.AvgPool2d(kernel_size=np.array(k), stride=np.array(s), padding=np.array(p))
    if isinstance(m, nn.AdaptiveAvgPool2d):
        h, w = (int(v) for v in node.in_shape[-2:])
        oh, ow = (int(v) for v in node.out_shape[-2:])
        if h % oh or w % ow:
            raise NotExportable(f"adaptive pooling of {h}x{w} to {oh}x{ow} has windows of unequal size; "
                                "NIR's AvgPool2d has one kernel")
        k = (h // oh, w // ow)
        return nir.AvgPool2d(kernel_size=np.array(k), stride=np.array(k), padding=np.array((0, 0)))
    if isinstance(m, (nn.MaxPool1d, nn.MaxPool2d, nn.AdaptiveMaxPool2d)):
        raise NotExportable("NIR has no max pooling node (only AvgPool2d and SumPool2d); "
                            "build the model with average pooling (VGG models: pool=avg)")
    if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
        return ("batchnorm",)
    raise NotExportable(f"no NIR node for torch.nn.{type(m).__name__}")


def map_unit(node: Node, dt: float) -> Any:
    """A unit's NIR node: its own ``to_nir(ctx)``, or the table of torch's layers."""
    from snnctl.nn import Attention, Neuron, StepDropout

    m = node.module
    to_nir = getattr(m, "to_nir", None)
    if callable(to_nir):
        return to_nir(NIRContext(node.path, tuple(node.in_shape), tuple(node.out_shape), dt))
    if isinstance(m, StepDropout):
        return None
    if isinstance(m, (Neuron, Attention)):
        kind = "neuron" if isinstance(m, Neuron) else "attention module"
        raise NotExportable(f"this {kind} ({type(m).__module__}.{type(m).__qualname__}) declares no NIR mapping "
                            "(a to_nir(ctx) method; see docs/export.md)")
    return map_torch(node)


# -- the exporter ----------------------------------------------------------------------------------------------
@dataclass
class Graph:
    nodes: list[Node]
    source: Node
    outputs: tuple[Node, ...]
    problems: list[Problem]
    folded: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    folds: list[tuple[str, str, np.ndarray, np.ndarray]] = field(default_factory=list)  # conv path, bn path, W, b


class NIRExporter(Exporter):
    """The network as a NIR graph, verified by snnctl's own NIR interpreter reading the file back."""

    suffix = ".nir"
    packages = ("nir",)

    def __init__(self, dt: float = 1e-4) -> None:
        self.dt = float(dt)
        self._graph: Optional[Graph] = None

    # -- pre-flight: trace and map --------------------------------------------------------------------------
    def build(self, model: nn.Module, ctx: ExportContext) -> Graph:
        x = next(iter(ctx.batches()))
        reps = -(-TRACE_BATCH // x.shape[1])
        x = x.repeat(1, reps, 1, 1, 1)[:, :TRACE_BATCH].float()
        nodes, source, outputs, problems = trace(model, x)
        graph = Graph(nodes, source, outputs, list(problems))
        for node in nodes:
            if node.kind == "flatten":
                import nir

                _, start, end = node.nir
                node.nir = nir.Flatten(input_type={"input": np.array(node.in_shape)}, start_dim=start, end_dim=end)
                continue
            try:
                node.nir = map_unit(node, self.dt)
            except NotExportable as exc:
                node.problem = Problem(node.name, type(node.module).__name__, exc.reason)
                graph.problems.append(node.problem)
                continue
            if node.nir is None:
                node.removed = IDENTITY
        self._fold(graph)
        for node in nodes:
            if node.removed == IDENTITY:
                graph.removed.append(f"{node.name} ({type(node.module).__name__})")
        return graph

    def _fold(self, graph: Graph) -> None:
        import nir

        def effective(n: Node) -> list[Node]:
            """The nodes feeding ``n`` once the identities (removed layers) between them are bypassed."""
            out: list[Node] = []
            for p in n.inputs:
                out += effective(p) if p.removed == IDENTITY else [p]
            return out

        consumers: dict[int, list[Node]] = {}
        for node in graph.nodes:
            if node.removed != IDENTITY:
                for p in effective(node):
                    consumers.setdefault(id(p), []).append(node)
        for node in graph.nodes:
            if not (isinstance(node.nir, tuple) and node.nir[0] == "batchnorm"):
                continue
            bn = node.module
            feeding = effective(node)
            prev = feeding[0] if len(feeding) == 1 else None
            ok = prev is not None and isinstance(prev.nir, (nir.Conv1d, nir.Conv2d, nir.Affine, nir.Linear)) \
                and len(consumers.get(id(prev), [])) == 1
            reason = None
            if prev is not None and prev.problem is not None:
                node.nir, node.removed = None, "follows a refused layer"  # the cause is listed already
                continue
            if not bn.track_running_stats or bn.running_mean is None:
                reason = "normalises with batch statistics at inference (track_running_stats=False)"
            elif not ok:
                reason = ("not preceded by a convolution or linear layer whose output only it reads; NIR has no "
                          "normalisation node, so BatchNorm is folded into that layer")
            if reason:
                node.problem = Problem(node.name, type(bn).__name__, reason)
                graph.problems.append(node.problem)
                continue
            scale = bn.weight.detach().double() if bn.affine else torch.ones_like(bn.running_var, dtype=torch.float64)
            shift = bn.bias.detach().double() if bn.affine else torch.zeros_like(bn.running_mean, dtype=torch.float64)
            s = scale / torch.sqrt(bn.running_var.double() + bn.eps)
            w = torch.from_numpy(prev.nir.weight).double()
            b = torch.from_numpy(getattr(prev.nir, "bias", np.zeros(w.shape[0], np.float32))).double()
            w = (w * s.view(-1, *([1] * (w.dim() - 1)))).float().numpy()
            b = ((b - bn.running_mean.double()) * s + shift).float().numpy()
            if isinstance(prev.nir, nir.Linear):
                prev.nir = nir.Affine(weight=w, bias=b)
            else:
                prev.nir.weight, prev.nir.bias = w, b
            node.nir, node.removed = None, "folded"
            graph.folded.append(f"{node.name} into {prev.name} (eps {bn.eps:g})")
            graph.folds.append((prev.path, node.path, w, b))

    def preflight(self, model: Any, ctx: ExportContext) -> list[Problem]:
        self._graph = self.build(model, ctx)
        return self._graph.problems

    # -- writing -----------------------------------------------------------------------------------------------
    def nir_graph(self, graph: Graph, src: OpenedModel) -> Any:
        import nir

        import snnctl

        model = src.model
        kept: dict[str, Any] = {}

        def feeds(n: Node) -> list[str]:
            """The kept nodes whose outputs reach ``n``'s input (removed nodes are bypassed)."""
            out: list[str] = []
            for p in n.inputs:
                for name in (["input"] if p.kind == "input" else [p.name] if p.nir is not None else feeds(p)):
                    if name not in out:
                        out.append(name)
            return out

        edges: list[tuple[str, str]] = []
        kept["input"] = nir.Input(input_type={"input": np.array([model.in_channels, *model.input_size])})
        for n in graph.nodes:
            if n.nir is None:
                continue
            kept[n.name] = n.nir
            edges += [(p, n.name) for p in feeds(n)]
        kept["output"] = nir.Output(output_type={"output": np.array([model.num_classes])})
        out_feeds = feeds(Node("output", "", None, "unit", list(graph.outputs)))
        edges += [(p, "output") for p in out_feeds]
        metadata = {
            "producer": f"snnctl {snnctl.__version__}",
            "dt": self.dt,
            "time_unit": "s",
            "discretisation": "forward-euler: v[t] = v[t-1] + dt * dv/dt, one input frame per step",
            "timesteps": int(model.timesteps),
            "input_layout": "[T, B, C, H, W] frames, one per step",
            "model": src.name,
            "classes": json.dumps(src.classes),
            "data": json.dumps(None if src.data is None else {"name": src.data.name, "args": src.data.args,
                                                              "split_by": src.data.split_by,
                                                              "downsample": src.data.downsample}, sort_keys=True),
            "source": json.dumps(src.provenance, sort_keys=True),
        }
        return nir.NIRGraph(nodes=kept, edges=edges, metadata=metadata, type_check=True)

    def write(self, model: Any, path: Path, ctx: ExportContext) -> dict[str, Any]:
        import nir

        graph = self._graph or self.build(model, ctx)
        g = self.nir_graph(graph, ctx.source)
        nir.write(str(path), g)
        self._neurons = {n.path: n.name for n in graph.nodes if n.nir is not None and _is_neuron(n.module)}
        return {"folded": graph.folded, "removed": graph.removed, "dt": self.dt, "nodes": len(g.nodes),
                "edges": len(g.edges), "versions": {"nir": _version("nir")}}

    # -- verification --------------------------------------------------------------------------------------------
    def folded_reference(self, model: nn.Module, graph: Graph) -> nn.Module:
        """A float64 copy of ``model`` with BatchNorm folded exactly as written: the network the file describes."""
        import copy

        ref = copy.deepcopy(model).double().eval()
        for conv_path, bn_path, w, b in graph.folds:
            layer = ref.get_submodule(conv_path)
            layer.weight = nn.Parameter(torch.from_numpy(w).double())
            layer.bias = nn.Parameter(torch.from_numpy(b).double())
            parent, _, leaf = bn_path.rpartition(".")
            setattr(ref.get_submodule(parent) if parent else ref, leaf, nn.Identity())
        return ref

    def verify(self, path: Path, model: Any, ctx: ExportContext) -> Verification:
        from snnctl.export.verify import compare_runs, torch_run
        from snnctl_plugins.nir_interpreter import load_graph

        graph = self._graph or self.build(model, ctx)
        interpreted = load_graph(path).model
        names = self._neurons
        own = interpreted.module_names()
        strict = compare_runs(torch_run(self.folded_reference(model, graph), torch.float64, names),
                              torch_run(interpreted.double(), torch.float64, own), ctx.batches(),
                              runtime="snnctl's NIR interpreter (the file read back with nir.read), float64", tolerance=1e-9,
                              relative=True, require_spikes=True)
        f32 = compare_runs(torch_run(model, torch.float32, names), torch_run(interpreted.float(), torch.float32, own),
                           ctx.batches(), runtime="float32", tolerance=float("inf"))
        spikes = f32.spikes or {}
        strict.details.update({
            "reference": "the model in float64 with BatchNorm folded as written",
            "against_trained_model": {
                "precision": "float32", "argmax_agreement": f32.argmax_agreement,
                "max_abs_logit_diff": f32.max_abs_logit_diff,
                "spikes_compared": sum(r["compared"] for r in spikes.values()),
                "spikes_differ": sum(r["differ"] for r in spikes.values()),
                "samples_with_flipped_spikes": f32.details["samples_with_flipped_spikes"], "spikes": spikes},
        })
        return strict

    # -- reading -------------------------------------------------------------------------------------------------
    def can_load(self, path: Path) -> bool:
        from snnctl_plugins.nir_interpreter import is_nir_file

        return is_nir_file(path)

    def load(self, path: Path, **options: Any) -> OpenedModel:
        from snnctl_plugins.nir_interpreter import load_graph

        return load_graph(path, **options)


def _is_neuron(m: Any) -> bool:
    from snnctl.nn import Neuron

    return isinstance(m, Neuron)


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)
