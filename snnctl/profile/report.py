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
from snnctl.profile.spikes import layer_series, scale_selection, spike_stats

__all__ = ["SECTIONS", "ops_section", "build_report", "run_profile", "write_csv"]

SECTIONS = ("spikes", "ops", "energy", "speed")


def ops_section(result: ProfileResult) -> dict[str, Any]:
    """Per layer and in total, per sample: dense operations, SOPs/MACs by input detection, neuron updates.

    ``totals`` holds the whole model's figures, the backbone's (layers outside every attention module)
    and under ``attention`` those of each attention registry name.
    """
    n, t = result.samples or 1, result.timesteps
    first = result.first_layer
    layers = []
    for layer in result.layers:
        layers.append({
            "layer": layer.name, "label": layer.label, "type": layer.type, "monitor": layer.monitor,
            "attention": layer.attention_name if layer.attention is not None else None, "attention_module": layer.attention,
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
        "totals": {**total(layers), "backbone": total([r for r in layers if r["attention_module"] is None]),
                   "attention": {kind: total([r for r in layers if r["attention_module"] is not None and r["attention"] == kind])
                                 for kind in result.attention_names}},
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
        "attention": [a.to_json() for a in result.attention],
        "uncounted": [u for u in result.uncounted],
        "not_called": list(result.not_called),
    }
    if "spikes" in sections:
        report["spikes"] = {"layers": spike_stats(result), "scale_selection": scale_selection(result),
                            "series": layer_series(result)}
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
    """Profile a target (:func:`snnctl.profile.open_target`) and return the JSON-ready report.

    ``profiled_on`` says which input shapes were profiled and why (:meth:`Target.profiled_on`).
    """
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
        "profiled_on": target.profiled_on(),
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
LAYER_COLUMNS = ("layer", "label", "type", "monitor", "attention", "attention_module", "input", "input_rate",
                 "dense_macs_per_step", "dense_macs", "sops", "macs", "effective_ops", "bias_ops", "elementwise_ops",
                 "neuron_updates", "params", "state_bytes")
SPIKE_COLUMNS = ("spiking", "firing_rate", "silent", "dead", "spikes_per_sample", "neurons")
TOTAL_COLUMNS = ("section", "quantity", "cost_table", "attention", "value")


def write_csv(report: dict[str, Any], path: Path) -> list[Path]:
    """Per-layer rows to ``path``; totals (conventions x cost tables) to ``<stem>-totals<suffix>``.

    A totals row with an empty ``attention`` is the whole model's; one naming an attention (its registry
    name) is the share of the layers inside attention modules of that name.
    """
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
        extra = [c for c in ("label", "type", "attention", "attention_module") if c not in columns]
        columns += extra + list(SPIKE_COLUMNS) + [f"firing_rate_t{t}" for t in range(steps)]
        for r in report["spikes"]["layers"]:
            row = rows.setdefault(r["layer"], {"layer": r["layer"]})
            row.update({k: r.get(k) for k in ("label", "type", "attention", "attention_module", *SPIKE_COLUMNS)})
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
        w = csv.DictWriter(text, fieldnames=list(TOTAL_COLUMNS))
        w.writeheader()
        w.writerows(totals)
        atomic_write(tpath, text.getvalue().encode(), f"the profile's CSV {tpath.name}")
        written.append(tpath)
    return written


def _total_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []

    def add(section: str, quantity: str, value: Any, cost_table: str = "", attention: str = "") -> None:
        rows.append({"section": section, "quantity": quantity, "cost_table": cost_table, "attention": attention,
                     "value": value})

    if "ops" in report:
        t = report["ops"]["totals"]
        for k in ("dense_macs_per_step", "dense_macs", "sops", "macs", "neuron_updates"):
            add("ops", k, t[k])
            for kind, share in t["attention"].items():
                add("ops", k, share[k], attention=kind)
    if "energy" in report:
        for name, conv in report["energy"]["conventions"].items():
            if name == "neurobench":
                for k, v in conv.items():
                    if k != "attention":
                        add("neurobench", k, v)
                for kind, share in conv["attention"].items():
                    for k, v in share.items():
                        add("neurobench", k, v, attention=kind)
                continue
            for k in ("acs", "macs"):
                add(name, k, conv[k])
                for kind, share in conv["attention"].items():
                    add(name, k, share[k], attention=kind)
            for table, e in conv["energy_j"].items():
                add(name, "energy_j", e["total"], table)
                for kind, share in e["attention"].items():
                    add(name, "energy_j", share["joules"], table, kind)
    if "speed" in report:
        m = report["speed"]["model"]
        for k in ("forward_s", "forward_backward_s", "forward_peak_bytes", "forward_backward_peak_bytes"):
            add("speed", k, m[k])
    return rows
