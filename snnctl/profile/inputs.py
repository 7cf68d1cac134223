"""What ``snnctl profile`` runs on: the model (by registry name or from a run directory) and its samples.

A model name is built to fit the dataset: the model's ``in_channels``, ``num_classes``, ``input_size``
and ``timesteps`` fields (where its config has them) are set from the dataset's frames, T being
``timesteps`` or the dataset's default; ``model_args`` override them. A run directory (it holds
``config.yaml``) brings its trained model, its T and its dataset settings. Samples come from the
frame cache (built on first use, as ``snnctl preprocess`` would), spread evenly over the split so every
class is represented; with ``random_input`` they are uniform random tensors of the model's input shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import torch
from torch import Tensor, nn

from snnctl.data.base import make_dataset
from snnctl.engine.build import describe_data, resolve_device
from snnctl.engine.samples import DataSpec, Samples, load_samples
from snnctl.errors import ConfigError, SnnctlError

__all__ = ["DEFAULT_DATASET", "DataSpec", "Target", "open_target", "Samples", "load_samples"]

DEFAULT_DATASET = "synthetic-gestures"
FIT_FIELDS = ("in_channels", "num_classes", "input_size", "timesteps")


@dataclass
class Target:
    """The model to profile, where it came from, and its data (None: random input)."""

    model: nn.Module
    name: str
    source: str  # "registry" or "run"
    timesteps: int
    path: Optional[Path] = None
    data: Optional[DataSpec] = None

    def describe(self) -> dict[str, Any]:
        m = self.model
        return {
            "name": self.name, "source": self.source, "path": str(self.path) if self.path else None,
            "parameters": sum(p.numel() for p in m.parameters()), "timesteps": self.timesteps,
            "input": [getattr(m, "in_channels", None), *getattr(m, "input_size", (None, None))],
            "classes": getattr(m, "num_classes", None),
        }


def _looks_like_path(arg: str) -> bool:
    from snnctl.registry import NAME_RE

    return "/" in arg or "\\" in arg or arg.startswith(".") or not NAME_RE.match(arg)


def open_target(model_or_run: str, *, data: Optional[str] = None, data_args: Optional[dict[str, Any]] = None,
                model_args: Optional[dict[str, Any]] = None, timesteps: Optional[int] = None,
                root: Optional[Path] = None, cache_dir: Optional[Path] = None, which: str = "best",
                random_input: bool = False, device: str | torch.device = "cpu") -> Target:
    """The model and its data from a model name or a run directory (see the module docstring)."""
    path = Path(model_or_run).expanduser()
    if path.is_dir():
        target = _open_run(path, data, data_args, model_args, timesteps, root, cache_dir, which, random_input)
    elif _looks_like_path(model_or_run):
        raise SnnctlError(f"{model_or_run}: no such run directory",
                          "Give a run directory (it holds config.yaml) or a model name ('snnctl list models').")
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
    if spec is not None:
        _check_fit(model, name, fit, spec.name)
    return Target(model, name, "registry", t, data=spec)


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


def _open_run(path: Path, data: Optional[str], data_args: Optional[dict[str, Any]],
              model_args: Optional[dict[str, Any]], timesteps: Optional[int], root: Optional[Path],
              cache_dir: Optional[Path], which: str, random_input: bool) -> Target:
    if not (path / "config.yaml").is_file():
        raise SnnctlError(f"{path} is not a run directory: it has no config.yaml",
                          "Give a folder written by 'snnctl train', or a model name ('snnctl list models').")
    if model_args:
        raise ConfigError("--model-set: a run directory's model is fixed by its config.yaml",
                          "Leave out --model-set, or profile a model name instead.")
    from snnctl.engine import checkpoint

    run = checkpoint.load_run(path, which=which)
    cfg = run.config
    t = int(run.model.timesteps)
    if timesteps is not None and timesteps != t:
        raise ConfigError(f"--timesteps {timesteps}: the run's model was trained with T={t}",
                          "Leave out --timesteps; a run is profiled at its own T.")
    spec = None if random_input else DataSpec.from_section(cfg.data).choose(data, data_args, root, cache_dir)
    return Target(run.model, cfg.model.name, "run", t, path=Path(run.path), data=spec)
