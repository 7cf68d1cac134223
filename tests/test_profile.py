"""snnctl profile: every count against a hand computation, spec §5.3, monitors as plugins, the command line."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch import nn

import snnctl
from snnctl import plugins
from snnctl.errors import ConfigError, UnknownNameError
from snnctl.nn import SeqFold
from snnctl.profile import (
    COST_TABLES, Monitor, ann, choose_monitor, dense_ops, energy_report, load_monitors, neurobench,
    ops_section, paper, parse_cost, profile_model, scale_selection, spike_stats, syops,
)

SMALL_DATA = ("--data-set", "test_per_class=2", "--data-set", "train_per_class=1")


# -- the hand-computed two-layer network ------------------------------------------------------------------
def two_layer_net() -> nn.Module:
    """Linear(4->3) -> LIF -> Linear(3->3) -> LIF with fixed weights (LIF: tau 2, threshold 1, hard reset to 0)."""
    lin1, lin2 = nn.Linear(4, 3), nn.Linear(3, 3)
    with torch.no_grad():
        lin1.weight.copy_(torch.tensor([[1.0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 1]]))
        lin1.bias.copy_(torch.tensor([0.0, 0.5, 0.0]))
        lin2.weight.copy_(torch.tensor([[1.0, 1, 0], [0, 0.5, 2], [0, 0, 0]]))
        lin2.bias.zero_()
    return nn.Sequential(SeqFold(lin1), snnctl.create("neuron", "lif"), SeqFold(lin2), snnctl.create("neuron", "lif"))


# Two samples (A, B), T = 2, one batch [T, B, 4]:
#   A: x_0 = x_1 = [2, 1, 0, 0]        B: x_0 = [0, 0, 3, 1], x_1 = [0, 2, 0, 0]
X = torch.tensor([[[2.0, 1, 0, 0], [0, 0, 3, 1]], [[2.0, 1, 0, 0], [0, 2, 0, 0]]])
# lin1 = W1 x + b1:  A: [2, 1.5, 0] at both steps;  B: [0, 0.5, 4] then [0, 2.5, 0]
# LIF (H = (V + X) / 2, spike when H >= 1, then V = 0, else V = H):
#   A: n0 H=1 -> spike, H=1 -> spike;  n1 H=.75, H=(.75+1.5)/2=1.125 -> spike;  n2 silent
#      spikes A: t0 [1,0,0], t1 [1,1,0]
#   B: n0 silent;  n1 H=.25, H=(.25+2.5)/2=1.375 -> spike;  n2 H=2 -> spike, H=1 -> ... (V=0, X=0: H=0)
#      spikes B: t0 [0,0,1], t1 [0,1,0]
# lin2 = W2 s:  A: [1,0,0], [2,.5,0];  B: [0,2,0], [1,.5,0]
# LIF 2:  A: m0 H=.5, H=1.25 -> spike at t1;  m1 H=0, H=.25;  m2 silent   -> spikes A: t0 [0,0,0], t1 [1,0,0]
#         B: m0 H=0, H=.5;  m1 H=1 -> spike at t0, H=.25;  m2 silent      -> spikes B: t0 [0,1,0], t1 [0,0,0]
T, N = 2, 2
# lin1: dense 4*3 per step -> 12/step, 24/sample; input analog, 7 non-zero of 16; 7 * fan-out 3 / 2 samples
LIN1 = dict(dense_step=12, dense=24, bias=2 * 3, effective=7 * 3 / N, rate=7 / 16)
# lif1: 3 neurons x 2 steps; spikes A 3 + B 2 = 5 of 12
LIF1 = dict(updates=6, spikes=5 / N, rate=5 / 12, per_step=[2 / 6, 3 / 6], silent=(1 / 3 + 1 / 3) / 2, dead=0.0)
# lin2: dense 3*3 per step -> 9/step, 18/sample; input binary, 5 non-zero of 12 -> SOP = 5/12 * 18 = 7.5
LIN2 = dict(dense_step=9, dense=18, bias=2 * 3, sop=7.5, effective=5 * 3 / N, rate=5 / 12)
# lif2: spikes A 1 + B 1 = 2 of 12; m2 never fires
LIF2 = dict(updates=6, spikes=2 / N, rate=2 / 12, per_step=[1 / 6, 1 / 6], silent=(2 / 3 + 2 / 3) / 2, dead=1 / 3)


@pytest.fixture
def toy():
    return profile_model(two_layer_net(), [X], timesteps=T)


def test_hand_computed_counts_of_the_two_layer_network(toy):
    assert toy.samples == N and toy.timesteps == T
    rows = {r["layer"]: r for r in ops_section(toy)["layers"]}
    lin1, lif1, lin2, lif2 = rows["0.layers"], rows["1"], rows["2.layers"], rows["3"]
    assert [r["label"] for r in (lin1, lif1, lin2, lif2)] == ["0", "1", "2", "3"]
    assert lin1["first"] and lin1["input"] == "analog" and lin1["input_rate"] == pytest.approx(LIN1["rate"])
    assert lin1["dense_macs_per_step"] == LIN1["dense_step"] and lin1["dense_macs"] == LIN1["dense"]
    assert lin1["macs"] == LIN1["dense"] and lin1["sops"] == 0
    assert lin1["bias_ops"] == LIN1["bias"] and lin1["effective_ops"] == pytest.approx(LIN1["effective"])
    assert lin2["input"] == "spikes" and lin2["input_rate"] == pytest.approx(LIN2["rate"])
    assert lin2["dense_macs_per_step"] == LIN2["dense_step"] and lin2["dense_macs"] == LIN2["dense"]
    assert lin2["sops"] == pytest.approx(LIN2["sop"]) and lin2["macs"] == 0
    assert lin2["effective_ops"] == pytest.approx(LIN2["effective"]) and lin2["bias_ops"] == LIN2["bias"]
    assert lif1["neuron_updates"] == LIF1["updates"] and lif2["neuron_updates"] == LIF2["updates"]
    assert lif1["dense_macs"] == 0 and lif1["state_bytes"] == 3 * 4
    s = ops_section(toy)
    assert s["totals"]["dense_macs_per_step"] == 21 and s["totals"]["neuron_updates"] == 12
    assert s["totals"]["sops"] == pytest.approx(7.5) and s["totals"]["macs"] == 24
    assert s["totals"]["attention"] == {} and s["totals"]["backbone"]["dense_macs"] == 24 + 18
    assert s["parameters"] == 15 + 12 and s["param_bytes"] == 27 * 4
    assert s["activation_sparsity"] == pytest.approx(1 - 7 / 24)
    assert s["connection_sparsity"] == pytest.approx((8 + 5) / 21)  # zero weights of W1 (8 of 12) and W2 (5 of 9)


def test_hand_computed_spikes_of_the_two_layer_network(toy):
    stats = {r["layer"]: r for r in spike_stats(toy)}
    assert list(stats) == ["1", "3"]
    for name, want in (("1", LIF1), ("3", LIF2)):
        got = stats[name]
        assert got["neurons"] == 3
        assert got["firing_rate"] == pytest.approx(want["rate"])
        assert got["firing_rate_per_step"] == pytest.approx(want["per_step"])
        assert got["silent"] == pytest.approx(want["silent"]) and got["dead"] == pytest.approx(want["dead"])
        assert got["spikes_per_sample"] == pytest.approx(want["spikes"])


def test_hand_computed_energy_of_the_two_layer_network(toy):
    p = paper(toy)  # first layer MAC at every step: 24 MACs; lin2 7.5 SOPs
    assert (p.macs, p.acs) == (24, pytest.approx(7.5))
    assert COST_TABLES["fp32-45nm"].joules(p.macs, p.acs) == pytest.approx((4.6 * 24 + 0.9 * 7.5) * 1e-12)  # 117.15 pJ
    once = paper(toy, first_layer_per_step=False)  # 12 MACs
    assert once.macs == 12 and COST_TABLES["fp32-45nm"].joules(once.macs, once.acs) == pytest.approx(61.95e-12)
    # syops: lin1 analog 24 + 6 bias = 30 MACs; lif1 6 ACs (analog input: rate 1) + 6 MACs (leak);
    # lin2 binary (18 + 6) * 5/12 = 10 ACs; lif2 6 ACs + 6 MACs
    s = syops(toy)
    assert s.macs == pytest.approx(30 + 6 + 6) and s.acs == pytest.approx(6 + 10 + 6)
    assert COST_TABLES["fp32-45nm"].joules(s.macs, s.acs) == pytest.approx(213.0e-12)
    assert COST_TABLES["int8"].joules(s.macs, s.acs) == pytest.approx((0.23 * 42 + 0.03 * 22) * 1e-12)
    a = ann(toy)  # one step, all MACs: 12 + 9
    assert (a.macs, a.acs) == (21, 0) and COST_TABLES["fp32-45nm"].joules(a.macs, 0) == pytest.approx(96.6e-12)
    nb = neurobench(toy)
    assert nb["effective_macs"] == pytest.approx(10.5) and nb["effective_acs"] == pytest.approx(7.5)
    assert nb["dense"] == 42 and nb["membrane_updates"] == 12 and nb["footprint_bytes"] == 108
    assert nb["activation_sparsity"] == pytest.approx(17 / 24)
    report = energy_report(toy, [parse_cost("chip:mac=2,ac=0.5")], first_layer_per_step=True)
    e = report["conventions"]["paper"]["energy_j"]["chip"]
    assert e["total"] == pytest.approx((2 * 24 + 0.5 * 7.5) * 1e-12) and e["attention"] == {}
    assert report["first_layer"] == {"name": "0.layers", "per_step": True}


def test_integrate_and_fire_neurons_have_no_leak_under_syops():
    net = two_layer_net()
    net[1], net[3] = snnctl.create("neuron", "if"), snnctl.create("neuron", "if")
    r = profile_model(net, [X], timesteps=T)
    layers = {l.name: l for l in r.layers}
    assert layers["1"].leaky is False and layers["3"].syops_mac == 0
    assert layers["1"].syops_ac / N == 6  # one AC per update (analog input: rate 1)


def test_single_step_neurons_are_counted_like_multi_step_ones():
    class Loop(nn.Module):
        def __init__(self, neuron):
            super().__init__()
            self.neuron = neuron

        def forward(self, x):
            return torch.stack([self.neuron(xt) for xt in x])

    def net(step_mode):
        n = two_layer_net()
        lif = snnctl.create("neuron", "lif", step_mode=step_mode)
        n[1] = Loop(lif) if step_mode == "s" else lif
        return n

    multi, single = (profile_model(net(m), [X, X[:, :1]], timesteps=T) for m in ("m", "s"))
    a, b = spike_stats(multi)[0], spike_stats(single)[0]
    assert (a["layer"], b["layer"]) == ("1", "1.neuron")
    assert {k: v for k, v in a.items() if k not in ("layer", "label")} == \
        {k: v for k, v in b.items() if k not in ("layer", "label")}
    assert single.layer("1.neuron").neuron_updates == multi.layer("1").neuron_updates


def test_per_sample_figures_do_not_depend_on_the_batch_size():
    one = profile_model(two_layer_net(), [X[:, :1], X[:, 1:]], timesteps=T)
    both = profile_model(two_layer_net(), [X], timesteps=T)
    assert one.samples == both.samples == 2
    for a, b in zip(one.layers, both.layers):
        for field in ("synaptic", "sop", "mac", "effective_ac", "effective_mac", "spikes", "syops_ac", "syops_mac",
                      "silent_sum"):
            assert getattr(a, field) == pytest.approx(getattr(b, field)), (a.name, field)
    assert [r["firing_rate_per_step"] for r in spike_stats(one)] == [r["firing_rate_per_step"] for r in spike_stats(both)]


def test_convolution_counts_by_hand():
    """Conv 1->2 channels, 3x3, padding 1, on 3x3 inputs: 9 positions x 2 x 9 taps = 162 per step."""
    conv = nn.Conv2d(1, 2, 3, padding=1)
    x = torch.zeros(2, 1, 1, 3, 3)  # [T=2, B=1, C, H, W]
    x[0, 0, 0, 1, 1] = 1.0  # t0: the centre pixel, reaching all 9 outputs
    x[1, 0, 0, 0, 0] = 1.0  # t1: a corner pixel, reaching 4 outputs
    r = profile_model(nn.Sequential(SeqFold(conv)), [x], timesteps=2)
    layer = r.layer("0.layers")
    assert layer.synaptic == 2 * 162
    assert layer.input_kind == "spikes" and layer.sop == pytest.approx(2 * 162 * 2 / 18)  # rate 2/18
    assert layer.effective_ac == (9 + 4) * 2  # non-zero inputs x the outputs they reach x 2 channels
    # in-bounds taps over the 9 outputs: 4 corners x 4 + 4 edges x 6 + centre 9 = 49, x 2 channels, x 2 steps
    assert layer.reachable == 2 * 2 * 49
    assert layer.bias == 2 * 2 * 9
    # strided, grouped, dilated: the same rules (dense from shapes, effective from the mask)
    conv = nn.Conv2d(4, 6, 3, stride=2, padding=2, dilation=2, groups=2, bias=False)
    x = (torch.rand(1, 3, 4, 9, 9) > 0.5).float()
    r = profile_model(nn.Sequential(SeqFold(conv)), [x], timesteps=1)
    layer = r.layer("0.layers")
    out = conv(x[0])
    assert layer.synaptic == 3 * out.shape[-1] * out.shape[-2] * 6 * 2 * 9 and layer.bias == 0
    mask = (x[0] != 0).float()
    ones = torch.ones(2, 2, 3, 3)
    want = float(torch.nn.functional.conv2d(mask, ones, None, 2, 2, 2, groups=2).sum()) * 3
    assert layer.effective_ac == want


def test_dense_macs_of_vgg8_sma_match_spec_5_3():
    """DVS128 settings (128x128, T=16): 1.09 G backbone and 11.27 G for the two SMAs per time step."""
    with torch.device("meta"):
        model = snnctl.create_model("vgg8-sma", preset="dvsgesture")
    r = dense_ops(model)
    assert r.shapes_only and r.samples == 1 and r.timesteps == 16
    backbone = sum(l.synaptic for l in r.layers if l.attention is None) / r.timesteps
    sma = sum(l.synaptic for l in r.layers if l.attention is not None) / r.timesteps
    assert backbone == pytest.approx(1.09e9, rel=0.01)
    assert sma == pytest.approx(11.27e9, rel=0.01)
    assert sum(l.synaptic for l in r.layers) == pytest.approx(198e9, rel=0.01)  # per sample, x T
    # each SMA's multiscale convolutions: 84 C^2 H W at the pre-pool resolution (spec §5.3)
    convs = sum(l.synaptic for l in r.layers if ".attention.convs." in l.name) / r.timesteps
    assert convs == 84 * 128 ** 2 * 64 ** 2 + 84 * 256 ** 2 * 32 ** 2
    # the backbone by hand: five 3x3 convs and the FC head
    convs = [(2, 64, 128), (64, 128, 64), (128, 256, 32), (256, 512, 16), (512, 512, 8)]
    by_hand = sum(9 * a * b * s * s for a, b, s in convs) + 4608 * 2048 + 2048 * 1024 + 1024 * 11
    assert backbone == by_hand
    neurons = {l.name: l.neurons for l in r.spiking_layers}
    assert neurons["features.0.neuron"] == 64 * 128 * 128 and neurons["features.1.attention.acts.3"] == 128 * 64 * 64


# -- SMA --------------------------------------------------------------------------------------------------
def test_sma_children_are_attributed_and_its_scale_weights_recorded():
    model = snnctl.create_model("test-vgg-sma")
    x = (torch.rand(model.timesteps, 3, model.in_channels, *model.input_size) < 0.3).float()
    r = profile_model(model, [x])
    sma_name = "features.1.attention"
    inside = [l for l in r.layers if l.attention == sma_name]
    assert {l.type for l in inside} >= {"SMA", "Conv2d", "BatchNorm2d", "LIF", "Linear"}
    assert all(l.name == sma_name or l.name.startswith(sma_name + ".") for l in inside)
    assert [l.attention for l in r.layers if l.name.startswith("features.0")] == [None] * 4
    sma = r.layer(sma_name)
    # independent reference: run the SMA alone on the input it received and recompute its weights
    captured = {}
    module = dict(model.named_modules())[sma_name]
    handle = module.register_forward_hook(lambda m, i, o: captured.setdefault("x", i[0]))
    snnctl.nn.reset_states(model)
    with torch.no_grad():
        model.eval()(x)
        snnctl.nn.reset_states(model)
        us = module.branches(captured["x"])
        z = sum(u.mean((-2, -1)) for u in us)
        a_t, a_c = module.attention(z)
    handle.remove()
    n = len(module.kernels)
    assert sma.synaptic == n * captured["x"].numel()  # the fusion: one weight x element per scale
    assert sma.effective_ac == sum(int(torch.count_nonzero(u)) for u in us)
    want = (a_t.unsqueeze(-1) * a_c).mean(-1).mean(-1)  # [N, T]: mean over channels and samples
    (got,) = scale_selection(r)
    assert got["kernels"] == [1, 3, 5, 7]
    assert torch.tensor(got["scale_weight"]).double() == pytest.approx(want.double(), abs=1e-6)
    assert torch.tensor(got["temporal_weight"]).double() == pytest.approx(a_t.mean(-1).double(), abs=1e-6)
    # the branch neurons are spiking layers of the report
    assert {f"{sma_name}.acts.{i}" for i in range(n)} <= {s["layer"] for s in spike_stats(r)}
    ops = ops_section(r)
    assert ops["totals"]["attention"]["sma"]["dense_macs"] == pytest.approx(sum(l.synaptic for l in inside) / 3)


def test_sma_l_and_sma_c_scale_weights():
    for attention in ("sma-l", "sma-c"):
        model = snnctl.create_model("test-vgg", attention=attention)
        r = profile_model(model, [model.example_input(2)])
        (got,) = scale_selection(r)
        assert torch.tensor(got["scale_weight"]).shape == (4, model.timesteps)
        assert ("temporal_weight" in got) == (attention == "sma-l")


# -- monitors as plugins ----------------------------------------------------------------------------------
class Gain(nn.Module):
    """A third-party layer: y = w * x, elementwise."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.full((size,), 2.0))

    def forward(self, x):
        return x * self.w


GAIN_MONITOR = """
    import snnctl
    from snnctl.profile import Counts, Monitor

    class GainMonitor(Monitor):
        '''Counts Gain layers: one synaptic operation per element.'''
        def claims(self, module):
            return type(module).__name__ == "Gain"
        def count(self, module, inputs, output, ctx):
            return Counts(synaptic=float(inputs[0].numel()), reachable=float(inputs[0].numel()))

    class LinearAgain(Monitor):
        '''Outranks the built-in linear monitor.'''
        priority = 1
        def __init__(self):
            import torch
            self.types = (torch.nn.Linear,)
        def count(self, module, inputs, output, ctx):
            return Counts(synaptic=1.0)

    @snnctl.hookimpl
    def register_monitors(register):
        register("gain", GainMonitor)
        register("linear-again", LinearAgain)
"""


def gain_net() -> nn.Module:
    return nn.Sequential(SeqFold(nn.Linear(4, 3)), Gain(3), snnctl.create("neuron", "lif"))


def test_hook_register_monitors_counts_a_third_party_layer(plugin_dir):
    x = torch.rand(2, 5, 4)
    plain = profile_model(gain_net(), [x], timesteps=2)
    assert [(u["name"], u["type"], u["calls"], u["parameters"]) for u in plain.uncounted] == [("1", "Gain", 1, 3)]
    assert "1" not in {l.name for l in plain.layers}

    plugin_dir("gain_monitor.py", GAIN_MONITOR)
    plugins.configure([str(plugin_dir.path)])
    assert {"gain", "linear-again"} <= set(snnctl.list_components("monitor"))
    counted = profile_model(gain_net(), [x], timesteps=2)
    assert counted.uncounted == []
    gain = counted.layer("1")
    assert gain.monitor == "gain" and gain.synaptic / counted.samples == 2 * 3
    assert gain.input_kind == "analog" and gain.mac == gain.synaptic
    assert counted.layer("0.layers").monitor == "linear-again"  # priority 1 beats the built-in


def test_two_monitors_tied_on_a_type_are_an_error():
    class A(Monitor):
        types = (nn.Linear,)

    class B(Monitor):
        types = (nn.Linear,)

    with pytest.raises(ConfigError, match="'a' and 'b' both claim Linear"):
        choose_monitor(nn.Linear(1, 1), [("a", A()), ("b", B())])

    class Specific(Monitor):
        types = (nn.LazyLinear,)

    assert choose_monitor(nn.LazyLinear(1), [("a", A()), ("s", Specific())])[0] == "s"  # nearer in the MRO


def test_builtin_monitors_cover_the_builtin_models():
    for name in ("test-vgg-sma", "test-resnet-sma"):
        model = snnctl.create_model(name)
        r = profile_model(model, [model.example_input(1)])
        assert r.uncounted == [], (name, r.uncounted)
        assert r.not_called == []
    assert {"conv", "linear", "norm", "max-pool", "avg-pool", "activation", "neuron", "passthrough", "sma"} <= \
        {n for n, _ in load_monitors()}


def test_shapes_only_pass_on_meta_counts_what_a_real_pass_counts():
    model = snnctl.create_model("test-resnet-sma")
    real = profile_model(model, [model.example_input(1)])
    with torch.device("meta"):
        meta = snnctl.create_model("test-resnet-sma")
    shapes = dense_ops(meta)
    assert [(l.name, l.synaptic, l.reachable, l.neuron_updates) for l in shapes.layers] == \
        [(l.name, l.synaptic, l.reachable, l.neuron_updates) for l in real.layers]
    with pytest.raises(ConfigError, match="shapes only"):
        paper(shapes)


# -- cost tables ------------------------------------------------------------------------------------------
def test_parse_cost():
    assert parse_cost("fp16") is COST_TABLES["fp16"]
    assert (COST_TABLES["fp32-45nm"].mac_pj, COST_TABLES["fp32-45nm"].ac_pj) == (4.6, 0.9)
    assert (COST_TABLES["int8"].mac_pj, COST_TABLES["int8"].ac_pj) == (0.23, 0.03)
    t = parse_cost("loihi:mac=1e-1, ac=0.02")
    assert (t.name, t.mac_pj, t.ac_pj) == ("loihi", 0.1, 0.02)
    assert parse_cost("mac=3,ac=1").name == "custom"
    with pytest.raises(UnknownNameError, match="unknown cost table 'fp64'"):
        parse_cost("fp64")
    for bad in ("chip:mac=1", "chip:mac=1,ac=2,x=3", "mac=-1,ac=1"):
        with pytest.raises(ConfigError):
            parse_cost(bad)


# -- speed --------------------------------------------------------------------------------------------------
def test_speed_measures_the_model_and_every_neuron(plugin_dir):
    from snnctl.profile.speed import peak_memory, time_model, time_neurons

    model = snnctl.create_model("test-vgg")
    m = time_model(model, model.example_input(2), repeat=1, warmup=0)
    assert m["batch_size"] == 2 and m["forward_s"] > 0 and m["forward_backward_s"] > 0
    assert m["forward_backward_peak_bytes"] > 0 and model.training  # the model's mode is restored
    big = peak_memory(lambda: torch.ones(1 << 20).sum(), torch.device("cpu"))
    assert big is None or big >= 4 << 20  # a 4 MiB tensor was live
    plugin_dir("not_a_module.py", """
        import snnctl
        @snnctl.hookimpl
        def register_neurons(register):
            register("not-a-module", lambda step_mode="m": object(), description="no torch module")
    """)
    plugins.configure([str(plugin_dir.path)])
    rows = {r["neuron"]: r for r in time_neurons([(2, 1, 8)], ["lif", "not-a-module"], torch.device("cpu"), 1, 0)}
    assert rows["lif"]["layers"] == 1 and rows["lif"]["forward_s"] > 0
    assert "not a torch.nn.Module" in rows["not-a-module"]["error"]


# -- the command line -------------------------------------------------------------------------------------
@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SNNCTL_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_profile_spikes_on_the_default_dataset_prints_the_table_and_writes_plots(cli, cache, tmp_path):
    plots = tmp_path / "plots"
    r = cli("profile", "test-vgg-sma", "--spikes", *SMALL_DATA, "--samples", "5", "--batch-size", "2",
            "--plot", str(plots), "--csv", str(tmp_path / "layers.csv"))
    assert r.code == 0, r.stderr
    assert "synthetic-gestures, test split, 5 samples" in r.stdout
    for name in ("features.0.neuron", "features.1.attention.acts.3", "features.1.neuron", "head.2"):
        assert name in r.stdout
    assert "mean weight per scale" in r.stdout and "operations" not in r.stdout
    assert {p.name for p in plots.iterdir()} == {"firing_rates.png", "firing_rate_steps.png", "scale_selection.png"}
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in plots.iterdir())
    rows = list(csv.DictReader(open(tmp_path / "layers.csv")))
    assert [row["layer"] for row in rows][:3] == ["features.0.neuron", "features.1.attention", "features.1.attention.acts.0"]
    assert {f"firing_rate_t{t}" for t in range(8)} <= set(rows[0])


def test_profile_json_holds_every_section(cli, cache, tmp_path):
    r = cli("profile", "test-vgg-sma", *SMALL_DATA, "--samples", "3", "--repeat", "1", "--json",
            "--cost", "fp32-45nm", "--cost", "chip:mac=1,ac=0.1", "--first-layer-once", "--csv", str(tmp_path / "p.csv"))
    assert r.code == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["sections"] == ["spikes", "ops", "energy", "speed"]
    assert report["data"]["samples"] == 3 and report["data"]["timesteps"] == 8 and not report["data"]["random"]
    assert report["model"]["timesteps"] == 8 and report["model"]["input"] == [2, 32, 32]
    assert report["uncounted"] == []
    energy = report["energy"]
    assert [t["name"] for t in energy["cost_tables"]] == ["fp32-45nm", "chip"]
    assert energy["first_layer"] == {"name": "features.0.conv.layers", "per_step": False}
    ops = {row["layer"]: row for row in report["ops"]["layers"]}
    p = energy["conventions"]["paper"]
    first = ops["features.0.conv.layers"]
    sops = sum(row["sops"] for row in ops.values() if not row["first"])
    macs = sum(row["macs"] for row in ops.values() if not row["first"]) + first["dense_macs_per_step"]
    assert p["acs"] == pytest.approx(sops) and p["macs"] == pytest.approx(macs)
    assert p["energy_j"]["chip"]["total"] == pytest.approx((macs * 1 + sops * 0.1) * 1e-12)
    sma_macs = sum(row["macs"] for row in ops.values() if row["attention"])
    assert p["attention"]["sma"]["macs"] == pytest.approx(sma_macs)
    assert set(report["speed"]["model"]) >= {"forward_s", "forward_backward_s", "forward_backward_peak_bytes"}
    assert {n["neuron"] for n in report["speed"]["neurons"]} >= {"lif", "plif", "if", "ms-lif"}
    totals = list(csv.DictReader(open(tmp_path / "p-totals.csv")))
    assert {("paper", "energy_j", "chip"), ("neurobench", "effective_acs", "")} <= \
        {(t["section"], t["quantity"], t["cost_table"]) for t in totals}


def test_profile_random_input_keeps_the_models_own_shape(cli):
    r = cli("profile", "test-vgg", "--ops", "--random-input", "--samples", "2", "--json")
    assert r.code == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["data"]["random"] and report["model"]["input"] == [2, 16, 16] and report["model"]["timesteps"] == 4
    assert "spikes" not in report and report["ops"]["layers"][0]["input"] == "analog"


@pytest.mark.parametrize("args, message", [
    (("vgg8-smaa",), "did you mean 'vgg8-sma'"),
    (("./no/such/run",), "no such run directory"),
    (("test-vgg", "--random-input", "--cost", "fp64"), "unknown cost table 'fp64'"),
    (("test-vgg", "--random-input", "--cost", "chip:mac=1"), "expected exactly the keys mac and ac"),
    (("test-vgg", "--random-input", "--data", "synthetic-gestures"), "random input uses no dataset"),
    (("test-vgg", "--random-input", "--which", "first"), "--which"),
])
def test_profile_user_errors_exit_2(cli, args, message):
    r = cli("profile", *args)
    assert r.code == 2 and r.stdout == ""
    assert message in r.stderr


def test_a_folder_without_config_yaml_is_not_a_run(cli, tmp_path):
    r = cli("profile", str(tmp_path))
    assert r.code == 2 and "has no config.yaml" in r.stderr


def test_a_model_that_does_not_fit_the_data_is_named(cli, cache):
    r = cli("profile", "test-vgg", *SMALL_DATA, "--model-set", "input_size=[16,16]")
    assert r.code == 2 and "takes 2 x 16 x 16 input but 'synthetic-gestures' frames are 2 x 32 x 32" in r.stderr


def test_run_directory_branch(monkeypatch, cache, tmp_path):
    """A run folder brings its model, T and data settings (load_run is stubbed: training is tested elsewhere)."""
    import snnctl.engine.checkpoint as checkpoint
    from snnctl.profile import load_samples, open_target

    model = snnctl.create_model("test-vgg", in_channels=2, input_size=(32, 32), num_classes=8, timesteps=8)
    data = SimpleNamespace(name="synthetic-gestures", args={"test_per_class": 2, "train_per_class": 1}, root=None,
                           cache_dir=None, split_by="number", downsample=1)
    config = SimpleNamespace(data=data, timesteps=None, model=SimpleNamespace(name="test-vgg"))
    calls = []

    def load_run(path, which="best"):
        calls.append((Path(path), which))
        return SimpleNamespace(model=model, config=config, path=Path(path), metadata={"epoch": "3"}, classes=list("abcdefgh"),
                               components=[], model_args={})

    monkeypatch.setattr(checkpoint, "load_run", load_run)
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("model: {name: test-vgg}\n")
    target = open_target(str(run), which="last")
    assert calls == [(run, "last")]
    assert (target.source, target.name, target.timesteps, target.data.name) == ("run", "test-vgg", 8, "synthetic-gestures")
    samples = load_samples(target, 3, 2)
    assert [tuple(b.shape) for b in samples.batches()] == [(8, 2, 2, 32, 32), (8, 1, 2, 32, 32)]
    with pytest.raises(ConfigError, match="trained with T=8"):
        open_target(str(run), timesteps=4)


IMAGES = """
    import torch, snnctl
    from snnctl.data.images import ImageDataset

    class Tiny(ImageDataset):
        '''Four 3x16x16 images per split.'''
        name = "tiny-images"
        classes = ("a", "b")
        image_size = (16, 16)
        default_frames = 3
        def locate(self, root, download):
            return "memory"
        def dataset(self, split, root, train):
            g = torch.Generator().manual_seed(1)
            return [(torch.rand(3, 16, 16, generator=g) - 0.5, i % 2) for i in range(4)]

    @snnctl.hookimpl
    def register_datasets(register):
        register("tiny-images", Tiny)
"""


def test_static_images_are_repeated_over_t(plugin_dir):
    from snnctl.profile import load_samples, open_target

    plugin_dir("tiny_images.py", IMAGES)
    plugins.configure([str(plugin_dir.path)])
    target = open_target("test-resnet", data="tiny-images")
    assert (target.timesteps, target.model.in_channels, target.model.input_size) == (3, 3, (16, 16))
    samples = load_samples(target, 4, 4)
    (batch,) = list(samples.batches())
    assert batch.shape == (3, 4, 3, 16, 16) and torch.equal(batch[0], batch[2])
    assert samples.info["encoding"].startswith("direct")
    r = profile_model(target.model, samples.batches())
    assert r.first_layer.input_kind == "analog"
    stem = r.first_layer.synaptic
    assert paper(r, first_layer_per_step=False).macs == pytest.approx(paper(r).macs - stem / 4 * (1 - 1 / 3))
