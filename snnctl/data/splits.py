"""Deterministic train/test splits.

Datasets with an official split (DVS128 Gesture, N-MNIST) keep it. The others (CIFAR10-DVS,
N-Caltech101) are split per class: the class's recordings sorted by key, shuffled with a seeded
PCG64 generator (seed + label), and the first ``round(n * test_fraction)`` (at least one when a class
has two or more recordings) go to the test split. The result depends only on the file names, the
seed and the fraction, never on the file system's listing order; it is written next to the cache.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from snnctl.data.base import EventDataset, Recording

__all__ = ["split_recordings"]


def split_recordings(dataset: EventDataset, recordings: list[Recording]) -> dict[str, list[Recording]]:
    """``{"train": [...], "test": [...]}``, each sorted by key."""
    if dataset.split_policy == "official":
        out: dict[str, list[Recording]] = defaultdict(list)
        for r in recordings:
            out[r.split or "train"].append(r)
        return {k: sorted(v, key=lambda r: r.key) for k, v in sorted(out.items())}
    by_class: dict[int, list[Recording]] = defaultdict(list)
    for r in recordings:
        by_class[r.label].append(r)
    train: list[Recording] = []
    test: list[Recording] = []
    for label, recs in sorted(by_class.items()):
        recs = sorted(recs, key=lambda r: r.key)
        order = np.random.Generator(np.random.PCG64(dataset.split_seed + label)).permutation(len(recs))
        n_test = 0 if len(recs) < 2 else max(1, round(len(recs) * dataset.test_fraction))
        test += [recs[i] for i in order[:n_test]]
        train += [recs[i] for i in order[n_test:]]
    return {"test": sorted(test, key=lambda r: r.key), "train": sorted(train, key=lambda r: r.key)}
