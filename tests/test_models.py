"""The paper's networks: parameter counts from the spec, the model contract, swapping components by name."""

from __future__ import annotations

import json

import pytest
import torch

import snnctl
from snnctl import plugins
from snnctl.errors import ConfigError, UnknownNameError
from snnctl.nn import Attention, Neuron, SpikingModel, reset_states
from snnctl.testing import check_model

PAPER_MODELS = ["vgg8", "vgg8-sma", "resnet18", "resnet18-sma", "resnet34", "resnet34-sma", "resnet104", "resnet104-sma"]


def n_params(name: str, **kw) -> int:
    with torch.device("meta"):
        return sum(p.numel() for p in snnctl.create_model(name, **kw).parameters())


def test_models_are_listed(cli):
    result = cli("list", "models", "--json")
    assert result.code == 0
    names = [row["name"] for row in json.loads(result.stdout)]
    assert set(PAPER_MODELS) <= set(names)
    assert {"test-vgg", "test-vgg-sma", "test-resnet", "test-resnet-sma"} <= set(names)


# spec §5.1: counted on the reference code
@pytest.mark.parametrize("preset, expected", [("dvsgesture", 22_452_531), ("cifar10dvs", 22_451_014), ("ncaltech101", 22_544_543)])
def test_vgg8_sma_parameter_counts(preset, expected):
    assert n_params("vgg8-sma", preset=preset) == expected


def test_vgg8_backbone_and_the_sma_share():
    # 6,990,696 of the DVS128 model are SMA (spec §5.1): SMA(128, 16) + SMA(256, 16)
    assert n_params("vgg8-sma") - n_params("vgg8") == 1_399_204 + 5_591_492 == 6_990_696
    assert round(n_params("vgg8") / 1e6, 2) == 15.46


def test_vgg8_sma_placement_is_configurable():
    # Appendix Table 1 places SMA in blocks 2-5: about 67M parameters (spec §5.1)
    assert n_params("vgg8-sma", attention_blocks=[2, 3, 4, 5]) == 22_452_531 + 2 * 22_356_484
    assert n_params("vgg8-sma", attention_blocks=[]) == n_params("vgg8")


# spec §5.2, T=6 ImageNet, to the stated precision (millions, two decimals)
@pytest.mark.parametrize(
    "name, base, first_two, every_block",
    [("resnet18", 11.69, 71.09, 71.09), ("resnet34", 21.80, 81.20, 129.07), ("resnet104", 77.35, 136.74, 447.36)],
)
def test_ms_resnet_parameter_counts(name, base, first_two, every_block):
    assert round(n_params(name) / 1e6, 2) == base
    assert round(n_params(f"{name}-sma", timesteps=6) / 1e6, 2) == first_two
    assert round(n_params(f"{name}-sma", timesteps=6, attention_per_stage="all") / 1e6, 2) == every_block


@pytest.mark.parametrize("name, expected", [("vgg8-sma", 22_452_531), ("resnet18", 11_693_736)])
def test_info_reports_parameters(cli, name, expected):
    result = cli("info", "model", name, "--json")
    assert result.code == 0
    assert json.loads(result.stdout)["parameters"] == expected


@pytest.mark.parametrize("name", snnctl.list_models("test-*"))
def test_tiny_models_pass_the_contract(name):
    check_model(name)


@pytest.mark.parametrize("name", PAPER_MODELS)
def test_paper_models_pass_the_contract_at_a_small_size(name):
    # resnet104-sma (137M parameters) builds and runs forward+backward on CPU at 32x32, T=2
    small = dict(input_size=(32, 32), timesteps=2) if name.startswith("resnet") else dict(input_size=(32, 32), timesteps=4)
    check_model(name, batch=1 if name.startswith("resnet") else 2, **small)


def test_presets_set_the_input():
    m = snnctl.create_model("vgg8-sma", preset="ncaltech101")
    assert (m.in_channels, m.input_size, m.timesteps, m.num_classes) == (2, (180, 240), 14, 101)
    m = snnctl.create_model("test-vgg", preset="cifar10dvs")  # the preset fills only unset fields
    assert m.timesteps == 4 and m.num_classes == 3
    m = snnctl.create_model("vgg8", preset="cifar10dvs", timesteps=8)
    assert (m.timesteps, m.num_classes) == (8, 10)


def test_sma_settings_follow_the_reference_networks():
    vgg = snnctl.create_model("test-vgg-sma")
    att = [m for m in vgg.modules() if isinstance(m, Attention)]
    assert len(att) == 1 and att[0].binary and att[0].t_reduction == 4.0
    res = snnctl.create_model("test-resnet-sma", timesteps=6)
    att = [m for m in res.modules() if isinstance(m, Attention)]
    assert len(att) == 2 and not any(a.binary for a in att)  # ReLU branches, TR 1.5, CR 4
    assert {(a.t_reduction, a.c_reduction, a.branch) for a in att} == {(1.5, 4.0, "relu")}
    assert att[0].temporal_gate.squeeze.out_features == 4  # floor(6 / 1.5)


def test_resnet104_uses_its_own_stem_shortcut_and_dropout():
    with torch.device("meta"):
        m = snnctl.create_model("resnet104")
    assert len(m.stem.layers) == 4 and m.head[2].p == 0.2
    assert isinstance(m.blocks[0].shortcut.layers[0], torch.nn.AvgPool2d)
    assert sum(1 for _ in m.blocks) == 51


def test_ms_resnet_blocks_start_as_their_shortcut():
    m = snnctl.create_model("test-resnet").eval()
    x = torch.rand(4, 2, 4, 8, 8)
    block = m.blocks[1]
    with torch.no_grad():
        assert torch.equal(block(x), block.shortcut(x))


def test_every_spiking_layer_uses_the_named_neuron():
    for name in ("test-vgg-sma", "test-resnet"):
        m = snnctl.create_model(name, neuron="plif")
        neurons = [x for x in m.modules() if isinstance(x, Neuron)]
        assert neurons and all(type(x).__name__ == "PLIF" for x in neurons)
    sma_branches = snnctl.create_model("test-vgg-sma", neuron="if", neuron_args={"v_threshold": 0.5}).features[1].attention.acts
    assert all(type(a).__name__ == "IF" and a.v_threshold == 0.5 for a in sma_branches)


def test_a_third_party_neuron_and_attention_swap_in_without_code_changes(plugin_dir):
    plugin_dir(
        "mine.py",
        """
        import torch
        import snnctl
        from snnctl.nn import Attention, Neuron

        class Step(Neuron):
            def single_step(self, x):
                self.v = x if self.v is None else 0.5 * self.v + x
                s = self.surrogate(self.v - 1.0)
                self.v = self.v * (1 - s.detach())
                return s

        class Gate(Attention):
            def __init__(self, channels, timesteps):
                super().__init__(channels, timesteps)
                self.scale = torch.nn.Parameter(torch.ones(channels))

            def forward(self, x):
                return x * self.scale.view(1, 1, -1, 1, 1)

        @snnctl.hookimpl
        def register_neurons(register):
            register("step-neuron", Step)

        @snnctl.hookimpl
        def register_attention(register):
            register("gate", Gate)
        """,
    )
    plugins.configure([plugin_dir.path])
    m = check_model("test-vgg-sma", neuron="step-neuron", attention="gate")
    assert any(type(x).__name__ == "Step" for x in m.modules())
    assert type(m.features[1].attention).__name__ == "Gate"


def test_bad_model_settings_are_clear_errors():
    with pytest.raises(ConfigError, match="attention_blocks"):
        snnctl.create_model("vgg8-sma", attention_blocks=[7])
    with pytest.raises(ConfigError, match="num_classes"):
        snnctl.create_model("vgg8", preset="none")
    with pytest.raises(UnknownNameError, match="unknown neuron 'lfi'"):
        snnctl.create_model("test-vgg", neuron="lfi")
    with pytest.raises(UnknownNameError, match="unknown attention 'smaa'"):
        snnctl.create_model("test-vgg", attention="smaa")
    with pytest.raises(ConfigError, match="stem"):
        snnctl.create_model("resnet18", stem="5x5")
    m = snnctl.create_model("test-vgg")
    with pytest.raises(ConfigError, match=r"expects input \[T, B, 2, H, W\]"):
        m(torch.rand(4, 1, 3, 16, 16))


def test_models_are_spiking_models_with_per_step_logits():
    m = snnctl.create_model("test-resnet-sma")
    assert isinstance(m, SpikingModel)
    out = m(m.example_input(3))
    assert out.shape == (4, 3, 3)


def test_vgg8_equals_the_same_network_built_from_spikingjelly_layers():
    """The backbone of spec §5.1 written with SpikingJelly's multi-step layers, weights copied."""
    pytest.importorskip("spikingjelly.activation_based")
    from spikingjelly.activation_based import functional, layer, neuron, surrogate

    def lif():
        return neuron.LIFNode(tau=2.0, v_threshold=1.0, v_reset=0.0, detach_reset=True,
                              surrogate_function=surrogate.ATan(), step_mode="m")

    ours = snnctl.create_model("vgg8", input_size=(32, 32), timesteps=3).eval()
    blocks, c_in = [], 2
    for width in (64, 128, 256, 512, 512):
        blocks += [layer.Conv2d(c_in, width, 3, padding=1, step_mode="m"), layer.BatchNorm2d(width, step_mode="m"),
                   lif(), layer.MaxPool2d(2, 2, step_mode="m")]
        c_in = width
    head = [layer.AdaptiveAvgPool2d(3, step_mode="m"), layer.Flatten(step_mode="m"),
            layer.Linear(4608, 2048, step_mode="m"), lif(), layer.Dropout(0.5, step_mode="m"),
            layer.Linear(2048, 1024, step_mode="m"), lif(), layer.Dropout(0.5, step_mode="m"),
            layer.Linear(1024, 11, step_mode="m")]
    theirs = torch.nn.Sequential(*blocks, *head).eval()
    with torch.no_grad():  # weights that make every layer spike, so the comparison reaches the head
        for m in ours.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.weight.uniform_(2.0, 4.0)
                m.bias.uniform_(0.0, 1.0)
            elif isinstance(m, torch.nn.Linear):
                m.weight.mul_(40.0)
    mine, ref = ours.state_dict(), theirs.state_dict()
    assert [v.shape for v in mine.values()] == [v.shape for v in ref.values()]
    theirs.load_state_dict(dict(zip(ref, mine.values())))
    x = torch.rand(3, 2, 2, 32, 32) * 4
    with torch.no_grad():
        reset_states(ours)
        functional.reset_net(theirs)
        out, want = ours(x), theirs(x)
    assert torch.allclose(out, want, atol=1e-5)
    assert not torch.allclose(out[:, 0], out[:, 1])  # spikes reached the head: the samples differ
