"""matplotlib, imported only when a command is asked for figures (``pip install 'snnctl[plot]'``)."""

from __future__ import annotations

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
    from snnctl.files import atomic_write, make_dir

    path = Path(path)
    try:
        make_dir(path.parent, f"the figure {path.name}")
        atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=120, bbox_inches="tight"), f"the figure {path.name}")
    finally:
        pyplot().close(fig)
    return path
