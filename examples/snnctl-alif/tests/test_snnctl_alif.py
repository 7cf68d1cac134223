"""The example plugin is tested exactly like snnctl's built-in components."""

from __future__ import annotations

import math

import pytest

pytest.importorskip("snnctl_alif", reason="install it: pip install -e examples/snnctl-alif")

import torch  # noqa: E402

import snnctl  # noqa: E402
from snnctl.testing import check_neuron, check_surrogate  # noqa: E402


def test_alif_passes_the_neuron_contract():
    check_neuron("alif")
    check_neuron("alif", surrogate="atan", beta=1.0)  # any registered surrogate works


def test_fast_sigmoid_passes_the_surrogate_contract():
    check_surrogate("fast-sigmoid")
    check_surrogate("fast-sigmoid", slope=2.0)


def test_fast_sigmoid_values():
    s = snnctl.create("surrogate", "fast-sigmoid", slope=4.0)
    assert s.grad(torch.tensor([0.0, 0.5, -0.25])).tolist() == pytest.approx([1.0, 1 / 9, 1 / 4])


def test_threshold_adapts_after_each_spike():
    """Constant input 2.0, tau 2, beta 0.5, tau_adapt 1: worked out by hand below."""
    n = snnctl.create("neuron", "alif", tau=2.0, beta=0.5, tau_adapt=1.0)
    rho = math.exp(-1.0)
    x = torch.full((4, 1), 2.0)
    # t0: H = 1.0 >= 1.0 -> spike, V = 0, a = 1
    # t1: H = 1.0 < 1 + 0.5 * 1 -> no spike, V = 1.0, a = rho
    # t2: H = 1.5 >= 1 + 0.5 * rho (= 1.18) -> spike, V = 0, a = rho^2 + 1
    # t3: H = 1.0 < 1 + 0.5 * (rho^2 + 1) -> no spike
    assert n(x).flatten().tolist() == [1.0, 0.0, 1.0, 0.0]
    assert n.a.item() == pytest.approx(rho * (rho**2 + 1))


def test_registered_through_its_entry_point():
    entry = snnctl.registry().get("neuron", "alif")
    assert entry.provider.distribution == "snnctl-alif"
    assert entry.provider.source == "entry point"


def test_alif_learns(tmp_path, monkeypatch):
    from snnctl.testing import check_learning

    monkeypatch.setenv("SNNCTL_CACHE", str(tmp_path))  # the recordings it generates stay out of the user's cache
    result = check_learning(neuron="alif")
    assert result.accuracy > 0.9
