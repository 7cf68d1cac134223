"""Exporting trained models, and loading what was exported.

Exporters are registry components (kind ``exporter``, hook ``register_exporters``); the built-in
``bundle``, ``onnx`` and ``nir`` are plugins like any other. ::

    import snnctl
    from snnctl.export import export

    report = export("runs/default", "onnx")            # pre-flight, write, verify, rename, report
    model = snnctl.load("runs/default/export/vgg5-sma-best.safetensors")   # a bundle, in eval mode

See :mod:`snnctl.export.base` for the exporter contract and docs/export.md for every format.
"""

from __future__ import annotations

from snnctl.export.base import (
    ExportContext, Exporter, ExportRefused, NIRContext, NotExportable, Problem, Verification, VerificationFailed,
    require_packages,
)
from snnctl.export.run import ALL_SAMPLES, default_output, export
from snnctl.export.source import OpenedModel, component_record, load, open_model

__all__ = [
    "Exporter", "ExportContext", "Problem", "Verification", "NotExportable", "NIRContext", "ExportRefused",
    "VerificationFailed", "require_packages", "export", "default_output", "ALL_SAMPLES", "OpenedModel",
    "open_model", "load", "component_record",
]
