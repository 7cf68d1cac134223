"""PNG figures of a profile report (matplotlib, Agg backend, imported only when plotting).

* ``firing_rates.png``: mean firing rate per spiking layer (the neurons inside attention modules in
  one colour per attention registry name);
* ``firing_rate_steps.png``: firing rate per layer and time step (a heat map);
* ``ops_breakdown.png``: SOPs and MACs per synaptic layer (log scale), from the ``ops`` section, the
  layers inside an attention module marked with its registry name;
* ``scale_selection.png``: the scale selection of multiscale attention (SMA), the mean fusion weight of
  each scale over the time steps, one panel per module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from snnctl.plotting import pyplot, save_png

__all__ = ["write_plots", "require_matplotlib"]

BACKBONE_COLOUR = "tab:blue"
#: one colour per attention registry name, in the order the names first run
ATTENTION_COLOURS = ("tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:olive",
                     "tab:cyan")


def require_matplotlib():
    """``matplotlib.pyplot`` on the Agg backend, or a clear error saying how to install it."""
    return pyplot()


def write_plots(report: dict[str, Any], folder: Path) -> list[Path]:
    """Write the figures the report's sections allow into ``folder``; return their paths."""
    plt = require_matplotlib()
    from snnctl.files import make_dir

    folder = Path(folder)
    make_dir(folder, "the figures")
    written: list[Path] = []
    title = _title(report)
    spikes = [r for r in report.get("spikes", {}).get("layers", []) if r.get("firing_rate") is not None]
    if spikes:
        written.append(_firing_rates(plt, spikes, title, folder / "firing_rates.png"))
        written.append(_firing_steps(plt, spikes, title, folder / "firing_rate_steps.png"))
    scales = report.get("spikes", {}).get("scale_selection", [])
    if scales:
        written.append(_scales(plt, scales, title, folder / "scale_selection.png"))
    ops = [r for r in report.get("ops", {}).get("layers", []) if r["sops"] or r["macs"]]
    if ops:
        written.append(_ops(plt, ops, title, folder / "ops_breakdown.png"))
    return written


def _title(report: dict[str, Any]) -> str:
    model = report.get("model", {}).get("name", "model")
    data = report.get("data", {})
    source = "random input" if data.get("random") else f"{data.get('dataset')} ({data.get('split')})"
    return f"{model}, {source}, {data.get('samples')} samples, T={data.get('timesteps')}"


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    return save_png(fig, path)


def _kind(row: dict[str, Any]) -> Any:
    """The attention registry name a row is part of, or None for the backbone."""
    return row.get("attention") if row.get("attention_module") is not None else None


def _firing_rates(plt, rows: list[dict[str, Any]], title: str, path: Path) -> Path:
    names = [r["label"] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 1.2 + 0.28 * len(rows)))
    kinds = list(dict.fromkeys(_kind(r) for r in rows if _kind(r) is not None))
    colour = {k: ATTENTION_COLOURS[i % len(ATTENTION_COLOURS)] for i, k in enumerate(kinds)}
    colours = [colour[_kind(r)] if _kind(r) is not None else BACKBONE_COLOUR for r in rows]
    ax.barh(range(len(rows)), [r["firing_rate"] for r in rows], color=colours)
    ax.set_yticks(range(len(rows)), names, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("mean firing rate (spikes per neuron and step)")
    ax.set_title(title, fontsize=9)
    if kinds:
        from matplotlib.patches import Patch

        handles = [Patch(color=BACKBONE_COLOUR, label="backbone")]
        handles += [Patch(color=colour[k], label=f"inside {k}") for k in kinds]
        ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the bars
    return _save(fig, path)


def _firing_steps(plt, rows: list[dict[str, Any]], title: str, path: Path) -> Path:
    steps = max(len(r["firing_rate_per_step"]) for r in rows)
    grid = [r["firing_rate_per_step"] + [float("nan")] * (steps - len(r["firing_rate_per_step"])) for r in rows]
    fig, ax = plt.subplots(figsize=(max(5, 0.45 * steps + 3.5), 1.2 + 0.28 * len(rows)))
    im = ax.imshow(grid, aspect="auto", cmap="viridis", interpolation="nearest")
    ax.set_yticks(range(len(rows)), [r["label"] for r in rows], fontsize=7)
    ax.set_xticks(range(steps), [str(t) for t in range(steps)], fontsize=7)
    ax.set_xlabel("time step t")
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, label="firing rate")
    return _save(fig, path)


def _ops(plt, rows: list[dict[str, Any]], title: str, path: Path) -> Path:
    import numpy as np

    y = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(7.5, 1.2 + 0.3 * len(rows)))
    sops = [max(r["sops"], 0.0) for r in rows]
    macs = [max(r["macs"], 0.0) for r in rows]
    ax.barh(y - 0.2, sops, height=0.4, label="SOPs (spike-driven)", color="tab:green")
    ax.barh(y + 0.2, macs, height=0.4, label="MACs (analog input)", color="tab:red")
    labels = [r["label"] + (f" [{_kind(r)}]" if _kind(r) is not None else "") for r in rows]
    ax.set_yticks(y, labels, fontsize=7)
    ax.invert_yaxis()
    if any(v > 0 for v in sops + macs):
        ax.set_xscale("log")
    ax.set_xlabel("operations per sample (all time steps)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return _save(fig, path)


def _scales(plt, modules: list[dict[str, Any]], title: str, path: Path) -> Path:
    fig, axes = plt.subplots(1, len(modules), figsize=(4.5 * len(modules), 3.4), squeeze=False)
    for ax, mod in zip(axes[0], modules):
        weights = mod["scale_weight"]
        kernels = mod.get("kernels") or list(range(len(weights)))
        for k, series in zip(kernels, weights):
            ax.plot(range(len(series)), series, marker="o", markersize=3, label=f"{k}x{k}")
        ax.set_xlabel("time step t")
        ax.set_ylabel("mean weight A^t A^c")
        ax.set_title(mod["label"] + (f" ({_kind(mod)})" if _kind(mod) is not None else ""), fontsize=8)
        ax.legend(title="scale", fontsize=7, title_fontsize=7)
    fig.suptitle(title, fontsize=9)
    return _save(fig, path)
