"""Profiling spiking networks: spikes, operations, energy and speed (``snnctl profile``).

The counting is done by monitors, plugins registered with the hook ``register_monitors`` (registry
kind ``monitor``), so a third-party layer type declares how it is counted; a layer type no monitor
claims is listed as uncounted. Every share of an attention module is named by the name its class is
registered under (``sma``, or a plugin's own). ::

    import snnctl
    from snnctl.profile import profile_model, energy_report, dense_ops

    model = snnctl.create_model("test-vgg-sma")
    result = profile_model(model, [model.example_input(4)])        # one real forward pass
    energy_report(result)["conventions"]["paper"]["energy_j"]["fp32-45nm"]
    dense_ops(model).layers                                         # shapes only, on the meta device

See docs/profile.md for the conventions and every figure's definition.
"""

from __future__ import annotations

from snnctl.profile.monitors import Context, Counts, Monitor, Sparsity, choose_monitor, load_monitors
from snnctl.profile.counting import AttentionModule, LayerStats, ProfileResult, attention_name, dense_ops, profile_model
from snnctl.profile.energy import COST_TABLES, CostTable, ann, energy_report, neurobench, paper, parse_cost, syops
from snnctl.profile.inputs import DEFAULT_DATASET, DataSpec, Samples, Target, load_samples, open_target
from snnctl.profile.report import SECTIONS, build_report, ops_section, run_profile, write_csv
from snnctl.profile.spikes import layer_series, scale_selection, spike_stats

__all__ = [
    "Monitor", "Counts", "Context", "Sparsity", "choose_monitor", "load_monitors",
    "LayerStats", "AttentionModule", "ProfileResult", "profile_model", "dense_ops", "attention_name",
    "CostTable", "COST_TABLES", "parse_cost", "paper", "syops", "neurobench", "ann", "energy_report",
    "DEFAULT_DATASET", "DataSpec", "Target", "Samples", "open_target", "load_samples",
    "SECTIONS", "ops_section", "build_report", "run_profile", "write_csv",
    "spike_stats", "layer_series", "scale_selection",
]
