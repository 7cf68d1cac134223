"""The frame cache: content-addressed, written atomically, resumable.

Layout under the cache root (``$SNNCTL_CACHE``, else ``$XDG_CACHE_HOME/snnctl`` or ``~/.cache/snnctl``)::

    <dataset>/<key>/split.json                 the split: keys of every recording per split
    <dataset>/<key>/<split>-00000.safetensors  shards: frames [n, T, P, H, W] int16, labels [n] int64,
                                               metadata: keys, event counts, skipped recordings
    <dataset>/<key>/manifest.json              written last: its presence marks a complete cache

``key`` is a hash of everything the frames depend on: the dataset and its settings, the raw files
(name, size and modification time of each), T, the integration mode, the downsampling factor, the
split policy and the snnctl version. Changing any of them makes a new cache instead of serving stale
frames. Every file is written to a temporary name and renamed into place, so an interrupted run
leaves only complete shards, and the next run continues from them.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from snnctl.errors import SnnctlError
from snnctl.files import atomic_write

__all__ = ["FORMAT", "FrameSpec", "cache_root", "cache_key", "write_shard", "shard_meta", "read_manifest", "check_shards",
           "FrameCache", "CachedFrames", "find_caches"]

FORMAT = 1


@dataclass(frozen=True)
class FrameSpec:
    """How recordings become frames."""

    frames: int
    split_by: str = "number"
    downsample: int = 1


def cache_root() -> Path:
    if os.environ.get("SNNCTL_CACHE"):
        return Path(os.environ["SNNCTL_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "snnctl"


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def cache_key(identity: dict[str, Any], fingerprint: list[Any]) -> tuple[str, dict[str, Any]]:
    """The cache key and the identity record stored in the manifest (with the raw files' digest)."""
    from snnctl import __version__

    record = {**identity, "format": FORMAT, "snnctl": __version__, "raw_digest": _digest(fingerprint)}
    return _digest(record)[:20], record


def write_shard(path: Path, frames: np.ndarray, labels: np.ndarray, meta: dict[str, Any]) -> int:
    """Write one shard atomically; returns its size in bytes."""
    from safetensors.numpy import save

    data = save({"frames": np.ascontiguousarray(frames), "labels": labels.astype(np.int64)},
                metadata={"snnctl": json.dumps(meta, sort_keys=True)})
    atomic_write(path, data, f"frame cache shard {path.name}")
    return len(data)


def shard_meta(path: Path) -> Optional[dict[str, Any]]:
    """The metadata of a complete shard, or None if the file is missing or unreadable."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="np") as f:
            meta = json.loads((f.metadata() or {})["snnctl"])
            n = len(meta["keys"])
            if f.get_slice("frames").get_shape()[0] != n or list(f.get_slice("labels").get_shape()) != [n]:
                return None  # the tensors do not hold what the metadata lists
            return meta
    except Exception:  # a damaged file is recomputed, never served
        return None


REBUILD = "Run 'snnctl preprocess' with the same settings again: it rebuilds what is damaged."


def read_manifest(path: Path) -> dict[str, Any]:
    """A cache folder's ``manifest.json``, checked for the structure the reader relies on."""
    file = Path(path) / "manifest.json"
    try:
        manifest = json.loads(file.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise SnnctlError(f"{path} is not a complete frame cache (no manifest.json)",
                          "Run 'snnctl preprocess' again; it resumes an interrupted run.") from None
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise SnnctlError(f"{file} is damaged ({type(exc).__name__})", REBUILD) from None
    problem = _manifest_problem(manifest)
    if problem:
        raise SnnctlError(f"{file} is damaged: {problem}", REBUILD)
    return manifest


def _manifest_problem(m: Any) -> Optional[str]:
    if not isinstance(m, dict):
        return f"it holds {type(m).__name__}, not an object"
    for key, kind in (("splits", dict), ("frame_shape", list), ("classes", list), ("skipped", list)):
        if not isinstance(m.get(key), kind):
            return f"'{key}' is missing or not a {kind.__name__}"
    for name, info in m["splits"].items():
        if not isinstance(info, dict) or not isinstance(info.get("shards"), list) or \
                not isinstance(info.get("shard_sizes"), list) or len(info["shards"]) != len(info["shard_sizes"]) or \
                not all(isinstance(x, str) for x in info["shards"]) or \
                not all(isinstance(x, int) and x >= 0 for x in info["shard_sizes"]):
            return f"split '{name}' does not list its shards and their sizes"
    return None


def check_shards(path: Path, manifest: dict[str, Any]) -> list[str]:
    """Every shard the manifest lists that is missing, cut short or not what the manifest says it holds."""
    from safetensors import safe_open

    bad = []
    shape = list(manifest["frame_shape"])
    for info in manifest["splits"].values():
        for name, n in zip(info["shards"], info["shard_sizes"]):
            shard = Path(path) / name
            try:
                with safe_open(str(shard), framework="np") as f:
                    frames, labels = f.get_slice("frames").get_shape(), f.get_slice("labels").get_shape()
                ok = list(frames) == [n, *shape] and list(labels) == [n]
            except Exception:  # missing, truncated, not safetensors: rebuilt, never served
                ok = False
            if not ok:
                bad.append(name)
    return bad


class FrameCache:
    """A complete cache directory, opened through its manifest."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.manifest = read_manifest(self.path)

    @property
    def classes(self) -> list[str]:
        return self.manifest["classes"]

    @property
    def frame_shape(self) -> tuple[int, ...]:
        return tuple(self.manifest["frame_shape"])

    @property
    def splits(self) -> list[str]:
        return list(self.manifest["splits"])

    def dataset(self, split: str) -> "CachedFrames":
        """The samples of one split as a ``torch.utils.data.Dataset`` of ``(frames, label)``."""
        if split not in self.manifest["splits"]:
            raise SnnctlError(f"the cache at {self.path} has no split '{split}'",
                              f"Its splits: {', '.join(self.splits)}.")
        info = self.manifest["splits"][split]
        return CachedFrames([self.path / s for s in info["shards"]], info["shard_sizes"])


class CachedFrames:
    """``(frames float32 [T, P, H, W], label)`` samples read lazily from the shards (memory-mapped)."""

    def __init__(self, shards: list[Path], sizes: list[int]) -> None:
        self.shards = shards
        self.offsets = np.cumsum([0, *sizes])
        self._open: dict[int, Any] = {}

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def _handle(self, i: int):
        from safetensors import safe_open

        if i not in self._open:
            try:
                self._open[i] = safe_open(str(self.shards[i]), framework="np")
            except Exception as exc:  # noqa: BLE001 - any failure to open is a damaged shard
                raise SnnctlError(f"frame cache shard {self.shards[i]} is damaged ({exc})", REBUILD) from None
        return self._open[i]

    def __getitem__(self, index: int):
        import torch

        if not -len(self) <= index < len(self):
            raise IndexError(index)
        index %= len(self)
        shard = int(np.searchsorted(self.offsets, index, side="right")) - 1
        row = index - int(self.offsets[shard])
        f = self._handle(shard)
        try:
            frames = f.get_slice("frames")[row]
            label = int(f.get_slice("labels")[row])
        except Exception as exc:  # noqa: BLE001 - a shard changed under the reader
            raise SnnctlError(f"frame cache shard {self.shards[shard]} is damaged ({exc})", REBUILD) from None
        return torch.from_numpy(np.asarray(frames, dtype=np.float32)), label

    def labels(self) -> np.ndarray:
        return np.concatenate([self._handle(i).get_tensor("labels") for i in range(len(self.shards))]) \
            if self.shards else np.zeros(0, np.int64)

    def __getstate__(self) -> dict[str, Any]:  # open handles do not cross process boundaries
        return {**self.__dict__, "_open": {}}


def find_caches(dataset: str, root: Optional[Path] = None) -> list[dict[str, Any]]:
    """Complete caches of a dataset: path plus manifest, newest first."""
    base = (root or cache_root()) / dataset
    found = []
    for manifest in base.glob("*/manifest.json") if base.is_dir() else []:
        try:
            found.append((manifest.stat().st_mtime, {"path": str(manifest.parent), **json.loads(manifest.read_text())}))
        except (OSError, json.JSONDecodeError):
            continue
    return [m for _, m in sorted(found, key=lambda x: -x[0])]
