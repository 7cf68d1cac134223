"""matplotlib, imported only when a command is asked for figures (``pip install 'snnctl[plot]'``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from snnctl.errors import SnnctlError

__all__ = ["pyplot", "save_png"]


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the file-only Agg backend, or a clear error saying how to install it."""
    try:
        import matplotlib
    except ImportError:
        raise SnnctlError("plots need matplotlib, which is not installed",
                          "Install it with: pip install 'snnctl[plot]'") from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def save_png(fig: Any, path: Path) -> Path:
    """Write a figure as PNG beside its final name, rename it into place (never a half-written file), close it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    os.replace(tmp, path)
    pyplot().close(fig)
    return path
