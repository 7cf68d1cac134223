"""The fused neurons' C kernel against their PyTorch path: the same spikes, membranes and gradients, bit for bit.

The PyTorch path is itself checked against SpikingJelly and a naive loop in test_neurons.py (which runs
with the kernel on wherever a compiler is present); here each case runs twice, kernel on and off.
"""

from __future__ import annotations

import itertools
import subprocess
import sys

import pytest
import torch

import snnctl
from snnctl import native
from snnctl_plugins import neuron_kernel, neurons

needs_cc = pytest.mark.skipif(native._compiler() is None, reason="no C compiler: the kernel cannot be built here")


def dynamics(kind: str, v_reset, detach: bool, surrogate: str) -> neurons.Dynamics:
    return neurons.Dynamics(kind="lif" if kind.startswith("lif") else kind, v_threshold=0.5 if kind == "ms" else 1.0,
                            v_reset=v_reset, detach_reset=detach, surrogate=snnctl.create("surrogate", surrogate),
                            tau=2.0 if kind == "lif" else 3.0, decay_input=kind == "lif", strict=kind == "ms")


def run(dyn, x, v0, g, gv, monkeypatch, native_on: bool):
    monkeypatch.setenv("SNNCTL_NATIVE", "1" if native_on else "0")
    x = x.detach().clone().requires_grad_()
    v0 = None if v0 is None else v0.detach().clone().requires_grad_()
    spikes, v = neurons.MultiStep.apply(x, v0, None, dyn)
    loss = (v * gv).sum() + ((spikes * g).sum() if g is not None else 0)
    loss.backward()
    return spikes.detach(), v.detach(), x.grad, None if v0 is None else v0.grad


def assert_same(a, b):
    for got, want in zip(a, b):
        if want is None:
            assert got is None
        else:
            assert torch.equal(got, want), (got - want).abs().max()


@needs_cc
@pytest.mark.parametrize("kind,v_reset,detach,surrogate",
                         list(itertools.product(["lif", "lif-no-decay-input", "if", "ms"], [0.0, None, -0.3],
                                                [True, False], ["atan", "rect", "triangle"])))
def test_kernel_equals_torch_path(kind, v_reset, detach, surrogate, monkeypatch):
    torch.manual_seed(0)
    dyn = dynamics(kind, v_reset, detach, surrogate)
    assert neuron_kernel.params(dyn) is not None
    x = torch.randn(6, 3, 5, 7, 11) * 1.5
    v0, g, gv = torch.randn(3, 5, 7, 11), torch.randn(6, 3, 5, 7, 11), torch.randn(3, 5, 7, 11)
    fast = run(dyn, x, v0, g, gv, monkeypatch, True)
    assert neuron_kernel.library() is not None, native.why_not("neuron")
    assert_same(fast, run(dyn, x, v0, g, gv, monkeypatch, False))
    assert fast[0].sum() > 0 and (fast[0] == 0).any()  # some spikes, some silence: the reset paths all ran


@needs_cc
def test_kernel_runs_for_the_built_in_neurons():
    x = torch.randn(4, 2, 3, 8, 8)
    for name in ("lif", "if", "ms-lif"):
        dyn = snnctl.create("neuron", name).dynamics()
        assert neuron_kernel.forward(x, None, dyn, keep_h=True) is not None, name
    assert neuron_kernel.params(snnctl.create("neuron", "plif").dynamics()) is None  # learnable decay: torch path
    assert neuron_kernel.params(snnctl.create("neuron", "lif", surrogate="sigmoid").dynamics()) is None


@needs_cc
def test_many_threads_and_blocks(monkeypatch):
    """Over 2 x 65536 neurons per step the work is split over threads, in blocks of 1024 with a ragged end."""
    torch.manual_seed(1)
    dyn = dynamics("lif", 0.0, True, "atan")
    x = torch.randn(3, 2, 65536 + 77) * 2
    g, gv = torch.randn_like(x), torch.randn_like(x[0])
    torch.set_num_threads(2)
    assert len(native.parallel_ranges(x[0].numel(), 2)) == 2
    assert_same(run(dyn, x, None, g, gv, monkeypatch, True), run(dyn, x, None, g, gv, monkeypatch, False))


@needs_cc
def test_layouts_and_missing_gradients(monkeypatch):
    torch.manual_seed(2)
    dyn = dynamics("lif", 0.0, True, "atan")
    cl = torch.randn(5, 2, 6, 6, 4).permute(0, 1, 4, 2, 3) * 2  # channels-last steps: dense, kernel applies
    assert neuron_kernel._fits(cl)
    gv = torch.randn(2, 4, 6, 6)
    g_cl = torch.randn(5, 2, 4, 6, 6)  # a contiguous gradient meets channels-last saved membranes
    assert_same(run(dyn, cl, None, g_cl, gv, monkeypatch, True), run(dyn, cl, None, g_cl, gv, monkeypatch, False))
    # no gradient into the spikes (only the last membrane is used)
    assert_same(run(dyn, cl, None, None, gv, monkeypatch, True), run(dyn, cl, None, None, gv, monkeypatch, False))
    strided = torch.randn(5, 2, 4, 6, 12)[..., ::2]  # not dense: the torch path runs
    assert not neuron_kernel._fits(strided)
    assert neuron_kernel.forward(strided, None, dyn, keep_h=False) is None
    assert not neuron_kernel._fits(torch.randn(5, 2, 4).double())


@needs_cc
def test_inference_forward(monkeypatch):
    lif = snnctl.create("neuron", "lif")
    x = torch.randn(8, 2, 16, 5, 5) * 2
    monkeypatch.setenv("SNNCTL_NATIVE", "1")
    with torch.no_grad():
        fast, v_fast = lif(x), lif.v
        lif.reset()
        monkeypatch.setenv("SNNCTL_NATIVE", "0")
        plain, v_plain = lif(x), lif.v
    assert torch.equal(fast, plain) and torch.equal(v_fast, v_plain)


def test_without_a_compiler_the_torch_path_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    monkeypatch.setenv("PATH", str(tmp_path))  # no cc, gcc or clang either
    monkeypatch.setenv("SNNCTL_KERNELS", str(tmp_path / "kernels"))
    monkeypatch.setattr(native, "_loaded", {})
    assert native.load("neuron", neuron_kernel.SOURCE) is None
    assert "no C compiler" in native.why_not("neuron")
    lif = snnctl.create("neuron", "lif")
    x = torch.randn(4, 2, 3, requires_grad=True)
    lif(x).sum().backward()  # runs, on the PyTorch path
    assert x.grad is not None


@needs_cc
def test_a_failing_compile_and_a_damaged_library(tmp_path, monkeypatch):
    monkeypatch.setenv("SNNCTL_KERNELS", str(tmp_path / "kernels"))
    monkeypatch.setattr(native, "_loaded", {})
    assert native.load("broken", "this is not C") is None
    assert "failed" in native.why_not("broken")
    assert not list((tmp_path / "kernels").glob("*.so"))  # nothing half-built left behind
    # the library is built and damaged in other processes: a library this process has mapped must never
    # be overwritten under it
    probe = "from snnctl_plugins import neuron_kernel as k; assert k.library() is not None"
    subprocess.run([sys.executable, "-c", probe], check=True)
    (so,) = (tmp_path / "kernels").glob("neuron-*.so")
    so.write_bytes(b"damaged")
    subprocess.run([sys.executable, "-c", probe], check=True)  # finds it damaged and builds it again
    assert so.stat().st_size > 1000


@needs_cc
def test_an_unwritable_kernel_folder(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("SNNCTL_KERNELS", str(blocker / "kernels"))  # a folder under a file: cannot be made
    monkeypatch.setattr(native, "_loaded", {})
    assert native.load("neuron", neuron_kernel.SOURCE) is not None


def test_switched_off(monkeypatch):
    monkeypatch.setenv("SNNCTL_NATIVE", "0")
    assert native.load("neuron", neuron_kernel.SOURCE) is None
    assert native.why_not("neuron") == "SNNCTL_NATIVE is off"
    assert neuron_kernel.forward(torch.randn(3, 4), None, dynamics("lif", 0.0, True, "atan"), keep_h=False) is None


def test_parallel_ranges():
    assert native.parallel_ranges(10, 4) == [(0, 10)]
    assert native.parallel_ranges(200_000, 2) == [(0, 100_032), (100_032, 200_000)]
    ranges = native.parallel_ranges(1 << 20, 3)
    assert ranges[0][0] == 0 and ranges[-1][1] == 1 << 20 and all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
    assert all(s % 64 == 0 for s, _ in ranges)

