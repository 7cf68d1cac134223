"""The ``onnx`` format: the multi-step network unrolled over its T, for ONNX Runtime and other ONNX consumers.

One input ``events`` ``[T, batch, C, H, W]`` (float32, T fixed, batch dynamic), one output ``logits``
``[T, batch, K]``, the per-step logits (the prediction is the argmax of their mean over T). Every
layer is included, SMA too; regularizers act in training only, so AZO is absent, as it is at
inference in PyTorch.

The exporter is chosen explicitly, so the file is the same on every supported torch: the
``torch.export``-based exporter (``torch.onnx.export(..., dynamo=True)``, the default since torch 2.9,
the only one that handles the data-dependent pooling shapes of these models with a dynamic batch)
at a fixed opset (18 unless set). The TorchScript exporter (``dynamo=False``) is deprecated since
torch 2.9 and fails on these models' adaptive pooling with a dynamic batch, on torch 2.11 and 2.13 alike.

Verification runs the written file in ONNX Runtime on the CPU. To see spikes as well as logits,
the network is exported once with every spiking layer's output as an extra graph output (the
*probe*); the written file is the probe's sub-graph that computes ``logits`` alone, so the spikes
the probe shows are those of the file. Logits of samples whose spikes all agree must match within
``tolerance``; spikes may flip only where float32 reassociation moves a membrane that sits on the
threshold, which is bounded by ``max_flip_fraction``.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor, nn

from snnctl.export import Exporter, ExportContext, Problem, Verification

INPUT, OUTPUT = "events", "logits"
PROTOBUF_LIMIT = 2 << 30


class ONNXConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    opset: int = Field(18, ge=18, description="ONNX opset of the graph (the torch.export-based exporter needs 18 or newer)")
    tolerance: float = Field(1e-4, gt=0, description="largest logit difference allowed on a sample whose spikes all "
                                                     "agree, times 1 + the sample's largest |logit|")
    max_flip_fraction: float = Field(1e-4, ge=0, description="largest share of spikes that may differ from PyTorch "
                                                             "(membranes within rounding of the threshold)")


class _Probe(nn.Module):
    """The model, returning its logits and every spiking layer's output (in module order)."""

    def __init__(self, model: nn.Module) -> None:
        from snnctl.nn import Neuron

        super().__init__()
        self.model = model
        self.names = [n for n, m in model.named_modules() if isinstance(m, Neuron)]

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        from snnctl.nn import Neuron

        got: list[Tensor] = []
        handles = [m.register_forward_hook(lambda _m, _i, out: got.append(out))
                   for m in self.model.modules() if isinstance(m, Neuron)]
        try:
            y = self.model(x)
        finally:
            for h in handles:
                h.remove()
        return (y, *got)


@contextlib.contextmanager
def _quiet():
    """torch.onnx prints progress on stdout and logs warnings about packages this export does not use."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._export", "onnxscript")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


class ONNXExporter(Exporter):
    """The network unrolled over T as an ONNX graph, verified in ONNX Runtime."""

    suffix = ".onnx"
    packages = ("onnx", "onnxruntime", "onnxscript")

    def __init__(self, opset: int = 18, tolerance: float = 1e-4, max_flip_fraction: float = 1e-4) -> None:
        self.opset, self.tolerance, self.max_flip_fraction = opset, tolerance, max_flip_fraction
        self._probe: Any = None

    def preflight(self, model: Any, ctx: ExportContext) -> list[Problem]:
        import inspect

        from snnctl.errors import SnnctlError

        wanted = {"dynamo", "dynamic_shapes", "external_data", "optimize"}
        if not wanted <= set(inspect.signature(torch.onnx.export).parameters):
            raise SnnctlError(f"the 'onnx' format needs torch's torch.export-based ONNX exporter, which torch "
                              f"{torch.__version__} lacks", "Use torch 2.6 or newer for ONNX export (snnctl supports 2.4-2.13).")
        size = sum(t.numel() * t.element_size() for t in model.state_dict().values())
        if size >= PROTOBUF_LIMIT:
            return [Problem("", type(model).__name__, f"{size / 2**30:.1f} GiB of weights: one ONNX file holds at most "
                                                      "2 GiB (protobuf); export to 'bundle' instead")]
        return []

    def _example(self, ctx: ExportContext) -> Tensor:
        x = next(iter(ctx.batches()))
        # a batch of 1 would be specialised to a constant by torch.export: trace with at least 2
        return x if x.shape[1] > 1 else torch.cat([x, x], 1)

    def write(self, model: Any, path: Path, ctx: ExportContext) -> dict[str, Any]:
        import onnx

        from snnctl.nn import reset_states

        probe = _Probe(model).eval()
        x = self._example(ctx).float()
        reset_states(model)
        try:
            with _quiet(), torch.no_grad():
                program = torch.onnx.export(
                    probe, (x,), dynamo=True, opset_version=self.opset, input_names=[INPUT],
                    output_names=[OUTPUT, *probe.names], dynamic_shapes=({1: torch.export.Dim("batch")},),
                    external_data=False, optimize=True, verbose=False)
        finally:
            reset_states(model)  # the export leaves traced state in the neurons
        self._probe = program.model_proto
        self._probe_names = probe.names
        graph = onnx.utils.Extractor(self._probe).extract_model([INPUT], [OUTPUT])
        for node in graph.graph.node:  # the exporter's stack traces: paths of this machine, half the file
            del node.metadata_props[:]
        graph.producer_name, graph.doc_string = "snnctl", f"{ctx.source.name}: per-step logits [T, batch, K]"
        onnx.checker.check_model(graph)
        onnx.save(graph, str(path))
        return {"opset": self.opset, "exporter": "torch.onnx.export(dynamo=True)", "nodes": len(graph.graph.node),
                "versions": _versions()}

    def verify(self, path: Path, model: Any, ctx: ExportContext) -> Verification:
        import onnxruntime as ort

        from snnctl.export.verify import compare_runs, torch_run

        if self._probe is None:
            raise RuntimeError("verify() runs after write()")
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        written = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        probe = ort.InferenceSession(self._probe.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        names = self._probe_names
        identical = {"batches": 0, "same": 0}

        def onnx_run(x: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
            feed = {INPUT: x.float().numpy()}
            logits = written.run([OUTPUT], feed)[0]
            outs = probe.run(None, feed)
            identical["batches"] += 1
            identical["same"] += int((outs[0] == logits).all())
            return torch.from_numpy(logits).double(), {n: torch.from_numpy(o) != 0 for n, o in zip(names, outs[1:])}

        check = compare_runs(torch_run(model), onnx_run, ctx.batches(), tolerance=self.tolerance, relative=True,
                             runtime=f"onnxruntime {ort.__version__} (CPUExecutionProvider)",
                             max_flip_fraction=self.max_flip_fraction, require_spikes=True)
        if identical["same"] != identical["batches"]:
            check.failures.append("the written file's logits differ from the probe graph's it was cut from")
        return check


def _versions() -> dict[str, str]:
    import onnx
    import onnxruntime
    import onnxscript

    return {"onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__, "onnxscript": onnxscript.__version__}
