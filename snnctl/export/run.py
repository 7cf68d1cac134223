"""``snnctl export``: pre-flight, write to a temporary file, verify, rename, report.

Nothing reaches the output path unless the exporter's verification passed: the file is written under
a temporary name beside it, verified there, and renamed into place; the report
(``PATH.report.json``) is written the same way. A refused pre-flight writes nothing at all.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import platform
from pathlib import Path
from typing import Any, Callable, Optional

from snnctl.files import atomic_write, disk_error, fsync_file
from snnctl.errors import ConfigError, SnnctlError
from snnctl.export.base import ExportContext, Exporter, ExportRefused, VerificationFailed, require_packages
from snnctl.export.source import OpenedModel, open_model

__all__ = ["export", "default_output", "ALL_SAMPLES"]

#: ``samples=ALL_SAMPLES`` verifies on the whole split
ALL_SAMPLES = 0


def default_output(opened: OpenedModel, suffix: str) -> Path:
    """``RUN/export/<model>-<checkpoint><suffix>`` for a run; beside a source file, its name with ``suffix``
    (``<name>-export<suffix>`` where that is the source itself)."""
    if opened.kind == "run":
        return opened.path / "export" / f"{opened.name}-{opened.provenance.get('checkpoint', 'best')}{suffix}"
    path = opened.path.with_suffix(suffix)
    return path if path != opened.path else opened.path.with_name(f"{opened.path.stem}-export{suffix}")


def _output(opened: OpenedModel, out: Optional[Path], suffix: str, force: bool) -> Path:
    if out is None:
        path = default_output(opened, suffix)
        if opened.kind == "run":
            path.parent.mkdir(exist_ok=True)
    else:
        path = Path(out).expanduser()
        if path.is_dir():
            path = path / default_output(opened, suffix).name
        elif not path.parent.is_dir():
            raise ConfigError(f"--out: folder {path.parent} does not exist", "Create it first, or give another --out.")
    if path.resolve() == opened.path.resolve():
        raise ConfigError(f"--out {path} is the source itself", "Write the export to another file.")
    if path.exists() and not force:
        raise ConfigError(f"{path} already exists", "Give --force to replace it, or another --out.")
    return path


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def export(source: str | Path, fmt: str = "bundle", out: Optional[Path] = None, *, checkpoint: str = "best",
           samples: int = 64, data: Optional[str] = None, data_args: Optional[dict[str, Any]] = None,
           root: Optional[Path] = None, cache_dir: Optional[Path] = None, split: str = "test",
           download: bool = True, settings: Optional[dict[str, Any]] = None, force: bool = False,
           batch_size: int = 16, log: Callable[[str], None] = lambda message: None,
           progress: Optional[Callable[[int, int], None]] = None) -> dict[str, Any]:
    """Export the model at ``source`` (a run folder or a bundle) to ``fmt``, verify it, and return the report.

    ``samples`` real samples of ``split`` (``ALL_SAMPLES``: the whole split), spread evenly over it,
    are the verification data; ``data`` names another dataset. ``settings`` are the exporter's own
    (``snnctl info exporter NAME``). Raises :class:`ExportRefused` before writing anything when the
    format cannot express the model, and :class:`VerificationFailed` (with the report attached as
    ``.report``) when what was written does not compute what the model computes.
    """
    import snnctl
    from snnctl.engine.samples import load_samples

    if samples < 0:
        raise ConfigError("--samples: expected a positive number, or 'all'")
    reg = snnctl.registry()
    entry = reg.get("exporter", fmt)
    exporter = reg.create_as("exporter", fmt, Exporter, "snnctl.export.Exporter", **(settings or {}))
    require_packages(fmt, tuple(exporter.packages))
    opened = open_model(source, checkpoint)
    path = _output(opened, out, exporter.suffix, force)
    if opened.data is None and data is None:
        raise ConfigError(f"{opened.path} does not say which data it was trained on",
                          "Give the samples to verify on with --data NAME.")
    spec = (opened.data.choose(data, data_args, root, cache_dir) if opened.data is not None
            else _spec(data, data_args, root, cache_dir))
    opened.model.eval()
    batches = load_samples(dataclasses.replace(opened, data=spec), samples or 1 << 62, batch_size, split, download,
                           progress)
    ctx = ExportContext(opened, batches.batches, batches.count, batches.info, log)

    problems = exporter.preflight(opened.model, ctx)
    if problems:
        raise ExportRefused(fmt, f"{opened.name} ({opened.path})", problems, _refusal_hint(fmt))
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    report: Optional[dict[str, Any]] = None
    try:
        details = exporter.write(opened.model, tmp, ctx) or {}
        if not tmp.is_file():
            raise SnnctlError(f"exporter '{fmt}' ({entry.provider}) wrote no file")
        fsync_file(tmp)
        log(f"verifying {path.name} on {batches.count} samples")
        verification = exporter.verify(tmp, opened.model, ctx)
        report = _report(fmt, path, tmp, opened, exporter, entry, details, verification, batches.info, settings)
        if not verification.passed:
            raise VerificationFailed(f"the {fmt} file does not compute what {opened.name} computes: "
                                     + "; ".join(verification.failures) + f"; nothing was written at {path}",
                                     "This is a fault of the exporter or of the format's runtime; the report "
                                     "above has the figures.")
        os.replace(tmp, path)
    except VerificationFailed as exc:
        tmp.unlink(missing_ok=True)
        exc.report = report  # type: ignore[attr-defined]
        raise
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise disk_error(exc, path, f"the {fmt} export") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _write_report(path, report)
    return report


def _spec(data: str, data_args: Optional[dict[str, Any]], root: Optional[Path], cache_dir: Optional[Path]):
    from snnctl.engine.samples import DataSpec

    return DataSpec(data, dict(data_args or {}), root, cache_dir)


def _refusal_hint(fmt: str) -> str:
    if fmt == "nir":
        return ("Export to 'bundle' or 'onnx' instead, or train a model NIR can express (docs/export.md lists "
                "what it can, e.g. --model vgg5 --set model.args.pool=avg).")
    return f"See 'snnctl info exporter {fmt}' and docs/export.md for what the format can express."


def _report(fmt: str, path: Path, tmp: Path, opened: OpenedModel, exporter: Exporter, entry: Any,
            details: dict[str, Any], verification: Any, data_info: dict[str, Any],
            settings: Optional[dict[str, Any]]) -> dict[str, Any]:
    import torch

    import snnctl

    model = opened.model
    t, c, (h, w), k = model.timesteps, model.in_channels, model.input_size, model.num_classes
    details = dict(details)
    versions = {"snnctl": snnctl.__version__, "torch": torch.__version__, "python": platform.python_version(),
                **details.pop("versions", {})}
    return {
        "format": fmt,
        "exporter": {"name": entry.name, "plugin": entry.provider.plugin, "distribution": entry.provider.distribution,
                     "version": entry.provider.version, "settings": settings or {}},
        "file": str(path),
        "bytes": tmp.stat().st_size,
        "sha256": _sha256(tmp),
        "source": {"path": str(opened.path), "kind": opened.kind, "model": opened.name, **opened.provenance},
        "input": {"shape": [t, "batch", c, h, w], "layout": "[T, B, C, H, W]", "dtype": "float32"},
        "output": {"shape": [t, "batch", k], "meaning": "per-step logits; the prediction is the argmax of their mean over T"},
        "classes": opened.classes,
        "folded": details.pop("folded", []),
        "removed": details.pop("removed", []),
        "details": details,
        "verification": {**verification.as_dict(), "data": data_info},
        "versions": versions,
    }


def _write_report(path: Path, report: dict[str, Any]) -> None:
    import json

    target = path.with_name(path.name + ".report.json")
    atomic_write(target, (json.dumps(report, indent=2, default=str) + "\n").encode(),
                 f"the report of {path.name} (the export itself is complete)")
