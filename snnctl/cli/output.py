"""Results go to stdout (tables or JSON); messages and progress go to stderr."""

from __future__ import annotations

import contextlib
import json
import sys
from typing import Any, Callable, Iterator

from rich.console import Console
from rich.markup import escape

from snnctl.files import human_bytes  # noqa: F401  (re-exported: one byte formatter for messages and tables)

stdout = Console(soft_wrap=False)
stderr = Console(stderr=True, soft_wrap=True)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    sys.stdout.flush()


def warn(message: str) -> None:
    stderr.print(f"[yellow]warning:[/yellow] {message}", markup=True, highlight=False)


def log(message: str) -> None:
    """A progress message on stderr, printed as it is (no markup)."""
    stderr.print(escape(message), highlight=False)


@contextlib.contextmanager
def frames_progress() -> Iterator[Callable[[int, int], None]]:
    """A transient bar on stderr while frames are prepared; yields its ``advance(done, total)`` callback."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    progress = Progress(TextColumn("[bold]frames[/bold]"), BarColumn(), MofNCompleteColumn(), console=stderr, transient=True)
    task = progress.add_task("frames", total=None)

    def advance(done: int, total: int) -> None:
        progress.update(task, completed=done, total=total)

    with progress:
        yield advance
