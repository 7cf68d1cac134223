"""matplotlib, imported only when a command is asked for figures (``pip install 'snnctl[plot]'``).

matplotlib keeps a configuration and font cache (``MPLCONFIGDIR``, else ``~/.config/matplotlib`` and
``~/.cache/matplotlib``), and building its font list runs fontconfig, which writes
``$XDG_CACHE_HOME/fontconfig`` (``~/.cache/fontconfig``). So that neither lands in the home folder,
``MPLCONFIGDIR`` defaults to ``matplotlib`` under snnctl's cache root (``$SNNCTL_CACHE``, see
:func:`snnctl.data.cache.cache_root`), and an unset ``XDG_CACHE_HOME`` to that same folder; both only
while matplotlib is first imported, and a value the user set is always kept.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from snnctl.errors import SnnctlError

__all__ = ["pyplot", "save_png", "matplotlib_dir"]


def matplotlib_dir() -> Path:
    """Where matplotlib's configuration and caches go: ``MPLCONFIGDIR``, else ``<cache root>/matplotlib``."""
    if os.environ.get("MPLCONFIGDIR"):
        return Path(os.environ["MPLCONFIGDIR"]).expanduser()
    from snnctl.data.cache import cache_root

    return cache_root() / "matplotlib"


def _import_matplotlib() -> Any:
    """``import matplotlib`` with its caches under :func:`matplotlib_dir` (a user's own settings kept).

    matplotlib reads ``MPLCONFIGDIR`` once, on import, and lists the fonts (running fontconfig) then too,
    so both variables are set for the import only and restored afterwards.
    """
    import sys

    if "matplotlib.pyplot" in sys.modules:
        return sys.modules["matplotlib"]
    folder = matplotlib_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:  # matplotlib then picks a folder of its own, as it would without snnctl
        return _plain_import()
    saved = {k: os.environ.get(k) for k in ("MPLCONFIGDIR", "XDG_CACHE_HOME")}
    os.environ["MPLCONFIGDIR"] = str(folder)
    if not saved["XDG_CACHE_HOME"]:
        os.environ["XDG_CACHE_HOME"] = str(folder)  # fontconfig's cache: <folder>/fontconfig
    try:
        return _plain_import()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _plain_import() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot  # noqa: F401  reads the configuration and lists the fonts

    return matplotlib


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the file-only Agg backend, or a clear error saying how to install it."""
    try:
        matplotlib = _import_matplotlib()
    except ImportError as err:
        missing = getattr(err, "name", None) or "matplotlib"
        what = "is not installed" if missing.split(".")[0] == "matplotlib" else f"cannot be imported ({err})"
        raise SnnctlError(f"plots need matplotlib, which {what}", "Install it with: pip install 'snnctl[plot]'") from None
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
