"""Attention ZoneOut (spec §3.3, §3.4): selection, replacement, train/eval, attachment."""

from __future__ import annotations

import json
import math

import pytest
import torch

import snnctl
from snnctl.errors import ConfigError
from snnctl_plugins.regularizers import AttentionZoneOut, apply_sources, zoneout_sources
from reference_sma import StraightSMA


def attention_weights(n=4, t=8, b=3, c=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    a_t = torch.rand(n, t, b, generator=g).softmax(0)
    a_c = torch.rand(n, t, b, c, generator=g).softmax(0)
    return a_t, a_c


def brute_force_selection(a_t, a_c, n_t, n_c):
    """Per scale, sets of selected steps and channels, by sorting Python lists."""
    out = []
    for i in range(a_c.shape[0]):
        score_t = [(a_t[i, t].sum().item(), t) for t in range(a_c.shape[1])]
        steps = [t for _, t in sorted(score_t)[:n_t]]
        score_c = [(sum(a_c[i, t, :, c].sum().item() for t in steps), c) for c in range(a_c.shape[3])]
        chans = [c for _, c in sorted(score_c)[:n_c]]
        out.append((steps, chans))
    return out


def test_azo_is_listed(cli):
    result = cli("list", "regularizers", "--json")
    assert result.code == 0 and "azo" in [row["name"] for row in json.loads(result.stdout)]


@pytest.mark.parametrize("rtr, rcr", [(4, 4), (2, 3), (4, 10)])
def test_only_selected_positions_change_and_each_takes_the_unreplaced_previous_step(rtr, rcr):
    a_t, a_c = attention_weights()
    n, t, b, c = a_c.shape
    z = torch.randn(n, t, b, c, 2, 3)
    out = apply_sources(z, zoneout_sources(a_t, a_c, rtr, rcr))
    selected = brute_force_selection(a_t, a_c, math.floor(t / rtr), math.floor(c / rcr))
    changed = 0
    for i, (steps, chans) in enumerate(selected):
        for s in range(t):
            for ch in range(c):
                if s in steps and s > 0 and ch in chans:
                    assert torch.equal(out[i, s, :, ch], z[i, s - 1, :, ch])
                    changed += 1
                else:
                    assert torch.equal(out[i, s, :, ch], z[i, s, :, ch])
    assert changed > 0


def test_a_loop_in_descending_time_gives_the_identical_tensor():
    a_t, a_c = attention_weights(seed=5)
    n, t, b, c = a_c.shape
    z = torch.randn(n, t, b, c, 4, 4)
    vectorised = apply_sources(z, zoneout_sources(a_t, a_c, 2, 3))
    loop = z.clone()
    for i, (steps, chans) in enumerate(brute_force_selection(a_t, a_c, t // 2, c // 3)):
        for s in sorted(steps, reverse=True):  # descending: a step never reads a replaced one
            if s == 0:
                continue
            for ch in chans:
                loop[i, s, :, ch] = loop[i, s - 1, :, ch]
    assert torch.equal(vectorised, loop)


def test_chained_option_reproduces_the_in_place_loop_on_adjacent_steps():
    n, t, b, c = 2, 8, 2, 6
    a_t = torch.full((n, t, b), 0.5)
    # least attended, in ascending order: steps 2, 3, 4, 6 (adjacent 2-3-4), so the loop chains
    for rank, step in enumerate([2, 3, 4, 6]):
        a_t[:, step] = 0.1 + 0.01 * rank
    a_c = torch.rand(n, t, b, c, generator=torch.Generator().manual_seed(1))
    z = torch.randn(n, t, b, c, 3, 3)
    loop = z.clone()  # the reference code's in-place loop, top-k (ascending attention) order
    for i, (steps, chans) in enumerate(brute_force_selection(a_t, a_c, 4, 3)):
        assert steps == [2, 3, 4, 6]
        for s in steps:
            for ch in chans:
                loop[i, s, :, ch] = loop[i, s - 1, :, ch]
    chained = apply_sources(z, zoneout_sources(a_t, a_c, 2, 2, chained=True))
    vectorised = apply_sources(z, zoneout_sources(a_t, a_c, 2, 2))
    assert torch.equal(chained, loop)
    assert not torch.equal(vectorised, loop)  # the case tells the two semantics apart


def test_step_zero_is_skipped_and_a_lone_step_zero_is_a_no_op():
    a_t, a_c = attention_weights(n=2, t=4, c=8)
    a_t[:, 0] = 0.0  # step 0 is the least attended
    src = zoneout_sources(a_t, a_c, 2, 2)
    assert torch.equal(src[:, 0], torch.zeros(2, 8, dtype=torch.long))
    # n_T = 1 selects only step 0: nothing moves, nothing crashes
    src = zoneout_sources(a_t, a_c, 4, 2)
    assert torch.equal(src, torch.arange(4).view(1, 4, 1).expand(2, 4, 8))
    # ratios that select no step or no channel
    assert zoneout_sources(a_t, a_c, 8, 2) is None and zoneout_sources(a_t, a_c, 2, 16) is None


def tiny_sma(name="sma", **kw):
    torch.manual_seed(0)
    return snnctl.create("attention", name, channels=12, timesteps=8, **kw)


def test_identity_in_eval_and_active_in_training():
    plain, with_azo = tiny_sma(), tiny_sma()
    names = snnctl.create("regularizer", "azo", rtr=4, rcr=4).attach(torch.nn.Sequential(with_azo))
    assert names == ["0"]
    x = torch.randn(8, 2, 12, 5, 5) * 3
    assert not torch.equal(plain(x), with_azo(x))  # training: AZO moves features
    plain.eval(), with_azo.eval()
    assert torch.equal(plain(x), with_azo(x))  # evaluation: no change at all
    assert with_azo.zoneouts[0].training is False


@pytest.mark.parametrize("name, temporal", [("sma", True), ("sma-c", False)])
def test_sma_with_azo_matches_the_straightforward_clone_and_index_version(name, temporal):
    ours = tiny_sma(name).double()
    snnctl.create("regularizer", "azo", rtr=2, rcr=3).attach(ours)
    ref = StraightSMA(12, 8, temporal=temporal, azo=(2, 3)).double().load_from(ours)
    x = (torch.randn(8, 3, 12, 4, 5, dtype=torch.float64) * 2).requires_grad_()
    g = torch.randn(8, 3, 12, 4, 5, dtype=torch.float64)
    y1, y2 = ours(x), ref(x)
    assert torch.allclose(y1, y2, rtol=0, atol=1e-12)
    gx1, = torch.autograd.grad(y1, x, g)
    gx2, = torch.autograd.grad(y2, x, g)
    assert torch.allclose(gx1, gx2, rtol=1e-9, atol=1e-12)


def test_attaches_to_every_sma_of_a_model_through_the_regularizer_contract():
    model = snnctl.create_model("test-resnet-sma")
    azo = snnctl.create("regularizer", "azo", rcr=2)
    names = azo.attach(model)
    assert names == ["blocks.0.attention", "blocks.1.attention"]
    assert all(isinstance(model.get_submodule(n).zoneouts[0], AttentionZoneOut) for n in names)
    assert model.get_submodule(names[0]).zoneouts[0].rcr == 2.0
    with pytest.raises(ConfigError, match="already attached"):
        azo.attach(model)


def test_vgg8_sma_gets_two_zoneouts(tmp_path):
    with torch.device("meta"):
        model = snnctl.create_model("vgg8-sma")
    assert snnctl.create("regularizer", "azo").attach(model) == ["features.1.attention", "features.2.attention"]


def test_a_model_without_multiscale_attention_is_a_clear_error():
    with pytest.raises(ConfigError, match="no multiscale attention") as err:
        snnctl.create("regularizer", "azo").attach(snnctl.create_model("test-vgg"))
    assert "vgg8-sma" in err.value.hint


def test_settings_are_validated_by_name():
    with pytest.raises(ConfigError, match="rtr"):
        snnctl.create("regularizer", "azo", rtr=0.5)
    with pytest.raises(ConfigError, match="unknown field"):
        snnctl.create("regularizer", "azo", probability=0.1)


def test_replaced_positions_send_no_gradient_to_their_own_slot():
    # Through the model: a spike at a replaced (t, c) of one scale receives no gradient from that slot.
    from snnctl_plugins.attention import ScaleMix

    n, t, b, c = 2, 4, 1, 3
    src = torch.arange(t).view(1, t, 1).repeat(n, 1, c)
    src[0, 2, 1] = 1
    w = torch.ones(n, t, b, c)
    us = [torch.ones(t, b, c, 1, 1, requires_grad=True) for _ in range(n)]
    ScaleMix.apply(w, src, False, *us).sum().backward()
    assert us[0].grad[2, 0, 1].item() == 0.0 and us[0].grad[1, 0, 1].item() == 2.0
    assert us[1].grad.eq(1.0).all()
