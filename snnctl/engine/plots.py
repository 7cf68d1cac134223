"""PNG figures of an evaluation (matplotlib, an optional dependency: ``pip install 'snnctl[plot]'``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from snnctl.errors import SnnctlError


def pyplot() -> Any:
    """matplotlib's pyplot on the file-only Agg backend, or a clear error when it is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise SnnctlError("plots need matplotlib, which is not installed",
                          "Install it with: pip install 'snnctl[plot]'") from None
    return plt


def save_figure(fig: Any, path: Path) -> None:
    """Write a figure as PNG next to its final name, then rename (no half-written file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    os.replace(tmp, path)


def confusion_png(confusion: list[list[int]], classes: list[str], path: Path, title: str = "") -> None:
    """The confusion matrix, rows normalised to the share of each true class."""
    import numpy as np

    plt = pyplot()
    m = np.asarray(confusion, dtype=float)
    share = m / np.maximum(m.sum(1, keepdims=True), 1)
    k = len(classes)
    size = min(max(4.0, 0.45 * k + 2), 24)
    fig, ax = plt.subplots(figsize=(size, size))
    im = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of true class")
    if k <= 40:
        ax.set_xticks(range(k), classes, rotation=90)
        ax.set_yticks(range(k), classes)
        if k <= 20:
            for i in range(k):
                for j in range(k):
                    if m[i, j]:
                        ax.text(j, i, int(m[i, j]), ha="center", va="center", fontsize=8,
                                color="white" if share[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if title:
        ax.set_title(title)
    save_figure(fig, path)
    plt.close(fig)
