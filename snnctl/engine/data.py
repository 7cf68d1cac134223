"""Training and test samples for a run: the frame cache (event data) or the image folders (static data).

Batches are drawn in an order that depends only on the seed and the epoch, so a resumed run sees the
same batches as an uninterrupted one, and a distributed run splits the same global batches across
its processes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import torch
from torch import Tensor

from snnctl.config import RunConfig
from snnctl.engine.build import DataInfo

IN_MEMORY_LIMIT = 2 << 30


@dataclass
class Splits:
    """The train and test samples of a run (torch datasets of ``(x, label)``)."""

    train: Any
    test: Any
    source: str  # cache folder or dataset folder, for the log


class TensorSamples:
    """A split held in memory: ``x`` stacked, ``y`` labels; indexing returns batches directly."""

    def __init__(self, x: Tensor, y: Tensor) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        return self.x[i], int(self.y[i])

    def labels(self) -> Tensor:
        return self.y


def load_splits(cfg: RunConfig, dataset: Any, info: DataInfo,
                progress: Optional[Callable[[int, int], None]] = None) -> Splits:
    """Preprocess (or find in the cache) the event frames, or open the image folders."""
    root = Path(cfg.data.root).expanduser() if cfg.data.root else None
    if info.kind == "images":
        folder = dataset.locate(root, cfg.data.download)
        return Splits(dataset.dataset("train", root, train=True), dataset.dataset("test", root, train=False), str(folder))

    from snnctl.data.cache import FrameCache, FrameSpec
    from snnctl.data.preprocess import preprocess

    cache_dir = Path(cfg.data.cache_dir).expanduser() if cfg.data.cache_dir else None
    report = preprocess(dataset, FrameSpec(info.timesteps, cfg.data.split_by, cfg.data.downsample), root=root,
                        cache_dir=cache_dir, download=cfg.data.download, progress=progress)
    cache = FrameCache(report.path)
    train, test = cache.dataset("train"), cache.dataset("test")
    in_memory = cfg.data.in_memory
    if in_memory is None:
        per_sample = 4 * int(torch.tensor(cache.frame_shape).prod())
        in_memory = per_sample * (len(train) + len(test)) <= IN_MEMORY_LIMIT
    if in_memory:
        train, test = _to_memory(train), _to_memory(test)
    return Splits(train, test, str(report.path))


def _to_memory(samples: Any) -> TensorSamples:
    xs, ys = zip(*(samples[i] for i in range(len(samples)))) if len(samples) else ((), ())
    x = torch.stack(xs) if xs else torch.zeros(0)
    return TensorSamples(x, torch.tensor(ys, dtype=torch.long))


def epoch_order(n: int, seed: int, epoch: int) -> Tensor:
    """The shuffled sample order of one epoch: a function of (seed, epoch) alone."""
    g = torch.Generator().manual_seed((seed * 1_000_003 + epoch) % (2**63))
    return torch.randperm(n, generator=g)


def train_batches(samples: Any, batch_size: int, seed: int, epoch: int, rank: int, world: int,
                  workers: int, skip: int = 0) -> Iterator[tuple[Tensor, Tensor]]:
    """This process's share of each global training batch of an epoch (last partial batch dropped).

    ``skip`` leaves out the first batches (a run resumed in the middle of an epoch).
    """
    order = epoch_order(len(samples), seed, epoch)
    per_rank = batch_size // world
    n_batches = len(samples) // batch_size
    chunks = [order[b * batch_size + rank * per_rank: b * batch_size + (rank + 1) * per_rank]
              for b in range(skip, n_batches)]
    return _load(samples, chunks, workers, seed * 7919 + epoch)


def eval_batches(samples: Any, batch_size: int, rank: int, world: int, workers: int) -> Iterator[tuple[Tensor, Tensor]]:
    """This process's share (every world-th sample) of the whole split, in order."""
    idx = torch.arange(rank, len(samples), world)
    chunks = [idx[i: i + batch_size] for i in range(0, len(idx), batch_size)]
    return _load(samples, chunks, workers, 0)


def steps_per_epoch(n: int, batch_size: int) -> int:
    return n // batch_size


def _load(samples: Any, chunks: list[Tensor], workers: int, seed: int) -> Iterator[tuple[Tensor, Tensor]]:
    if isinstance(samples, TensorSamples):
        return ((samples.x[c], samples.y[c]) for c in chunks)
    from torch.utils.data import DataLoader

    g = torch.Generator().manual_seed(seed)
    loader = DataLoader(samples, batch_sampler=[c.tolist() for c in chunks], num_workers=workers,
                        generator=g, persistent_workers=False, pin_memory=False)
    return iter(loader)


def augment_events(x: Tensor, flip: float, translate: int) -> Tensor:
    """Random horizontal flip and integer translation of event frames ``[T, B, P, H, W]``.

    One draw per sample, shared by every step and both polarities (spec §8.1, CIFAR10-DVS); the
    uncovered border is zero. Draws come from torch's global generator (seeded, checkpointed).
    """
    if flip <= 0 and translate <= 0:
        return x
    b = x.shape[1]
    if flip > 0:
        mask = torch.rand(b) < flip
        if bool(mask.any()):
            x = x.clone()
            x[:, mask] = x[:, mask].flip(-1)
    if translate > 0:
        shifts = torch.randint(-translate, translate + 1, (b, 2))
        h, w = x.shape[-2:]
        out = torch.zeros_like(x)
        for i in range(b):
            dy, dx = int(shifts[i, 0]), int(shifts[i, 1])
            ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
            xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
            out[:, i, :, yd, xd] = x[:, i, :, ys, xs]
        x = out
    return x
