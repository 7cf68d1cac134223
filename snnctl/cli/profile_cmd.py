"""snnctl profile MODEL_OR_RUN_DIR"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.markup import escape
from rich.table import Table

from snnctl.cli.options import JsonOpt, completer, parse_sets
from snnctl.cli.output import frames_progress, human_bytes, log, print_json, stderr, stdout, warn


# -- number formatting ------------------------------------------------------------------------------------
def si(x: Optional[float], unit: str = "") -> str:
    """``1.09 G``-style numbers (operations, counts)."""
    if x is None:
        return "-"
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= factor:
            return f"{x / factor:.3g} {prefix}{unit}".rstrip()
    return f"{x:.3g} {unit}".rstrip() if x != int(x) else f"{int(x)} {unit}".rstrip()


def joules(x: Optional[float]) -> str:
    if x is None:
        return "-"
    for factor, unit in ((1.0, "J"), (1e-3, "mJ"), (1e-6, "µJ"), (1e-9, "nJ")):
        if abs(x) >= factor:
            return f"{x / factor:.3g} {unit}"
    return f"{x / 1e-12:.3g} pJ"


def seconds(x: Optional[float]) -> str:
    if x is None:
        return "-"
    return f"{x * 1e3:.3g} ms" if x < 1 else f"{x:.3g} s"


def pct(x: Optional[float]) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


SPARK = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float]) -> str:
    top = max(values, default=0.0)
    if top <= 0:
        return SPARK[0] * len(values)
    return "".join(SPARK[min(len(SPARK) - 1, int(v / top * (len(SPARK) - 1) + 0.5))] for v in values)


# -- the command ----------------------------------------------------------------------------------------------
def profile(
    model_or_run_dir: Annotated[str, typer.Argument(metavar="MODEL_OR_RUN_DIR", autocompletion=completer("model"),
                                                help="A model name (built to fit the data), a run directory (it holds config.yaml), or an exported bundle (.safetensors) or NIR graph (.nir).",
                                                show_default=False)],
    spikes: Annotated[bool, typer.Option("--spikes", help="Firing rates per spiking layer and a row per attention module (neurons inside attention included): mean, per time step, silent and dead neurons, spikes per sample; and every series a monitor records.")] = False,
    ops: Annotated[bool, typer.Option("--ops", help="Per layer: dense MACs, spike or analog input, SOPs, MACs, neuron updates, parameters; footprint and sparsity.")] = False,
    energy: Annotated[bool, typer.Option("--energy", help="Totals under the paper, syops and neurobench conventions and the equivalent ANN, per cost table, with each attention's share (by registry name).")] = False,
    speed: Annotated[bool, typer.Option("--speed", help="Forward and forward+backward time per sample and peak memory, of the model and of every registered neuron at its shapes.")] = False,
    data: Annotated[Optional[str], typer.Option("--data", metavar="NAME", autocompletion=completer("dataset"), help="Dataset to take samples from. Default: the run's dataset, or synthetic-gestures.")] = None,
    data_set: Annotated[Optional[list[str]], typer.Option("--data-set", metavar="KEY=VALUE", help="A dataset setting (as 'snnctl preprocess --set'); repeatable.")] = None,
    model_set: Annotated[Optional[list[str]], typer.Option("--model-set", metavar="KEY=VALUE", help="A model setting, for a model name; VALUE is read as JSON where it parses; repeatable.")] = None,
    timesteps: Annotated[Optional[int], typer.Option("--timesteps", "-T", min=1, help="T for a model name. Default: the dataset's T. A run is always profiled at its own T.")] = None,
    split: Annotated[str, typer.Option("--split", help="Split the samples come from.")] = "test",
    samples: Annotated[int, typer.Option("--samples", "-n", min=1, help="Samples to profile, spread evenly over the split.")] = 16,
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", min=1, help="Samples per forward pass.")] = 8,
    random_input: Annotated[bool, typer.Option("--random-input", help="Uniform random input of the model's own shape instead of dataset samples (the model keeps its defaults).")] = False,
    root: Annotated[Optional[Path], typer.Option("--root", metavar="DIR", help="Folder holding the raw data (as for 'snnctl preprocess').")] = None,
    cache_dir: Annotated[Optional[Path], typer.Option("--cache-dir", metavar="DIR", help="Frame cache root. Default: SNNCTL_CACHE, or ~/.cache/snnctl.")] = None,
    download: Annotated[bool, typer.Option("--download/--no-download", help="Download missing data through tonic's URLs.")] = True,
    which: Annotated[str, typer.Option("--which", help="Checkpoint of a run directory: 'best' or 'last'.")] = "best",
    device: Annotated[str, typer.Option("--device", help="Device to run on: cpu, cuda or cuda:N.")] = "cpu",
    dt: Annotated[Optional[float], typer.Option("--dt", metavar="SECONDS", help="NIR graphs: seconds per time step, for a graph that does not record it (default 1e-4).")] = None,
    cost: Annotated[Optional[list[str]], typer.Option("--cost", metavar="TABLE", help="Energy cost table: fp32-45nm (4.6/0.9 pJ), fp16, int8, or NAME:mac=PJ,ac=PJ; repeatable. Default: the three named tables.")] = None,
    first_layer_per_step: Annotated[bool, typer.Option("--first-layer-per-step/--first-layer-once", help="'paper' convention: charge the first layer's MACs at every time step (event frames), or once (a static image repeated T times).")] = True,
    repeat: Annotated[int, typer.Option("--repeat", min=1, help="--speed: timed runs per measurement, after one warm-up run (the median is reported).")] = 3,
    csv: Annotated[Optional[Path], typer.Option("--csv", metavar="FILE", help="Write per-layer rows to FILE and the totals to FILE's name + '-totals'.")] = None,
    plot: Annotated[Optional[Path], typer.Option("--plot", metavar="DIR", help="Write PNG figures into DIR: firing rates per layer and per step, SOP/MAC breakdown, the scale selection of multiscale attention such as SMA (needs matplotlib, in the 'plot' extra: pip install 'snnctl\\[plot]').")] = None,
    json: JsonOpt = False,
) -> None:
    """Profile a spiking network: spikes, operations, energy and speed.

    Runs the model on real samples of the dataset at the model's T (one forward pass per batch) and counts every layer through the registered monitors ('snnctl list monitors'); a layer no monitor counts is listed as uncounted. A model name is built to fit the data, and the output says which input shapes were profiled and why (and the model's own settings where the data's replaced them). All figures are per sample; each attention module's share is named by its registry name. Sections are chosen with --spikes, --ops, --energy and --speed (all by default).
    """
    from snnctl.errors import ConfigError
    from snnctl.profile import COST_TABLES, open_target, parse_cost, write_csv

    if which not in ("best", "last"):
        raise ConfigError(f"--which: expected 'best' or 'last', got {which!r}")
    sections = [name for name, on in (("spikes", spikes), ("ops", ops), ("energy", energy), ("speed", speed)) if on]
    sections = sections or ["spikes", "ops", "energy", "speed"]
    tables = [parse_cost(c) for c in cost] if cost else list(COST_TABLES.values())
    names = [t.name for t in tables]
    if len(set(names)) != len(names):
        raise ConfigError(f"--cost: the table names must differ, got {', '.join(names)}", "Name a custom table: --cost mine:mac=1,ac=0.1")
    if plot is not None:
        from snnctl.profile.plots import require_matplotlib

        require_matplotlib()  # fail before the work, not after it
    target = open_target(model_or_run_dir, data=data, data_args=parse_sets(data_set, "--data-set"),
                         model_args=parse_sets(model_set, "--model-set"), timesteps=timesteps, root=root,
                         cache_dir=cache_dir, which=which, random_input=random_input, device=device,
                         load_options={} if dt is None else {"dt": dt})
    report = _run(target, sections, samples, batch_size, split, tables, first_layer_per_step, repeat, download)
    written: list[Path] = []
    if csv is not None:
        written += write_csv(report, csv)
    if plot is not None:
        from snnctl.profile.plots import write_plots

        figures = write_plots(report, plot)
        if not figures:
            warn("--plot: the chosen sections have nothing to plot (figures come from --spikes and --ops)")
        written += figures
    if report["uncounted"]:
        kinds = sorted({u["type"] for u in report["uncounted"]})
        warn(escape(f"{len(report['uncounted'])} layer(s) of type {', '.join(kinds)} are not counted: no monitor claims them "
                    "(register one with the register_monitors hook)"))
    if json:
        print_json(report)
    else:
        print_report(report)
    for path in written:
        stderr.print(f"wrote {escape(str(path))}", highlight=False)


def _run(target, sections, samples, batch_size, split, tables, first_layer_per_step, repeat, download) -> dict[str, Any]:
    from snnctl.profile import run_profile

    with frames_progress() as advance:
        return run_profile(target, sections=sections, samples=samples, batch_size=batch_size, split=split,
                           costs=tables, first_layer_per_step=first_layer_per_step, repeat=repeat, download=download,
                           data_progress=advance, log=log)


# -- tables ------------------------------------------------------------------------------------------------
def print_report(report: dict[str, Any]) -> None:
    m, d = report["model"], report["data"]
    source = "registry" if m["source"] == "registry" else f"{m['source']} {m['path']}"
    shape = "x".join(str(v) for v in m["input"] if v is not None)
    stdout.print(f"[bold]{escape(m['name'])}[/bold] ({escape(source)}): {m['parameters']:,} parameters, "
                 f"input {shape}, {m['classes']} classes, T={m['timesteps']}, on {report['device']}", highlight=False)
    if "profiled_on" in report:
        stdout.print(escape(report["profiled_on"]["text"]), highlight=False)
    if d["random"]:
        stdout.print(f"input: {d['samples']} random samples (uniform), batch {d['batch_size']}", highlight=False)
    else:
        stdout.print(escape(f"data: {d['dataset']}, {d['split']} split, {d['samples']} samples of {d['classes']} classes, "
                            f"batch {d['batch_size']}; all figures per sample"), highlight=False)
    if "spikes" in report:
        _print_spikes(report["spikes"])
    if "ops" in report:
        _print_ops(report["ops"])
    if "energy" in report:
        _print_energy(report["energy"])
    if "speed" in report:
        _print_speed(report["speed"])
    if report["uncounted"]:
        stdout.print("[bold]uncounted layers[/bold] (no monitor claims their type):", highlight=False)
        for u in report["uncounted"]:
            stdout.print(escape(f"  {u['label']} ({u['type']}, {u['parameters']:,} parameters, {u['calls']} calls)"),
                         highlight=False)


def _layer(row: dict[str, Any]) -> str:
    return escape(row["label"])


def _attention(row: dict[str, Any]) -> str:
    """The registry name of the attention module a row is part of (empty for the backbone)."""
    return escape(row["attention"] or "") if row.get("attention_module") is not None else ""


def show(table: Table) -> None:
    """Print a table; written to a file or a pipe it keeps its natural width rather than 80 columns."""
    if stdout.is_terminal:
        stdout.print(table)
        return
    from rich.measure import Measurement

    from rich.console import Console

    natural = Measurement.get(stdout, stdout.options.update(width=1000), table).maximum
    Console(width=max(stdout.width, min(natural, 1000)), soft_wrap=False).print(table)


def _print_spikes(section: dict[str, Any]) -> None:
    table = Table(title="spikes")
    table.add_column("layer", overflow="fold")
    table.add_column("attention", justify="left")
    for col in ("neurons", "rate", "per step", "silent", "dead", "spikes/sample"):
        table.add_column(col, justify="left" if col == "per step" else "right")
    for r in section["layers"]:
        if not r.get("spiking", True):  # an attention module: its own row, with or without neurons inside
            inside = r.get("spiking_layers", 0)
            what = f"{inside} spiking layer{'s' if inside != 1 else ''} inside" if inside else "no neurons inside"
            table.add_row(_layer(r), _attention(r), "0", "-" if inside else "no spikes", what, "-", "-",
                          "-" if inside else "0")
            continue
        if r.get("firing_rate") is None:
            table.add_row(_layer(r), _attention(r), f"{r['neurons']:,}", "-", "", "-", "-", "-")
            continue
        steps = r["firing_rate_per_step"]
        table.add_row(_layer(r), _attention(r), f"{r['neurons']:,}", f"{r['firing_rate']:.4f}",
                      f"{sparkline(steps)} {min(steps):.3f}-{max(steps):.3f}", pct(r["silent"]), pct(r["dead"]),
                      si(r["spikes_per_sample"]))
    show(table)
    for mod in section.get("scale_selection", []):
        kernels = mod.get("kernels") or list(range(len(mod["scale_weight"])))
        parts = [f"{k}x{k}: {sum(w) / len(w):.3f}" for k, w in zip(kernels, mod["scale_weight"])]
        kind = f" ({mod['attention']})" if mod.get("attention") else ""
        stdout.print(escape(f"{mod['label']}{kind} mean weight per scale (A^t A^c): " + ", ".join(parts)), highlight=False)
    _print_series(section.get("series", []))


def series_text(values: Any, rows: int = 8) -> str:
    """A series in one short line: a number, a sparkline with its range, or one sparkline per row.

    The sparklines span the series' own range (lowest to highest value), shared by every row.
    """
    if not isinstance(values, list):
        return f"{values:.4g}"
    flat = _flatten(values)
    if not flat:
        return "(empty)"
    lo, hi = min(flat), max(flat)
    span = f"{lo:.3g}-{hi:.3g}"
    if all(not isinstance(v, list) for v in values):
        return f"{_spark(values, lo, hi)} {span}"
    if all(isinstance(v, list) and all(not isinstance(x, list) for x in v) for v in values):
        lines = [_spark(v, lo, hi) for v in values[:rows]]
        more = f" (+{len(values) - rows} rows)" if len(values) > rows else ""
        return f"{' '.join(lines)}{more} {span}"
    return f"mean {sum(flat) / len(flat):.4g}, {span}"


def _spark(values: list[float], lo: float, hi: float) -> str:
    if hi <= lo:
        return SPARK[len(SPARK) // 2] * len(values)
    top = len(SPARK) - 1
    return "".join(SPARK[min(top, int((v - lo) / (hi - lo) * top + 0.5))] for v in values)


def _flatten(values: Any) -> list[float]:
    if not isinstance(values, list):
        return [float(values)]
    return [x for v in values for x in _flatten(v)]


def _print_series(layers: list[dict[str, Any]]) -> None:
    """Every series a monitor recorded, one line each (the values are in --json)."""
    if not layers:
        return
    stdout.print("[bold]series[/bold] (per sample; the values are in --json):", highlight=False)
    for layer in layers:
        kind = f" ({layer['attention']})" if layer.get("attention_module") is not None else ""
        for key, values in layer["series"].items():
            shape = "x".join(str(d) for d in layer["shapes"][key]) or "scalar"
            stdout.print(escape(f"  {layer['label']}{kind} {key} [{shape}]: {series_text(values)}"), highlight=False)


def _print_ops(section: dict[str, Any]) -> None:
    table = Table(title="operations (per sample; dense MACs also per time step)")
    table.add_column("layer", overflow="fold")
    table.add_column("attention", justify="left")
    for col in ("type", "input", "dense MACs/step", "SOPs", "MACs", "neuron updates", "params"):
        table.add_column(col, justify="left" if col in ("type", "input") else "right")
    hidden = 0
    for r in section["layers"]:
        if not (r["dense_macs"] or r["neuron_updates"]):
            hidden += bool(r["elementwise_ops"] or r["bias_ops"])
            continue
        kind = r["input"] + (f" {r['input_rate']:.3f}" if r["input"] == "spikes" and r["input_rate"] is not None else "")
        if r["first"]:
            kind += " (first)"
        table.add_row(_layer(r), _attention(r), escape(r["type"]), kind, si(r["dense_macs_per_step"]), si(r["sops"]),
                      si(r["macs"]), si(r["neuron_updates"]), f"{r['params']:,}")
    t = section["totals"]
    table.add_section()
    parts = [("total", "", t), ("  backbone", "", t["backbone"])]
    parts += [("  attention", escape(kind), row) for kind, row in t["attention"].items()]
    for label, kind, row in parts:
        table.add_row(label, kind, "", "", si(row["dense_macs_per_step"]), si(row["sops"]), si(row["macs"]),
                      si(row["neuron_updates"]), "")
    show(table)
    if hidden:
        stdout.print(f"{hidden} layers without synapses or neurons (normalisation, pooling, activations) are "
                     "in --json and --csv", highlight=False)
    stdout.print(f"parameters {section['parameters']:,} ({human_bytes(section['param_bytes'])}, buffers "
                 f"{human_bytes(section['buffer_bytes'])}); neuron state {human_bytes(section['state_bytes'])} per sample; "
                 f"activation sparsity {pct(section['activation_sparsity'])}; "
                 f"connection sparsity {pct(section['connection_sparsity'])}", highlight=False)


def _print_energy(section: dict[str, Any]) -> None:
    names = [t["name"] for t in section["cost_tables"]]
    first = section["first_layer"]
    when = "every step" if first["per_step"] else "once"
    table = Table(title=f"energy per sample (paper: first layer {escape(str(first['name']))} as MAC, {when})")
    kinds = list(section["conventions"]["paper"]["attention"])
    for col in ("convention", "ACs", "MACs", *names, *[f"{k} share" for k in kinds]):
        table.add_column(escape(col), justify="left" if col == "convention" else "right")
    for conv in ("paper", "syops", "ann"):
        c = section["conventions"][conv]
        label = "ANN equivalent" if conv == "ann" else conv
        shares = [pct(c["energy_j"][names[0]]["attention"][k]["share"]) if names else "-" for k in kinds]
        table.add_row(label, si(c["acs"]), si(c["macs"]), *[joules(c["energy_j"][n]["total"]) for n in names], *shares)
    show(table)
    costs = "; ".join(f"{t['name']}: MAC {t['mac_pj']} pJ, AC {t['ac_pj']} pJ" for t in section["cost_tables"])
    under = f" (attention shares under {names[0]})" if kinds else ""
    stdout.print(escape(f"cost tables: {costs}{under}" if names else ""), highlight=False)
    nb = section["conventions"]["neurobench"]
    table = Table(title="neurobench (operation counts, no joules)")
    for col in ("quantity", "value", *kinds):
        table.add_column(escape(col), justify="left" if col == "quantity" else "right")
    blank = [""] * len(kinds)
    for label, key in (("effective ACs", "effective_acs"), ("effective MACs", "effective_macs"),
                       ("dense synaptic operations", "dense")):
        table.add_row(label, si(nb[key]), *[si(nb["attention"][k][key]) for k in kinds])
    table.add_row("membrane updates", si(nb["membrane_updates"]), *blank)
    table.add_row("activation sparsity", pct(nb["activation_sparsity"]), *blank)
    table.add_row("connection sparsity", pct(nb["connection_sparsity"]), *blank)
    table.add_row("footprint", human_bytes(nb["footprint_bytes"]), *blank)
    show(table)


def _print_speed(section: dict[str, Any]) -> None:
    m = section["model"]
    table = Table(title=f"speed per sample (median of {section['repeat']}; peak memory per batch of {m['batch_size']})")
    for col in ("what", "forward", "forward+backward", "peak memory (fwd+bwd)"):
        table.add_column(col, justify="left" if col == "what" else "right")
    table.add_row("model", seconds(m["forward_s"]), seconds(m["forward_backward_s"]),
                  f"{human_bytes(m['forward_backward_peak_bytes'])} (fwd {human_bytes(m['forward_peak_bytes'])})")
    table.add_section()
    for n in section["neurons"]:
        if "error" in n:
            table.add_row(f"neuron {escape(n['neuron'])}", "failed", escape(n["error"][:60]), "")
            continue
        table.add_row(f"neuron {escape(n['neuron'])} ({n['layers']} layers)", seconds(n["forward_s"]),
                      seconds(n["forward_backward_s"]), human_bytes(n["forward_backward_peak_bytes"]))
    show(table)


def install(app: typer.Typer) -> None:
    app.command("profile")(profile)
