"""The ``snnctl`` command line. This package is the only one that imports typer."""

from __future__ import annotations

import os
import sys
from typing import Sequence

from snnctl.cli.app import build_app, handle_exception

__all__ = ["main", "build_app"]


def _scan_plugins_dirs(argv: Sequence[str]) -> list[str]:
    """Find ``--plugins-dir`` values before parsing, since plugins may add commands."""
    dirs: list[str] = []
    for i, arg in enumerate(argv):
        if arg == "--":
            break
        if arg == "--plugins-dir" and i + 1 < len(argv):
            dirs.append(argv[i + 1])
        elif arg.startswith("--plugins-dir="):
            dirs.append(arg.split("=", 1)[1])
    return dirs


def _show_snnctl_warnings() -> None:
    """snnctl's own warnings as one ``warning:`` line on stderr; others as Python shows them."""
    import warnings

    from snnctl.errors import SnnctlWarning

    default = getattr(warnings.showwarning, "python_default", warnings.showwarning)

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, SnnctlWarning):
            from rich.markup import escape

            from snnctl.cli.output import warn

            warn(escape(str(message)))
        else:
            default(message, category, filename, lineno, file, line)

    show.python_default = default  # type: ignore[attr-defined]
    warnings.showwarning = show


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the console script and of ``python -m snnctl``."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("SNNCTL_DEBUG", "") not in ("", "0")
    _show_snnctl_warnings()
    from snnctl.files import reset_faults

    reset_faults()
    try:
        app = build_app(_scan_plugins_dirs(args))
        code = app(args=args, prog_name="snnctl", standalone_mode=False)
    except BaseException as exc:  # noqa: BLE001 - every exit path goes through one handler
        code = handle_exception(exc, debug)
    sys.exit(code or 0)
