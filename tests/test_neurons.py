"""Neurons against an independent per-step reference loop, SpikingJelly, and the contract."""

from __future__ import annotations

import math
import zlib

import pytest
import torch

import snnctl
from snnctl.nn import Neuron, reset_states
from snnctl.testing import check_neuron


# -- an independent reference: plain autograd, one step at a time --------------------------------
def ref_surrogate_grad(name: str, x: torch.Tensor, **a) -> torch.Tensor:
    if name == "atan":
        alpha = a.get("alpha", 2.0)
        return alpha / 2 / (1 + (math.pi / 2 * alpha * x) ** 2)
    if name == "sigmoid":
        alpha = a.get("alpha", 4.0)
        sg = torch.sigmoid(alpha * x)
        return alpha * sg * (1 - sg)
    if name == "rect":
        w = a.get("width", 1.0)
        return (x.abs() < w / 2).to(x.dtype) / w
    if name == "triangle":
        w = a.get("width", 1.0)
        return torch.clamp(w - x.abs(), min=0) / w**2
    raise KeyError(name)


class RefSpike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, name, strict):
        ctx.save_for_backward(x)
        ctx.name = name
        return (x > 0).to(x.dtype) if strict else (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * ref_surrogate_grad(ctx.name, x), None, None


def reference(kind, x, *, tau=2.0, v_threshold=1.0, v_reset=0.0, decay_input=True, detach_reset=True,
              surrogate="atan", w=None, decay=0.25, return_v=False):
    """Spikes of a neuron, computed step by step; v_reset None is a soft reset."""
    vr = 0.0 if v_reset is None else v_reset
    v = torch.full_like(x[0], vr)
    out = []
    for t in range(x.shape[0]):
        if kind == "lif":
            h = v + (x[t] - (v - vr)) / tau if decay_input else v - (v - vr) / tau + x[t]
        elif kind == "plif":
            d = torch.sigmoid(w)
            h = v + (x[t] - (v - vr)) * d if decay_input else v - (v - vr) * d + x[t]
        elif kind == "if":
            h = v + x[t]
        else:  # ms-lif: U = decay * U_prev * (1 - S_prev) + X
            h = decay * v + x[t]
        s = RefSpike.apply(h - v_threshold, surrogate, kind == "ms-lif")
        sd = s.detach() if detach_reset else s
        v = h - v_threshold * sd if v_reset is None else h * (1 - sd) + vr * sd
        out.append(s)
    return (torch.stack(out), v) if return_v else torch.stack(out)


def build(kind, **kw):
    kw = dict(kw)
    if kw.get("v_reset", 0.0) is None:
        kw["v_reset"] = "soft"
    return snnctl.create("neuron", kind, **kw)


SETTINGS = [
    ("lif", {}),
    ("lif", {"tau": 3.0, "v_reset": None}),
    ("lif", {"tau": 1.5, "v_reset": -0.2, "detach_reset": False}),
    ("lif", {"decay_input": False, "detach_reset": False, "v_reset": None}),
    ("lif", {"decay_input": False, "surrogate": "sigmoid"}),
    ("plif", {}),
    ("plif", {"init_tau": 4.0, "v_reset": None, "detach_reset": False}),
    ("plif", {"decay_input": False, "v_reset": 0.1, "surrogate": "triangle"}),
    ("if", {}),
    ("if", {"v_reset": None, "detach_reset": False, "v_threshold": 0.7}),
    ("ms-lif", {}),
    ("ms-lif", {"decay": 0.5, "v_threshold": 0.3, "surrogate": "atan"}),
]


def ref_kwargs(kind, kw, neuron):
    out = {k: v for k, v in kw.items() if k not in ("init_tau",)}
    if kind == "plif":
        out["w"] = neuron.w
    if kind == "ms-lif":
        out.setdefault("v_threshold", 0.5)
        out.setdefault("surrogate", "rect")
    return out


SETTING_IDS = [f"{k}-{i}" for i, (k, _) in enumerate(SETTINGS)]


def paired(kind, kw, shape, dtype=torch.float32):
    """A neuron and an identical twin for the reference loop, with one random input for each."""
    neuron = build(kind, **kw).to(dtype)
    ref_neuron = build(kind, **kw).to(dtype)
    ref_neuron.load_state_dict(neuron.state_dict())
    x = (torch.randn(shape, dtype=dtype) * 1.5 + 0.6).requires_grad_()
    return neuron, ref_neuron, x, x.detach().clone().requires_grad_()


@pytest.mark.parametrize("kind, kw", SETTINGS, ids=SETTING_IDS)
@pytest.mark.parametrize("shape", [(1, 3), (2, 4, 5), (7, 2, 3, 4, 4)], ids=["T1", "T2", "T7-BCHW"])
def test_multi_step_equals_reference_loop(kind, kw, shape):
    torch.manual_seed(zlib.crc32(repr((kind, kw, shape)).encode()))
    neuron, ref_neuron, x, xr = paired(kind, kw, shape)
    up = torch.randn(shape)

    s = neuron(x)
    s_ref = reference(kind, xr, **ref_kwargs(kind, kw, ref_neuron))
    assert torch.equal(s, s_ref.detach())
    if s.numel() >= 100:  # large enough that the drive must give both spikes and silence
        assert 0 < s.mean() < 1
    (s * up).sum().backward()
    (s_ref * up).sum().backward()
    assert torch.allclose(x.grad, xr.grad, rtol=1e-5, atol=1e-6)
    if kind == "plif":
        assert torch.allclose(neuron.w.grad, ref_neuron.w.grad, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("kind, kw", SETTINGS, ids=SETTING_IDS)
def test_float64_gradients_match_reference_tightly(kind, kw):
    torch.manual_seed(7)
    neuron, ref_neuron, x, xr = paired(kind, kw, (6, 3, 8), torch.float64)
    up = torch.randn(6, 3, 8, dtype=torch.float64)
    s = neuron(x)
    assert s.dtype == torch.float64
    (s * up).sum().backward()
    (reference(kind, xr, **ref_kwargs(kind, kw, ref_neuron)) * up).sum().backward()
    assert torch.allclose(x.grad, xr.grad, rtol=1e-10, atol=1e-12)
    if kind == "plif":
        assert torch.allclose(neuron.w.grad, ref_neuron.w.grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", ["lif", "plif", "if", "ms-lif"])
def test_gradcheck_of_the_subthreshold_recurrence(kind):
    """Below threshold the map X -> V[T-1] is smooth, so finite differences can check the
    leak, the input scaling, the initial-state gradient and PLIF's time constant."""
    from snnctl_plugins.neurons import MultiStep

    neuron = build(kind, v_threshold=1e6) if kind != "ms-lif" else build(kind, v_threshold=1e6)
    dyn = neuron.dynamics()
    w = torch.tensor(-math.log(1.0), dtype=torch.float64, requires_grad=True) if kind == "plif" else None
    x = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    v0 = torch.randn(3, dtype=torch.float64, requires_grad=True)

    def f(x, v0, *w_):
        spikes, v = MultiStep.apply(x, v0, w_[0] if w_ else None, dyn)
        return v

    args = (x, v0) + ((w,) if w is not None else ())
    assert torch.autograd.gradcheck(f, args, eps=1e-6, atol=1e-8)


@pytest.mark.parametrize("kind", ["lif", "plif", "if", "ms-lif"])
def test_single_step_with_reset_equals_multi_step(kind):
    torch.manual_seed(3)
    m = build(kind)
    s = build(kind, step_mode="s")
    s.load_state_dict(m.state_dict())
    x = torch.randn(9, 4, 6) * 2 + 0.5
    expected = m(x)
    for _ in range(2):  # the second pass shows reset() really clears the state
        s.reset()
        got = torch.stack([s(xt) for xt in x.unbind(0)])
        assert torch.equal(got, expected)


def test_multi_step_continues_from_the_carried_state():
    """Two calls of T/2 steps equal one call of T steps (state carried until reset)."""
    torch.manual_seed(4)
    n = build("lif")
    x = (torch.randn(8, 2, 5) * 2 + 0.5).requires_grad_()
    whole = n(x)
    n.reset()
    halves = torch.cat([n(x[:4]), n(x[4:])])
    assert torch.equal(whole, halves)
    # gradients flow through the carried state too
    g_halves = torch.autograd.grad(halves.sum(), x)[0]
    n.reset()
    g_whole = torch.autograd.grad(n(x).sum(), x)[0]
    assert torch.allclose(g_halves, g_whole, rtol=1e-5, atol=1e-6)


def test_backward_keeps_only_the_membrane():
    """The multi-step node saves one tensor of the input's size (H), not spikes or states."""
    n = build("lif")
    x = torch.randn(6, 4, 8, requires_grad=True)
    out = n(x)
    saved = [t for t in out.grad_fn.saved_tensors if t is not None]
    assert sum(t.numel() for t in saved) == x.numel()
    with torch.no_grad():
        assert n(x).grad_fn is None


@pytest.mark.parametrize("kind, kw", SETTINGS, ids=SETTING_IDS)
def test_gradient_through_the_final_state_only(kind, kw):
    """Backward with no gradient for the spikes, only for the membrane left in ``self.v``."""
    torch.manual_seed(8)
    neuron, ref_neuron, x, xr = paired(kind, kw, (5, 3, 4), torch.float64)
    neuron(x)
    _, v_ref = reference(kind, xr, **ref_kwargs(kind, kw, ref_neuron), return_v=True)
    assert torch.allclose(neuron.v, v_ref, rtol=0, atol=1e-12)
    neuron.v.sum().backward()
    v_ref.sum().backward()
    assert torch.allclose(x.grad, xr.grad, rtol=1e-10, atol=1e-12)
    if kind == "plif":
        assert torch.allclose(neuron.w.grad, ref_neuron.w.grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kw", [{}, {"decay_input": False, "v_reset": None, "detach_reset": False}])
def test_plif_weight_gradient_without_input_gradient(kw):
    """The first layer's input needs no gradient; the time constant still learns."""
    torch.manual_seed(9)
    neuron, ref_neuron = build("plif", **kw).double(), build("plif", **kw).double()
    x = torch.randn(6, 4, 5, dtype=torch.float64) * 1.5 + 0.6
    up = torch.randn_like(x)
    (neuron(x) * up).sum().backward()
    (reference("plif", x, **ref_kwargs("plif", kw, ref_neuron)) * up).sum().backward()
    assert torch.allclose(neuron.w.grad, ref_neuron.w.grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", ["lif", "plif", "if", "ms-lif"])
def test_retain_graph_gives_the_same_gradients_twice(kind):
    """The input gradient reuses H's memory only when the graph is not kept."""
    torch.manual_seed(10)
    neuron = build(kind)
    x = (torch.randn(6, 3, 8) * 1.5 + 0.6).requires_grad_()
    up = torch.randn_like(x)
    out = neuron(x)
    (out * up).sum().backward(retain_graph=True)
    first = [x.grad.clone()] + [p.grad.clone() for p in neuron.parameters()]
    # autograd.grad(create_graph=True) keeps the graph too
    assert torch.equal(torch.autograd.grad((out * up).sum(), x, create_graph=True)[0], first[0])
    x.grad = None
    neuron.zero_grad()
    (out * up).sum().backward()
    second = [x.grad] + [p.grad for p in neuron.parameters()]
    assert all(torch.equal(a, b) for a, b in zip(first, second))


def test_input_gradient_reuses_the_membrane_buffer():
    """Without retain_graph, dL/dX is written over the saved H: no new [T, ...] tensor."""
    if not hasattr(torch._C._autograd, "_get_current_graph_task_keep_graph"):
        pytest.skip("this torch cannot tell whether the graph is kept; the copy is made instead")
    x = torch.randn(4, 3, 5, requires_grad=True)
    out = build("lif")(x)
    (h,) = [t for t in out.grad_fn.saved_tensors if t is not None]
    ptr = h.data_ptr()
    del h
    out.sum().backward()
    assert x.grad.data_ptr() == ptr


@pytest.mark.parametrize("kind", ["lif", "plif", "ms-lif"])
def test_memory_layout_is_kept_and_results_do_not_depend_on_it(kind):
    """A channels-last input (as convolutions produce it) gives channels-last spikes, no copy."""
    torch.manual_seed(13)
    T, B, C, H, W = 3, 2, 4, 5, 5
    x4 = (torch.randn(T * B, C, H, W) * 1.5 + 0.6).contiguous(memory_format=torch.channels_last)
    x = x4.view(T, B, C, H, W).requires_grad_()
    xc = x.detach().contiguous().requires_grad_()
    up = torch.randn(T, B, C, H, W)
    a, b = build(kind), build(kind)
    sa, sb = a(x), b(xc)
    assert sa.stride() == x.stride() and torch.equal(sa, sb)
    (sa * up).sum().backward()
    (sb * up).sum().backward()
    assert torch.allclose(x.grad, xc.grad, rtol=1e-6, atol=1e-7)
    # a strided view (not dense) works too
    c = build(kind)
    xs = torch.randn(T, B, 2 * C) * 1.5 + 0.6
    assert torch.equal(c(xs[:, :, ::2]), build(kind)(xs[:, :, ::2].contiguous()))


def test_reset_states_resets_every_neuron_in_a_network():
    net = torch.nn.Sequential(build("lif", step_mode="s"), build("if", step_mode="s"))
    net(torch.ones(2, 3) * 0.7)
    assert all(m.v is not None for m in net if isinstance(m, Neuron))
    reset_states(net)
    assert all(m.v is None for m in net if isinstance(m, Neuron))


def test_soft_reset_is_spelled_soft_in_configs():
    from snnctl.errors import ConfigError

    assert build("lif", v_reset=None).v_reset is None
    assert snnctl.create("neuron", "lif", v_reset="soft").v_reset is None
    # None means "use the default" in create(), as for every component
    assert snnctl.create("neuron", "lif", v_reset=None).v_reset == 0.0
    with pytest.raises(ConfigError, match="v_reset"):
        snnctl.create("neuron", "lif", v_reset="hard")


def test_unknown_surrogate_name_is_a_clear_error():
    from snnctl.errors import UnknownNameError

    with pytest.raises(UnknownNameError, match="did you mean 'atan'"):
        snnctl.create("neuron", "lif", surrogate="atna")


def test_ms_lif_matches_the_ms_resnet_update():
    """spec 4.2: U[0] = X[0]; U[t] = 0.25 U[t-1] (1 - S[t-1]) + X[t]; S = U > 0.5; rect surrogate."""
    x = torch.tensor([[0.5], [0.4], [0.2], [0.6]])
    # U: 0.5 (no spike: strict) -> 0.125+0.4=0.525 (spike) -> 0+0.2=0.2 -> 0.05+0.6=0.65 (spike)
    assert build("ms-lif")(x).flatten().tolist() == [0.0, 1.0, 0.0, 1.0]


def test_plif_tau_is_learnable():
    n = build("plif", init_tau=3.0)
    assert n.tau == pytest.approx(3.0)
    assert [name for name, _ in n.named_parameters()] == ["w"]


@pytest.mark.parametrize("kind", ["lif", "plif", "if", "ms-lif"])
def test_builtin_neurons_pass_the_contract(kind):
    check_neuron(kind)


def test_check_neuron_catches_a_broken_neuron():
    class Leaky(Neuron):
        """Forgets to keep its state between single steps."""

        def single_step(self, x):
            return (x >= 1.0).to(x.dtype) + 0 * x

        def multi_step(self, x):
            v = torch.zeros_like(x[0])
            out = []
            for xt in x.unbind(0):
                v = v + xt
                s = (v >= 1.0).to(x.dtype) + 0 * xt
                v = v * (1 - s)
                out.append(s)
            return torch.stack(out)

    with pytest.raises(AssertionError, match="single-step over time must give the same spikes"):
        check_neuron(Leaky)


class _IFBase(Neuron):
    def single_step(self, x):
        v = (self.v if self.v is not None else torch.zeros_like(x)) + x
        s = self.surrogate(v - 1.0)
        self.v = v * (1 - s.detach())
        return s


def test_check_neuron_catches_a_neuron_that_forgets_its_state_between_calls():
    class Forgetful(_IFBase):
        def multi_step(self, x):
            self.v = None
            return super().multi_step(x)

    with pytest.raises(AssertionError, match="continue from the state the previous call left"):
        check_neuron(Forgetful)


def test_check_neuron_catches_a_neuron_that_modifies_its_input():
    class Mutating(_IFBase):
        def multi_step(self, x):
            out = super().multi_step(x)
            x.data.mul_(1.5)
            return out

    with pytest.raises(AssertionError, match="must not modify its input"):
        check_neuron(Mutating)


def test_check_neuron_catches_a_backward_that_spoils_a_retained_graph(monkeypatch):
    from snnctl_plugins import neurons

    monkeypatch.setattr(neurons, "_keep_graph", lambda: False)  # always overwrite H
    with pytest.raises(AssertionError, match="retained graph"):
        check_neuron("lif")


def test_check_neuron_passes_a_plain_base_class_neuron():
    """A neuron with only single_step (the base class loops it over time) meets the contract."""
    check_neuron(_IFBase)


# -- SpikingJelly as an external reference ----------------------------------------------------------
SJ_SETTINGS = [
    dict(tau=2.0, v_reset=0.0, decay_input=True, detach_reset=True),
    dict(tau=2.0, v_reset=0.0, decay_input=True, detach_reset=False),
    dict(tau=3.0, v_reset=None, decay_input=True, detach_reset=True),
    dict(tau=3.0, v_reset=None, decay_input=False, detach_reset=False),
    dict(tau=1.7, v_reset=-0.3, decay_input=False, detach_reset=True),
    dict(tau=1.7, v_reset=0.2, decay_input=True, detach_reset=False),
]


def spikingjelly():
    """SpikingJelly's neuron and surrogate modules, or skip."""
    neuron = pytest.importorskip("spikingjelly.activation_based.neuron", reason="SpikingJelly is not installed")
    return neuron, pytest.importorskip("spikingjelly.activation_based.surrogate")


def assert_same_as_spikingjelly(ours, theirs, x, up=None):
    """Identical spikes, and input gradients within float32 rounding, for the same input."""
    x = x.requires_grad_()
    xr = x.detach().clone().requires_grad_()
    up = torch.ones_like(x) if up is None else up
    a, b = ours(x), theirs(xr)
    assert torch.equal(a, b)
    (a * up).sum().backward()
    (b * up).sum().backward()
    assert torch.allclose(x.grad, xr.grad, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kw", SJ_SETTINGS, ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items()))
def test_lif_equals_spikingjelly_lifnode(kw):
    sj_neuron, sj_surrogate = spikingjelly()
    torch.manual_seed(11)
    theirs = sj_neuron.LIFNode(surrogate_function=sj_surrogate.ATan(alpha=2.0), step_mode="m", **kw)
    x = torch.randn(8, 4, 3, 6, 6) * 1.5 + 0.5
    assert_same_as_spikingjelly(build("lif", **kw), theirs, x, torch.randn_like(x))


@pytest.mark.parametrize("kw", [dict(v_reset=0.0, detach_reset=True), dict(v_reset=None, detach_reset=False)],
                         ids=["hard-detached", "soft"])
def test_if_equals_spikingjelly_ifnode(kw):
    sj_neuron, sj_surrogate = spikingjelly()
    torch.manual_seed(14)
    theirs = sj_neuron.IFNode(surrogate_function=sj_surrogate.ATan(alpha=2.0), step_mode="m", **kw)
    x = torch.randn(8, 4, 32) * 1.5 + 0.3
    assert_same_as_spikingjelly(build("if", **kw), theirs, x, torch.randn_like(x))


def test_plif_equals_spikingjelly_parametric_lifnode():
    sj_neuron, sj_surrogate = spikingjelly()
    torch.manual_seed(12)
    ours = build("plif", init_tau=2.5)
    theirs = sj_neuron.ParametricLIFNode(init_tau=2.5, detach_reset=True, surrogate_function=sj_surrogate.ATan(),
                                         step_mode="m")
    assert_same_as_spikingjelly(ours, theirs, torch.randn(8, 4, 32) * 1.5 + 0.5)
    assert torch.allclose(ours.w.grad, theirs.w.grad, rtol=1e-5)


def test_the_export_forward_of_every_neuron_equals_the_fused_one():
    """Exporters trace neurons through a path without in-place writes; it gives the same spikes bit for bit."""
    from snnctl_plugins.neurons import run_forward, traced_forward

    torch.manual_seed(0)
    cases = [("lif", {}), ("lif", {"v_reset": -0.1, "tau": 3.0}), ("lif", {"v_reset": "soft"}),
             ("lif", {"decay_input": False, "v_reset": 0.2}), ("plif", {}), ("plif", {"decay_input": False, "v_reset": 0.1}),
             ("if", {}), ("if", {"v_reset": "soft"}), ("ms-lif", {})]
    for name, kw in cases:
        n = snnctl.create("neuron", name, **kw)
        x = torch.randn(16, 4, 33) * 2
        d = torch.sigmoid(n.w).detach() if name == "plif" else None
        a, va, _ = run_forward(x, None, d, n.dynamics(), keep_h=False)
        b, vb = traced_forward(x, None, d, n.dynamics())
        assert torch.equal(a, b) and torch.equal(va, vb), (name, kw)
