"""First-party exporters: ``bundle`` (safetensors with everything to rebuild the model), ``onnx`` and ``nir``.

Each format lives in its own module; the optional packages a format needs (``pip install
'snnctl[export]'``) are imported only when it is used.
"""

from __future__ import annotations

from snnctl import hookimpl


@hookimpl
def register_exporters(register):
    from snnctl_plugins.export_bundle import BundleExporter
    from snnctl_plugins.export_nir import NIRConfig, NIRExporter
    from snnctl_plugins.export_onnx import ONNXConfig, ONNXExporter

    register("bundle", BundleExporter,
             description="one safetensors file: weights plus the model's registry names, settings, T, classes and data")
    register("onnx", ONNXExporter, config=ONNXConfig,
             description="the network unrolled over T for ONNX Runtime, [T, batch, C, H, W] in, per-step logits out")
    register("nir", NIRExporter, config=NIRConfig,
             description="the Neuromorphic Intermediate Representation (HDF5) for neuromorphic toolchains, BatchNorm folded")
