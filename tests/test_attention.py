"""SMA and its ablations: parameter counts from the spec, the attention maths, and the fused fusion."""

from __future__ import annotations

import json

import pytest
import torch

import snnctl
from snnctl.errors import ConfigError, UnknownNameError
from snnctl.testing import check_attention
from snnctl_plugins.attention import SMA, ScaleMix, reduced
from reference_sma import StraightSMA


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def sma(name: str = "sma", **kw) -> SMA:
    return snnctl.create("attention", name, **kw)


def test_attention_is_listed(cli):
    result = cli("list", "attention", "--json")
    assert result.code == 0
    assert {"sma", "sma-c", "sma-l", "none"} <= {row["name"] for row in json.loads(result.stdout)}


# spec §2.8: SMA with CR=4, TR=4, kernels 1/3/5/7, counted on the reference code
@pytest.mark.parametrize(
    "channels, timesteps, expected",
    [(128, 16, 1_399_204), (256, 16, 5_591_492), (128, 10, 1_398_958), (256, 10, 5_591_246),
     (128, 14, 1_399_085), (256, 14, 5_591_373), (512, 16, 22_356_484)],
)
def test_parameter_count_matches_the_spec(channels, timesteps, expected):
    with torch.device("meta"):
        assert n_params(sma(channels=channels, timesteps=timesteps)) == expected


def test_parameter_count_by_formula():
    # convs 84C^2 + 4C, BN 8C, channel MLP, temporal MLP with T_h = floor(T / TR) (spec §2.8)
    c, t, th = 64, 12, 3
    formula = 84 * c * c + 4 * c + 8 * c + (c * c // 4 + c // 4) + 4 * (c // 4 * c + c) + (t * th + th) + 4 * (th * t + t)
    assert n_params(sma(channels=c, timesteps=t)) == formula
    # sma-c drops exactly the temporal MLP; sma-l has the same parameters as sma
    assert n_params(sma("sma-c", channels=c, timesteps=t)) == formula - ((t * th + th) + 4 * (th * t + t))
    assert n_params(sma("sma-l", channels=c, timesteps=t)) == formula


@pytest.mark.parametrize("t, tr, hidden", [(16, 4, 4), (10, 4, 2), (14, 4, 3), (6, 1.5, 4), (5, 1.5, 3), (3, 4, 1)])
def test_temporal_hidden_width_is_floor_of_t_over_tr(t, tr, hidden):
    # spec §7.3: the reference code's T // TR, as an integer and at least 1 (TR = 1.5 works)
    assert reduced(t, tr) == hidden
    assert sma(channels=8, timesteps=t, t_reduction=tr).temporal_gate.squeeze.out_features == hidden


@pytest.mark.parametrize("name", ["sma", "sma-c", "sma-l", "none"])
def test_contract(name):
    check_attention(name)


@pytest.mark.parametrize("branch", ["relu", "plif", "if"])
def test_contract_with_other_branches(branch):
    check_attention("sma", branch=branch)


def test_softmaxes_sum_to_one_over_scales():
    m = sma(channels=16, timesteps=8)
    z = torch.rand(8, 3, 16) * 4
    a_t, a_c = m.attention(z)
    assert a_t.shape == (4, 8, 3) and a_c.shape == (4, 8, 3, 16)
    assert torch.allclose(a_t.sum(0), torch.ones(8, 3))
    assert torch.allclose(a_c.sum(0), torch.ones(8, 3, 16))
    assert (a_t > 0).all() and (a_c > 0).all()


def test_sma_l_channel_weights_do_not_change_over_time():
    m = sma("sma-l", channels=16, timesteps=6)
    a_t, a_c = m.attention(torch.rand(6, 2, 16))
    assert torch.equal(a_c, a_c[:, :1].expand_as(a_c)) and a_t is not None
    assert torch.allclose(a_c.sum(0), torch.ones(6, 2, 16))


def test_sma_c_has_no_temporal_attention():
    a_t, a_c = sma("sma-c", channels=8, timesteps=4).attention(torch.rand(4, 2, 8))
    assert a_t is None and torch.allclose(a_c.sum(0), torch.ones(4, 2, 8))


@pytest.mark.parametrize("name, temporal", [("sma", True), ("sma-c", False)])
@pytest.mark.parametrize("branch", ["lif", "relu"])
def test_matches_a_straightforward_implementation(name, temporal, branch):
    torch.manual_seed(0)
    t, b, c = 8, 3, 16
    ours = sma(name, channels=c, timesteps=t, branch=branch).double()
    ref = StraightSMA(c, t, branch=branch, temporal=temporal).double().load_from(ours)
    x = (torch.randn(t, b, c, 6, 5, dtype=torch.float64) * 2).requires_grad_()
    g = torch.randn(t, b, c, 6, 5, dtype=torch.float64)
    y1 = ours(x)
    grads1 = torch.autograd.grad(y1, [x, *ours.parameters()], g)
    y2 = ref(x)
    params2 = [*ref.parameters()] if temporal else [p for n, p in ref.named_parameters() if "_t" not in n]
    grads2 = torch.autograd.grad(y2, [x, *params2], g)
    assert torch.allclose(y1, y2, rtol=0, atol=1e-12)
    assert torch.allclose(grads1[0], grads2[0], rtol=1e-9, atol=1e-12)
    # parameters in the same order: convs, BNs, channel gate (heads fused), temporal gate
    assert sum(p.abs().sum() for p in grads1[1:]).item() == pytest.approx(sum(p.abs().sum() for p in grads2[1:]).item())


def test_output_is_analog_weighted_spikes():
    torch.manual_seed(1)
    m = sma(channels=8, timesteps=4)
    y = m(torch.randn(4, 2, 8, 5, 5) * 3)
    assert y.shape == (4, 2, 8, 5, 5) and ((y >= 0) & (y <= 1)).all()
    assert m.binary and not sma(channels=8, timesteps=4, branch="relu").binary


def test_wrong_number_of_time_steps_is_a_clear_error():
    m = sma(channels=8, timesteps=6)
    with pytest.raises(ConfigError, match="built for T=6 time steps but got T=4"):
        m(torch.rand(4, 1, 8, 5, 5))
    with pytest.raises(ConfigError, match="8 channels but got 4"):
        m(torch.rand(6, 1, 4, 5, 5))


def test_bad_settings_name_the_field():
    with pytest.raises(ConfigError, match="kernels"):
        sma(channels=8, timesteps=4, kernels=[1, 4])
    with pytest.raises(ConfigError, match="c_reduction"):
        sma(channels=8, timesteps=4, c_reduction=0.5)
    with pytest.raises(UnknownNameError, match="unknown neuron 'liff'"):
        sma(channels=8, timesteps=4, branch="liff")


# -- the fused fusion node ---------------------------------------------------------------------------
def _chain_map(n: int, t: int, c: int) -> torch.Tensor:
    src = torch.arange(t).view(1, t, 1).repeat(n, 1, c)
    src[0, 2, 1] = 1          # one step back
    src[0, 3, 1] = 1          # a chain: step 3 reads step 1
    src[1, 1, [0, 2]] = 0
    src[2, 3, 0] = 2
    return src


def _explicit(w, src, us):
    from snnctl_plugins.regularizers import apply_sources

    z = w[..., None, None] * torch.stack(us)
    return apply_sources(z, src).sum(0) if src is not None else z.sum(0)


@pytest.mark.parametrize("with_map", [False, True])
def test_scale_mix_equals_the_explicit_sum_and_passes_gradcheck(with_map):
    torch.manual_seed(2)
    n, t, b, c = 3, 4, 2, 3
    w = torch.rand(n, t, b, c, dtype=torch.float64, requires_grad=True)
    us = [torch.randn(t, b, c, 2, 3, dtype=torch.float64, requires_grad=True) for _ in range(n)]
    src = _chain_map(n, t, c) if with_map else None
    assert torch.allclose(ScaleMix.apply(w, src, False, *us), _explicit(w, src, us), atol=1e-14)
    assert torch.autograd.gradcheck(lambda w, *us: ScaleMix.apply(w, src, False, *us), (w, *us))


def test_scale_mix_saves_spikes_as_bool_with_identical_gradients():
    torch.manual_seed(3)
    n, t, b, c = 4, 5, 2, 3
    w = torch.rand(n, t, b, c, requires_grad=True)
    spikes = [(torch.rand(t, b, c, 4, 4) > 0.6).float().requires_grad_() for _ in range(n)]
    src = _chain_map(n, t, c)
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda x: saved.append(x.dtype) or x, lambda x: x):
        y = ScaleMix.apply(w, src, True, *spikes)
    assert saved.count(torch.bool) == n
    g = torch.randn_like(y)
    binary = torch.autograd.grad(y, [w, *spikes], g)
    dense = torch.autograd.grad(ScaleMix.apply(w, src, False, *spikes), [w, *spikes], g)
    for a, b_ in zip(binary, dense):
        assert torch.allclose(a, b_, atol=1e-6)


def _saved_bytes(module, x) -> int:
    """Bytes of the distinct tensors autograd keeps for the backward pass, the input excluded."""
    storages = {}

    def pack(t):
        storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        module(x)
    storages.pop(x.untyped_storage().data_ptr(), None)
    return sum(storages.values())


def test_keeps_less_for_backward_than_the_straightforward_version():
    # Same neuron in both; the difference is the stacked and weighted [N, T, B, C, H, W] tensors.
    torch.manual_seed(4)
    ours = sma(channels=16, timesteps=8)
    ref = StraightSMA(16, 8).load_from(ours)
    ref.acts = torch.nn.ModuleList(snnctl.create("neuron", "lif") for _ in ref.acts)
    x = torch.randn(8, 2, 16, 16, 16, requires_grad=True)
    mine, theirs = _saved_bytes(ours, x), _saved_bytes(ref, x)
    activation = x.numel() * 4
    # ours: per branch the conv output (for BN) and the membrane (for the LIF), plus bool spikes
    assert mine < 9.5 * activation
    assert theirs > 1.25 * mine
