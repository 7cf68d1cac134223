"""Spike statistics per spiking layer and attention module, each monitor's series, and scale selection.

For every layer whose monitor reports spikes (every ``snnctl.nn.Neuron``, those inside attention
modules included), over the profiled samples:

``firing_rate``
    spikes / (neurons x T x samples), the mean over every step and sample;
``firing_rate_per_step``
    the same for each time step t;
``silent``
    the share of neurons that emit no spike during a sample's T steps, averaged over samples;
``dead``
    the share of neurons that emit no spike in any profiled sample;
``spikes_per_sample``
    spikes of the layer per sample (all T steps).

Every attention module has a record of its own, placed before the layers inside it, whether or not it
holds neurons: ``spiking`` false, ``spiking_layers`` the spiking layers inside it (0 for an attention
without neurons: it emits no spikes).
"""

from __future__ import annotations

from typing import Any

from snnctl.profile.counting import LayerStats, ProfileResult

__all__ = ["spike_stats", "layer_series", "scale_selection"]


def _where(layer: LayerStats) -> dict[str, Any]:
    return {"attention": layer.attention_name if layer.attention is not None else None,
            "attention_module": layer.attention}


def spike_stats(result: ProfileResult) -> list[dict[str, Any]]:
    """One JSON-ready record per spiking layer and per called attention module, in execution order."""
    rows: list[tuple[tuple[int, int], dict[str, Any]]] = []
    spiking = {layer.name for layer in result.spiking_layers}
    for layer in result.spiking_layers:
        rec: dict[str, Any] = {
            "layer": layer.name, "label": layer.label, "type": layer.type, **_where(layer), "spiking": True,
            "neurons": layer.neurons, "state_bytes": layer.state_bytes,
        }
        if layer.step_spikes is not None and layer.out_numel:
            per_step = (layer.step_spikes / layer.step_numel.clamp(min=1)).tolist()
            dead = 1.0 - float(layer.fired_any.double().mean()) if layer.fired_any is not None and layer.fired_any.numel() else None
            rec.update({
                "firing_rate": layer.spikes / layer.out_numel,
                "firing_rate_per_step": per_step,
                "silent": layer.silent_sum / layer.silent_samples if layer.silent_samples else None,
                "dead": dead,
                "spikes_per_sample": result.per_sample(layer.spikes),
            })
        rows.append(((layer.order, 1), rec))
    for att in result.attention:
        if not att.calls or att.name in spiking:
            continue
        inside = [l for l in result.spiking_layers if l.attention == att.name]
        rec = {"layer": att.name, "label": att.label, "type": att.type, "attention": att.kind,
               "attention_module": att.name, "spiking": False, "neurons": 0, "state_bytes": 0,
               "spiking_layers": len(inside)}
        rows.append(((att.order, 0), rec))
    return [rec for _, rec in sorted(rows, key=lambda r: r[0])]


def layer_series(result: ProfileResult) -> list[dict[str, Any]]:
    """Every layer whose monitor reported ``Counts.series``: each series per sample (summed over the
    calls, divided by the samples), as nested lists, with the series' shape."""
    out = []
    n = max(result.samples, 1)
    for layer in result.layers:
        if not layer.series:
            continue
        out.append({
            "layer": layer.name, "label": layer.label, "type": layer.type, "monitor": layer.monitor, **_where(layer),
            "series": {key: (value / n).tolist() for key, value in layer.series.items()},
            "shapes": {key: list(value.shape) for key, value in layer.series.items()},
        })
    return out


def scale_selection(result: ProfileResult) -> list[dict[str, Any]]:
    """Per module with scale weights (SMA): kernels and the mean weight per scale and step ``[N][T]``.

    ``scale_weight`` is the fusion weight ``A^t * A^c`` averaged over channels and samples;
    ``channel_weight`` and ``temporal_weight`` are its two factors (the latter absent for SMA-C).
    ``attention`` is the module's registry name.
    """
    out = []
    for layer in result.layers:
        if "scale_weight" not in layer.series:
            continue
        rec: dict[str, Any] = {"layer": layer.name, "label": layer.label, **_where(layer),
                               "kernels": layer.info.get("kernels")}
        for key in ("scale_weight", "channel_weight", "temporal_weight"):
            if key in layer.series:
                rec[key] = (layer.series[key] / max(result.samples, 1)).tolist()
        out.append(rec)
    return out
