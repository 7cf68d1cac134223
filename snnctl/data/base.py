"""The dataset contract: what a dataset plugin provides to ``snnctl preprocess`` and training.

A dataset plugin registers a factory returning an :class:`EventDataset`. The dataset lists its
recordings (:meth:`EventDataset.locate`), reads one recording's events (:meth:`EventDataset.read`)
and describes itself (classes, sensor size, default number of frames, split policy). The framework
does everything else: validation, frame integration, the cache, the splits, workers and progress.

Objects of this class travel to worker processes by pickling, so keep their state small and
picklable (settings and paths); build heavy readers lazily inside :meth:`read`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

__all__ = ["Recording", "EventDataset", "data_root", "make_dataset"]


@dataclass(frozen=True)
class Recording:
    """One labelled recording.

    ``key`` is unique and stable (the path relative to the dataset folder, or a generated id); splits
    and shards are ordered by it. ``split`` is the official split (``"train"``/``"test"``) where the
    dataset defines one. ``path`` is the file, named in error messages and fingerprinted by the cache.
    """

    key: str
    label: int
    split: Optional[str] = None
    path: Optional[str] = None


class EventDataset:
    """Base class of dataset plugins (see the module docstring).

    A subclass sets the class attributes below (on the instance where they depend on settings: a
    generated dataset's ``sensor_size`` may follow its ``size`` argument) and implements
    :meth:`locate` and :meth:`read`. The factory registered with ``register_datasets`` is called
    with the dataset's settings (``data.args``); a pydantic config validates them.

    * Labels are ``int`` indices into :attr:`classes`.
    * ``split_policy = "official"``: every :class:`Recording` carries ``split`` ``"train"`` or
      ``"test"``. ``"per-class"``: recordings carry no split, and each class's recordings, sorted by
      key, are shuffled with ``split_seed`` and cut at ``test_fraction`` (the same split every time).
    * Events (:meth:`read`): a one-dimensional numpy structured array with integer fields ``x``
      (0..W-1), ``y`` (0..H-1), ``t`` (microseconds, >= 0) and an integer or boolean ``p``
      (0..P-1); any field order and any extra fields. Events out of time order are sorted (stably)
      before integration; anything else out of range is an error naming the recording.
    * Generated data (no files): ``locate`` ignores ``root`` and returns recordings with
      ``path=None`` (the cache then identifies them by key and label, plus :meth:`params`: put a
      generator version there), and ``describe()`` may add ``"generated": True`` for
      ``snnctl info dataset``.
    """

    #: registry name, set by the plugin
    name: str = ""
    #: sensor (W, H, P) the frames are integrated on
    sensor_size: tuple[int, int, int] = (128, 128, 2)
    #: class names; the label is the index
    classes: tuple[str, ...] = ()
    #: T when the user gives none (the paper's setting for the dataset)
    default_frames: int = 16
    #: "official" where :class:`Recording` carries the split, else a per-class split is drawn
    split_policy: str = "per-class"
    test_fraction: float = 0.1
    split_seed: int = 0

    def locate(self, root: Optional[Path], download: bool) -> list[Recording]:
        """Every recording of the dataset, finding (or, if ``download``, fetching) the raw files.

        Raise :class:`snnctl.errors.SnnctlError` when the data is missing, saying which files to place where.
        """
        raise NotImplementedError

    def read(self, recording: Recording) -> np.ndarray:
        """The events of one recording: a structured array with ``x``, ``y``, ``p``, ``t`` (µs)."""
        raise NotImplementedError

    def params(self) -> dict[str, Any]:
        """Settings that change the events read (part of the cache key)."""
        return {}

    def fingerprint(self, recordings: list[Recording]) -> list[Any]:
        """What identifies the raw data: by default every file's key, size and modification time."""
        out = []
        for r in recordings:
            if r.path is None:
                out.append([r.key, r.label])
            else:
                st = os.stat(r.path)
                out.append([r.key, r.label, st.st_size, st.st_mtime_ns])
        return out

    def describe(self) -> dict[str, Any]:
        """A JSON-ready summary for ``snnctl info dataset``."""
        return {
            "classes": list(self.classes),
            "num_classes": len(self.classes),
            "sensor_size": list(self.sensor_size),
            "default_frames": self.default_frames,
            "split_policy": self.split_policy
            if self.split_policy == "official"
            else f"per-class {_ratio(self.test_fraction)} over sorted file names, seeded shuffle (seed {self.split_seed})",
        }


def _ratio(test_fraction: float) -> str:
    """train:test as the smallest whole numbers (0.1: 9:1, 0.25: 3:1, 0.2: 4:1)."""
    from fractions import Fraction

    f = Fraction(test_fraction).limit_denominator(1000)
    return f"{f.denominator - f.numerator}:{f.numerator}"


def make_dataset(name: str, args: Optional[dict[str, Any]] = None) -> Any:
    """A dataset from its registry name and settings: an :class:`EventDataset` or a static-image
    :class:`snnctl.data.images.ImageDataset`."""
    import snnctl
    from snnctl.data.images import ImageDataset

    return snnctl.registry().create_as("dataset", name, (EventDataset, ImageDataset),
                                       "snnctl.data.EventDataset or snnctl.data.images.ImageDataset", **(args or {}))


def data_root() -> Path:
    """Where downloads go without ``--root``: ``$SNNCTL_DATA``, else ``$XDG_DATA_HOME/snnctl`` or ``~/.local/share/snnctl``."""
    if os.environ.get("SNNCTL_DATA"):
        return Path(os.environ["SNNCTL_DATA"]).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "snnctl"
