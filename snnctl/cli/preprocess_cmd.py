"""snnctl preprocess NAME"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from snnctl.cli.options import JsonOpt, SetOpt, completer, parse_sets
from snnctl.cli.output import human_bytes, print_json, stderr, stdout


def preprocess(
    name: Annotated[str, typer.Argument(help="Dataset (registry name).", autocompletion=completer("dataset"))] = "synthetic-gestures",
    root: Annotated[Optional[Path], typer.Option("--root", metavar="DIR", help="Folder holding the raw data in tonic's layout (ROOT/<tonic class>/...). Default: SNNCTL_DATA, or ~/.local/share/snnctl.")] = None,
    frames: Annotated[Optional[int], typer.Option("--frames", "-T", min=1, help="Frames T per recording. Default: the dataset's (the paper's T).")] = None,
    split_by: Annotated[str, typer.Option("--split-by", help="'number': equal event counts per frame (the paper's choice); 'time': equal durations.")] = "number",
    downsample: Annotated[int, typer.Option("--downsample", min=1, help="Sum FxF pixel blocks (spatial downsampling by F).")] = 1,
    cache_dir: Annotated[Optional[Path], typer.Option("--cache-dir", metavar="DIR", help="Cache root. Default: SNNCTL_CACHE, or ~/.cache/snnctl.")] = None,
    workers: Annotated[Optional[int], typer.Option("--workers", min=1, help="Worker processes. Default: one per CPU core.")] = None,
    on_error: Annotated[str, typer.Option("--on-error", help="A bad recording: 'fail' stops and names it; 'skip' leaves it out and lists it.")] = "fail",
    download: Annotated[bool, typer.Option("--download/--no-download", help="Download missing data through tonic's URLs.")] = True,
    settings: SetOpt = None,
    json: JsonOpt = False,
) -> None:
    """Integrate a dataset's recordings into T frames and write the frame cache.

    The cache key covers the raw files, every setting and the snnctl version: a second run is a cache hit, and changing --frames never serves stale frames. An interrupted run continues where it stopped.
    """
    from snnctl.data.base import make_dataset
    from snnctl.data.cache import FrameSpec
    from snnctl.data.preprocess import preprocess as run
    from snnctl.errors import ConfigError, Interrupted

    if split_by not in ("number", "time"):
        raise ConfigError(f"--split-by: expected 'number' or 'time', got {split_by!r}")
    if on_error not in ("fail", "skip"):
        raise ConfigError(f"--on-error: expected 'fail' or 'skip', got {on_error!r}")
    dataset = make_dataset(name, parse_sets(settings))
    from snnctl.data.images import ImageDataset

    if isinstance(dataset, ImageDataset):
        raise ConfigError(f"'{name}' is a static-image dataset: it has no events to integrate and no frame cache",
                          f"Train on it directly: snnctl train --data {name} --root DIR")
    spec = FrameSpec(frames or dataset.default_frames, split_by, downsample)
    progress = Progress(TextColumn(f"[bold]{name}[/bold] T={spec.frames}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), TimeRemainingColumn(), console=stderr, transient=False)
    task = progress.add_task("frames", total=None)

    def advance(done: int, total: int) -> None:
        progress.update(task, completed=done, total=total)

    try:
        with progress:
            report = run(dataset, spec, root=root, cache_dir=cache_dir, workers=workers, on_error=on_error,
                         download=download, progress=advance)
    except KeyboardInterrupt:
        raise Interrupted("preprocessing interrupted; finished shards are kept",
                          "Run the same command again to continue where it stopped.") from None
    if json:
        print_json(report.to_json())
        return
    title = f"{name}: frames {list(report.frame_shape)} " + ("(cache hit)" if report.hit else f"in {report.seconds:.1f} s")
    table = Table(title=title)
    for col in ("split", "samples", "classes", "events", "bytes"):
        table.add_column(col, justify="left" if col == "split" else "right")
    for split, info in report.splits.items():
        table.add_row(split, f"{info['samples']:,}", str(info["classes"]), f"{info['events']:,}", human_bytes(info["bytes"]))
    stdout.print(table)
    stdout.print(f"cache: {report.path}", highlight=False, markup=False, soft_wrap=True)
    if report.resumed_shards:
        stdout.print(f"resumed: {report.resumed_shards} shards were already written", highlight=False)
    if report.skipped:
        stdout.print(f"skipped {len(report.skipped)} recording(s):", highlight=False)
        for s in report.skipped:
            stdout.print(f"  {s['recording']}: {s['error']}", highlight=False, markup=False, soft_wrap=True)


def install(app: typer.Typer) -> None:
    app.command("preprocess")(preprocess)
