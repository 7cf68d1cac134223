"""PNG figures of an evaluation (matplotlib, an optional dependency: ``pip install 'snnctl[plot]'``)."""

from __future__ import annotations

from pathlib import Path

from snnctl.plotting import pyplot, save_png


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
    save_png(fig, path)
