"""The training-step benchmark compares like with like: its SpikingJelly assembly is the same network as
snnctl's model (same spikes, logits and gradients from the same weights), with and without AZO."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("spikingjelly.activation_based.neuron")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import bench_step  # noqa: E402


@pytest.mark.parametrize("azo", [True, False])
def test_the_spikingjelly_assembly_is_the_same_network(azo):
    from spikingjelly.activation_based import functional

    from snnctl.nn import reset_states

    args = SimpleNamespace(model="vgg5-sma", classes=8, size=16, timesteps=8, no_azo=not azo)
    ours = bench_step.snnctl_model(args)
    theirs = bench_step.spikingjelly_model(ours)
    g = torch.Generator().manual_seed(3)
    x = (torch.rand(8, 4, 2, 16, 16, generator=g) < 0.3).float() * 2
    y = torch.tensor([0, 3, 5, 7])
    results = []
    for net, reset in ((ours, reset_states), (theirs, functional.reset_net)):
        for m in net.modules():
            if type(m).__name__ in ("StepDropout", "Dropout"):
                m.p = 0.0
        net.train()
        feats = net.features(x)
        logits = net.head(feats)
        F.cross_entropy(logits.mean(0), y).backward()
        results.append((feats, logits, next(net.features[0].conv.parameters()).grad))
        reset(net)
    (f1, l1, g1), (f2, l2, g2) = results
    assert f1.sum() > 0 and torch.equal(f1, f2)
    torch.testing.assert_close(l1, l2, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(g1, g2, rtol=1e-4, atol=1e-9)
