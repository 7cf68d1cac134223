"""Preprocessing end to end (read the recordings, integrate frames, write them): snnctl against tonic and SpikingJelly.

    python benchmarks/bench_preprocess.py [--events 300000] [--users 1 2] [--test-users 24] [--rounds 2]

The data: DVS128 Gesture recordings in tonic's on-disk layout (``DVSGesture/ibmGestureTrain/userNN_*/L.npy``,
written by the test suite's fixture writer), 11 gestures per user, ``--events`` random events each over
2 s. Every implementation reads the same files and integrates T=16 frames split by event count (the paper's
choice), each in a fresh child process, in interleaved rounds:

* ``snnctl``: ``snnctl.data.preprocess.preprocess`` (what ``snnctl preprocess dvsgesture`` runs: read,
  validate, integrate, write the safetensors shards and the manifest), with 1 worker and with one per core.
* ``tonic``: ``tonic.datasets.DVSGesture`` with ``ToFrame(n_event_bins=16)`` behind ``DiskCachedDataset``,
  read once in index order (the first pass integrates and writes tonic's HDF5 cache).
* ``spikingjelly``: SpikingJelly 2.0's frame integration (``integrate_events_by_fixed_frames_number``
  and its ``np_savez``, one file per recording, as its dataset classes do) on the events tonic's reader
  returns, 1 thread, and a thread pool of one per core as SpikingJelly's dataset classes use.
  SpikingJelly's dataset package imports torchvision and torchaudio at module level for downloads and
  folder classes; where those are missing the benchmark puts empty modules in their place (the timed
  integration is numpy).

Afterwards every output is compared, recording by recording, with ``snnctl.data.frames.to_frames`` on
the same events (the last column: how many recordings have exactly those frames). Figures: seconds end to end
(median over rounds), events per second, bytes written.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
T = 16
SENSOR = (128, 128, 2)
IMPLS = ["snnctl-1", "snnctl", "tonic", "spikingjelly-1", "spikingjelly"]


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def recordings(root: Path) -> list[Path]:
    return sorted((root / "DVSGesture").rglob("*.npy"))


def read_events(path: Path) -> np.ndarray:
    """The events of one recording as tonic's DVSGesture reader returns them."""
    import tonic

    cls = tonic.datasets.DVSGesture
    reader = cls.__new__(cls)
    reader.data, reader.targets, reader.transform, reader.target_transform, reader.transforms = [str(path)], [0], \
        None, None, None
    events, _ = reader[0]
    return events


def run_snnctl(root: Path, out: Path, workers: int) -> None:
    from snnctl.data.base import make_dataset
    from snnctl.data.cache import FrameSpec
    from snnctl.data.preprocess import preprocess

    preprocess(make_dataset("dvsgesture", {}), FrameSpec(T, "number", 1), root=root, cache_dir=out, workers=workers,
               download=False)


def run_tonic(root: Path, out: Path) -> None:
    import tonic

    # tonic asks for 100+ files before it skips its download; the subclass keeps the class name, which
    # tonic's reader uses as the folder under save_to
    Local = type("DVSGesture", (tonic.datasets.DVSGesture,), {"_check_exists": lambda self: True})

    order = {}
    for train in (True, False):
        ds = Local(save_to=str(root), train=train, transform=tonic.transforms.ToFrame(SENSOR, n_event_bins=T))
        split = "train" if train else "test"
        cached = tonic.DiskCachedDataset(ds, cache_path=str(out / split))
        for i in range(len(cached)):
            cached[i]
        order[split] = [str(Path(f).resolve()) for f in ds.data]
    (out / "order.json").write_text(json.dumps(order))  # which recording each cache index holds


def spikingjelly_utils():
    """spikingjelly.datasets.utils, with empty stand-ins for the optional packages its package imports."""
    import importlib
    import types

    import torch  # noqa: F401 - before any stand-in, so torch's own imports see the real world

    for _ in range(20):
        try:
            return importlib.import_module("spikingjelly.datasets.utils")
        except ModuleNotFoundError as exc:
            if not exc.name or exc.name.startswith("spikingjelly"):
                raise
            for key in [k for k in sys.modules if k.startswith("spikingjelly.datasets")]:
                del sys.modules[key]
            stand_in = types.ModuleType(exc.name)
            stand_in.__path__ = []

            def attr(name: str):
                if name.startswith("_"):
                    raise AttributeError(name)
                return type(name, (), {})

            stand_in.__getattr__ = attr
            sys.modules[exc.name] = stand_in
    raise ImportError("spikingjelly.datasets.utils")


def run_spikingjelly(root: Path, out: Path, threads: int) -> None:
    from concurrent.futures import ThreadPoolExecutor

    utils = spikingjelly_utils()
    paths = recordings(root)

    def one(i_path):
        i, path = i_path
        ev = read_events(path)
        events = {"t": ev["t"], "x": ev["x"].astype(np.int64), "y": ev["y"].astype(np.int64),
                  "p": ev["p"].astype(np.int64)}
        frames = utils.integrate_events_by_fixed_frames_number(events, "number", T, SENSOR[1], SENSOR[0])
        utils.np_savez(str(out / f"{i:05d}.npz"), frames=frames)

    out.mkdir(parents=True, exist_ok=True)
    if threads == 1:
        for item in enumerate(paths):
            one(item)
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(one, enumerate(paths)))


def child(impl: str, root: Path, out: Path) -> dict:
    cores = os.cpu_count() or 1
    if impl.startswith("snnctl"):  # imports (and loading the registry) are not part of the timing
        import tonic.datasets  # noqa: F401

        import snnctl.data.preprocess  # noqa: F401
        from snnctl.data.base import make_dataset

        make_dataset("dvsgesture", {})
    elif impl == "tonic":
        import h5py  # noqa: F401
        import tonic.datasets  # noqa: F401
    else:
        spikingjelly_utils()
        import tonic.datasets  # noqa: F401
    t0 = time.perf_counter()
    if impl.startswith("snnctl"):
        run_snnctl(root, out, 1 if impl == "snnctl-1" else cores)
    elif impl == "tonic":
        run_tonic(root, out)
    else:
        run_spikingjelly(root, out, 1 if impl == "spikingjelly-1" else cores)
    return {"impl": impl, "seconds": time.perf_counter() - t0, "bytes": folder_bytes(out)}


def digest(frames) -> str:
    import hashlib

    a = np.ascontiguousarray(np.asarray(frames, dtype=np.int64))
    return hashlib.sha1(repr(a.shape).encode() + a.tobytes()).hexdigest()


def output_digests(impl: str, out: Path, paths: list[Path]) -> dict:
    """{recording path: digest of its frames} (tonic, SpikingJelly), or a list of digests (snnctl's cache,
    whose samples are named by keys, compared as a multiset)."""
    if impl.startswith("snnctl"):
        from snnctl.data.cache import FrameCache, find_caches

        cache = FrameCache(Path(find_caches("dvsgesture", out)[0]["path"]))
        found = []
        for split in cache.splits:
            data = cache.dataset(split)
            found += [digest(data[i][0].numpy()) for i in range(len(data))]
        return sorted(found)
    if impl == "tonic":
        import h5py

        order = json.loads((out / "order.json").read_text())
        result = {}
        for split, files in order.items():
            for i, path in enumerate(files):
                with h5py.File(out / split / f"{i}_0.hdf5", "r") as h:
                    result[path] = digest(h["data/0"])
        return result
    return {str(p.resolve()): digest(np.load(out / f"{i:05d}.npz")["frames"]) for i, p in enumerate(paths)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=300_000, help="events per recording")
    ap.add_argument("--users", type=int, nargs="+", default=[1, 2], help="training users (11 recordings each)")
    ap.add_argument("--test-users", type=int, nargs="+", default=[24])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--impl", nargs="+", choices=IMPLS, default=IMPLS)
    ap.add_argument("--child", default=None)
    ap.add_argument("--root", default=None)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, Path(args.root), Path(args.out))))
        return

    sys.path.insert(0, str(HERE.parent / "tests"))
    from event_fixtures import write_dvsgesture

    import tonic

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "raw"
        write_dvsgesture(root, train_users=tuple(args.users), test_users=tuple(args.test_users), events=args.events)
        paths = recordings(root)
        n_events = sum(len(np.load(p, mmap_mode="r")) for p in paths)
        runs: dict[str, list[dict]] = {impl: [] for impl in args.impl}
        last_out: dict[str, Path] = {}
        for r in range(args.rounds):
            for impl in args.impl:
                out = Path(tmp) / f"{impl}-{r}"
                proc = subprocess.run([sys.executable, __file__, "--child", impl, "--root", str(root), "--out", str(out)],
                                      capture_output=True, text=True)
                if proc.returncode != 0:
                    print(f"{impl}: failed\n{proc.stderr[-3000:]}", file=sys.stderr)
                    continue
                runs[impl].append(json.loads(proc.stdout.strip().splitlines()[-1]))
                last_out[impl] = out
        from snnctl.data.frames import to_frames

        reference = {str(p.resolve()): digest(to_frames(read_events(p), SENSOR, T, "number")) for p in paths}
        import spikingjelly
        import torch

        print(f"DVS128 Gesture layout, {len(paths)} recordings, {n_events:,} events, T={T} split by number; "
              f"{os.cpu_count()} cores, numpy {np.__version__}, tonic {tonic.__version__}, "
              f"spikingjelly {getattr(spikingjelly, '__version__', '2.0')}, torch {torch.__version__}; "
              f"median of {args.rounds} rounds")
        print(f"{'implementation':<16} {'seconds':>8} {'min s':>7} {'Mevents/s':>10} {'written MiB':>12}  frames equal to_frames'")
        medians = {}
        for impl, rs in runs.items():
            if not rs:
                continue
            med = statistics.median(r["seconds"] for r in rs)
            medians[impl] = med
            found = output_digests(impl, last_out[impl], paths)
            if isinstance(found, list):
                agree = len(found) - len(set(found) ^ set(reference.values())) if len(set(found)) == len(found) else \
                    sum(d in set(reference.values()) for d in found)
            else:
                agree = sum(found.get(p) == d for p, d in reference.items())
            same = f"{agree} of {len(reference)}"
            print(f"{impl:<16} {med:>8.2f} {min(r['seconds'] for r in rs):>7.2f} {n_events / med / 1e6:>10.2f} "
                  f"{rs[-1]['bytes'] / 2**20:>12.1f}  {same}")
        for ours, peers in (("snnctl-1", ("tonic", "spikingjelly-1")), ("snnctl", ("spikingjelly",))):
            for peer in peers:
                if ours in medians and peer in medians:
                    print(f"{ours} vs {peer}: {medians[peer] / medians[ours]:.2f}x faster")


if __name__ == "__main__":
    main()
