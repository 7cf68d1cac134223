"""What ``snnctl profile`` runs on: the model (by registry name or from a run directory) and its samples.

A model name is built to fit the dataset: the model's ``in_channels``, ``num_classes``, ``input_size``
and ``timesteps`` fields (where its config has them) are set from the dataset's frames, T being
``timesteps`` or the dataset's default; ``model_args`` override them. A run directory (it holds
``config.yaml``) or an exported file (a bundle, a NIR graph) brings its trained model, its T and its
dataset settings (a NIR graph from another tool: the given ``data``, else the default). Samples come from the
frame cache (built on first use, as ``snnctl preprocess`` would), spread evenly over the split so every
class is represented; with ``random_input`` they are uniform random tensors of the model's input shape.

:meth:`Target.profiled_on` says which input shapes are profiled and why; for a model name refitted to
data of other shapes than its own settings (``vgg8-sma``'s preset is DVS128: 2x128x128, 11 classes,
T=16; the default data is 2x32x32, 8 classes, T=8) it also gives those settings and the options that
profile them (``--data dvsgesture``, ``--random-input``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch
from torch import nn

from snnctl.data.base import make_dataset
from snnctl.engine.build import describe_data, resolve_device
from snnctl.engine.samples import DataSpec, Samples, load_samples
from snnctl.errors import ConfigError, SnnctlError

__all__ = ["DEFAULT_DATASET", "DataSpec", "Target", "open_target", "Samples", "load_samples"]

DEFAULT_DATASET = "synthetic-gestures"
FIT_FIELDS = ("in_channels", "num_classes", "input_size", "timesteps")

#: why a target runs on the input it runs on (:attr:`Target.why`)
WHY = {
    "default-data": "the default data, as no --data was given; the model was built to fit it",
    "given-data": "the data given with --data; the model was built to fit it",
    "run-data": "the data the run was trained on",
    "file-data": "the data the file records",
    "given-data-trained": "the data given with --data",
    "default-data-trained": "the default data, as no --data was given and the file records none",
    "random-input": "--random-input: uniform random input of the model's own shapes",
}


@dataclass
class Target:
    """The model to profile, where it came from, and its data (None: random input)."""

    model: nn.Module
    name: str
    source: str  # "registry", "run", or the format of an exported file ("bundle", "nir")
    timesteps: int
    path: Optional[Path] = None
    data: Optional[DataSpec] = None
    #: a key of :data:`WHY`: why the model runs on this input
    why: str = "default-data"
    #: a model name's own settings (``in_channels``, ``num_classes``, ``input_size``, ``timesteps``, and
    #: ``preset`` where its config has one) where the data's shapes replaced them; None when they did not
    own: Optional[dict[str, Any]] = None
    #: the options that profile the model's own settings instead (``--data dvsgesture``, ``--random-input``)
    own_options: list[str] = field(default_factory=list)

    def profiled_on(self) -> dict[str, Any]:
        """Which input shapes are profiled and why (JSON-ready), with ``text``, the same in one sentence.

        ``shape`` is one sample, ``[T, C, H, W]``. ``model_defaults`` (None unless the data's shapes
        replaced a model name's own settings) holds those settings and ``options`` what profiles them.
        """
        m = self.model
        size = tuple(getattr(m, "input_size", None) or (None, None))
        shape = [self.timesteps, getattr(m, "in_channels", None), *size]
        classes = getattr(m, "num_classes", None)
        where = "random input" if self.data is None else self.data.name
        text = f"profiled on {where}: {_shape_text(shape[1], size, classes, self.timesteps)} ({WHY[self.why]})"
        if self.own is not None:
            preset = f" (preset {self.own['preset']})" if self.own.get("preset") else ""
            own = _shape_text(self.own.get("in_channels"), self.own.get("input_size"), self.own.get("num_classes"),
                              self.own.get("timesteps"))
            text += f"; {self.name}'s own settings{preset} are {own}"
            if self.own_options:
                text += f": profile them with {' or '.join(self.own_options)}"
        return {"dataset": None if self.data is None else self.data.name, "random": self.data is None,
                "why": self.why, "shape": shape, "classes": classes, "timesteps": self.timesteps,
                "model_defaults": self.own, "options": list(self.own_options), "text": text}

    def describe(self) -> dict[str, Any]:
        m = self.model
        return {
            "name": self.name, "source": self.source, "path": str(self.path) if self.path else None,
            "parameters": sum(p.numel() for p in m.parameters()), "timesteps": self.timesteps,
            "input": [getattr(m, "in_channels", None), *getattr(m, "input_size", (None, None))],
            "classes": getattr(m, "num_classes", None),
        }


def _shape_text(channels: Any, size: Any, classes: Any, timesteps: Any) -> str:
    dims = "x".join(str(v) for v in (channels, *(size or ())) if v is not None) or "unknown shape"
    parts = [dims] + ([f"{classes} classes"] if classes is not None else []) + \
        ([f"T={timesteps}"] if timesteps is not None else [])
    return ", ".join(parts)


def _looks_like_path(arg: str) -> bool:
    from snnctl.registry import NAME_RE

    return "/" in arg or "\\" in arg or arg.startswith(".") or not NAME_RE.match(arg)


def open_target(model_or_run: str, *, data: Optional[str] = None, data_args: Optional[dict[str, Any]] = None,
                model_args: Optional[dict[str, Any]] = None, timesteps: Optional[int] = None,
                root: Optional[Path] = None, cache_dir: Optional[Path] = None, which: str = "best",
                random_input: bool = False, device: str | torch.device = "cpu",
                load_options: Optional[dict[str, Any]] = None) -> Target:
    """The model and its data from a model name, a run directory or an exported file (see the module docstring).

    ``load_options`` go to the loader of an exported file (NIR graphs: ``dt``).
    """
    path = Path(model_or_run).expanduser()
    if path.exists():
        target = _open_saved(path, data, data_args, model_args, timesteps, root, cache_dir, which, random_input,
                             load_options or {})
    elif _looks_like_path(model_or_run):
        raise SnnctlError(f"{model_or_run}: no such run directory or file",
                          "Give a run directory (it holds config.yaml), a bundle or NIR graph, or a model name "
                          "('snnctl list models').")
    else:
        target = _open_model(model_or_run, data, data_args, model_args, timesteps, root, cache_dir, random_input)
    target.model.to(resolve_device(str(device)))
    return target


def _open_model(name: str, data: Optional[str], data_args: Optional[dict[str, Any]],
                model_args: Optional[dict[str, Any]], timesteps: Optional[int], root: Optional[Path],
                cache_dir: Optional[Path], random_input: bool) -> Target:
    import snnctl

    entry = snnctl.registry().get("model", name)
    if random_input and (data is not None or data_args):
        raise ConfigError("--data: random input uses no dataset", "Leave out --random-input, or --data.")
    fields = entry.config.model_fields
    fit: dict[str, Any] = {}
    spec: Optional[DataSpec] = None
    if not random_input:
        spec = DataSpec(data or DEFAULT_DATASET, dict(data_args or {}), root, cache_dir)
        info = describe_data(spec.name, make_dataset(spec.name, spec.args), timesteps, spec.downsample, root)
        fit = dict(in_channels=info.in_channels, num_classes=info.num_classes, input_size=info.input_size,
                   timesteps=info.timesteps)
    elif timesteps is not None:
        fit = dict(timesteps=timesteps)
    args = {**{k: v for k, v in fit.items() if k in fields}, **(model_args or {})}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # an untrained model gets the same weights on every run, so profiles compare
        model = snnctl.create_model(name, **args)
    t = int(getattr(model, "timesteps", 0) or fit.get("timesteps") or 0)
    if t < 1:
        raise ConfigError(f"model '{name}' has no 'timesteps'", "Give --timesteps.")
    if spec is None:
        return Target(model, name, "registry", t, why="random-input")
    _check_fit(model, name, fit, spec.name)
    target = Target(model, name, "registry", t, data=spec, why="given-data" if data is not None else "default-data")
    fixed = set(model_args or {}) | ({"timesteps"} if timesteps is not None else set())
    target.own, target.own_options = _own_settings(name, model_args or {}, fit, fixed, spec.name)
    return target


def _own_settings(name: str, model_args: dict[str, Any], fit: dict[str, Any], fixed: set[str],
                  dataset: str) -> tuple[Optional[dict[str, Any]], list[str]]:
    """A model name's own shape settings where the data's replaced them, and the options that profile them."""
    import snnctl

    reg = snnctl.registry()
    try:
        cfg = reg.validate("model", name, model_args)
    except SnnctlError:  # no defaults of its own (fields without defaults, or defaults that need the data)
        return None, []
    own = {k: getattr(cfg, k) for k in FIT_FIELDS if k in type(cfg).model_fields}
    own = {k: list(v) if isinstance(v, tuple) else v for k, v in own.items()}
    replaced = [k for k, v in own.items() if v is not None and k not in fixed and _norm(v) != _norm(fit.get(k))]
    if not replaced:
        return None, []
    preset = getattr(cfg, "preset", None)
    if isinstance(preset, str) and preset != "none":
        own["preset"] = preset
    options = []
    if isinstance(preset, str) and preset != dataset and ("dataset", preset) in reg:
        try:  # the preset names a registered dataset: its frames may have exactly these shapes
            info = describe_data(preset, make_dataset(preset, {}), None, 1, None, download=False)
        except (SnnctlError, OSError):
            info = None
        if info is not None and (info.in_channels, _norm(info.input_size), info.num_classes) == \
                (own.get("in_channels"), _norm(own.get("input_size")), own.get("num_classes")):
            option = f"--data {preset}"
            if own.get("timesteps") is not None and own["timesteps"] != info.timesteps:
                option += f" -T {own['timesteps']}"
            options.append(option)
    options.append("--random-input")
    return own, options


def _norm(value: Any) -> Any:
    return tuple(value) if isinstance(value, (list, tuple)) else value


def _check_fit(model: nn.Module, name: str, fit: dict[str, Any], dataset: str) -> None:
    have = (getattr(model, "in_channels", None), tuple(getattr(model, "input_size", ())) or None)
    want = (fit["in_channels"], tuple(fit["input_size"]))
    if have[0] is not None and have[1] is not None and have != want:
        raise ConfigError(
            f"model '{name}' takes {have[0]} x {have[1][0]} x {have[1][1]} input but '{dataset}' frames are "
            f"{want[0]} x {want[1][0]} x {want[1][1]}",
            "Set the model's input with --model-set in_channels=... --model-set input_size=[H,W], "
            "or profile on --random-input.",
        )


def _open_saved(path: Path, data: Optional[str], data_args: Optional[dict[str, Any]],
                model_args: Optional[dict[str, Any]], timesteps: Optional[int], root: Optional[Path],
                cache_dir: Optional[Path], which: str, random_input: bool, load_options: dict[str, Any]) -> Target:
    """A trained model: a run directory, or a file ``snnctl.load`` reads (a bundle, a NIR graph)."""
    from snnctl.export import open_model

    if model_args:
        raise ConfigError("--model-set: a trained model's settings are fixed by the model itself",
                          "Leave out --model-set, or profile a model name instead.")
    opened = open_model(path, which, **load_options)
    t = opened.timesteps
    if timesteps is not None and t and timesteps != t:
        raise ConfigError(f"--timesteps {timesteps}: the model was trained with T={t}",
                          "Leave out --timesteps; a trained model is profiled at its own T.")
    spec: Optional[DataSpec] = None
    why = "random-input"
    if not random_input:
        spec = opened.data.choose(data, data_args, root, cache_dir) if opened.data is not None else \
            DataSpec(data or DEFAULT_DATASET, dict(data_args or {}), root, cache_dir)
        if opened.data is not None and (data is None or data == opened.data.name):
            why = "run-data" if opened.kind == "run" else "file-data"
        else:
            why = "given-data-trained" if data is not None else "default-data-trained"
    if not t:  # a graph that records no T: the given one, else the dataset's
        if timesteps is None and spec is None:
            raise ConfigError(f"{path} records no number of time steps", "Give --timesteps.")
        t = timesteps or describe_data(spec.name, make_dataset(spec.name, spec.args), None, spec.downsample,
                                       spec.root).timesteps
        opened.model.timesteps = t
    return Target(opened.model, opened.name, opened.kind, t, path=path, data=spec, why=why)
