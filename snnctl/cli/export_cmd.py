"""snnctl export SOURCE --format FORMAT"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.markup import escape

from snnctl.cli.options import JsonOpt, SetOpt, completer, parse_sets
from snnctl.cli.output import frames_progress, human_bytes, log, print_json, stdout


def parse_samples(value: str) -> int:
    """``"all"`` -> 0 (the whole split); a positive integer -> itself."""
    from snnctl.errors import ConfigError
    from snnctl.export import ALL_SAMPLES

    if value.strip().lower() == "all":
        return ALL_SAMPLES
    try:
        n = int(value)
    except ValueError:
        n = -1
    if n < 1:
        raise ConfigError(f"--samples {value!r}: expected a positive number or 'all'")
    return n


def export(
    source: Annotated[Path, typer.Argument(metavar="SOURCE", help="A run folder written by 'snnctl train', or a bundle (.safetensors) written by 'snnctl export'.", show_default=False)],
    format: Annotated[str, typer.Option("--format", "-f", metavar="FORMAT", autocompletion=completer("exporter"), help="Exporter (registry name): bundle, onnx, nir, or a plugin's ('snnctl list exporters').")] = "bundle",
    out: Annotated[Optional[Path], typer.Option("--out", "-o", metavar="PATH", help="File to write, or an existing folder to write it into. Default: RUN/export/MODEL-CHECKPOINT.SUFFIX (beside a bundle for a bundle).")] = None,
    checkpoint: Annotated[str, typer.Option("--checkpoint", help="Which checkpoint of a run folder: best or last.")] = "best",
    samples: Annotated[str, typer.Option("--samples", "-n", metavar="N|all", help="Test samples to verify on, spread evenly over the split; 'all' for the whole split.")] = "64",
    data: Annotated[Optional[str], typer.Option("--data", metavar="NAME", autocompletion=completer("dataset"), help="Verify on this dataset instead of the one the model was trained on.")] = None,
    data_set: Annotated[Optional[list[str]], typer.Option("--data-set", metavar="KEY=VALUE", help="A dataset setting (as 'snnctl preprocess --set'); repeatable.")] = None,
    root: Annotated[Optional[Path], typer.Option("--root", metavar="DIR", help="Folder holding the raw data (as for 'snnctl preprocess').")] = None,
    cache_dir: Annotated[Optional[Path], typer.Option("--cache-dir", metavar="DIR", help="Frame cache root. Default: SNNCTL_CACHE, or ~/.cache/snnctl.")] = None,
    split: Annotated[str, typer.Option("--split", help="Split the verification samples come from.")] = "test",
    download: Annotated[bool, typer.Option("--download/--no-download", help="Download missing data through tonic's URLs.")] = True,
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", min=1, help="Samples per verification batch.")] = 16,
    settings: SetOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing output file.")] = False,
    json: JsonOpt = False,
) -> None:
    """Export a trained model and verify what was written by running it.

    'bundle' (the default) is one safetensors file that 'snnctl.load', 'snnctl evaluate' and 'snnctl profile' read back; 'onnx' unrolls the network over its T for ONNX Runtime; 'nir' writes the Neuromorphic Intermediate Representation read by neuromorphic toolchains. Before anything is written, modules the format cannot express exactly are listed (exit status 2). The file is then written under a temporary name, run in a reader that did not write it on real test samples and compared with the PyTorch model; only a passing file is renamed into place (a failed verification exits with status 3). The report is printed and written beside the file (PATH.report.json). Settings of a format: 'snnctl info exporter NAME'.
    """
    from snnctl.export import ExportRefused, VerificationFailed
    from snnctl.export import export as run_export

    n = parse_samples(samples)
    try:
        with frames_progress() as advance:
            report = run_export(source, format, out, checkpoint=checkpoint, samples=n, data=data,
                                data_args=parse_sets(data_set, "--data-set"), root=root, cache_dir=cache_dir,
                                split=split, download=download, settings=parse_sets(settings), force=force,
                                batch_size=batch_size, log=log, progress=advance)
    except VerificationFailed as exc:
        report = getattr(exc, "report", None)
        if report is not None:
            print_json(report) if json else print_report(report, written=False)
        raise
    except ExportRefused as exc:
        if json:
            print_json({"format": exc.format, "source": str(source), "refused": [p.as_dict() for p in exc.problems]})
        raise
    if json:
        print_json(report)
        return
    print_report(report, written=True)


def _samples(n: int) -> str:
    return f"{n} sample" + ("" if n == 1 else "s")


def _fmt(x: Any) -> str:
    return f"{x:.3g}" if isinstance(x, float) else str(x)


def print_report(report: dict[str, Any], written: bool) -> None:
    src, v = report["source"], report["verification"]
    which = ", ".join(str(p) for p in (src.get("checkpoint"), f"epoch {src['epoch']}" if src.get("epoch") else None) if p)
    out = lambda text: stdout.print(escape(text), highlight=False, soft_wrap=True)  # noqa: E731
    out(f"{report['format']}: {src['model']} from {src['path']}" + (f" ({which})" if which else ""))
    shape = ", ".join(str(d) for d in report["input"]["shape"])
    oshape = ", ".join(str(d) for d in report["output"]["shape"])
    out(f"  file      {report['file']} ({human_bytes(report['bytes'])})" + ("" if written else ": NOT written"))
    out(f"  input     [{shape}] {report['input']['dtype']} -> per-step logits [{oshape}]")
    for key in ("folded", "removed"):
        if report.get(key):
            out(f"  {key:9} " + "; ".join(report[key]))
    for key, value in report.get("details", {}).items():
        if isinstance(value, (str, int, float)):
            out(f"  {key:9} {_fmt(value)}")
    d = v.get("data") or {}
    where = f"{d.get('dataset')} {d.get('split')}" if d.get("dataset") else "random input"
    out(f"  verified  {v['runtime']} on {v['samples']} samples of {where}: "
        f"{'passed' if v['passed'] else 'FAILED'}")
    out(f"            argmax agreement {v['argmax_agreement']:.2%}, max |logit difference| {v['max_abs_logit_diff']:.3g} "
        f"(tolerance {v['tolerance']:.3g} on samples without a flipped spike)")
    if "spikes_compared" in v:
        out(f"            spikes: {v['spikes_differ']:,} of {v['spikes_compared']:,} differ in {len(v['spikes'])} layers"
            + (f"; {_samples(v['samples_with_flipped_spikes'])} with a flipped spike" if v.get("samples_with_flipped_spikes") else ""))
    trained = v.get("against_trained_model")
    if trained:
        out(f"            against the trained model ({trained['precision']}): argmax agreement "
            f"{trained['argmax_agreement']:.2%}, max |logit difference| {trained['max_abs_logit_diff']:.3g}, "
            f"{trained['spikes_differ']:,} of {trained['spikes_compared']:,} spikes differ"
            + (f" (in {_samples(trained['samples_with_flipped_spikes'])})" if trained["samples_with_flipped_spikes"] else ""))
    for failure in v.get("failures", []):
        out(f"            failure: {failure}")
    if written:
        out(f"  report    {report['file']}.report.json")


def install(app: typer.Typer) -> None:
    app.command("export")(export)
