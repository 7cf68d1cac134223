"""Surrogate gradients: hand-computed values, autograd agreement, the contract check."""

from __future__ import annotations

import math

import pytest
import torch

import snnctl
from snnctl.nn import Surrogate
from snnctl.testing import check_surrogate

BUILTINS = ["atan", "sigmoid", "rect", "triangle"]


@pytest.mark.parametrize("name", BUILTINS)
def test_builtin_surrogates_pass_the_contract(name):
    check_surrogate(name)


@pytest.mark.parametrize(
    "name, args, x, expected",
    [
        ("atan", {}, 0.0, 1.0),  # alpha/2
        ("atan", {"alpha": 4.0}, 0.0, 2.0),
        ("atan", {}, 1.0, 1.0 / (1.0 + math.pi**2)),  # (alpha/2) / (1 + (pi/2 * alpha)^2) with alpha=2
        ("sigmoid", {}, 0.0, 1.0),  # alpha/4
        ("sigmoid", {"alpha": 2.0}, 1.0, 2.0 * math.exp(-2.0) / (1 + math.exp(-2.0)) ** 2),
        ("rect", {}, 0.49, 1.0),
        ("rect", {}, 0.5, 0.0),
        ("rect", {"width": 0.5}, 0.2, 2.0),
        ("triangle", {}, 0.0, 1.0),
        ("triangle", {}, -0.25, 0.75),
        ("triangle", {"width": 2.0}, 1.0, 0.25),  # (2 - 1) / 2^2
        ("triangle", {}, 1.5, 0.0),
    ],
)
def test_hand_computed_gradients(name, args, x, expected):
    s = snnctl.create("surrogate", name, **args)
    got = s.grad(torch.tensor([x], dtype=torch.float64)).item()
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("name", BUILTINS)
def test_forward_is_heaviside_and_backward_is_grad(name):
    s = snnctl.create("surrogate", name)
    x = torch.tensor([-2.0, -0.3, 0.0, 0.3, 2.0], dtype=torch.float64, requires_grad=True)
    y = s(x)
    assert y.tolist() == [0.0, 0.0, 1.0, 1.0, 1.0]
    y.backward(torch.full_like(x, 3.0))
    assert torch.allclose(x.grad, 3.0 * s.grad(x.detach()), rtol=0, atol=1e-15)


def test_atan_and_sigmoid_equal_spikingjelly():
    sj = pytest.importorskip("spikingjelly.activation_based.surrogate", reason="SpikingJelly is not installed")
    x = torch.linspace(-3, 3, 601, dtype=torch.float64)
    for ours, theirs in [
        (snnctl.create("surrogate", "atan", alpha=2.0), sj.ATan(alpha=2.0)),
        (snnctl.create("surrogate", "sigmoid", alpha=4.0), sj.Sigmoid(alpha=4.0)),
    ]:
        a = x.clone().requires_grad_()
        b = x.clone().requires_grad_()
        ours(a).sum().backward()
        theirs(b).sum().backward()
        assert torch.allclose(a.grad, b.grad, rtol=1e-12, atol=1e-15), type(theirs).__name__


def test_surrogate_arguments_are_validated():
    from snnctl.errors import ConfigError

    with pytest.raises(ConfigError, match="alpha"):
        snnctl.create("surrogate", "atan", alpha=-1)
    with pytest.raises(ConfigError, match="beta: unknown field"):
        snnctl.create("surrogate", "atan", beta=1)


def test_check_surrogate_catches_a_broken_one():
    class Negative(Surrogate):
        def grad(self, x):
            return -torch.ones_like(x)

        def __repr__(self):
            return "Negative()"

    with pytest.raises(AssertionError, match="non-negative"):
        check_surrogate(Negative())

    class WrongInPlace(Surrogate):
        def grad(self, x):
            return 1 / (1 + x**2)

        def grad_(self, x):
            return x.zero_()

        def __repr__(self):
            return "WrongInPlace()"

    with pytest.raises(AssertionError, match="in place"):
        check_surrogate(WrongInPlace())


def test_check_surrogate_refuses_a_grad_that_returns_a_new_tensor():
    """Fused neurons call grad_(buffer) and read the buffer: a grad_ that leaves it alone gives wrong gradients."""
    from snnctl.nn import Surrogate
    from snnctl.testing import check_surrogate

    class NotInPlace(Surrogate):
        def grad(self, x):
            return 1 / (1 + (3.14159 * x) ** 2)

        def grad_(self, x):
            return self.grad(x)  # right values, but x is not overwritten

        def __repr__(self):
            return "NotInPlace()"

    with pytest.raises(AssertionError, match="overwrite x"):
        check_surrogate(NotInPlace())
