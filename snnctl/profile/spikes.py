"""Spike statistics per spiking layer, and SMA's scale selection over time.

For every layer whose monitor reports spikes (every ``snnctl.nn.Neuron``, those inside SMA's
branches included), over the profiled samples:

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
"""

from __future__ import annotations

from typing import Any

from snnctl.profile.counting import ProfileResult

__all__ = ["spike_stats", "scale_selection"]


def spike_stats(result: ProfileResult) -> list[dict[str, Any]]:
    """One JSON-ready record per spiking layer, in execution order."""
    out = []
    for layer in result.spiking_layers:
        rec: dict[str, Any] = {
            "layer": layer.name, "label": layer.label, "type": layer.type, "attention": layer.attention,
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
        out.append(rec)
    return out


def scale_selection(result: ProfileResult) -> list[dict[str, Any]]:
    """Per module with scale weights (SMA): kernels and the mean weight per scale and step ``[N][T]``.

    ``scale_weight`` is the fusion weight ``A^t * A^c`` averaged over channels and samples;
    ``channel_weight`` and ``temporal_weight`` are its two factors (the latter absent for SMA-C).
    """
    out = []
    for layer in result.layers:
        if "scale_weight" not in layer.series:
            continue
        rec: dict[str, Any] = {"layer": layer.name, "label": layer.label, "kernels": layer.info.get("kernels")}
        for key in ("scale_weight", "channel_weight", "temporal_weight"):
            if key in layer.series:
                rec[key] = (layer.series[key] / max(result.samples, 1)).tolist()
        out.append(rec)
    return out
