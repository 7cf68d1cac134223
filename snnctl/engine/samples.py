"""Samples to run a model on: real samples of a dataset split, spread evenly over it, or random input.

Used by ``snnctl profile`` (what is profiled) and ``snnctl export`` (what a written file is verified
on). Event data comes from the frame cache (built on first use, as ``snnctl preprocess`` would),
static images from their folders, direct-encoded over T.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import torch
from torch import Tensor

from snnctl.data.base import make_dataset
from snnctl.engine.build import describe_data
from snnctl.errors import ConfigError, SnnctlError

__all__ = ["DataSpec", "Samples", "load_samples", "spread"]


@dataclass
class DataSpec:
    """A dataset and how its frames are made."""

    name: str
    args: dict[str, Any] = field(default_factory=dict)
    root: Optional[Path] = None
    cache_dir: Optional[Path] = None
    split_by: str = "number"
    downsample: int = 1

    @classmethod
    def from_section(cls, section: Any) -> "DataSpec":
        """The data section of a run config (``snnctl.config.DataSection``)."""
        return cls(section.name, dict(section.args or {}), _path(section.root), _path(section.cache_dir),
                   section.split_by, int(section.downsample))


    def choose(self, data: Optional[str] = None, data_args: Optional[dict[str, Any]] = None,
               root: Optional[Path] = None, cache_dir: Optional[Path] = None) -> "DataSpec":
        """This spec with command-line choices applied: another dataset (``--data``) starts from its own
        defaults; the same one keeps these settings, with ``data_args`` layered over them."""
        if data is None or data == self.name:
            return DataSpec(self.name, {**self.args, **(data_args or {})}, root or self.root,
                            cache_dir or self.cache_dir, self.split_by, self.downsample)
        return DataSpec(data, dict(data_args or {}), root, cache_dir)


def _path(value: Any) -> Optional[Path]:
    return Path(value).expanduser() if value else None


@dataclass
class Samples:
    """Batches ``[T, B, ...]`` to run on, and what they are."""

    count: int
    batch_size: int
    make: Callable[[], Iterator[Tensor]]
    info: dict[str, Any]

    def batches(self) -> Iterator[Tensor]:
        return self.make()

    def first(self) -> Tensor:
        return next(iter(self.make()))


def spread(total: int, n: int) -> list[int]:
    """``n`` indices spread evenly over ``range(total)`` (the first and the last included)."""
    if n >= total:
        return list(range(total))
    if n == 1:
        return [0]
    return [round(i * (total - 1) / (n - 1)) for i in range(n)]


def load_samples(target: Any, samples: int = 16, batch_size: int = 8, split: str = "test", download: bool = True,
                 progress: Optional[Callable[[int, int], None]] = None, seed: int = 0) -> Samples:
    """``samples`` samples of the target's data (or random input), as batches on the model's device.

    ``target`` is anything with ``model``, ``timesteps`` and ``data`` (a :class:`DataSpec`, or None
    for uniform random input of the model's shape): a profile target or an opened model.
    """
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
    index = spread(len(frames), samples)
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
