"""Energy and operation totals under the field's named conventions, side by side.

All figures are per sample (one sample: T time steps). See docs/profile.md and the spec
(``energy.md``) for the sources.

``paper``
    Spikformer-style: ``E = E_MAC * MACs + E_AC * SOPs``. Synaptic layers only (convolutions, linear
    layers, SMA's fusion). The first synaptic layer is always MAC, its dense operations taken for
    every time step (``first_layer_per_step=True``, right for event frames, which differ each step)
    or once (``False``, for a static image repeated T times). Every other layer: SOP = input firing
    rate x dense operations when its input is binary spikes, MAC = dense operations when analog
    (SMA's multiscale convolutions and attention MLPs, spec section 2.7).
``syops``
    syops-counter's rules: every layer's input is checked for binary values; binary: ACs +=
    operations x rate, analog: MACs += operations. Operations include bias additions,
    normalisation (x2 when affine), pooling (average pooling always MAC), analog activations; a neuron
    adds one AC per update (x the input rate when the input is binary) and one MAC per update when
    leaky.
``neurobench``
    NeuroBench's operation counts, no joules: effective ACs (non-zero binary inputs x fan-out),
    effective MACs (non-zero analog inputs x fan-out), dense (every synapse inside the input, padding
    excluded), membrane updates, activation sparsity, footprint (parameter and buffer bytes) and
    connection sparsity (zero weights). Unlike NeuroBench, zero weights are counted in the
    effective operations; connection sparsity reports them separately.
``ann``
    The equivalent ANN: ``E_MAC x`` the dense operations of one time step (every synaptic layer).

Each attention's share: the part of each total from layers inside the model's attention modules
(``snnctl.nn.Attention``), one share per registry name (``sma``, or a plugin's ``gate-att``), under the
key ``attention`` of every total. A model with two kinds of attention has two shares; the backbone's
is the total minus them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional

from snnctl.errors import ConfigError, UnknownNameError
from snnctl.profile.counting import LayerStats, ProfileResult

__all__ = ["CostTable", "COST_TABLES", "DEFAULT_COSTS", "parse_cost", "paper", "syops", "neurobench", "ann",
           "energy_report"]


@dataclass(frozen=True)
class CostTable:
    """Energy per operation in picojoules."""

    name: str
    mac_pj: float
    ac_pj: float
    source: str = "user-supplied"

    def joules(self, macs: float, acs: float) -> float:
        return (macs * self.mac_pj + acs * self.ac_pj) * 1e-12

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "mac_pj": self.mac_pj, "ac_pj": self.ac_pj, "source": self.source}


COST_TABLES: dict[str, CostTable] = {
    "fp32-45nm": CostTable("fp32-45nm", 4.6, 0.9, "Horowitz (ISSCC 2014), 32-bit float, 45 nm: multiply 3.7 + add 0.9 pJ"),
    "fp16": CostTable("fp16", 1.5, 0.4, "Horowitz (ISSCC 2014), 16-bit float, 45 nm (SpikingJelly's preset)"),
    "int8": CostTable("int8", 0.23, 0.03, "Horowitz (ISSCC 2014), 8-bit integer, 45 nm (SpikingJelly's preset)"),
}
DEFAULT_COSTS = tuple(COST_TABLES)

_NUMBER = r"[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?"
_CUSTOM = re.compile(rf"^(?:(?P<name>[A-Za-z0-9][\w.-]*):)?(?P<pairs>[a-z]+\s*=\s*{_NUMBER}(?:\s*,\s*[a-z]+\s*=\s*{_NUMBER})*)$")


def parse_cost(spec: str) -> CostTable:
    """A cost table by name (``fp32-45nm``, ``fp16``, ``int8``) or ``[NAME:]mac=PJ,ac=PJ``."""
    spec = spec.strip()
    if spec in COST_TABLES:
        return COST_TABLES[spec]
    m = _CUSTOM.match(spec)
    if m is None:
        if "=" not in spec:
            raise UnknownNameError(f"--cost: unknown cost table {spec!r}",
                                   f"Use one of {', '.join(COST_TABLES)}, or give your own as NAME:mac=PJ,ac=PJ.")
        raise ConfigError(f"--cost: cannot read {spec!r}", "Give picojoules per operation, e.g. --cost chip:mac=3.1,ac=0.1")
    values: dict[str, float] = {}
    for pair in m.group("pairs").split(","):
        key, _, value = pair.partition("=")
        values[key.strip()] = float(value)
    unknown = set(values) - {"mac", "ac"}
    if unknown or set(values) != {"mac", "ac"}:
        raise ConfigError(f"--cost {spec!r}: expected exactly the keys mac and ac (picojoules per operation)",
                          "For example: --cost chip:mac=3.1,ac=0.1")
    return CostTable(m.group("name") or "custom", values["mac"], values["ac"])


# -- conventions ----------------------------------------------------------------------------------------
@dataclass
class Totals:
    """ACs and MACs per sample, with the part inside each kind of attention module, and per layer."""

    name: str
    acs: float = 0.0
    macs: float = 0.0
    #: attention registry name -> [ACs, MACs] of the layers inside attention modules of that name
    attention: dict[str, list[float]] = field(default_factory=dict)
    layers: Optional[dict[str, tuple[float, float]]] = None

    @classmethod
    def of(cls, name: str, result: ProfileResult) -> "Totals":
        """Empty totals with a share for every attention name of ``result`` (zero where it counts nothing)."""
        return cls(name, attention={kind: [0.0, 0.0] for kind in result.attention_names}, layers={})

    def add(self, layer: LayerStats, acs: float, macs: float) -> None:
        self.acs += acs
        self.macs += macs
        if layer.attention is not None:
            share = self.attention.setdefault(layer.attention_name or "attention", [0.0, 0.0])
            share[0] += acs
            share[1] += macs
        if self.layers is not None:
            self.layers[layer.name] = (acs, macs)

    def per_sample(self, samples: int) -> "Totals":
        k = 1.0 / samples if samples else 0.0
        layers = None if self.layers is None else {n: (a * k, m * k) for n, (a, m) in self.layers.items()}
        attention = {kind: [a * k, m * k] for kind, (a, m) in self.attention.items()}
        return Totals(self.name, self.acs * k, self.macs * k, attention, layers)

    def to_json(self, tables: Iterable[CostTable]) -> dict[str, Any]:
        """``acs``, ``macs``, ``attention`` (name -> acs, macs) and ``energy_j`` (table -> total, and per
        attention name its joules and share of the total)."""
        out: dict[str, Any] = {"acs": self.acs, "macs": self.macs,
                               "attention": {kind: {"acs": a, "macs": m} for kind, (a, m) in self.attention.items()},
                               "energy_j": {}}
        for table in tables:
            total = table.joules(self.macs, self.acs)
            shares = {}
            for kind, (a, m) in self.attention.items():
                joules = table.joules(m, a)
                shares[kind] = {"joules": joules, "share": joules / total if total else 0.0}
            out["energy_j"][table.name] = {"total": total, "attention": shares}
        return out


def _need_data(result: ProfileResult) -> None:
    if result.shapes_only:
        raise ConfigError("energy needs a profiling pass on data (this one counted shapes only)",
                          "Use profile_model(...) on real or random input.")


def paper(result: ProfileResult, first_layer_per_step: bool = True) -> Totals:
    """The ``paper`` convention, per sample (see the module docstring)."""
    _need_data(result)
    first = result.first_layer
    out = Totals.of("paper", result)
    for layer in result.synaptic_layers:
        if layer is first:
            macs = layer.synaptic if first_layer_per_step else layer.synaptic / result.timesteps
            out.add(layer, 0.0, macs)
        else:
            out.add(layer, layer.sop, layer.mac)
    return out.per_sample(result.samples)


def syops(result: ProfileResult) -> Totals:
    """The ``syops`` convention, per sample (see the module docstring)."""
    _need_data(result)
    out = Totals.of("syops", result)
    for layer in result.layers:
        if layer.syops_ac or layer.syops_mac:
            out.add(layer, layer.syops_ac, layer.syops_mac)
    return out.per_sample(result.samples)


def ann(result: ProfileResult) -> Totals:
    """The equivalent ANN: dense operations of one time step, all MACs, per sample."""
    out = Totals.of("ann", result)
    for layer in result.synaptic_layers:
        out.add(layer, 0.0, layer.synaptic / result.timesteps)
    return out.per_sample(result.samples)


def neurobench(result: ProfileResult) -> dict[str, Any]:
    """NeuroBench's operation counts per sample (no joules; see the module docstring)."""
    _need_data(result)
    n = result.samples or 1
    syn = [l for l in result.layers if l.synapses]
    spiking = result.spiking_layers
    outputs = sum(l.out_numel for l in spiking)
    weights = sum(l.weights for l in result.layers)
    attention = {}
    for kind in result.attention_names:
        inside = [l for l in syn if l.attention is not None and l.attention_name == kind]
        attention[kind] = {"effective_acs": sum(l.effective_ac for l in inside) / n,
                           "effective_macs": sum(l.effective_mac for l in inside) / n,
                           "dense": sum(l.reachable for l in inside) / n}
    return {
        "effective_acs": sum(l.effective_ac for l in syn) / n,
        "effective_macs": sum(l.effective_mac for l in syn) / n,
        "dense": sum(l.reachable for l in syn) / n,
        "membrane_updates": sum(l.neuron_updates for l in spiking) / n,
        "activation_sparsity": 1.0 - sum(l.spikes for l in spiking) / outputs if outputs else None,
        "footprint_bytes": result.param_bytes + result.buffer_bytes,
        "connection_sparsity": sum(l.zero_weights for l in result.layers) / weights if weights else None,
        "attention": attention,
    }


def energy_report(result: ProfileResult, tables: Iterable[CostTable] = tuple(COST_TABLES.values()),
                  first_layer_per_step: bool = True) -> dict[str, Any]:
    """Every convention, per sample, with the energy under every cost table (JSON-ready)."""
    tables = list(tables)
    first = result.first_layer
    return {
        "cost_tables": [t.to_json() for t in tables],
        "first_layer": {"name": first.name if first else None, "per_step": first_layer_per_step},
        "conventions": {
            "paper": paper(result, first_layer_per_step).to_json(tables),
            "syops": syops(result).to_json(tables),
            "ann": ann(result).to_json(tables),
            "neurobench": neurobench(result),
        },
    }
