"""NIR: the exporter's pre-flight and mapping, BatchNorm folding, the interpreter against hand-computed
graphs, the neuron mappings against snnctl's own neurons, and snnTorch as an independent reader."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import nir
import numpy as np
import pytest
import torch
from torch import nn

import snnctl
from snnctl.errors import SnnctlError
from snnctl.export import ExportContext, NIRContext, OpenedModel
from snnctl.nn import SeqFold, SpikingModel, reset_states
from snnctl_plugins.export_nir import NIRExporter
from snnctl_plugins.nir_interpreter import NIRModel, load_graph

ROOT = Path(__file__).resolve().parents[1]


def graph(nodes: dict, edges: list, **meta) -> nir.NIRGraph:
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta, type_check=False)


def run_graph(g: nir.NIRGraph, x: torch.Tensor, dt: float = 1e-4, dtype=torch.float64) -> torch.Tensor:
    model = NIRModel(g, dt, x.shape[0]).to(dtype)
    with torch.no_grad():
        return model(x.to(dtype))


def a(*v) -> np.ndarray:
    return np.array(v, dtype=np.float64)


# -- the interpreter against hand-computed dynamics --------------------------------------------------------
def lif_graph(tau: float, r: float = 1.0, threshold: float = 1.0, n: int = 2) -> nir.NIRGraph:
    return graph({"input": nir.Input(input_type={"input": np.array([n])}),
                  "lif": nir.LIF(tau=np.full(n, tau), r=np.full(n, r), v_leak=np.zeros(n), v_threshold=np.full(n, threshold),
                                 v_reset=np.zeros(n)),
                  "output": nir.Output(output_type={"output": np.array([n])})},
                 [("input", "lif"), ("lif", "output")])


def steps(x: list[float], t: int = 4) -> torch.Tensor:
    """The same input vector at every one of ``t`` steps, as [T, 1, N, 1, 1]."""
    return torch.tensor([x] * t, dtype=torch.float64).view(t, 1, len(x), 1, 1)


def test_lif_follows_forward_euler_at_dt():
    # tau = 2 dt, so a = dt / tau = 0.5:  v += 0.5 * (0 - v + I), spike where v > 1, then v = 0
    # I = 1.5: v = 0.75, 1.125 (spike), 0.75, 1.125 (spike);  I = 0.9: 0.45, 0.675, 0.7875, 0.84375 (never)
    out = run_graph(lif_graph(2e-4), steps([1.5, 0.9]))
    assert out[:, 0].tolist() == [[0, 0], [1, 0], [0, 0], [1, 0]]
    # r = 2 doubles the drive: I = 0.9 gives v = 0.9, then 1.35 (spike)
    assert run_graph(lif_graph(2e-4, r=2.0), steps([1.5, 0.9]))[:, 0, 1].tolist() == [0, 1, 0, 1]
    # half the step (a = 0.25): I = 1.5 gives v = 0.375, 0.65625, 0.8671875, 1.025390625 (spike at the 4th step)
    assert run_graph(lif_graph(2e-4), steps([1.5, 0.9]), dt=5e-5)[:, 0, 0].tolist() == [0, 0, 0, 1]


def test_if_fires_only_above_the_threshold():
    # v += dt * r * I = 0.5 per step: 0.5, 1.0 (not above 1), 1.5 (spike, reset to 0), 0.5
    g = graph({"input": nir.Input(input_type={"input": np.array([1])}),
               "if": nir.IF(r=a(1.0), v_threshold=a(1.0), v_reset=a(0.0)),
               "output": nir.Output(output_type={"output": np.array([1])})}, [("input", "if"), ("if", "output")])
    assert run_graph(g, steps([1.0]), dt=0.5).flatten().tolist() == [0, 0, 1, 0]


def test_li_i_and_cuba_lif_by_hand():
    li = graph({"input": nir.Input(input_type={"input": np.array([1])}),
                "li": nir.LI(tau=a(2e-4), r=a(1.0), v_leak=a(0.0)),
                "output": nir.Output(output_type={"output": np.array([1])})}, [("input", "li"), ("li", "output")])
    assert run_graph(li, steps([2.0], 3)).flatten().tolist() == [1.0, 1.5, 1.75]
    integrator = graph({"input": nir.Input(input_type={"input": np.array([1])}), "i": nir.I(r=a(4.0)),
                        "output": nir.Output(output_type={"output": np.array([1])})}, [("input", "i"), ("i", "output")])
    assert run_graph(integrator, steps([1.0], 3), dt=0.25).flatten().tolist() == [1.0, 2.0, 3.0]
    # i += 0.5 (2 - i): 1, 1.5, 1.75, 1.875;  v += 0.5 (i - v): 0.5, 1.0 (not above 1), 1.375 (spike -> 0), 0.9375
    cuba = graph({"input": nir.Input(input_type={"input": np.array([1])}),
                  "c": nir.CubaLIF(tau_syn=a(2e-4), tau_mem=a(2e-4), r=a(1.0), v_leak=a(0.0), v_threshold=a(1.0),
                                   v_reset=a(0.0), w_in=a(1.0)),
                  "output": nir.Output(output_type={"output": np.array([1])})}, [("input", "c"), ("c", "output")])
    assert run_graph(cuba, steps([2.0])).flatten().tolist() == [0, 0, 1, 0]


def test_layers_fan_in_flatten_and_pooling_by_hand():
    # two Affine nodes into the output: their outputs are summed (3x + 0.5)
    fan = graph({"input": nir.Input(input_type={"input": np.array([1])}),
                 "a": nir.Affine(weight=np.array([[1.0]], np.float32), bias=np.array([0.0], np.float32)),
                 "b": nir.Affine(weight=np.array([[2.0]], np.float32), bias=np.array([0.5], np.float32)),
                 "output": nir.Output(output_type={"output": np.array([1])})},
                [("input", "a"), ("input", "b"), ("a", "output"), ("b", "output")])
    assert run_graph(fan, steps([2.0], 2)).flatten().tolist() == [6.5, 6.5]
    img = torch.arange(16, dtype=torch.float64).view(1, 1, 1, 4, 4)  # T=1, B=1, C=1
    pools = {"AvgPool2d": nir.AvgPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
             "SumPool2d": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0]))}
    want = {"AvgPool2d": [2.5, 4.5, 10.5, 12.5], "SumPool2d": [10.0, 18.0, 42.0, 50.0]}
    for kind, pool in pools.items():
        g = graph({"input": nir.Input(input_type={"input": np.array([1, 4, 4])}), "pool": pool,
                   "flat": nir.Flatten(input_type={"input": np.array([1, 2, 2])}, start_dim=0, end_dim=-1),
                   "output": nir.Output(output_type={"output": np.array([4])})},
                  [("input", "pool"), ("pool", "flat"), ("flat", "output")])
        assert run_graph(g, img).flatten().tolist() == want[kind]


def test_conv2d_against_a_naive_loop():
    rng = np.random.default_rng(0)
    w, b = rng.normal(size=(3, 2, 3, 3)).astype(np.float32), rng.normal(size=3).astype(np.float32)
    x = rng.normal(size=(2, 5, 6))
    g = graph({"input": nir.Input(input_type={"input": np.array([2, 5, 6])}),
               "conv": nir.Conv2d(input_shape=(5, 6), weight=w, stride=(2, 1), padding=(1, 1), dilation=(1, 1), groups=1, bias=b),
               "output": nir.Output(output_type={"output": np.array([3, 3, 6])})}, [("input", "conv"), ("conv", "output")])
    got = run_graph(g, torch.from_numpy(x).view(1, 1, 2, 5, 6)).view(3, 3, 6).numpy()
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    want = np.zeros((3, 3, 6))
    for o in range(3):
        for i in range(3):
            for j in range(6):
                want[o, i, j] = (padded[:, 2 * i:2 * i + 3, j:j + 3] * w[o]).sum() + b[o]
    assert np.allclose(got, want, atol=1e-5)


def test_unsupported_nodes_and_cycles_are_named():
    delay = graph({"input": nir.Input(input_type={"input": np.array([1])}), "d": nir.Delay(delay=a(1.0)),
                   "output": nir.Output(output_type={"output": np.array([1])})}, [("input", "d"), ("d", "output")])
    with pytest.raises(SnnctlError, match=r"d \(Delay\): not supported"):
        NIRModel(delay, 1e-4, 2)
    loop = graph({"input": nir.Input(input_type={"input": np.array([1])}),
                  "lif": nir.LIF(tau=a(2e-4), r=a(1), v_leak=a(0), v_threshold=a(1), v_reset=a(0)),
                  "w": nir.Linear(weight=np.array([[0.5]], np.float32)),
                  "output": nir.Output(output_type={"output": np.array([1])})},
                 [("input", "lif"), ("lif", "w"), ("w", "lif"), ("lif", "output")])
    with pytest.raises(SnnctlError, match=r"lif \(LIF\): part of a recurrent cycle") as err:
        NIRModel(loop, 1e-4, 2)
    assert "w (Linear)" in str(err.value)


def test_the_interpreter_shares_no_code_with_the_exporter():
    """The check must not trust the exporter: neither module imports the other, nor do they share helpers."""
    def imports(name: str) -> set[str]:
        tree = ast.parse((ROOT / "plugins" / f"{name}.py").read_text())
        out = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                out.add(node.module)
            elif isinstance(node, ast.Import):
                out |= {n.name for n in node.names}
        return out

    assert not any("export_nir" in m for m in imports("nir_interpreter"))
    exporter = imports("export_nir")
    assert "snnctl_plugins.nir_interpreter" in exporter  # only to read the file back for verification
    assert not any("neurons" in m for m in imports("nir_interpreter"))


# -- the neurons' mappings against snnctl's own neurons ----------------------------------------------------
@pytest.mark.parametrize("name, args", [
    ("lif", {}), ("lif", {"tau": 3.0, "v_reset": -0.2, "v_threshold": 0.8}), ("lif", {"decay_input": False, "tau": 1.5}),
    ("plif", {"init_tau": 2.5}), ("if", {"v_threshold": 0.7}), ("ms-lif", {}), ("ms-lif", {"decay": 0.5}),
])
@pytest.mark.parametrize("dt", [1e-4, 1e-3])
def test_each_neuron_maps_to_nir_equations_that_give_its_spikes(name, args, dt):
    """The neuron's own to_nir, run by the interpreter in float64, spikes exactly where the neuron does."""
    neuron = snnctl.create("neuron", name, **args).double()
    shape = (6,)
    node = neuron.to_nir(NIRContext("n", shape, shape, dt))
    g = graph({"input": nir.Input(input_type={"input": np.array(shape)}), "n": node,
               "output": nir.Output(output_type={"output": np.array(shape)})}, [("input", "n"), ("n", "output")])
    torch.manual_seed(0)
    x = torch.rand(64, 5, 6, dtype=torch.float64) * 1.5
    with torch.no_grad():
        want = neuron(x)
    assert want.sum() > 20  # the neurons do fire
    got = run_graph(g, x.view(64, 5, 6, 1, 1), dt=dt).view(64, 5, 6)
    assert torch.equal(got, want)


def test_soft_reset_has_no_nir_form():
    from snnctl.export import NotExportable

    for name in ("lif", "if", "plif"):
        with pytest.raises(NotExportable, match="soft reset"):
            snnctl.create("neuron", name, v_reset="soft").to_nir(NIRContext("n", (2,), (2,), 1e-4))


# -- the exporter's pre-flight and BatchNorm folding, on models built here ---------------------------------
class Net(SpikingModel):
    def __init__(self, body: nn.Module, c: int = 2, size: int = 8, k: int = 3) -> None:
        super().__init__(4, c, (size, size), k)
        self.body = body

    def forward(self, x):
        return self.body(x)


def context(model: nn.Module, n: int = 3) -> ExportContext:
    torch.manual_seed(1)
    xs = [(torch.rand(4, n, model.in_channels, *model.input_size) < 0.3).float() * 2]
    opened = OpenedModel(model=model, kind="run", path=Path("x"), name="net", classes=["a", "b", "c"])
    return ExportContext(opened, lambda: iter(xs), n)


def conv_net(neuron: str = "lif", pool: nn.Module | None = None, **neuron_args) -> Net:
    torch.manual_seed(0)
    body = nn.Sequential(
        SeqFold(nn.Conv2d(2, 4, 3, padding=1)), SeqFold(nn.BatchNorm2d(4)), snnctl.create("neuron", neuron, **neuron_args),
        SeqFold(pool or nn.AvgPool2d(2)), SeqFold(nn.Flatten(), nn.Linear(4 * 4 * 4, 3)))
    bn = body[1].layers
    with torch.no_grad():  # statistics far from the identity, so a missing eps or shift shows
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.1, 3)
        bn.weight.uniform_(0.5, 2)
        bn.bias.uniform_(-0.5, 0.5)
    return Net(body).eval()


def test_batchnorm_folding_equals_the_unfolded_layers():
    net = conv_net()
    exporter = NIRExporter()
    built = exporter.build(net, context(net))
    assert not built.problems and built.folded == ["body.1 into body.0 (eps 1e-05)"]
    (conv_path, bn_path, w, b), = built.folds
    x = torch.randn(6, 2, 8, 8, dtype=torch.float64)
    conv, bn = net.body[0].layers, net.body[1].layers
    unfolded = nn.functional.batch_norm(nn.functional.conv2d(x, conv.weight.double(), conv.bias.double(), padding=1),
                                        bn.running_mean.double(), bn.running_var.double(), bn.weight.double(),
                                        bn.bias.double(), False, 0.0, bn.eps)
    folded = nn.functional.conv2d(x, torch.from_numpy(w).double(), torch.from_numpy(b).double(), padding=1)
    assert (folded - unfolded).abs().max() < 1e-5  # float32 rounding of the folded weights
    reference = exporter.folded_reference(net, built)
    assert isinstance(reference.body[1].layers, nn.Identity) and torch.equal(reference.body[0].layers.weight,
                                                                      torch.from_numpy(w).double())


def test_preflight_names_every_module_nir_cannot_express(plugin_dir):
    from snnctl.nn import Neuron

    class Custom(Neuron):
        def single_step(self, x):
            return (x > 1).to(x.dtype)

    cases = {
        "max pooling": (conv_net(pool=nn.MaxPool2d(2)), "body.3", "MaxPool2d", "no max pooling node"),
        "soft reset": (conv_net(v_reset="soft"), "body.2", "LIF", "soft reset"),
    }
    net = conv_net()
    net.body[2] = Custom()
    cases["no mapping"] = (net, "body.2", "Custom", "declares no NIR mapping (a to_nir(ctx) method")
    relu = conv_net()
    relu.body[2] = nn.ReLU()
    cases["relu"] = (relu, "body.2", "ReLU", "no NIR node for torch.nn.ReLU")
    padded = conv_net(pool=nn.AvgPool2d(2, padding=1))  # 8 -> 5
    padded.body[4] = SeqFold(nn.Flatten(), nn.Linear(4 * 5 * 5, 3))
    cases["padded pooling"] = (padded, "body.3", "AvgPool2d", "whether padded elements count")
    ceil = conv_net(pool=nn.AvgPool2d(3, 3, ceil_mode=True))  # 8 -> 3 with ceil, 2 without
    ceil.body[4] = SeqFold(nn.Flatten(), nn.Linear(4 * 3 * 3, 3))
    cases["ceil pooling"] = (ceil, "body.3", "AvgPool2d", "ceil_mode makes the output [3, 3]")
    adaptive = conv_net(pool=nn.AdaptiveAvgPool2d(3))
    adaptive.body[4] = SeqFold(nn.Flatten(), nn.Linear(4 * 3 * 3, 3))
    cases["adaptive pooling"] = (adaptive, "body.3", "AdaptiveAvgPool2d", "windows of unequal size")
    late_norm = conv_net()
    late_norm.body.insert(3, SeqFold(nn.BatchNorm2d(4)))  # after the neuron: no layer to fold it into
    cases["batchnorm after a neuron"] = (late_norm.eval(), "body.3", "BatchNorm2d", "not preceded by a convolution")
    for label, (model, path, kind, reason) in cases.items():
        problems = NIRExporter().preflight(model, context(model))
        assert [(p.path, p.type) for p in problems] == [(path, kind)], label
        assert reason in problems[0].reason, label


def test_operations_between_layers_are_refused_by_the_module_that_computes_them():
    class Doubling(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = SeqFold(nn.Conv2d(2, 3, 1))

        def forward(self, x):
            return self.conv(x) * 2.0

    class Shortcut(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = SeqFold(nn.Conv2d(2, 2, 1)), SeqFold(nn.Conv2d(2, 2, 1))

        def forward(self, x):
            return self.a(x) + self.b(x)  # a fan-in sum: NIR expresses it

    head = lambda c: SeqFold(nn.Flatten(), nn.Linear(c * 64, 3))  # noqa: E731
    bad = Net(nn.Sequential(Doubling(), head(3))).eval()
    problems = NIRExporter().preflight(bad, context(bad))
    assert [(p.path, p.type) for p in problems] == [("body.0", "Doubling")] and "computes mul" in problems[0].reason
    good = Net(nn.Sequential(Shortcut(), snnctl.create("neuron", "if"), head(2))).eval()
    exporter = NIRExporter()
    ctx = context(good)
    assert exporter.preflight(good, ctx) == []
    g = exporter.nir_graph(exporter._graph, ctx.source)
    assert ("body.0.a", "body.1") in g.edges and ("body.0.b", "body.1") in g.edges


def test_third_party_components_export_through_their_own_to_nir(plugin_dir):
    plugin_dir("gain_if.py", '''
        import nir
        import snnctl
        from snnctl.nn import Neuron


        class GainIF(Neuron):
            """IF with its input scaled by a gain."""

            def __init__(self, gain: float = 2.0, surrogate: str = "atan", step_mode: str = "m"):
                super().__init__(surrogate, None, step_mode)
                self.gain = gain

            def single_step(self, x):
                v = (0 if self.v is None else self.v) + self.gain * x
                s = (v > 1.0).to(x.dtype)
                self.v = v * (1 - s)
                return s

            def to_nir(self, ctx):
                return nir.IF(r=ctx.full(self.gain / ctx.dt), v_threshold=ctx.full(1.0), v_reset=ctx.full(0.0))


        @snnctl.hookimpl
        def register_neurons(register):
            register("gain-if", GainIF)
    ''')
    from snnctl import plugins

    plugins.configure([str(plugin_dir.path)])
    net = conv_net("gain-if", gain=1.5)
    exporter = NIRExporter()
    ctx = context(net)
    assert exporter.preflight(net, ctx) == []
    g = exporter.nir_graph(exporter._graph, ctx.source)
    assert isinstance(g.nodes["body.2"], nir.IF) and np.allclose(g.nodes["body.2"].r, 1.5e4)


# -- whole exports of trained runs -----------------------------------------------------------------------
def test_nir_export_of_an_sma_run_is_refused_before_anything_is_written(cli, runs):
    r = cli("export", str(runs["sma"]), "--format", "nir", "--out", "m.nir")
    assert r.code == 2
    assert "nothing was written" in r.stderr
    assert "features.1.attention (SMA): channel and temporal attention" in r.stderr
    assert "features.0.pool (MaxPool2d): NIR has no max pooling node" in r.stderr
    assert "features.1.pool (MaxPool2d)" in r.stderr
    assert list(Path(".").iterdir()) == []
    j = cli("export", str(runs["sma"]), "--format", "nir", "--out", "m.nir", "--json")
    refused = json.loads(j.stdout)["refused"]
    assert {p["path"] for p in refused} == {"features.0.pool", "features.1.attention", "features.1.pool"}


def test_a_vgg_with_average_pooling_round_trips_through_nir(cli, runs):
    r = cli("export", str(runs["avg"]), "--format", "nir", "--out", "m.nir", "--samples", "all", "--json")
    assert r.code == 0, r.stderr
    report = json.loads(r.stdout)
    v = report["verification"]
    assert v["passed"] and v["samples"] == 16 and v["spikes_differ"] == 0 and v["argmax_agreement"] == 1.0
    assert set(v["spikes"]) == {"features.0.neuron", "features.1.neuron", "head.2"}
    assert v["max_abs_logit_diff"] <= 1e-9 * (1 + 100)
    trained = v["against_trained_model"]
    assert trained["argmax_agreement"] == 1.0 and trained["spikes_differ"] <= 1e-4 * trained["spikes_compared"]
    assert report["folded"] == ["features.0.norm into features.0.conv (eps 1e-05)",
                                "features.1.norm into features.1.conv (eps 1e-05)"]
    assert report["removed"] == ["head.3 (StepDropout)"] and report["details"]["dt"] == 1e-4
    g = nir.read("m.nir")
    assert g.metadata["dt"] == 1e-4 and g.metadata["timesteps"] == 4 and "forward-euler" in g.metadata["discretisation"]
    lif = g.nodes["features.0.neuron"]
    assert isinstance(lif, nir.LIF) and np.all(lif.tau == 2e-4) and np.all(lif.r == 1.0) and lif.tau.shape == (4, 16, 16)
    assert isinstance(g.nodes["features.0.pool"], nir.AvgPool2d) and isinstance(g.nodes["head.4"], nir.Affine)
    run = cli("evaluate", str(runs["avg"]), "--json")
    graph_eval = cli("evaluate", "m.nir", "--data", "synthetic-gestures", "--json")
    assert graph_eval.code == 0, graph_eval.stderr
    assert json.loads(graph_eval.stdout)["top1"] == json.loads(run.stdout)["top1"]
    p = cli("profile", "m.nir", "--spikes", "--ops", "--samples", "4", "--json")
    assert p.code == 0, p.stderr
    layers = {row["label"] for row in json.loads(p.stdout)["ops"]["layers"]}
    assert {"features.0.conv", "features.0.neuron", "head.4"} <= layers  # the graph's node names


def test_a_graph_written_by_another_tool_evaluates_and_profiles(cli, runs):
    """A graph built with the nir package alone (no snnctl metadata: no dt, T, classes or data)."""
    rng = np.random.default_rng(0)
    g = nir.NIRGraph(nodes={
        "input": nir.Input(input_type={"input": np.array([2, 16, 16])}),
        "conv": nir.Conv2d(input_shape=(16, 16), weight=rng.normal(size=(4, 2, 3, 3)).astype(np.float32), stride=1,
                           padding=1, dilation=1, groups=1, bias=np.zeros(4, np.float32)),
        "lif": nir.LIF(tau=np.full((4, 16, 16), 1e-3), r=np.full((4, 16, 16), 10.0), v_leak=np.zeros((4, 16, 16)),
                       v_threshold=np.ones((4, 16, 16)), v_reset=np.zeros((4, 16, 16))),
        "pool": nir.SumPool2d(kernel_size=np.array([4, 4]), stride=np.array([4, 4]), padding=np.array([0, 0])),
        "flat": nir.Flatten(input_type={"input": np.array([4, 4, 4])}, start_dim=0, end_dim=-1),
        "fc": nir.Affine(weight=rng.normal(size=(8, 64)).astype(np.float32), bias=np.zeros(8, np.float32)),
        "output": nir.Output(output_type={"output": np.array([8])}),
    }, edges=[("input", "conv"), ("conv", "lif"), ("lif", "pool"), ("pool", "flat"), ("flat", "fc"), ("fc", "output")])
    nir.write("other.nir", g)
    opened = load_graph("other.nir")
    assert opened.provenance["dt_from"].startswith("the default") and opened.timesteps == 0
    assert load_graph("other.nir", dt=1e-3).model.dt == 1e-3
    no_data = cli("evaluate", "other.nir")
    assert no_data.code == 2 and "does not say which data" in no_data.stderr and "--data" in no_data.stderr
    sets = ["--data", "synthetic-gestures"]
    with_data = cli("evaluate", "other.nir", *sets, "--dt", "1e-3", "--json")
    # the default synthetic-gestures frames are 32x32: this graph takes 16x16
    assert with_data.code == 2 and "does not fit the model's [2, 16, 16]" in with_data.stderr
    p = cli("profile", "other.nir", "--data-set", "size=16", "--data-set", "test_per_class=1",
            "--data-set", "train_per_class=1", "--spikes", "--samples", "4", "--json")
    assert p.code == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["model"]["timesteps"] == 8 and out["spikes"]["layers"][0]["layer"] == "nodes.lif"
    (Path("junk.nir")).write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    junk = cli("evaluate", "junk.nir")
    assert junk.code == 2 and "junk.nir" in junk.stderr and "Traceback" not in junk.stderr


def test_snntorch_reads_the_exported_graph_and_agrees(cli, runs):
    """snnTorch's import_from_nir as an independent reader (see docs/export.md for where it differs)."""
    import contextlib
    import io

    import snntorch as snn
    from snntorch.import_nir import import_from_nir

    from snnctl.engine.samples import load_samples
    from snnctl.export import open_model

    assert cli("export", str(runs["avg"]), "--format", "nir", "--out", "m.nir").code == 0
    with contextlib.redirect_stdout(io.StringIO()):  # it prints warnings on stdout
        net = import_from_nir(nir.read("m.nir"))
    leaky = [m for m in net.modules() if isinstance(m, snn.Leaky)]
    assert len(leaky) == 3 and all(torch.all(m.beta == 0.5) for m in leaky)  # 1 - dt / tau with its dt = 1e-4
    opened = open_model(runs["avg"])
    agree = total = 0
    worst = 0.0
    for x in load_samples(opened, 16, 8).batches():
        with torch.no_grad():
            ref = opened.model(x)
            reset_states(opened.model)
            for b in range(x.shape[1]):  # one sample at a time: its Flatten keeps NIR's axes, which exclude the batch
                for m in leaky:
                    m.reset_mem()
                out = torch.stack([net(x[t, b])[0] for t in range(x.shape[0])])
                worst = max(worst, float((out - ref[:, b]).abs().max()))
                agree += int(out.mean(0).argmax() == ref[:, b].mean(0).argmax())
                total += 1
    assert total == 16 and agree == 16 and worst < 1e-4
