"""The ``bundle`` format: one self-describing safetensors file that rebuilds the model through the registry.

Tensors: the model's ``state_dict`` (weights and buffers), unchanged. Metadata (every value a string;
structured values are JSON with sorted keys)::

    format          snnctl-bundle-1
    snnctl_version  the version that wrote it
    model           {"name": registry name, "args": every validated setting}
    components      [{"kind", "name", "plugin", "distribution", "version", "use"}]: the components the
                    model is built from ("use": "model"; needed to load it), the dataset ("data")
                    and the regularizers it was trained with ("training")
    timesteps       T;  input_shape  [C, H, W];  classes  [names]
    data            {"name", "args", "split_by", "downsample"}: the training data, for evaluation
    run_config      the resolved run config of the training run
    source          {"run", "checkpoint", "epoch", "config_hash"}

The file is written by :func:`snnctl.files.safetensors_bytes`, so the same weights and
metadata always give the same bytes, and read back by the safetensors library.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import torch

from snnctl.errors import SnnctlError, SnnctlWarning, UnknownNameError
from snnctl.export import Exporter, ExportContext, OpenedModel, Problem, Verification, component_record
from snnctl.files import read_safetensors_header, safetensors_bytes, write_file

FORMAT = "snnctl-bundle-1"


def _js(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


class BundleExporter(Exporter):
    """Weights and everything needed to rebuild the model, in one safetensors file."""

    suffix = ".safetensors"

    def preflight(self, model: Any, ctx: ExportContext) -> list[Problem]:
        if ctx.source.model_args is None:
            return [Problem("", type(model).__name__, "not a registry model: a bundle rebuilds its model by name, "
                                                      "and this one was not built from the registry")]
        return []

    def metadata(self, src: OpenedModel) -> dict[str, str]:
        import snnctl

        model = src.model
        components = [{**c, "use": c.get("use", "model")} for c in src.components]
        cfg = src.config
        if cfg is not None and src.kind == "run":
            reg = snnctl.registry()
            extra = [("data", "dataset", cfg.data.name)] + [("training", "regularizer", r.name) for r in cfg.regularizers]
            for use, kind, name in extra:
                if (kind, name) in reg:
                    components.append({**component_record(reg.get(kind, name)), "use": use})
        data = src.data
        return {
            "format": FORMAT,
            "snnctl_version": snnctl.__version__,
            "model": _js({"name": src.name, "args": src.model_args}),
            "components": _js(components),
            "timesteps": str(model.timesteps),
            "input_shape": _js([model.in_channels, *model.input_size]),
            "classes": _js(src.classes),
            "data": _js(None if data is None else {"name": data.name, "args": data.args, "split_by": data.split_by,
                                                    "downsample": data.downsample}),
            "run_config": _js(cfg.model_dump(mode="json") if cfg is not None else None),
            "source": _js(src.provenance),
        }

    def write(self, model: Any, path: Path, ctx: ExportContext) -> dict[str, Any]:
        import safetensors

        state = model.state_dict()
        write_file(path, safetensors_bytes(state, self.metadata(ctx.source)), "the bundle")
        return {"tensors": len(state), "components": [f"{c['kind']} {c['name']}" for c in ctx.source.components],
                "versions": {"safetensors": safetensors.__version__}}

    def verify(self, path: Path, model: Any, ctx: ExportContext) -> Verification:
        import safetensors

        from snnctl.export.verify import compare_runs, torch_run

        reloaded = self.load(path).model
        want, got = model.state_dict(), reloaded.state_dict()
        same = [k for k in want if k in got and want[k].dtype == got[k].dtype and torch.equal(want[k], got[k])]
        check = compare_runs(torch_run(model), torch_run(reloaded), ctx.batches(),
                             runtime=f"safetensors {safetensors.__version__} + snnctl.load", tolerance=0.0)
        check.details["tensors_identical"] = f"{len(same)} of {len(want)}"
        if len(same) != len(want) or len(got) != len(want):
            check.failures.append(f"only {len(same)} of {len(want)} tensors read back identical")
        return check

    # -- reading ---------------------------------------------------------------------------------------------
    def can_load(self, path: Path) -> bool:
        if not Path(path).is_file():
            return False
        header = read_safetensors_header(path)
        return header is not None and (header.get("__metadata__") or {}).get("format") == FORMAT

    def load(self, path: Path, **options: Any) -> OpenedModel:
        import snnctl
        from snnctl.engine.checkpoint import load_state, read_model_file
        from snnctl.engine.samples import DataSpec
        from snnctl.nn import SpikingModel

        if options:
            raise SnnctlError(f"a bundle takes no loading options (got {', '.join(sorted(options))})")
        path = Path(path)
        state, meta = read_model_file(path, "The bundle is damaged; export it again from its run folder.")
        fields = {key: _field(path, meta, key) for key in ("model", "components", "classes", "data", "run_config", "source")}
        model_ref, components = fields["model"], fields["components"]
        if not isinstance(model_ref, dict) or not isinstance(model_ref.get("name"), str) or \
                not isinstance(model_ref.get("args"), dict) or not isinstance(components, list):
            raise SnnctlError(f"{path}: metadata 'model' or 'components' is not in the bundle format",
                              "The file is damaged or was not written by 'snnctl export'.")
        reg = snnctl.registry()
        for c in components:
            if c.get("use", "model") == "model":
                _require(reg, path, c)
        with reg.recording() as used:
            model = reg.create_as("model", model_ref["name"], SpikingModel, "snnctl.nn.SpikingModel", **model_ref["args"])
        load_state(model, state, path)
        model.eval()
        _warn_versions(path, components, used)
        data = fields["data"]
        cfg = _run_config(fields["run_config"])
        return OpenedModel(
            model=model, kind="bundle", path=path, name=model_ref["name"], classes=fields["classes"],
            data=None if not isinstance(data, dict) else DataSpec(data["name"], dict(data.get("args") or {}),
                                                                  split_by=data.get("split_by", "number"),
                                                                  downsample=int(data.get("downsample", 1))),
            config=cfg, components=components, provenance=fields["source"] or {}, model_args=model_ref["args"],
        )


def _field(path: Path, meta: dict[str, str], key: str) -> Any:
    if key not in meta:
        raise SnnctlError(f"{path}: the bundle metadata has no '{key}'", "The file is damaged or was not written "
                                                                         "by 'snnctl export'.")
    try:
        return json.loads(meta[key])
    except json.JSONDecodeError:
        raise SnnctlError(f"{path}: the bundle metadata '{key}' is not JSON", "The file is damaged.") from None


def _require(reg: Any, path: Path, c: dict[str, Any]) -> None:
    kind, name = c.get("kind"), c.get("name")
    try:
        reg.get(kind, name)
    except UnknownNameError:
        release = " ".join(str(p) for p in (c.get("distribution"), c.get("version")) if p)
        source = f"plugin '{c.get('plugin')}'" + (f" ({release})" if release else "")
        install = (f"pip install '{c['distribution']}=={c['version']}'" if c.get("distribution") and c.get("version")
                   else "load its plugin file with --plugins-dir")
        raise SnnctlError(f"{path} needs {kind} '{name}' from {source}, which is not installed or not loaded",
                          f"Install it ({install}); 'snnctl plugins' lists what is loaded.") from None


def _warn_versions(path: Path, components: list[dict[str, Any]], used: list[Any]) -> None:
    saved = {(c.get("kind"), c.get("name")): c.get("version") for c in components}
    for e in used:
        was = saved.get((e.kind, e.name))
        if was and e.provider.version and was != e.provider.version:
            warnings.warn(f"{path}: {e.kind} '{e.name}' was saved with {e.provider.distribution} {was} and is loaded "
                          f"with {e.provider.version}", SnnctlWarning, stacklevel=3)


def _run_config(tree: Any) -> Any:
    if not isinstance(tree, dict):
        return None
    from snnctl.config import validate_config

    try:
        return validate_config(tree, "bundle run config")
    except SnnctlError:  # written by another snnctl version: the model does not depend on it
        return None
