"""The profile report: sections chosen by name, JSON-ready, and its CSV form.

:func:`run_profile` is what ``snnctl profile`` calls: one counting pass over the samples, then the
``spikes``, ``ops``, ``energy`` and ``speed`` sections that were asked for. Every figure is per sample.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

import torch

from snnctl.errors import ConfigError
from snnctl.profile.counting import ProfileResult, profile_model
from snnctl.profile.energy import COST_TABLES, CostTable, energy_report
from snnctl.profile.inputs import Samples, Target, load_samples
from snnctl.profile.spikes import scale_selection, spike_stats

__all__ = ["SECTIONS", "ops_section", "build_report", "run_profile", "write_csv"]

SECTIONS = ("spikes", "ops", "energy", "speed")


def ops_section(result: ProfileResult) -> dict[str, Any]:
    """Per layer and in total, per sample: dense operations, SOPs/MACs by input detection, neuron updates."""
    n, t = result.samples or 1, result.timesteps
    first = result.first_layer
    layers = []
    for layer in result.layers:
        layers.append({
            "layer": layer.name, "label": layer.label, "type": layer.type, "monitor": layer.monitor, "attention": layer.attention,
            "first": layer is first, "input": layer.input_kind, "input_rate": layer.input_rate,
            "dense_macs_per_step": layer.synaptic / n / t, "dense_macs": layer.synaptic / n,
            "sops": layer.sop / n, "macs": layer.mac / n,
            "effective_ops": (layer.effective_ac + layer.effective_mac) / n if layer.synapses else None,
            "bias_ops": layer.bias / n, "elementwise_ops": layer.elementwise / n,
            "neuron_updates": layer.neuron_updates / n, "params": layer.params,
            "state_bytes": layer.state_bytes if layer.spiking else 0,
        })

    def total(rows: list[dict[str, Any]]) -> dict[str, float]:
        keys = ("dense_macs_per_step", "dense_macs", "sops", "macs", "neuron_updates")
        return {k: sum(r[k] for r in rows) for k in keys}

    spiking = result.spiking_layers
    outputs = sum(l.out_numel for l in spiking)
    weights = sum(l.weights for l in result.layers)
    return {
        "layers": layers,
        "first_layer": first.name if first else None,
        "totals": {**total(layers), "sma": total([r for r in layers if r["attention"] is not None]),
                   "backbone": total([r for r in layers if r["attention"] is None])},
        "parameters": result.parameters,
        "param_bytes": result.param_bytes,
        "buffer_bytes": result.buffer_bytes,
        "state_bytes": sum(l.state_bytes for l in spiking),
        "activation_sparsity": 1.0 - sum(l.spikes for l in spiking) / outputs if outputs else None,
        "connection_sparsity": sum(l.zero_weights for l in result.layers) / weights if weights else None,
    }


def build_report(result: ProfileResult, sections: Iterable[str] = SECTIONS[:3],
                 costs: Iterable[CostTable] = tuple(COST_TABLES.values()),
                 first_layer_per_step: bool = True) -> dict[str, Any]:
    """The ``spikes``, ``ops`` and ``energy`` sections of a counting pass (``speed`` needs the model)."""
    sections = set(sections)
    report: dict[str, Any] = {
        "uncounted": [u for u in result.uncounted],
        "not_called": list(result.not_called),
    }
    if "spikes" in sections:
        report["spikes"] = {"layers": spike_stats(result), "sma_scales": scale_selection(result)}
    if "ops" in sections:
        report["ops"] = ops_section(result)
    if "energy" in sections:
        report["energy"] = energy_report(result, costs, first_layer_per_step)
    return report


def run_profile(target: Target, *, sections: Iterable[str] = SECTIONS, samples: int = 16, batch_size: int = 8,
                split: str = "test", costs: Iterable[CostTable] = tuple(COST_TABLES.values()),
                first_layer_per_step: bool = True, repeat: int = 3, download: bool = True,
                data_progress: Optional[Callable[[int, int], None]] = None,
                log: Callable[[str], None] = lambda msg: None) -> dict[str, Any]:
    """Profile a target (:func:`snnctl.profile.open_target`) and return the JSON-ready report."""
    asked = list(sections)
    unknown = [s for s in asked if s not in SECTIONS]
    if unknown or not asked:
        raise ConfigError(f"sections: expected some of {', '.join(SECTIONS)}, got {asked}")
    sections = [s for s in SECTIONS if s in asked]
    if sections == ["speed"]:
        samples = min(samples, batch_size)  # speed only needs the layer shapes of one batch
    data: Samples = load_samples(target, samples, batch_size, split, download, data_progress)
    log(f"profiling {data.count} sample{'s' if data.count != 1 else ''} at T={target.timesteps}")
    result = profile_model(target.model, data.batches(), target.timesteps)
    report: dict[str, Any] = {
        "model": target.describe(),
        "data": {**data.info, "batch_size": min(batch_size, data.count)},
        "device": str(next(iter(target.model.parameters()), torch.empty(0)).device),
        "sections": sections,
    }
    report.update(build_report(result, sections, costs, first_layer_per_step))
    if "speed" in sections:
        report["speed"] = speed_section(target, data, result, repeat, log)
    return report


def speed_section(target: Target, data: Samples, result: ProfileResult, repeat: int,
                  log: Callable[[str], None]) -> dict[str, Any]:
    import snnctl
    from snnctl.profile.speed import time_model, time_neurons

    x = data.first()
    log("timing the model")
    model = time_model(target.model, x, repeat=repeat)
    shapes = [s for layer in result.spiking_layers for s in layer.shapes]
    names = snnctl.list_components("neuron")
    log(f"timing {len(names)} neurons at {len(shapes)} layer shapes")
    neurons = time_neurons(shapes, names, x.device, repeat=repeat)
    return {"repeat": repeat, "model": model, "neurons": neurons, "layer_shapes": [list(s) for s in shapes]}


# -- CSV --------------------------------------------------------------------------------------------------
LAYER_COLUMNS = ("layer", "label", "type", "monitor", "attention", "input", "input_rate", "dense_macs_per_step", "dense_macs",
                 "sops", "macs", "effective_ops", "bias_ops", "elementwise_ops", "neuron_updates", "params",
                 "state_bytes")
SPIKE_COLUMNS = ("firing_rate", "silent", "dead", "spikes_per_sample", "neurons")


def write_csv(report: dict[str, Any], path: Path) -> list[Path]:
    """Per-layer rows to ``path``; totals (conventions x cost tables) to ``<stem>-totals<suffix>``."""
    import io

    from snnctl.files import atomic_write, make_dir

    path = Path(path)
    make_dir(path.parent, "the profile's CSV")
    rows: dict[str, dict[str, Any]] = {}
    columns: list[str] = ["layer"]
    if "ops" in report:
        columns = list(LAYER_COLUMNS)
        for r in report["ops"]["layers"]:
            rows[r["layer"]] = {k: r[k] for k in LAYER_COLUMNS}
    if "spikes" in report:
        steps = max((len(r.get("firing_rate_per_step") or []) for r in report["spikes"]["layers"]), default=0)
        extra = [c for c in ("label", "type", "attention") if c not in columns]
        columns += extra + list(SPIKE_COLUMNS) + [f"firing_rate_t{t}" for t in range(steps)]
        for r in report["spikes"]["layers"]:
            row = rows.setdefault(r["layer"], {"layer": r["layer"]})
            row.update({k: r.get(k) for k in ("label", "type", "attention", *SPIKE_COLUMNS)})
            for t, v in enumerate(r.get("firing_rate_per_step") or []):
                row[f"firing_rate_t{t}"] = v
    written = []
    text = io.StringIO(newline="")
    w = csv.DictWriter(text, fieldnames=columns, extrasaction="ignore")
    w.writeheader()
    for row in rows.values():
        w.writerow({k: "" if v is None else v for k, v in row.items()})
    atomic_write(path, text.getvalue().encode(), f"the profile's CSV {path.name}")
    written.append(path)
    totals = _total_rows(report)
    if totals:
        tpath = path.with_name(f"{path.stem}-totals{path.suffix or '.csv'}")
        text = io.StringIO(newline="")
        w = csv.DictWriter(text, fieldnames=["section", "quantity", "cost_table", "value", "sma"])
        w.writeheader()
        w.writerows(totals)
        atomic_write(tpath, text.getvalue().encode(), f"the profile's CSV {tpath.name}")
        written.append(tpath)
    return written


def _total_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    if "ops" in report:
        t = report["ops"]["totals"]
        for k in ("dense_macs_per_step", "dense_macs", "sops", "macs", "neuron_updates"):
            rows.append({"section": "ops", "quantity": k, "cost_table": "", "value": t[k], "sma": t["sma"][k]})
    if "energy" in report:
        for name, conv in report["energy"]["conventions"].items():
            if name == "neurobench":
                for k, v in conv.items():
                    if k != "sma":
                        rows.append({"section": "neurobench", "quantity": k, "cost_table": "", "value": v,
                                     "sma": conv["sma"].get(k, "")})
                continue
            rows.append({"section": name, "quantity": "acs", "cost_table": "", "value": conv["acs"], "sma": conv["sma"]["acs"]})
            rows.append({"section": name, "quantity": "macs", "cost_table": "", "value": conv["macs"], "sma": conv["sma"]["macs"]})
            for table, e in conv["energy_j"].items():
                rows.append({"section": name, "quantity": "energy_j", "cost_table": table, "value": e["total"], "sma": e["sma"]})
    if "speed" in report:
        m = report["speed"]["model"]
        for k in ("forward_s", "forward_backward_s", "forward_peak_bytes", "forward_backward_peak_bytes"):
            rows.append({"section": "speed", "quantity": k, "cost_table": "", "value": m[k], "sma": ""})
    return rows
