"""snnctl train"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from snnctl.cli.options import JsonOpt, completer
from snnctl.cli.output import print_json, stderr, stdout


class RichReporter:
    """Progress on stderr: data preparation, then one bar per epoch with loss, accuracy and speed."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.progress: Optional[Progress] = None
        self.task: Any = None
        self.data_task: Any = None

    def _ensure(self) -> Progress:
        if self.progress is None:
            self.progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[stats]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                console=stderr, transient=False, disable=self.quiet)
            self.progress.start()
        return self.progress

    def data(self, done: int, total: int) -> None:
        p = self._ensure()
        if self.data_task is None:
            self.data_task = p.add_task("frames", total=total, stats="")
        p.update(self.data_task, completed=done, total=total)

    def start(self, state: Any) -> None:
        info, cfg = state.info, state.config
        regs = ", ".join(f"{name} ({len(mods)} modules)" for name, mods in state.regularized.items()) or "none"
        params = sum(p.numel() for p in state.model.parameters())
        self.message(f"run {state.run_dir}: {cfg.model.name} ({params:,} parameters) on {info.name} "
                     f"({info.num_classes} classes, input [{info.timesteps}, B, {info.in_channels}, "
                     f"{info.input_size[0]}, {info.input_size[1]}]), regularizers: {regs}")
        p = self._ensure()
        self.task = p.add_task(f"epoch {state.epoch + 1}/{state.epochs}", total=state.steps_per_epoch,
                               completed=state.batch, stats="")

    def batch(self, state: Any, loss: float, acc: float, samples_per_s: float) -> None:
        if self.progress is not None:
            self.progress.update(self.task, completed=state.batch,
                                 stats=f"loss {loss:.4f} acc {acc:6.2%} {samples_per_s:,.0f} samples/s")

    def epoch(self, state: Any, row: dict[str, Any]) -> None:
        test = f"test loss {row['test_loss']:.4f} acc {row['test_acc']:6.2%} firing {row['firing_rate']:.3f}" \
            if row["test_acc"] is not None else "no test this epoch"
        terms = "".join(f" + {name} {value:.4f}" for name, value in row.get("penalties", {}).items())
        loss = f"{row['train_loss']:.4f} (task {row['task_loss']:.4f}{terms})" if terms else f"{row['train_loss']:.4f}"
        self.message(f"epoch {row['epoch']}/{state.epochs}: train loss {loss} acc "
                     f"{row['train_acc']:6.2%}  {test}  lr {row['lr']:.3g}  {row['samples_per_s']:,.0f} samples/s  "
                     f"{row['seconds']:.1f} s")
        if self.progress is not None and row["epoch"] < state.epochs:
            self.progress.reset(self.task, total=state.steps_per_epoch, completed=0,
                                description=f"epoch {row['epoch'] + 1}/{state.epochs}")

    def message(self, text: str) -> None:
        if not self.quiet:
            (self.progress.console if self.progress else stderr).print(text, highlight=False, markup=False,
                                                                         soft_wrap=True)

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()


def train(
    recipe: Annotated[Optional[str], typer.Option("--recipe", "-r", help="Start from a recipe (the paper's settings for a dataset; 'snnctl list recipes').", autocompletion=completer("recipe"))] = None,
    config: Annotated[Optional[list[Path]], typer.Option("--config", "-c", metavar="FILE", help="Run config file (YAML or TOML) layered over the recipe; repeatable.")] = None,
    settings: Annotated[Optional[list[str]], typer.Option("--set", metavar="KEY=VALUE", help="Set any config value by dotted path, e.g. optim.lr=3e-4, model.args.widths=[8,16] or regularizers.0.args.rtr=2 (a number indexes a list); VALUE is read as JSON where it parses. Repeatable; a key that an option also sets is an error.")] = None,
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Model (registry name).", autocompletion=completer("model"))] = None,
    neuron: Annotated[Optional[str], typer.Option("--neuron", metavar="NAME[:KEY=VALUE,...]", help="Neuron of every spiking layer (registry name), optionally with its arguments: --neuron plif:init_tau=3,per_channel=true.", autocompletion=completer("neuron"))] = None,
    attention: Annotated[Optional[str], typer.Option("--attention", metavar="NAME[:KEY=VALUE,...]", help="Attention module ('none' removes it), optionally with its arguments: --attention sma:c_reduction=8.", autocompletion=completer("attention"))] = None,
    reg: Annotated[Optional[list[str]], typer.Option("--reg", metavar="NAME[:KEY=VALUE,...]", help="Regularizer (registry name), optionally with its arguments: --reg azo:rtr=4,rcr=10. Repeatable; replaces the config's list. '--reg none' trains without.", autocompletion=completer("regularizer"))] = None,
    data: Annotated[Optional[str], typer.Option("--data", "-d", help="Dataset (registry name).", autocompletion=completer("dataset"))] = None,
    root: Annotated[Optional[Path], typer.Option("--root", metavar="DIR", help="Folder of the raw data. Default: SNNCTL_DATA, or ~/.local/share/snnctl.")] = None,
    timesteps: Annotated[Optional[int], typer.Option("--timesteps", "-T", min=1, help="Time steps T (frames). Default: the dataset's.")] = None,
    epochs: Annotated[Optional[int], typer.Option("--epochs", "-e", min=1, help="Training epochs.")] = None,
    batch_size: Annotated[Optional[int], typer.Option("--batch-size", "-b", min=1, help="Global batch size.")] = None,
    lr: Annotated[Optional[float], typer.Option("--lr", help="Peak learning rate.")] = None,
    optimizer: Annotated[Optional[str], typer.Option("--optimizer", help="adam, adamw, nadam or sgd.")] = None,
    loss: Annotated[Optional[str], typer.Option("--loss", help="ce, mse or tet.")] = None,
    precision: Annotated[Optional[str], typer.Option("--precision", help="fp32, bf16, fp16 (GPU) or auto.")] = None,
    device: Annotated[Optional[str], typer.Option("--device", help="auto, cpu, cuda or cuda:N.")] = None,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Random seed.")] = None,
    name: Annotated[Optional[str], typer.Option("--name", help="Run folder name. Default: MODEL-DATA-DATE-TIME.")] = None,
    output_dir: Annotated[Optional[Path], typer.Option("--output-dir", "-o", metavar="DIR", help="Where run folders go. Default: runs.")] = None,
    init: Annotated[Optional[Path], typer.Option("--init", metavar="RUN_OR_FILE", help="Start from the weights of a run (its best checkpoint) or a model.safetensors.")] = None,
    resume: Annotated[Optional[Path], typer.Option("--resume", metavar="RUN_DIR", help="Continue an interrupted run exactly, with its saved config.")] = None,
    print_config: Annotated[bool, typer.Option("--print-config", help="Print the resolved config (YAML) and exit, after checking every name and every component's arguments.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")] = False,
    json: JsonOpt = False,
) -> None:
    """Train a model and write a run folder: config.yaml, metrics.jsonl, best/ and last/ checkpoints.

    With no options it trains vgg5-sma with AZO on the built-in synthetic-gestures data (a few minutes on a CPU). Settings are layered: defaults < --recipe < --config < --set < options. Under torchrun (torchrun --nproc-per-node N -m snnctl train ...) each process trains on its share of every batch.
    """
    from snnctl.config import dump_yaml, parse_component, read_run_config, resolve_config
    from snnctl.engine.train import train as run
    from snnctl.errors import ConfigError

    flags: dict[str, Any] = {}
    options: dict[str, str] = {}

    def put(path: str, value: Any, option: str) -> None:
        if value is None:
            return
        node = flags
        *parents, last = path.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
        options[path] = option

    put("model.name", model, "--model")
    if neuron is not None:
        name_, args_ = parse_component(neuron, "--neuron")
        put("model.neuron", name_, "--neuron")
        put("model.neuron_args", args_ or None, "--neuron")
    if attention is not None:
        name_, args_ = parse_component(attention, "--attention")
        put("model.attention", name_, "--attention")
        put("model.attention_args", args_ or None, "--attention")
    if reg is not None:
        if reg == ["none"]:
            put("regularizers", [], "--reg none")
        else:
            refs = [parse_component(r, "--reg") for r in reg]
            put("regularizers", [{"name": n, "args": a} for n, a in refs], "--reg")
    put("data.name", data, "--data")
    put("data.root", str(root) if root else None, "--root")
    put("timesteps", timesteps, "--timesteps")
    put("epochs", epochs, "--epochs")
    put("batch_size", batch_size, "--batch-size")
    put("optim.lr", lr, "--lr")
    put("optim.name", optimizer, "--optimizer")
    put("loss.name", loss, "--loss")
    put("precision", precision, "--precision")
    put("device", device, "--device")
    put("seed", seed, "--seed")
    put("name", name, "--name")
    put("output_dir", str(output_dir) if output_dir else None, "--output-dir")
    put("init", str(init) if init else None, "--init")

    if resume is not None:
        if flags or recipe or config or settings:
            raise ConfigError("--resume continues a run with its saved config; other settings cannot be combined with it",
                              "Remove the other options, or start a new run (--init RUN starts from its weights).")
        cfg = read_run_config(resume / "config.yaml") if (resume / "config.yaml").is_file() else None
        if cfg is None:
            raise ConfigError(f"--resume: {resume} is not a run folder (no config.yaml)",
                              "Give the folder 'snnctl train' created, e.g. runs/<name>.")
    else:
        cfg = resolve_config(recipe, config, settings, flags, options)
    if print_config:
        from snnctl.engine.build import check_components

        check_components(cfg)
        stdout.print(dump_yaml(cfg), end="", highlight=False, markup=False, soft_wrap=True)
        return
    reporter = RichReporter(quiet)
    result = run(cfg, resume=resume, reporter=reporter)
    if not result.main:
        return
    if json:
        print_json(result.to_json())
        return
    stdout.print(f"{cfg.model.name} on {cfg.data.name}: {result.epochs} epochs in {result.seconds:.0f} s",
                 highlight=False, markup=False, soft_wrap=True)
    table = Table()
    for col in ("test accuracy", "epoch", "value"):
        table.add_column(col, justify="left" if col == "test accuracy" else "right")
    table.add_row("best", str(result.best_epoch), f"{result.best_acc:.2%}")
    table.add_row("last", str(result.epochs), f"{result.last_acc:.2%}")
    stdout.print(table)
    stdout.print(f"firing rate (last test): {result.firing_rate:.4f}", highlight=False)
    stdout.print(f"run: {result.run_dir}", highlight=False, markup=False, soft_wrap=True)


def install(app: typer.Typer) -> None:
    app.command("train")(train)

