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
from snnctl.errors import ConfigError, SnnctlError

__all__ = ["DEFAULT_DATASET", "DataSpec", "Target", "open_target", "Samples", "load_samples"]

DEFAULT_DATASET = "synthetic-gestures"
FIT_FIELDS = ("in_channels", "num_classes", "input_size", "timesteps")


@dataclass
class DataSpec:
    """A dataset and how its frames are made."""

    name: str
    args: dict[str, Any] = field(default_factory=dict)
    root: Optional[Path] = None
    cache_dir: Optional[Path] = None
    split_by: str = "number"
    downsample: int = 1


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
    spec: Optional[DataSpec] = None
    if not random_input:
        d = cfg.data
        if data is None or data == d.name:
            spec = DataSpec(d.name, {**dict(d.args or {}), **(data_args or {})}, root or _path(d.root),
                            cache_dir or _path(d.cache_dir), d.split_by, int(d.downsample))
        else:
            spec = DataSpec(data, dict(data_args or {}), root, cache_dir)
    return Target(run.model, cfg.model.name, "run", t, path=Path(run.path), data=spec)


def _path(value: Any) -> Optional[Path]:
    return Path(value).expanduser() if value else None


# -- samples ------------------------------------------------------------------------------------------
@dataclass
class Samples:
    """Batches ``[T, B, ...]`` to profile on, and what they are."""

    count: int
    batch_size: int
    make: Callable[[], Iterator[Tensor]]
    info: dict[str, Any]

    def batches(self) -> Iterator[Tensor]:
        return self.make()

    def first(self) -> Tensor:
        return next(iter(self.make()))


def _spread(total: int, n: int) -> list[int]:
    """``n`` indices spread evenly over ``range(total)`` (the first and the last included)."""
    if n >= total:
        return list(range(total))
    if n == 1:
        return [0]
    return [round(i * (total - 1) / (n - 1)) for i in range(n)]


def load_samples(target: Target, samples: int = 16, batch_size: int = 8, split: str = "test", download: bool = True,
                 progress: Optional[Callable[[int, int], None]] = None, seed: int = 0) -> Samples:
    """``samples`` samples of the target's data (or random input), as batches on the model's device."""
    if samples < 1 or batch_size < 1:
        raise ConfigError("--samples and --batch-size must be at least 1")
    device = next(iter(target.model.parameters()), torch.empty(0)).device
    if target.data is None:
        shape = (target.timesteps, getattr(target.model, "in_channels"), *getattr(target.model, "input_size"))

        def random_batches() -> Iterator[Tensor]:
            gen = torch.Generator().manual_seed(seed)
            for start in range(0, samples, batch_size):
                b = min(batch_size, samples - start)
                yield torch.rand((shape[0], b, *shape[1:]), generator=gen).to(device)

        info = {"dataset": None, "random": True, "split": None, "samples": samples, "timesteps": target.timesteps}
        return Samples(samples, batch_size, random_batches, info)

    spec = target.data
    dataset = make_dataset(spec.name, spec.args)
    data = describe_data(spec.name, dataset, target.timesteps, spec.downsample, spec.root, download)
    if data.kind == "images":
        folder = dataset.locate(spec.root, download)
        frames: Any = dataset.dataset(split, spec.root, train=False)
        shape = (target.timesteps, data.in_channels, *data.input_size)
        where, skipped = str(folder), 0
    else:
        from snnctl.data.cache import FrameCache, FrameSpec
        from snnctl.data.preprocess import preprocess

        report = preprocess(dataset, FrameSpec(target.timesteps, spec.split_by, spec.downsample), root=spec.root,
                            cache_dir=spec.cache_dir, workers=None, on_error="skip", download=download,
                            progress=progress)
        frames = FrameCache(report.path).dataset(split)
        shape = tuple(report.frame_shape)
        where, skipped = str(report.path), len(report.skipped)
    if len(frames) == 0:
        raise SnnctlError(f"the {split} split of '{spec.name}' is empty", "Choose another --split.")
    index = _spread(len(frames), samples)
    model = target.model
    want = (target.timesteps, getattr(model, "in_channels", shape[1]), *getattr(model, "input_size", shape[2:]))
    if tuple(shape) != tuple(want):
        raise ConfigError(f"'{spec.name}' samples are {list(shape)} (T, C, H, W) but the model takes {list(want)}",
                          "Profile with the dataset settings the model was built for (--data, --data-set).")
    repeat = data.kind == "images"

    def real_batches() -> Iterator[Tensor]:
        for start in range(0, len(index), batch_size):
            x = torch.stack([frames[i][0] for i in index[start:start + batch_size]], 0)
            yield data.encode(x).contiguous().to(device)

    all_labels = frames.labels() if callable(getattr(frames, "labels", None)) else None
    labels = [int(all_labels[i]) for i in index] if all_labels is not None else None
    info = {"dataset": spec.name, "random": False, "split": split, "samples": len(index), "timesteps": target.timesteps,
            "source": where, "classes": len(set(labels)) if labels is not None else None, "skipped_recordings": skipped,
            "encoding": "direct (image repeated over T)" if repeat else "event frames"}
    return Samples(len(index), batch_size, real_batches, info)
