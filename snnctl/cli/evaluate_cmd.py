"""snnctl evaluate RUN_DIR"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from snnctl.cli.options import JsonOpt
from snnctl.cli.output import print_json, stderr, stdout


def evaluate(
    source: Annotated[Path, typer.Argument(metavar="SOURCE", help="A run folder written by 'snnctl train', a bundle (.safetensors) written by 'snnctl export', or a NIR graph (.nir).")],
    checkpoint: Annotated[str, typer.Option("--checkpoint", help="Which checkpoint of a run folder: best or last.")] = "best",
    data: Annotated[Optional[str], typer.Option("--data", "-d", help="Evaluate on another dataset with the same classes and input (registry name; the model's own keeps its settings). Default: the one the model was trained on (required for a NIR graph that names none).")] = None,
    root: Annotated[Optional[Path], typer.Option("--root", metavar="DIR", help="Folder of the raw data. Default: the run's, else SNNCTL_DATA.")] = None,
    split: Annotated[str, typer.Option("--split", help="Which split: test or train.")] = "test",
    batch_size: Annotated[Optional[int], typer.Option("--batch-size", "-b", min=1, help="Batch size. Default: the run's.")] = None,
    device: Annotated[str, typer.Option("--device", help="auto, cpu, cuda or cuda:N.")] = "auto",
    dt: Annotated[Optional[float], typer.Option("--dt", metavar="SECONDS", help="NIR graphs: seconds per time step, for a graph that does not record it (default 1e-4).")] = None,
    plot: Annotated[Optional[Path], typer.Option("--plot", metavar="FILE.png", help="Also draw the confusion matrix to this PNG file (needs matplotlib, in the 'plot' extra: pip install 'snnctl\\[plot]').")] = None,
    json: JsonOpt = False,
) -> None:
    """Accuracy (top-1, and top-5 beyond 5 classes), per-class accuracy, confusion matrix and firing rate of a trained model: a run, a bundle or a NIR graph."""
    from snnctl.config import DataSection, RunConfig
    from snnctl.engine.build import describe_data, make_run_dataset, resolve_device
    from snnctl.engine.data import eval_batches, load_splits
    from snnctl.engine.evaluate import evaluate as run_eval
    from snnctl.engine.train import precision_for
    from snnctl.errors import ConfigError
    from snnctl.export import open_model

    if checkpoint not in ("best", "last"):
        raise ConfigError(f"--checkpoint: expected 'best' or 'last', got {checkpoint!r}")
    if split not in ("test", "train"):
        raise ConfigError(f"--split: expected 'test' or 'train', got {split!r}")
    opened = open_model(source, checkpoint, **({} if dt is None else {"dt": dt}))
    cfg = opened.config if opened.config is not None else RunConfig()
    spec = opened.data
    if spec is None and data is None:
        raise ConfigError(f"{source} does not say which data it was trained on", "Give the dataset with --data NAME.")
    updates: dict[str, Any] = {"flip": 0.0, "translate": 0}
    if spec is not None and opened.config is None:
        updates.update(name=spec.name, args=spec.args, split_by=spec.split_by, downsample=spec.downsample)
    if data is not None and data != (spec.name if spec is not None else None):
        updates.update(name=data, args={})  # another dataset starts from its own settings
    if root is not None:
        updates["root"] = str(root)
    cfg = cfg.model_copy(update={"data": DataSection.model_validate({**cfg.data.model_dump(), **updates})})
    model = opened.model
    dataset = make_run_dataset(cfg)
    data_root = Path(cfg.data.root).expanduser() if cfg.data.root else None
    info = describe_data(cfg.data.name, dataset, model.timesteps or None, cfg.data.downsample, data_root, cfg.data.download)
    if not model.timesteps:  # a graph that records no T runs at the data's
        model.timesteps = info.timesteps
    if opened.classes is not None and info.classes != opened.classes:
        raise ConfigError(f"--data {cfg.data.name}: its classes differ from the {len(opened.classes)} classes the model "
                          "was trained on", "Evaluate on a dataset with the same classes in the same order.")
    if info.num_classes != model.num_classes:
        raise ConfigError(f"--data {cfg.data.name} has {info.num_classes} classes but the model {model.num_classes} outputs")
    if (info.in_channels, tuple(info.input_size)) != (model.in_channels, tuple(model.input_size)):
        raise ConfigError(f"--data {cfg.data.name}: input [{info.in_channels}, {info.input_size[0]}, {info.input_size[1]}] "
                          f"does not fit the model's [{model.in_channels}, {model.input_size[0]}, "
                          f"{model.input_size[1]}]")
    dev = resolve_device(device)
    splits = load_splits(cfg, dataset, info)
    samples = splits.test if split == "test" else splits.train
    model = model.to(dev)
    result = run_eval(model, eval_batches(samples, batch_size or cfg.eval_batch_size or cfg.batch_size, 0, 1, 0),
                      info.encode, info.num_classes, dev, precision_for(cfg.precision, dev), cfg.loss)
    name, epoch = opened.name, opened.provenance.get("epoch")
    which = checkpoint if opened.kind == "run" else opened.kind
    if plot is not None:
        from snnctl.engine.plots import confusion_png

        confusion_png(result.confusion, info.classes, plot,
                      title=f"{name} on {info.name} ({split}, {which}): top-1 {result.top1:.2%}")
    if json:
        print_json({"run": str(source), "kind": opened.kind, "checkpoint": which, "epoch": epoch, "model": name,
                    "data": info.name, "split": split, **result.to_json(info.classes)})
        return
    head = Table(title=f"{source} ({which}" + (f", epoch {epoch}" if epoch is not None else "") + f") on {info.name} {split}")
    head.add_column("metric")
    head.add_column("value", justify="right")
    head.add_row("samples", f"{result.samples:,}")
    head.add_row("top-1 accuracy", f"{result.top1:.2%}")
    if result.top5 is not None:
        head.add_row("top-5 accuracy", f"{result.top5:.2%}")
    head.add_row("loss", f"{result.loss:.4f}")
    head.add_row("firing rate", f"{result.firing_rate:.4f}")
    stdout.print(head)
    per = Table(title="per class")
    per.add_column("class")
    per.add_column("samples", justify="right")
    per.add_column("accuracy", justify="right")
    for c, row, acc in zip(info.classes, result.confusion, result.per_class):
        per.add_row(c, str(sum(row)), "-" if acc is None else f"{acc:.2%}")
    stdout.print(per)
    if info.num_classes <= 20:
        conf = Table(title="confusion matrix (rows: true class, columns: predicted)")
        conf.add_column("")
        for i in range(info.num_classes):
            conf.add_column(str(i), justify="right")
        for i, (c, row) in enumerate(zip(info.classes, result.confusion)):
            conf.add_row(f"{i} {c}", *[str(v) for v in row])
        stdout.print(conf)
    else:
        stderr.print(f"confusion matrix: {info.num_classes} classes are too many for a table; see --json or --plot",
                     highlight=False)
    if plot is not None:
        stdout.print(f"plot: {plot}", highlight=False, markup=False, soft_wrap=True)


def install(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate)
