"""Tiny datasets written in each dataset's real on-disk format (tonic's layout), and a network guard.

* DVS128 Gesture: ``DVSGesture/ibmGestureTrain/user<NN>_<lighting>/<label>.npy``, plain ``[N, 4]``
  arrays with columns x, y, p, t in milliseconds.
* N-MNIST / N-Caltech101: ATIS ``.bin`` files, 5 bytes per event (x, y, p in bit 7 + t bits 22-16,
  t bits 15-8, t bits 7-0).
* CIFAR10-DVS: AEDAT 4 files written by faery, one folder per class.
"""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np

EVENTS = np.dtype([("x", "<i2"), ("y", "<i2"), ("p", "?"), ("t", "<i8")])


def random_events(rng: np.random.Generator, n: int, width: int, height: int, duration_us: int) -> np.ndarray:
    ev = np.zeros(n, EVENTS)
    ev["x"] = rng.integers(0, width, n)
    ev["y"] = rng.integers(0, height, n)
    ev["p"] = rng.integers(0, 2, n)
    ev["t"] = np.sort(rng.integers(0, duration_us, n))
    return ev


def write_dvsgesture(root: Path, train_users=(1, 2), test_users=(24,), labels=range(11), events=300, seed=0) -> list[Path]:
    rng = np.random.default_rng(seed)
    paths = []
    for sub, users in (("ibmGestureTrain", train_users), ("ibmGestureTest", test_users)):
        for user in users:
            folder = root / "DVSGesture" / sub / f"user{user:02d}_fluorescent"
            folder.mkdir(parents=True, exist_ok=True)
            for label in labels:
                ev = random_events(rng, events + int(rng.integers(0, 50)), 128, 128, 2_000_000)
                ev["t"] -= ev["t"] % 1000  # the files hold milliseconds
                arr = np.stack([ev["x"], ev["y"], ev["p"], ev["t"] // 1000], axis=1).astype(np.int64)
                path = folder / f"{label}.npy"
                np.save(path, arr)
                paths.append(path)
    return paths


def atis_bytes(ev: np.ndarray) -> bytes:
    t = ev["t"].astype(np.int64)
    raw = np.zeros((len(ev), 5), np.uint8)
    raw[:, 0] = ev["x"]
    raw[:, 1] = ev["y"]
    raw[:, 2] = (ev["p"].astype(np.int64) << 7) | ((t >> 16) & 0x7F)
    raw[:, 3] = (t >> 8) & 0xFF
    raw[:, 4] = t & 0xFF
    return raw.tobytes()


def _write_atis(files: list[tuple[Path, np.ndarray]]) -> list[Path]:
    for path, ev in files:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(atis_bytes(ev))
    return [path for path, _ in files]


def write_nmnist(root: Path, per_digit=(2, 1), events=200, seed=0) -> list[Path]:
    rng = np.random.default_rng(seed)
    return _write_atis([(root / "NMNIST" / sub / str(digit) / f"{i:05d}.bin", random_events(rng, events, 34, 34, 300_000))
                        for sub, count in zip(("Train", "Test"), per_digit) for digit in range(10) for i in range(count)])


def write_ncaltech101(root: Path, classes=("accordion", "airplanes", "anchor"), per_class=10, events=400, seed=0) -> list[Path]:
    rng = np.random.default_rng(seed)
    files = []
    for name in classes:
        for i in range(per_class):
            ev = random_events(rng, events, 230, 170, 300_000)
            ev["x"] += 5  # tonic shifts each recording to start at 0
            files.append((root / "NCALTECH101" / "Caltech101" / name / f"image_{i + 1:04d}.bin", ev))
    return _write_atis(files)


def _per_class(root: Path, folder: str, classes, per_class: int, name, write) -> list[Path]:
    """``per_class`` files per class under ``root/folder/<class>/``; ``write(path, class, i)`` writes one."""
    paths = []
    for cls in classes:
        (root / folder / cls).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            path = root / folder / cls / name(cls, i)
            write(path)
            paths.append(path)
    return paths


def write_cifar10dvs(root: Path, classes=("airplane", "cat", "truck"), per_class=10, events=300, seed=0) -> list[Path]:
    import faery

    rng = np.random.default_rng(seed)

    def write(path: Path) -> None:
        ev = random_events(rng, events, 128, 128, 1_000_000)
        arr = np.zeros(len(ev), faery.EVENTS_DTYPE)
        for f in ("t", "x", "y", "p"):
            arr[f] = ev[f]
        faery.events_stream_from_array(arr, dimensions=(128, 128)).to_file(str(path))

    return _per_class(root, "CIFAR10DVS", classes, per_class, lambda c, i: f"cifar10_{c}_{i}.aedat4", write)


class NetworkGuard:
    """Counts (and refuses) every attempt to open a network connection."""

    def __init__(self, monkeypatch) -> None:
        self.attempts: list[object] = []

        def refuse(*args, **kwargs):
            self.attempts.append(args[1:] or args)
            raise OSError("network access is disabled in this test")

        monkeypatch.setattr(socket.socket, "connect", refuse)
        monkeypatch.setattr(socket.socket, "connect_ex", refuse)
        monkeypatch.setattr(socket, "create_connection", refuse)
        monkeypatch.setattr(socket, "getaddrinfo", refuse)


def write_asldvs(root: Path, letters=("a", "b", "y"), per_class=10, events=300, seed=0) -> list[Path]:
    """MATLAB files with column vectors ts, x, y, pol (y is stored flipped: tonic reads 179 - y)."""
    from scipy.io import savemat

    rng = np.random.default_rng(seed)

    def write(path: Path) -> None:
        ev = random_events(rng, events, 240, 180, 200_000)
        savemat(path, {"ts": ev["t"][:, None], "x": ev["x"][:, None].astype(np.int64),
                       "y": ev["y"][:, None].astype(np.int64), "pol": ev["p"][:, None].astype(np.int64)})

    return _per_class(root, "ASLDVS", letters, per_class, lambda c, i: f"{c}_{i:04d}.mat", write)


def write_dvslip(root: Path, words=("accused", "action", "allow"), per_word=(2, 1), events=300, seed=0) -> list[Path]:
    """Structured .npy files (x, y, t, p) under DVS-Lip/{train,test}/<word>/."""
    rng = np.random.default_rng(seed)
    paths = []
    for split, count in zip(("train", "test"), per_word):
        for word in words:
            folder = root / "DVSLip" / "DVS-Lip" / split / word
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                ev = random_events(rng, events, 128, 128, 1_000_000)
                arr = np.zeros(len(ev), [("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "<i1")])
                for f in ("x", "y", "t", "p"):
                    arr[f] = ev[f]
                path = folder / f"{i}.npy"
                np.save(path, arr)
                paths.append(path)
    return paths
