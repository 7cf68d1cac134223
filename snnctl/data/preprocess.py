"""Raw recordings -> frame cache: the work behind ``snnctl preprocess``.

The recordings of each split are cut into shards in key order; each shard is read, validated,
integrated and written (atomically) by one task, in worker processes when there are several shards.
Shards already on disk are kept, so a run that was interrupted continues where it stopped, and the
finished cache is byte-for-byte the one an uninterrupted run writes. ``manifest.json`` comes last.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal, Optional

import numpy as np

from snnctl.data.base import EventDataset, Recording
from snnctl.data.cache import FrameSpec, cache_key, cache_root, check_shards, read_manifest, shard_meta, write_shard
from snnctl.data.frames import RecordingError, check_events, frame_shape, to_frames
from snnctl.data.splits import split_recordings
from snnctl.errors import ConfigError, SnnctlError
from snnctl.files import atomic_write, make_dir

__all__ = ["OnError", "RecordingFailed", "CacheDamaged", "Report", "preprocess"]

OnError = Literal["fail", "skip"]
SHARD_BYTES = 32 * 2**20
MAX_SHARD = 64


class RecordingFailed(SnnctlError):
    """A recording could not be turned into frames and ``--on-error`` is ``fail``."""


class CacheDamaged(SnnctlError):
    """A complete cache's manifest or shards were found damaged; the damaged parts were removed."""


@dataclass
class Report:
    """What ``preprocess`` did: the cache, whether it was already complete, and per-split counts."""

    dataset: str
    path: Path
    key: str
    hit: bool
    frame_shape: tuple[int, ...]
    classes: list[str]
    splits: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    resumed_shards: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset, "cache": str(self.path), "key": self.key, "cache_hit": self.hit,
            "frame_shape": list(self.frame_shape), "num_classes": len(self.classes), "splits": self.splits,
            "skipped": self.skipped, "seconds": round(self.seconds, 3), "resumed_shards": self.resumed_shards,
        }


def _describe_failure(exc: BaseException) -> str:
    if isinstance(exc, RecordingError):
        return str(exc)
    return f"cannot read it ({type(exc).__name__}: {exc})"


def process_shard(dataset: EventDataset, spec: FrameSpec, recordings: list[Recording], path: Path,
                  on_error: OnError) -> dict[str, Any]:
    """Read, check and integrate ``recordings`` and write them as one shard; returns its metadata."""
    frames, labels, keys, events, skipped = [], [], [], [], []
    n_classes = len(dataset.classes)
    for rec in recordings:
        name = rec.path or rec.key
        try:
            if rec.label < 0:
                raise RecordingError("unknown label: its file or folder name is not a class of this dataset")
            if rec.label >= n_classes:
                raise RecordingError(f"unknown label {rec.label} (the dataset has {n_classes} classes)")
            ev = check_events(dataset.read(rec), dataset.sensor_size)
            frames.append(to_frames(ev, dataset.sensor_size, spec.frames, spec.split_by, spec.downsample))
        except Exception as exc:  # any reader failure is reported against the file, never cached
            reason = _describe_failure(exc)
            if on_error == "fail":
                raise RecordingFailed(
                    f"{name}: {reason}",
                    "Fix or remove the file, or rerun with --on-error skip to leave it out of the cache.",
                ) from None
            skipped.append({"recording": name, "error": reason})
            continue
        labels.append(rec.label)
        keys.append(rec.key)
        events.append(int(len(ev)))
    shape = frame_shape(dataset.sensor_size, spec.frames, spec.downsample)
    stack = np.stack(frames) if frames else np.zeros((0, *shape), np.int16)
    meta = {"keys": keys, "events": events, "skipped": skipped}
    meta["bytes"] = write_shard(path, stack, np.asarray(labels, np.int64), meta)
    meta["labels"] = labels
    return meta


def _shard_size(shape: tuple[int, ...]) -> int:
    """Samples per shard: up to 64 and 32 MiB, or ``$SNNCTL_SHARD_SIZE`` (a smaller unit of resumption)."""
    if os.environ.get("SNNCTL_SHARD_SIZE"):
        return max(1, int(os.environ["SNNCTL_SHARD_SIZE"]))
    per_sample = int(np.prod(shape)) * 2
    return max(1, min(MAX_SHARD, SHARD_BYTES // per_sample))


def _context():
    # fork keeps plugins loaded from --plugins-dir available in the workers
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def _worker_init(parent: int) -> None:
    """A worker dies with its parent: at once through Linux's parent-death signal, and through a
    watchdog thread everywhere (it exits within half a second of the parent's death)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError, TypeError):
        pass
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True, name="snnctl-parent-watch").start()


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(1)


def preprocess(
    dataset: EventDataset,
    spec: FrameSpec,
    root: Optional[Path] = None,
    cache_dir: Optional[Path] = None,
    workers: Optional[int] = None,
    on_error: OnError = "fail",
    download: bool = True,
    progress: Optional[Callable[[int, int], None]] = None,
) -> Report:
    """Build (or find) the frame cache of ``dataset`` for ``spec``.

    ``progress(done, total)`` is called as samples complete. Raises :class:`RecordingFailed` for a bad
    recording when ``on_error`` is ``"fail"``.
    """
    if spec.frames < 1:
        raise ConfigError(f"frames: expected at least 1, got {spec.frames}")
    if spec.split_by not in ("number", "time"):
        raise ConfigError(f"split_by: expected 'number' or 'time', got {spec.split_by!r}")
    if spec.downsample < 1:
        raise ConfigError(f"downsample: expected at least 1, got {spec.downsample}")
    if on_error not in ("fail", "skip"):
        raise ConfigError(f"on_error: expected 'fail' or 'skip', got {on_error!r}")
    start = time.perf_counter()
    recordings = dataset.locate(root, download)
    if not recordings:
        raise SnnctlError(f"no recordings of {dataset.name} were found", "Check --root: it must hold tonic's layout.")
    splits = split_recordings(dataset, recordings)
    identity = {
        "dataset": dataset.name, "params": dataset.params(), "sensor_size": list(dataset.sensor_size),
        "classes": list(dataset.classes), "frames": spec.frames, "split_by": spec.split_by,
        "downsample": spec.downsample, "split_policy": dataset.split_policy,
        "split_seed": dataset.split_seed, "test_fraction": dataset.test_fraction,
    }
    key, record = cache_key(identity, dataset.fingerprint(recordings))
    out = (cache_dir or cache_root()) / dataset.name / key
    shape = frame_shape(dataset.sensor_size, spec.frames, spec.downsample)
    report = Report(dataset.name, out, key, False, shape, list(dataset.classes))

    manifest_path = out / "manifest.json"
    if manifest_path.exists():
        damaged: list[str] = []
        try:
            manifest = read_manifest(out)
            damaged = check_shards(out, manifest)
            problem = f"{len(damaged)} shard(s) missing, cut short or not what the manifest lists, e.g. " \
                      f"{damaged[0]}" if damaged else None
        except SnnctlError as exc:
            problem = exc.message
        if problem is None:
            _refuse_skipped(manifest["skipped"], on_error)
            report.hit, report.splits, report.skipped = True, manifest["splits"], manifest["skipped"]
            if progress:
                progress(len(recordings), len(recordings))
            report.seconds = time.perf_counter() - start
            return report
        for name in damaged:  # never served again; a rerun rebuilds them, keeping the intact shards
            (out / name).unlink(missing_ok=True)
        manifest_path.unlink()
        raise CacheDamaged(f"the frame cache {out} is damaged: {problem}",
                           "Its damaged parts were removed: run the same command again to rebuild them "
                           "(the intact shards are kept).")

    make_dir(out, "the frame cache")
    for stale in out.glob(".*.tmp-*"):
        stale.unlink()
    split_doc = {"policy": dataset.split_policy, "seed": dataset.split_seed, "test_fraction": dataset.test_fraction,
                 **{name: [r.key for r in recs] for name, recs in splits.items()}}
    atomic_write(out / "split.json", json.dumps(split_doc, indent=1).encode(), "the frame cache's split.json")

    size = _shard_size(shape)
    tasks: list[tuple[str, Path, list[Recording]]] = []
    for name, recs in splits.items():
        for i in range(0, len(recs), size):
            tasks.append((name, out / f"{name}-{i // size:05d}.safetensors", recs[i:i + size]))
    total = sum(len(t[2]) for t in tasks)
    metas: dict[Path, dict[str, Any]] = {}
    todo = []
    for task in tasks:
        meta = shard_meta(task[1])
        if meta is not None and len(meta["keys"]) + len(meta["skipped"]) == len(task[2]):
            kept = set(meta["keys"])
            meta["labels"] = [r.label for r in task[2] if r.key in kept]
            meta["bytes"] = task[1].stat().st_size
            metas[task[1]] = meta
            report.resumed_shards += 1
        else:
            todo.append(task)
    done = sum(len(t[2]) for t in tasks if t[1] in metas)
    if progress:
        progress(done, total)
    n_workers = max(1, min(workers or os.cpu_count() or 1, len(todo)))
    if n_workers == 1:
        for _, path, recs in todo:
            metas[path] = process_shard(dataset, spec, recs, path, on_error)
            done += len(recs)
            if progress:
                progress(done, total)
    else:
        with ProcessPoolExecutor(n_workers, mp_context=_context(), initializer=_worker_init,
                                 initargs=(os.getpid(),)) as pool:
            futures = {pool.submit(process_shard, dataset, spec, recs, path, on_error): (path, len(recs))
                       for _, path, recs in todo}
            pending = set(futures)
            try:
                while pending:
                    finished, pending = wait(pending, return_when=FIRST_EXCEPTION)
                    for fut in finished:
                        path, n = futures[fut]
                        try:
                            metas[path] = fut.result()  # re-raises a worker's RecordingFailed
                        except BrokenProcessPool:
                            raise SnnctlError(
                                f"a worker process died while making {dataset.name} frames (killed from outside, "
                                "for example by the system when memory runs out)",
                                "Run the same command again: the finished shards are kept. Fewer workers "
                                "(--workers 1) need less memory.") from None
                        done += n
                        if progress:
                            progress(done, total)
            except BaseException:
                for fut in pending:
                    fut.cancel()
                raise

    skipped = [s for _, path, _ in tasks for s in metas[path]["skipped"]]
    _refuse_skipped(skipped, on_error)
    for name in splits:
        paths = [path for split, path, _ in tasks if split == name]
        labels = [lab for p in paths for lab in metas[p]["labels"]]
        report.splits[name] = {
            "samples": len(labels),
            "classes": len(set(labels)),
            "events": int(sum(sum(metas[p]["events"]) for p in paths)),
            "bytes": int(sum(metas[p]["bytes"] for p in paths)),
            "shards": [p.name for p in paths],
            "shard_sizes": [len(metas[p]["keys"]) for p in paths],
            "per_class": np.bincount(np.asarray(labels, np.int64), minlength=len(dataset.classes)).tolist(),
        }
    report.skipped = skipped
    manifest = {**record, "key": key, "frame_shape": list(shape), "splits": report.splits, "skipped": skipped}
    atomic_write(manifest_path, json.dumps(manifest, indent=1, sort_keys=True).encode(), "the frame cache's manifest.json")
    report.seconds = time.perf_counter() - start
    return report


def _refuse_skipped(skipped: list[dict[str, str]], on_error: OnError) -> None:
    if skipped and on_error == "fail":
        first = skipped[0]
        raise RecordingFailed(
            f"{first['recording']}: {first['error']}" + (f" (and {len(skipped) - 1} more)" if len(skipped) > 1 else ""),
            "These recordings were skipped by an earlier run with --on-error skip; "
            "fix or remove them, or pass --on-error skip again.",
        )
