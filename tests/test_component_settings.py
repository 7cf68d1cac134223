"""Component settings from the command line, their checks, penalties in metrics.jsonl, spike recording,
and neurons with one parameter per feature (plif per_channel)."""

from __future__ import annotations

import json

import pytest
import torch
import yaml

from snnctl.config import resolve_config, set_path
from snnctl.errors import ConfigError

from conftest import TINY


def printed(cli, *args: str) -> dict:
    r = cli("train", *args, "--print-config")
    assert r.code == 0, r.stderr
    return yaml.safe_load(r.stdout)


# -- --set, --reg NAME:ARGS and conflicts ------------------------------------------------------------
def test_set_indexes_into_lists_of_the_merged_config(cli):
    cfg = printed(cli, "--set", "regularizers.0.args.rtr=2")
    assert cfg["regularizers"] == [{"name": "azo", "args": {"rtr": 2}}]
    cfg = printed(cli, "--recipe", "dvsgesture-sma-azo", "--set", "regularizers.0.args.rcr=12",
                  "--set", "regularizers.0.name=azo")
    assert cfg["regularizers"] == [{"name": "azo", "args": {"rtr": 4.0, "rcr": 12, "chained": False}}] or \
        cfg["regularizers"][0]["args"]["rcr"] == 12
    cfg = printed(cli, "--set", "regularizers.1.name=azo", "--set", "regularizers.1.args.chained=true")
    assert [r["name"] for r in cfg["regularizers"]] == ["azo", "azo"] and cfg["regularizers"][1]["args"] == {"chained": True}
    cfg = printed(cli, "--model", "vgg5", "--set", "model.args.widths=[8,16,32]", "--set", "model.args.widths.2=24")
    assert cfg["model"]["args"]["widths"] == [8, 16, 24]


def test_set_path_walks_dicts_and_lists_and_names_what_is_wrong():
    tree = {"a": [{"b": 1}, {"b": 2}], "c": 3}
    set_path(tree, "a.1.b", 5)
    set_path(tree, "a.2.b", 6)  # one past the end appends
    set_path(tree, "a.0", {"b": 0})
    assert tree["a"] == [{"b": 0}, {"b": 5}, {"b": 6}]
    with pytest.raises(ConfigError, match=r"a has 3 items .*no item 7"):
        set_path(tree, "a.7.b", 1)
    with pytest.raises(ConfigError, match=r"a is a list; 'x' is not an index"):
        set_path(tree, "a.x", 1)
    with pytest.raises(ConfigError, match=r"c is 3, a value"):
        set_path(tree, "c.d", 1)
    with pytest.raises(ConfigError, match=r"e is not set, so it has no item 0"):
        set_path(tree, "e.0", 1)


def test_reg_arguments_reach_the_regularizer_and_its_modules(cli):
    from snnctl.engine import build

    cfg = printed(cli, "--reg", "azo:rtr=2,rcr=8,chained=true")
    assert cfg["regularizers"] == [{"name": "azo", "args": {"rtr": 2, "rcr": 8, "chained": True}}]
    for args in (["--reg", "azo:rtr=2,rcr=8,chained=true"],
                 ["--set", "regularizers.0.args.rtr=2", "--set", "regularizers.0.args.rcr=8",
                  "--set", "regularizers.0.args.chained=true"]):
        run = resolve_config(assignments=[a for a in args[1::2]] if args[0] == "--set" else None,
                             flags=None if args[0] == "--set" else {"regularizers": cfg["regularizers"]})
        info = build.DataInfo("x", "events", list("abcdefgh"), 2, (32, 32), 8)
        model = build.build_model(run, info)
        (reg, names), = build.attach_regularizers(run, model)
        assert (reg.rtr, reg.rcr, reg.chained) == (2.0, 8.0, True) and names
        zoneouts = [z for m in model.modules() for z in getattr(m, "zoneouts", [])]
        assert len(zoneouts) == len(names) and all((z.rtr, z.rcr, z.chained) == (2.0, 8.0, True) for z in zoneouts)


def test_neuron_and_attention_options_take_arguments(cli):
    cfg = printed(cli, "--neuron", "plif:init_tau=3,per_channel=true", "--attention", "sma:kernels=[1,3],c_reduction=8")
    assert cfg["model"]["neuron"] == "plif" and cfg["model"]["neuron_args"] == {"init_tau": 3, "per_channel": True}
    assert cfg["model"]["attention_args"] == {"kernels": [1, 3], "c_reduction": 8}


@pytest.mark.parametrize("args, message", [
    (["--reg", "azo", "--set", "regularizers.0.args.rtr=3"], "--set regularizers.0.args.rtr=... and --reg both set regularizers.0.args.rtr"),
    (["--reg", "none", "--set", "regularizers.0.name=azo"], "--reg none both set"),
    (["--set", "epochs=3", "--epochs", "5"], "--set epochs=... and --epochs both set epochs"),
    (["--set", "model.name=vgg5", "--model", "vgg5-sma"], "and --model both set model.name"),
    (["--set", "model={\"name\": \"vgg5\"}", "--model", "vgg5-sma"], "and --model both set model.name"),
    (["--set", "model.neuron_args.tau=3", "--neuron", "lif:tau=4"], "and --neuron both set"),
    (["--set", "seed=1", "--set", "seed=2"], "--set seed is given twice"),
    (["--reg", "azo:rtr"], "'rtr' is not KEY=VALUE"),
    (["--reg", "azo:rtr=1,rtr=2"], "rtr is given twice"),
    (["--reg", ":rtr=1"], "expected NAME or NAME:KEY=VALUE"),
])
def test_two_layers_setting_one_value_is_an_error(cli, args, message):
    r = cli("train", *args, "--print-config")
    assert r.code == 2 and message in r.stderr, r.stderr


@pytest.mark.parametrize("args, message", [
    (["--reg", "azo:rtr=0.5"], "regularizer 'azo': regularizers.0.args.rtr: Input should be greater than or equal to 1"),
    (["--set", "regularizers.0.args.typo=1"], "regularizers.0.args.typo: unknown field"),
    (["--neuron", "lif:tau=0.5"], "neuron 'lif': model.neuron_args.tau: Input should be greater than 1"),
    (["--set", "model.args.neuron_args={\"tau\": 0.5}"], "model.args.neuron_args.tau: Input should be greater than 1"),
    (["--neuron", "lif:surrogate_args={\"alpha\":-1}"], "surrogate 'atan': model.neuron_args.surrogate_args.alpha"),
    (["--attention", "sma:c_reduction=0"], "attention 'sma': model.attention_args.c_reduction"),
    (["--set", "model.attention_args.branch_args={\"tau\": 0}"], "neuron 'lif': model.attention_args.branch_args.tau"),
    (["--set", "model.args.widths=[]"], "model 'vgg5-sma': model.args.widths"),
    (["--set", "data.args.size=0"], "dataset 'synthetic-gestures': data.args.size"),
])
def test_print_config_checks_every_component_with_its_dotted_path(cli, args, message):
    r = cli("train", *args, "--print-config")
    assert r.code == 2 and message in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


def test_training_reports_a_component_argument_by_its_path_before_reading_data(cli, env):
    r = cli("train", *TINY, "--attention", "sma:t_reduction=-1", "--name", "x")
    assert r.code == 2 and "model.attention_args.t_reduction" in r.stderr
    assert not (env / "runs").exists() and not (env / "cache").exists()


# -- penalties in metrics.jsonl, spike recording ----------------------------------------------------------
RATE_PLUGIN = '''
import snnctl
from snnctl.errors import ConfigError
from snnctl.nn import Regularizer, SpikeRecorder


class RateTarget(Regularizer):
    """Pull every spiking layer's firing rate towards a target."""

    def __init__(self, target: float = 0.1, weight: float = 1.0):
        self.target, self.weight = target, weight

    def attach(self, model):
        self.recorder = SpikeRecorder(model)
        if not self.recorder.names:
            raise ConfigError("rate-target: the model has no spiking neurons")
        return self.recorder.names

    def penalty(self, model):
        rates = self.recorder.rates()
        return self.weight * sum((r - self.target) ** 2 for r in rates.values()) / len(rates)


@snnctl.hookimpl
def register_regularizers(register):
    register("rate-target", RateTarget)
'''


def test_metrics_record_the_task_loss_and_each_penalty(cli, env, plugin_dir):
    plugin_dir("rate.py", RATE_PLUGIN)
    r = cli("--plugins-dir", str(plugin_dir.path), "train", *TINY, "--reg", "azo", "--reg",
            "rate-target:target=0.3,weight=2", "--name", "reg")
    assert r.code == 0, r.stderr
    assert cli("train", *TINY, "--reg", "none", "--name", "plain").code == 0
    rows = [json.loads(line) for line in (env / "runs/reg/metrics.jsonl").read_text().splitlines()]
    for row in rows:
        assert set(row["penalties"]) == {"rate-target"}  # azo adds no loss term
        assert row["penalties"]["rate-target"] > 0
        assert row["train_loss"] == pytest.approx(row["task_loss"] + row["penalties"]["rate-target"], rel=1e-6)
    plain = [json.loads(line) for line in (env / "runs/plain/metrics.jsonl").read_text().splitlines()]
    assert all(p["penalties"] == {} and p["train_loss"] == pytest.approx(p["task_loss"], rel=1e-12) for p in plain)


def test_spike_recorder_reads_each_neurons_spikes_and_rates():
    import snnctl
    from snnctl.nn import Neuron, SpikeRecorder, reset_states

    torch.manual_seed(0)
    model = snnctl.create_model("test-vgg-sma")
    seen: dict[str, torch.Tensor] = {}
    handles = [m.register_forward_hook(lambda mod, i, o, n=n: seen.__setitem__(n, o.detach()))
               for n, m in model.named_modules() if isinstance(m, Neuron)]
    rec = SpikeRecorder(model)
    x = model.example_input(3) * 3
    model(x)
    assert rec.names == list(seen) and set(rec.spikes()) == set(seen)
    for name, s in seen.items():
        assert torch.equal(rec.spikes()[name].detach(), s)
        assert float(rec.rates()[name].detach()) == pytest.approx(float(s.sum()) / s.numel(), rel=1e-6)
    total = sum(float(s.sum()) for s in seen.values()) / sum(s.numel() for s in seen.values())
    assert float(rec.rate().detach()) == pytest.approx(total, rel=1e-6)
    rec.rate().backward()  # surrogate gradients reach the weights
    assert model.features[0].conv.layers.weight.grad.abs().sum() > 0
    reset_states(model)
    only = SpikeRecorder(model, neurons=["features.1.attention.*"], detach=True)
    model(x)
    assert only.names == [f"features.1.attention.acts.{i}" for i in range(4)]
    assert all(not s.requires_grad for s in only.spikes().values())
    for h in handles:
        h.remove()
    rec.close()
    only.close()
    reset_states(model)
    model(x)
    assert rec.rates() == {} and only.rates() == {}


def test_spike_recorder_stacks_single_step_calls():
    from snnctl.nn import SpikeRecorder

    import snnctl

    net = torch.nn.Sequential(snnctl.create_neuron("lif", step_mode="s"))
    rec = SpikeRecorder(net)
    x = torch.rand(5, 2, 3) * 3
    out = []
    for t in range(5):
        if t == 0:
            out.append(net(x[t]))
        else:  # one pass of the container per step: the recorder keeps the latest pass only
            out.append(net[0](x[t]))
    assert rec.spikes()["0"].shape == (5, 2, 3) and torch.equal(rec.spikes()["0"].detach(), torch.stack(out).detach())


# -- neurons with one parameter per feature ---------------------------------------------------------------
@pytest.mark.parametrize("decay_input", [True, False])
@pytest.mark.parametrize("v_reset", [0.0, "soft", 0.3])
@pytest.mark.parametrize("detach_reset", [True, False])
def test_per_channel_plif_equals_a_naive_loop(decay_input, v_reset, detach_reset):
    from snnctl.nn import make_neuron

    torch.manual_seed(0)
    c = 5
    n = make_neuron("plif", {"per_channel": True, "decay_input": decay_input, "v_reset": v_reset,
                             "detach_reset": detach_reset}, features=c, step_mode="m").double()
    with torch.no_grad():
        n.w.copy_(torch.randn(c, dtype=torch.float64))
    x = (torch.randn(6, 3, c, 4, 4, dtype=torch.float64) * 1.5 + 0.8).requires_grad_()
    out = n(x)
    up = torch.randn_like(out)
    (out * up).sum().backward()
    # the recurrence written out, one time constant per channel
    w = n.w.detach().clone().requires_grad_()
    x2 = x.detach().clone().requires_grad_()
    vr = 0.0 if v_reset == "soft" else v_reset
    d = torch.sigmoid(w).view(c, 1, 1)
    v = torch.full_like(x2[0], vr)
    ref = []
    for t in range(6):
        h = v + (x2[t] - (v - vr)) * d if decay_input else v - (v - vr) * d + x2[t]
        s = n.surrogate(h - 1.0)
        sd = s.detach() if detach_reset else s
        v = h - sd if v_reset == "soft" else h * (1 - sd) + vr * sd
        ref.append(s)
    ref = torch.stack(ref)
    (ref * up).sum().backward()
    assert torch.equal(ref.detach(), out.detach())
    assert torch.allclose(x2.grad, x.grad, rtol=1e-12, atol=1e-12)
    assert torch.allclose(w.grad, n.w.grad, rtol=1e-10, atol=1e-12) and n.w.grad.shape == (c,)


def test_per_channel_plif_passes_the_neuron_contract_and_needs_its_width():
    from snnctl.nn import make_neuron
    from snnctl.testing import check_neuron

    check_neuron("plif", per_channel=True)
    check_neuron("plif", per_channel=True, decay_input=False, v_reset="soft", detach_reset=False)
    with pytest.raises(ConfigError, match="per_channel needs the layer's feature count"):
        make_neuron("plif", {"per_channel": True})
    n = make_neuron("plif", {"per_channel": True}, features=4)
    with pytest.raises(ConfigError, match=r"one time constant per feature \(4 features\) but its input \(2, 1, 3\)"):
        n(torch.rand(2, 1, 3))
    with pytest.raises(ConfigError, match="the model sets the feature count"):
        make_neuron("plif", {"per_channel": True, "features": 3}, features=4)
    assert make_neuron("lif", {}, features=4).__class__.__name__ == "LIF"  # neurons without the field never see it


def test_models_tell_each_neuron_its_layers_width():
    import snnctl

    vgg = snnctl.create_model("vgg5-sma", neuron="plif", neuron_args={"per_channel": True})
    taus = {n: tuple(p.shape) for n, p in vgg.named_parameters() if n.endswith(".w")}
    assert taus["features.0.neuron.w"] == (16,) and taus["features.2.neuron.w"] == (64,)
    assert taus["features.1.attention.acts.3.w"] == (32,) and taus["head.2.w"] == (128,)
    res = snnctl.create_model("test-resnet-sma", neuron="plif", neuron_args={"per_channel": True})
    widths = {n: p.shape[0] for n, p in res.named_parameters() if n.endswith(".w")}
    assert widths["blocks.0.act1.w"] == 4 and widths["blocks.1.act1.w"] == 4 and widths["blocks.1.act2.w"] == 8
    assert widths["head.0.w"] == 8
    from snnctl.testing import check_model

    check_model("test-vgg-sma", neuron="plif", neuron_args={"per_channel": True})


def test_a_per_channel_neuron_trains_resumes_exactly_and_profiles(cli, env, plugin_dir):
    from safetensors.torch import load_file

    args = [*TINY, "--model", "test-vgg", "--reg", "none", "--neuron", "plif:per_channel=true", "--epochs", "3"]
    assert cli("train", *args, "--name", "whole").code == 0
    plugin_dir("stop.py", '''
import os, signal
import snnctl

class Stop:
    def on_batch_end(self, state):
        if (state.epoch, state.batch) == (1, 1):
            os.kill(os.getpid(), signal.SIGINT)

@snnctl.hookimpl
def training_callbacks(config):
    return [Stop()]
''')
    assert cli("--plugins-dir", str(plugin_dir.path), "train", *args, "--name", "cut").code == 130
    r = cli("train", "--resume", "runs/cut", "--quiet")
    assert r.code == 0, r.stderr
    whole, cut = load_file(str(env / "runs/whole/last/model.safetensors")), load_file(str(env / "runs/cut/last/model.safetensors"))
    assert whole.keys() == cut.keys() and all(torch.equal(whole[k], cut[k]) for k in whole)
    assert whole["features.0.neuron.w"].shape == (4,)
    assert not torch.equal(whole["features.0.neuron.w"], torch.full((4,), whole["features.0.neuron.w"][0].item()))
    r = cli("profile", "runs/whole", "--spikes", "--ops", "--json")
    assert r.code == 0, r.stderr
    report = json.loads(r.stdout)
    layers = [row["layer"] for row in report["spikes"]["layers"]]
    assert "features.0.neuron" in layers and "head.2" in layers
    r = cli("evaluate", "runs/whole", "--json")
    assert r.code == 0, r.stderr


LAZY_NEURON = '''
import torch
import snnctl
from snnctl.nn import Neuron


class LazyGain(Neuron):
    """A neuron whose gain is shaped by its first input (against the contract)."""

    def __init__(self, surrogate="atan", surrogate_args=None, step_mode="m"):
        super().__init__(surrogate, surrogate_args, step_mode)
        self.gain = torch.nn.parameter.UninitializedParameter()

    def single_step(self, x):
        if isinstance(self.gain, torch.nn.parameter.UninitializedParameter):
            self.gain.materialize(x.shape[1:])
            torch.nn.init.ones_(self.gain)
        v = (self.v if self.v is not None else torch.zeros_like(x)) + self.gain * x
        s = self.surrogate(v - 1.0)
        self.v = v * (1 - s.detach())
        return s


@snnctl.hookimpl
def register_neurons(register):
    register("lazy-gain", LazyGain)
'''


def test_a_lazy_parameter_is_named_by_the_contract_check_and_by_train(cli, env, snnctl_plugins_dir):
    (snnctl_plugins_dir / "lazy.py").write_text(LAZY_NEURON)
    from snnctl.testing import check_neuron

    with pytest.raises(AssertionError, match="parameter gain is lazy"):
        check_neuron("lazy-gain")
    r = cli("--plugins-dir", str(snnctl_plugins_dir), "train", *TINY, "--model", "test-vgg", "--reg", "none",
            "--neuron", "lazy-gain", "--name", "lazy")
    assert r.code != 0 and "is lazy" in r.stderr and "features argument" in r.stderr, r.stderr
    assert "Internal error" not in r.stderr and not (env / "runs" / "lazy").exists()
