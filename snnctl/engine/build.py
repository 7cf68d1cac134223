"""Names become objects here, and only here: dataset, model and regularizers from a run config.

Everything that can be checked without touching data is checked first (:func:`check_components`), so
an unknown model, dataset, neuron, attention or regularizer name, or an argument one of them does not
accept, fails with the dotted path of the setting before any preprocessing, download or training starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch
from torch import Tensor

from snnctl.config import RunConfig
from snnctl.errors import ConfigError

__all__ = ["DataInfo", "check_names", "check_components", "check_args", "make_run_dataset", "describe_data", "data_info", "build_model", "resolved_model_args",
           "attach_regularizers"]


@dataclass
class DataInfo:
    """What the model must fit: input channels, size, classes and T, and how samples become ``[T, B, ...]``."""

    name: str
    kind: str  # "events" (frames [T, P, H, W] per sample) or "images" ([C, H, W], repeated over T)
    classes: list[str]
    in_channels: int
    input_size: tuple[int, int]
    timesteps: int
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def encode(self, x: Tensor) -> Tensor:
        """A loader batch as the model's input ``[T, B, C, H, W]``.

        Event frames arrive as ``[B, T, P, H, W]`` and are transposed; static images ``[B, C, H, W]``
        are copied into every step (direct encoding, spec §4.3).
        """
        if self.kind == "images":
            return x.unsqueeze(0).expand(self.timesteps, *x.shape)
        return x.transpose(0, 1)


def check_names(cfg: RunConfig) -> None:
    """Every registry name in the config exists (UnknownNameError with 'did you mean' otherwise)."""
    import snnctl

    reg = snnctl.registry()
    reg.get("dataset", cfg.data.name)
    reg.get("model", cfg.model.name)
    if cfg.model.neuron is not None:
        reg.get("neuron", cfg.model.neuron)
    if cfg.model.attention is not None and cfg.model.attention != "none":
        reg.get("attention", cfg.model.attention)
    for ref in cfg.regularizers:
        reg.get("regularizer", ref.name)


#: arguments the host fills in when it builds a component, by kind; checks without a built model use stand-ins
HOST_ARGS: dict[str, dict[str, Any]] = {
    "neuron": {"features": 8},
    "attention": {"channels": 8, "timesteps": 4},
}


def check_args(kind: str, name: str, args: dict[str, Any], path: str, host: Optional[dict[str, Any]] = None,
               depth: int = 0, nested: bool = True) -> Any:
    """Validate a component's arguments, and those of the components they name, reporting dotted paths.

    ``host`` are the arguments the host supplies when it builds the component (a model's T, an
    attention's channels); errors about them are left to the build, which knows their real values.
    A field ``F`` naming a registered neuron, surrogate or attention beside a field ``F_args`` (a
    neuron's ``surrogate`` and ``surrogate_args``, SMA's ``branch`` and ``branch_args``) has those
    arguments checked in turn under ``path.F_args`` (unless ``nested`` is False). Returns the validated config, or None when only
    host arguments were at fault.
    """
    import pydantic

    import snnctl
    from snnctl.registry import format_validation_error

    reg = snnctl.registry()
    entry = reg.get(kind, name)
    fields = entry.config.model_fields
    filled = {k: v for k, v in {**HOST_ARGS.get(kind, {}), **(host or {})}.items() if k in fields and k not in args}
    clean = {k: v for k, v in {**args, **filled}.items() if v is not None}
    try:
        validated = entry.config.model_validate(clean)
    except pydantic.ValidationError as err:
        errors = [e for e in err.errors() if not (e["loc"] and e["loc"][0] in filled)]
        if not errors:
            return None
        raise ConfigError(f"invalid arguments for {entry.kind} '{entry.name}': {format_validation_error(errors, path)}",
                          f"Run 'snnctl info {entry.kind} {entry.name}' to see its parameters and defaults.") from None
    if nested and depth < 8:
        for field in fields:
            value, sub = getattr(validated, field, None), getattr(validated, f"{field}_args", None)
            if not isinstance(value, str) or not isinstance(sub, dict):
                continue
            for sub_kind in ("neuron", "surrogate", "attention"):
                if (sub_kind, value) in reg and (sub_kind, value) not in reg.conflicts:
                    check_args(sub_kind, value, sub, f"{path}.{field}_args", depth=depth + 1)
                    break
    return validated


def check_components(cfg: RunConfig) -> None:
    """Every name in the config exists and every component's arguments fit its schema, before any data is read.

    Errors name the dotted path of the setting at fault: ``data.args``, ``model.args``,
    ``model.neuron_args`` (and its ``surrogate_args``), ``model.attention_args``,
    ``regularizers.N.args``. Settings the data dictates (channels, classes, size, T) are checked
    when the model is built.
    """
    check_names(cfg)
    check_args("dataset", cfg.data.name, cfg.data.args, "data.args")
    model = check_args("model", cfg.model.name, model_args(cfg, None), "model.args", nested=False)
    if model is not None:
        t = getattr(model, "timesteps", None) or cfg.timesteps
        for field in ("neuron", "attention"):
            name, args = getattr(model, field, None), getattr(model, f"{field}_args", None)
            if not isinstance(name, str) or name == "none" or not isinstance(args, dict):
                continue
            path = f"model.{field}_args" if getattr(cfg.model, f"{field}_args") else f"model.args.{field}_args"
            check_args(field, name, args, path, host={"timesteps": t} if field == "attention" and t else None)
    for i, ref in enumerate(cfg.regularizers):
        check_args("regularizer", ref.name, ref.args, f"regularizers.{i}.args")


def make_run_dataset(cfg: RunConfig):
    """The dataset plugin object, its settings validated under ``data.args``."""
    import snnctl

    reg = snnctl.registry()
    reg.validate("dataset", cfg.data.name, cfg.data.args, path="data.args")
    from snnctl.data.base import make_dataset

    return make_dataset(cfg.data.name, cfg.data.args)


def describe_data(name: str, dataset: Any, timesteps: Optional[int] = None, downsample: int = 1,
                  root: Optional[Path] = None, download: bool = True) -> DataInfo:
    """Shapes and classes of a dataset's samples at T (default: the dataset's), known before any data is read.

    An image dataset whose classes come from its folders lists them first (no image is read).
    """
    from snnctl.data.base import EventDataset
    from snnctl.data.frames import frame_shape

    t = timesteps or dataset.default_frames
    if isinstance(dataset, EventDataset):
        _, p, h, w = frame_shape(tuple(dataset.sensor_size), t, downsample)
        return DataInfo(name, "events", list(dataset.classes), p, (h, w), t)
    size = dataset.image_size
    if not dataset.classes:
        dataset.locate(root, download)
    return DataInfo(name, "images", list(dataset.classes), dataset.channels, (int(size[0]), int(size[1])), t)


def data_info(cfg: RunConfig, dataset: Any) -> DataInfo:
    """:func:`describe_data` for the data section of a run config."""
    root = Path(cfg.data.root).expanduser() if cfg.data.root else None
    return describe_data(cfg.data.name, dataset, cfg.timesteps, cfg.data.downsample, root, cfg.data.download)


def model_args(cfg: RunConfig, info: Optional[DataInfo]) -> dict[str, Any]:
    """The model's settings: ``model.args``, the neuron/attention overrides, and what the data dictates
    (nothing of the data where ``info`` is None)."""
    import snnctl

    fields = snnctl.registry().get("model", cfg.model.name).config.model_fields
    args = dict(cfg.model.args)
    for key, value in (("neuron", cfg.model.neuron), ("attention", cfg.model.attention)):
        if value is not None:
            args[key] = value
    for key, value in (("neuron_args", cfg.model.neuron_args), ("attention_args", cfg.model.attention_args)):
        if value:
            args[key] = {**args.get(key, {}), **value}
    if info is None:
        return args
    dictated = {
        "in_channels": info.in_channels,
        "num_classes": info.num_classes,
        "input_size": info.input_size,
        "timesteps": info.timesteps,
    }
    for key, value in dictated.items():
        if key not in fields:
            continue
        given = args.get(key)
        if given is not None and _norm(given) != _norm(value):
            source = "T (timesteps)" if key == "timesteps" else key.replace("_", " ")
            raise ConfigError(
                f"model.args.{key} is {given!r} but dataset '{info.name}' gives {value!r}",
                f"Remove model.args.{key}; the model takes its {source} from the data"
                + (" (set T with --timesteps)." if key == "timesteps" else "."),
            )
        args[key] = value
    return args


def _norm(v: Any) -> Any:
    return list(v) if isinstance(v, (list, tuple)) else v


def resolved_model_args(cfg: RunConfig, info: DataInfo) -> dict[str, Any]:
    """Every setting of the run's model after validation, as JSON: enough to rebuild it by name alone."""
    import snnctl

    return snnctl.registry().validate("model", cfg.model.name, model_args(cfg, info)).model_dump(mode="json")


def build_model(cfg: RunConfig, info: DataInfo):
    """The model of the run, fitted to the data, with its settings validated under ``model.args``."""
    import snnctl
    from snnctl.nn import SpikingModel

    reg = snnctl.registry()
    args = model_args(cfg, info)
    reg.validate("model", cfg.model.name, args, path="model.args")
    model = reg.create_as("model", cfg.model.name, SpikingModel, "snnctl.nn.SpikingModel", **args)
    if model.num_classes != info.num_classes:
        raise ConfigError(f"model '{cfg.model.name}' has {model.num_classes} outputs but dataset '{info.name}' "
                          f"has {info.num_classes} classes",
                          "The model must accept a num_classes setting to fit the dataset.")
    return model


def attach_regularizers(cfg: RunConfig, model: torch.nn.Module) -> list[tuple[Any, list[str]]]:
    """Build every regularizer and attach it; returns ``(regularizer, module names)`` pairs."""
    import snnctl
    from snnctl.nn import Regularizer

    reg = snnctl.registry()
    out = []
    for i, ref in enumerate(cfg.regularizers):
        reg.validate("regularizer", ref.name, ref.args, path=f"regularizers.{i}.args")
        r = reg.create_as("regularizer", ref.name, Regularizer, "snnctl.nn.Regularizer", **ref.args)
        names = r.attach(model)
        out.append((r, list(names or [])))
    return out


def load_weights(model: torch.nn.Module, source: str) -> None:
    """Initialise ``model`` from a run folder (its best checkpoint) or a ``model.safetensors`` file."""
    from snnctl.engine.checkpoint import checkpoint_dir, read_model_file

    path = Path(source).expanduser()
    file = path if path.is_file() else checkpoint_dir(path, "best") / "model.safetensors"
    state, _ = read_model_file(file)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ConfigError(
            f"init: {file} does not fit model ({len(missing)} missing, {len(unexpected)} unexpected tensors"
            + (f", e.g. missing {missing[0]}" if missing else f", e.g. unexpected {unexpected[0]}") + ")",
            "Start from weights of the same model and settings.")


def resolve_device(spec: str, local_rank: Optional[int] = None) -> torch.device:
    """``auto`` -> the GPU when there is one; ``cuda`` under torchrun -> this process's GPU."""
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(spec)
    except RuntimeError:
        raise ConfigError(f"device: '{spec}' is not a device", "Use auto, cpu, cuda or cuda:N.") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("device: CUDA is not available on this machine", "Use --device cpu.")
        if device.index is None and local_rank is not None:
            device = torch.device("cuda", local_rank)
    return device
