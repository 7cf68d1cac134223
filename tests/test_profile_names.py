"""snnctl profile names every attention by its registry name, shows every attention module and every
monitor's series, says which input shapes it profiled; `snnctl list` prints plugin text as written;
figures leave the home folder alone."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import snnctl
from snnctl import plugins
from snnctl.profile import build_report, open_target, profile_model

SMALL_DATA = ("--data-set", "test_per_class=2", "--data-set", "train_per_class=1")

#: a third-party attention without neurons inside (a sigmoid gate per channel), its monitor, which records
#: the mean gate per step as a series, and a model holding SMA and the gate side by side
GATE_PLUGIN = """
    import torch
    from torch import nn

    import snnctl
    from snnctl.nn import Attention, SeqFold, SpikingModel, make_attention, make_neuron
    from snnctl.profile import Counts, Monitor


    class GateAtt(Attention):
        '''Gates each channel by a sigmoid of a 1x1 convolution (no neurons inside).'''

        def __init__(self, channels: int, timesteps: int) -> None:
            super().__init__(channels, timesteps)
            self.conv = SeqFold(nn.Conv2d(channels, channels, 1))
            self.gate = nn.Sigmoid()

        def forward(self, x):
            self.check_input(x)
            return x * self.gate(self.conv(x))


    class GateMonitor(Monitor):
        '''The gate's multiplication, and its mean gate per time step.'''

        def claims(self, module):
            return type(module).__name__ == "GateAtt"

        def attach(self, module, ctx):
            def hook(mod, inputs, output):
                ctx.scratch[(id(module), "gate")] = output.detach()
            return [module.gate.register_forward_hook(hook)]

        def count(self, module, inputs, output, ctx):
            counts = Counts(elementwise=float(output.numel()))
            gate = ctx.scratch.pop((id(module), "gate"), None)
            if gate is not None and not gate.is_meta:
                counts.series["gate_mean"] = gate.mean((2, 3, 4)).sum(1)  # [T], summed over the samples
            return counts


    class TwoAtt(SpikingModel):
        '''A conv, SMA and the gate, a neuron and a linear head.'''

        def __init__(self, in_channels: int = 2, num_classes: int = 8, input_size: tuple[int, int] = (32, 32),
                     timesteps: int = 8) -> None:
            super().__init__(timesteps, in_channels, input_size, num_classes)
            self.conv = SeqFold(nn.Conv2d(in_channels, 4, 3, padding=1))
            self.sma = make_attention("sma", 4, timesteps, {"kernels": (1, 3)})
            self.gate = make_attention("gate-att", 4, timesteps)
            self.neuron = make_neuron("lif", features=4, step_mode="m")
            self.head = SeqFold(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, num_classes))

        def forward(self, x):
            self.check_input(x)
            return self.head(self.neuron(self.gate(self.sma(self.conv(x)))))


    @snnctl.hookimpl
    def register_attention(register):
        register("gate-att", GateAtt)


    @snnctl.hookimpl
    def register_monitors(register):
        register("gate-att", GateMonitor)


    @snnctl.hookimpl
    def register_models(register):
        register("two-att", TwoAtt)
"""


@pytest.fixture
def gate(plugin_dir, tmp_path, monkeypatch):
    """The plugin folder holding gate-att (and the model two-att), loaded; the frame cache in tmp_path."""
    monkeypatch.setenv("SNNCTL_CACHE", str(tmp_path / "cache"))
    plugin_dir("gate_att.py", GATE_PLUGIN)
    plugins.configure([str(plugin_dir.path)])
    return str(plugin_dir.path)


def keys(value) -> set[str]:
    """Every key of a JSON document, at any depth."""
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in keys(v)}
    return set()


# -- 1. attention by registry name -----------------------------------------------------------------------
def test_a_third_party_attention_is_named_by_its_registry_name(cli, gate, tmp_path):
    args = ("--plugins-dir", gate, "profile", "vgg5-sma", "--model-set", "attention=gate-att", *SMALL_DATA,
            "--samples", "2", "--spikes", "--ops", "--energy")
    r = cli(*args, "--json", "--csv", str(tmp_path / "p.csv"))
    assert r.code == 0, r.stderr
    report = json.loads(r.stdout)
    modules = ["features.1.attention", "features.2.attention"]
    assert [(a["module"], a["name"], a["type"], a["monitor"]) for a in report["attention"]] == \
        [(m, "gate-att", "GateAtt", "gate-att") for m in modules]
    assert "sma" not in keys(report) and "sma_share" not in keys(report)
    inside = [row for row in report["ops"]["layers"] if row["attention_module"] is not None]
    assert {row["attention"] for row in inside} == {"gate-att"}
    assert {row["attention_module"] for row in inside} == set(modules)
    totals = report["ops"]["totals"]
    assert list(totals["attention"]) == ["gate-att"]
    assert totals["attention"]["gate-att"]["dense_macs"] == pytest.approx(sum(row["dense_macs"] for row in inside))
    assert totals["backbone"]["dense_macs"] + totals["attention"]["gate-att"]["dense_macs"] == \
        pytest.approx(totals["dense_macs"])
    for name in ("paper", "syops", "ann"):
        conv = report["energy"]["conventions"][name]
        assert list(conv["attention"]) == ["gate-att"]
        share = conv["energy_j"]["fp32-45nm"]["attention"]["gate-att"]
        assert 0 < share["share"] < 1 and share["joules"] == pytest.approx(share["share"] * conv["energy_j"]["fp32-45nm"]["total"])
    assert list(report["energy"]["conventions"]["neurobench"]["attention"]) == ["gate-att"]
    totals_csv = list(csv.DictReader(open(tmp_path / "p-totals.csv")))
    assert {t["attention"] for t in totals_csv} == {"", "gate-att"}
    assert {("paper", "energy_j", "fp32-45nm", "gate-att"), ("ops", "macs", "", "")} <= \
        {(t["section"], t["quantity"], t["cost_table"], t["attention"]) for t in totals_csv}
    layers_csv = {row["layer"]: row for row in csv.DictReader(open(tmp_path / "p.csv"))}
    assert layers_csv["features.1.attention.conv.layers"]["attention"] == "gate-att"
    assert layers_csv["features.1.attention.conv.layers"]["attention_module"] == "features.1.attention"

    text = cli(*args)
    assert text.code == 0, text.stderr
    assert "gate-att" in text.stdout and "SMA" not in text.stdout
    assert "gate-att share" in text.stdout  # the energy table's column


def test_two_kinds_of_attention_are_shown_side_by_side(cli, gate):
    r = cli("--plugins-dir", gate, "profile", "two-att", *SMALL_DATA, "--samples", "2", "--spikes", "--ops",
            "--energy", "--json")
    assert r.code == 0, r.stderr
    report = json.loads(r.stdout)
    assert [(a["module"], a["name"]) for a in report["attention"]] == [("sma", "sma"), ("gate", "gate-att")]
    totals = report["ops"]["totals"]
    assert list(totals["attention"]) == ["sma", "gate-att"]
    by_kind = {}
    for row in report["ops"]["layers"]:
        by_kind.setdefault(row["attention"], 0.0)
        by_kind[row["attention"]] += row["dense_macs"]
    assert totals["attention"]["sma"]["dense_macs"] == pytest.approx(by_kind["sma"])
    assert totals["attention"]["gate-att"]["dense_macs"] == pytest.approx(by_kind["gate-att"])
    paper = report["energy"]["conventions"]["paper"]
    assert list(paper["attention"]) == ["sma", "gate-att"]
    assert sum(paper["attention"][k]["macs"] for k in ("sma", "gate-att")) <= paper["macs"]

    text = cli("--plugins-dir", gate, "profile", "two-att", *SMALL_DATA, "--samples", "2", "--ops", "--energy")
    assert text.code == 0, text.stderr
    assert "sma share" in text.stdout and "gate-att share" in text.stdout
    totals_rows = [line for line in text.stdout.splitlines() if "attention" in line and "│" in line]
    assert any("sma" in line for line in totals_rows) and any("gate-att" in line for line in totals_rows)


def test_the_attention_name_comes_from_the_registry(gate):
    from snnctl.nn import make_attention
    from snnctl.profile import attention_name

    assert attention_name(make_attention("gate-att", 4, 2)) == "gate-att"
    assert attention_name(make_attention("sma-c", 4, 2)) == "sma-c"  # a subclass of SMA, registered on its own
    assert attention_name(make_attention("sma", 4, 2)) == "sma"


def test_no_attention_is_not_reported_as_an_attention():
    from torch import nn

    from snnctl.nn import SeqFold, make_attention, make_neuron

    net = nn.Sequential(SeqFold(nn.Conv2d(2, 4, 3, padding=1)), make_attention("none", 4, 2),
                        make_neuron("lif", step_mode="m"))
    report = build_report(profile_model(net, [torch.rand(2, 1, 2, 8, 8)], timesteps=2))
    assert report["attention"] == [] and report["ops"]["totals"]["attention"] == {}
    assert all(row["attention"] is None for row in report["ops"]["layers"] + report["spikes"]["layers"])


# -- 2. every attention module in --spikes --------------------------------------------------------------------
def test_an_attention_without_neurons_appears_in_spikes(cli, gate):
    r = cli("--plugins-dir", gate, "profile", "two-att", *SMALL_DATA, "--samples", "2", "--spikes", "--json")
    assert r.code == 0, r.stderr
    rows = {row["layer"]: row for row in json.loads(r.stdout)["spikes"]["layers"]}
    assert rows["gate"]["spiking"] is False and rows["gate"]["spiking_layers"] == 0
    assert (rows["gate"]["attention"], rows["gate"]["neurons"]) == ("gate-att", 0)
    assert rows["sma"]["spiking"] is False and rows["sma"]["spiking_layers"] == 2  # its two branch neurons
    assert rows["sma.acts.0"]["spiking"] is True and rows["sma.acts.0"]["attention"] == "sma"
    order = list(rows)
    assert order.index("sma") < order.index("sma.acts.0") < order.index("gate") < order.index("neuron")

    text = cli("--plugins-dir", gate, "profile", "two-att", *SMALL_DATA, "--samples", "2", "--spikes")
    assert text.code == 0, text.stderr
    (line,) = [line for line in text.stdout.splitlines() if line.startswith("│ gate ")]
    assert "gate-att" in line and "no spikes" in line and "no neurons inside" in line
    (line,) = [line for line in text.stdout.splitlines() if line.startswith("│ sma ")]
    assert "2 spiking layers inside" in line


# -- 3. series -------------------------------------------------------------------------------------------------
def test_a_monitors_series_is_in_the_json_and_the_table(cli, gate):
    r = cli("--plugins-dir", gate, "profile", "two-att", *SMALL_DATA, "--samples", "2", "--spikes", "--json")
    assert r.code == 0, r.stderr
    series = {s["layer"]: s for s in json.loads(r.stdout)["spikes"]["series"]}
    assert set(series) == {"sma", "gate"}
    gate_series = series["gate"]
    assert (gate_series["monitor"], gate_series["attention"], gate_series["shapes"]) == \
        ("gate-att", "gate-att", {"gate_mean": [8]})
    values = gate_series["series"]["gate_mean"]
    assert len(values) == 8 and all(0 < v < 1 for v in values)  # the mean of a sigmoid, per sample
    assert set(series["sma"]["series"]) == {"scale_weight", "channel_weight", "temporal_weight"}

    text = cli("--plugins-dir", gate, "profile", "two-att", *SMALL_DATA, "--samples", "2", "--spikes")
    assert text.code == 0, text.stderr
    assert "series (per sample" in text.stdout
    assert "gate (gate-att) gate_mean [8]:" in text.stdout and "sma (sma) scale_weight [2x8]:" in text.stdout


def test_the_series_per_sample_match_a_reference(gate):
    model = snnctl.create_model("two-att", timesteps=3)
    x = torch.rand(3, 4, 2, 32, 32)
    report = build_report(profile_model(model, [x[:, :1], x[:, 1:]]), ["spikes"])
    (got,) = [s for s in report["spikes"]["series"] if s["layer"] == "gate"]
    seen = {}
    handle = model.gate.gate.register_forward_hook(lambda m, i, o: seen.setdefault("g", o))
    snnctl.nn.reset_states(model)
    with torch.no_grad():
        model.eval()(x)
    handle.remove()
    want = seen["g"].mean((2, 3, 4)).mean(1)
    assert torch.tensor(got["series"]["gate_mean"]) == pytest.approx(want, abs=1e-6)


def test_series_text():
    from snnctl.cli.profile_cmd import series_text

    assert series_text(0.5) == "0.5"
    assert series_text([0.0, 0.5, 1.0]) == "▁▅█ 0-1"
    assert series_text([[0.0, 1.0], [1.0, 0.0]]) == "▁█ █▁ 0-1"
    assert series_text([[0.0]] * 10, rows=2) == "▅ ▅ (+8 rows) 0-0"  # a constant: mid-height
    assert series_text([0.25, 0.26, 0.27]) == "▁▅█ 0.25-0.27"  # the series' own range, not from zero
    assert series_text([[[1.0, 3.0]]]) == "mean 2, 1-3"


# -- 4. the shapes profiled, and why ----------------------------------------------------------------------------
def test_profile_says_which_shapes_it_profiled_and_why(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("SNNCTL_CACHE", str(tmp_path / "cache"))
    r = cli("profile", "test-vgg-sma", *SMALL_DATA, "--samples", "2", "--ops", "--json")
    assert r.code == 0, r.stderr
    on = json.loads(r.stdout)["profiled_on"]
    assert (on["dataset"], on["why"], on["shape"], on["classes"], on["timesteps"]) == \
        ("synthetic-gestures", "default-data", [8, 2, 32, 32], 8, 8)
    assert on["model_defaults"] == {"in_channels": 2, "num_classes": 3, "input_size": [16, 16], "timesteps": 4}
    assert on["options"] == ["--random-input"]
    text = cli("profile", "test-vgg-sma", *SMALL_DATA, "--samples", "2", "--ops")
    flat = " ".join(text.stdout.split())
    assert "profiled on synthetic-gestures: 2x32x32, 8 classes, T=8 (the default data, as no --data was given" in flat
    assert "test-vgg-sma's own settings are 2x16x16, 3 classes, T=4: profile them with --random-input" in flat

    r = cli("profile", "test-vgg-sma", "--random-input", "--samples", "1", "--ops", "--json")
    on = json.loads(r.stdout)["profiled_on"]
    assert (on["random"], on["why"], on["shape"], on["model_defaults"]) == (True, "random-input", [4, 2, 16, 16], None)
    r = cli("profile", "test-vgg-sma", *SMALL_DATA, "--samples", "1", "-T", "4", "--ops", "--json",
            "--model-set", "num_classes=8")
    on = json.loads(r.stdout)["profiled_on"]  # T and the classes were chosen: only the size is the data's
    assert on["model_defaults"]["input_size"] == [16, 16] and on["shape"] == [4, 2, 32, 32]


def test_vgg8_sma_names_its_preset_and_how_to_profile_it(tmp_path, monkeypatch):
    """The default data refits vgg8-sma to 2x32x32, T=8; its preset is DVS128, which --data dvsgesture gives."""
    monkeypatch.setenv("SNNCTL_CACHE", str(tmp_path / "cache"))
    on = open_target("vgg8-sma").profiled_on()
    assert on["shape"] == [8, 2, 32, 32] and on["why"] == "default-data"
    assert on["model_defaults"] == {"in_channels": 2, "num_classes": 11, "input_size": [128, 128], "timesteps": 16,
                                    "preset": "dvsgesture"}
    assert on["options"] == ["--data dvsgesture", "--random-input"]
    assert "vgg8-sma's own settings (preset dvsgesture) are 2x128x128, 11 classes, T=16" in on["text"]
    # the option given does profile those shapes (no recording is read to build the model)
    preset = open_target("vgg8-sma", data="dvsgesture").profiled_on()
    assert (preset["shape"], preset["classes"], preset["model_defaults"]) == ([16, 2, 128, 128], 11, None)
    assert open_target("vgg8-sma", random_input=True).profiled_on()["shape"] == [16, 2, 128, 128]


# -- 5. snnctl list prints plugin text as written ---------------------------------------------------------------
def test_list_prints_descriptions_literally(cli, plugin_dir):
    plugin_dir("markup.py", """
        import snnctl

        @snnctl.hookimpl
        def register_surrogates(register):
            register("markup-sg", lambda alpha=1.0: None, description="keeps [red]x[/red] and [bold] as written")
    """)
    r = cli("--plugins-dir", str(plugin_dir.path), "list", "surrogates")
    assert r.code == 0, r.stderr
    assert "[red]x[/red]" in r.stdout and "[bold]" in r.stdout
    r = cli("--plugins-dir", str(plugin_dir.path), "list", "surrogates", "[m]arkup*")
    assert r.code == 0, r.stderr
    assert "matching '[m]arkup*'" in r.stdout


# -- 6. the extra named by evaluate --help ---------------------------------------------------------------------------
def test_help_names_the_plot_extra_of_pyproject(cli):
    import tomllib

    extras = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(dep.startswith("matplotlib") for dep in extras["plot"])
    for command in ("evaluate", "profile"):
        r = cli(command, "--help")
        assert r.code == 0
        assert "snnctl[plot]" in "".join(r.stdout.split()), command  # rich wraps the help text


# -- 7. figures leave the home folder alone -------------------------------------------------------------------------------
PLOT = """
import os, sys
from snnctl.plotting import pyplot, save_png
plt = pyplot()
fig, ax = plt.subplots()
ax.plot([0, 1], [1, 0])
ax.set_title("text needs fonts")
save_png(fig, sys.argv[1])
print(os.environ.get("MPLCONFIGDIR"), os.environ.get("XDG_CACHE_HOME"))
"""


def _plot_in_a_fresh_process(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items()
             if k not in ("MPLCONFIGDIR", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "SNNCTL_CACHE")}
    return subprocess.run([sys.executable, "-c", PLOT, str(tmp_path / "figure.png")], env={**clean, **env},
                          capture_output=True, text=True, timeout=300)


def test_plotting_writes_nothing_into_the_home_folder(tmp_path):
    home, cache = tmp_path / "home", tmp_path / "cache"
    home.mkdir()
    r = _plot_in_a_fresh_process(tmp_path, HOME=str(home), SNNCTL_CACHE=str(cache))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "figure.png").read_bytes()[:4] == b"\x89PNG"
    assert list(home.iterdir()) == []
    assert any((cache / "matplotlib").glob("fontlist-*.json"))  # matplotlib's font cache went under snnctl's
    assert r.stdout.split() == ["None", "None"]  # the environment is restored after the import


def test_a_users_mplconfigdir_is_kept(tmp_path):
    home, cache, mine = tmp_path / "home", tmp_path / "cache", tmp_path / "mine"
    home.mkdir()
    r = _plot_in_a_fresh_process(tmp_path, HOME=str(home), SNNCTL_CACHE=str(cache), MPLCONFIGDIR=str(mine))
    assert r.returncode == 0, r.stderr
    assert any(mine.glob("fontlist-*.json")) and not (cache / "matplotlib").exists()
    assert list(home.iterdir()) == []
    assert r.stdout.split() == [str(mine), "None"]
