"""A straightforward SMA + AZO, written from the spec's pseudocode (§2.9, §3.3), for comparisons.

Separate modules per scale, explicit per-step LIF loops, N separate attention heads, the stacked
``[N, T, B, C, H, W]`` branch and weighted tensors, and AZO as a clone plus one advanced-index
assignment per scale. ``StraightSMA.load_from(sma)`` copies the weights of an ``snnctl`` SMA so both
compute the same function. The benchmark (``benchmarks/bench_sma.py``) uses it as the baseline.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from snnctl.nn import make_surrogate, spike


class LoopLIF(nn.Module):
    """LIF of spec §4.1 as a per-step loop: H = V + (X - V)/tau, hard reset to 0, reset detached."""

    def __init__(self, tau: float = 2.0, v_th: float = 1.0) -> None:
        super().__init__()
        self.tau, self.v_th, self.surrogate = tau, v_th, make_surrogate("atan")

    def forward(self, x: Tensor) -> Tensor:
        v = torch.zeros_like(x[0])
        out = []
        for xt in x.unbind(0):
            h = v + (xt - v) / self.tau
            s = spike(h - self.v_th, self.surrogate)
            v = h * (1 - s.detach())
            out.append(s)
        return torch.stack(out)


class StraightSMA(nn.Module):
    def __init__(self, channels: int, timesteps: int, kernels=(1, 3, 5, 7), cr: float = 4, tr: float = 4,
                 branch: str = "lif", temporal: bool = True, azo: tuple[float, float] | None = None) -> None:
        super().__init__()
        c, t = channels, timesteps
        self.temporal, self.azo = temporal, azo
        self.convs = nn.ModuleList(nn.Conv2d(c, c, k, padding=k // 2) for k in kernels)
        self.bns = nn.ModuleList(nn.BatchNorm2d(c) for _ in kernels)
        self.acts = nn.ModuleList(LoopLIF() if branch == "lif" else nn.ReLU() for _ in kernels)
        ch, th = max(1, math.floor(c / cr)), max(1, math.floor(t / tr))
        self.fc_c1 = nn.Linear(c, ch)
        self.heads_c = nn.ModuleList(nn.Linear(ch, c) for _ in kernels)
        self.fc_t1 = nn.Linear(t, th)
        self.heads_t = nn.ModuleList(nn.Linear(th, t) for _ in kernels)

    @torch.no_grad()
    def load_from(self, sma) -> "StraightSMA":
        n = len(self.convs)
        for mine, theirs in zip(self.convs, sma.convs):
            mine.load_state_dict(theirs.state_dict())
        for mine, theirs in zip(self.bns, sma.norms):
            mine.load_state_dict(theirs.state_dict())
        self.fc_c1.load_state_dict(sma.channel_gate.squeeze.state_dict())
        c = sma.channels
        for i, head in enumerate(self.heads_c):
            head.weight.copy_(sma.channel_gate.excite.weight[i * c:(i + 1) * c])
            head.bias.copy_(sma.channel_gate.excite.bias[i * c:(i + 1) * c])
        if sma.temporal_gate is not None:
            t = sma.timesteps
            self.fc_t1.load_state_dict(sma.temporal_gate.squeeze.state_dict())
            for i, head in enumerate(self.heads_t):
                head.weight.copy_(sma.temporal_gate.excite.weight[i * t:(i + 1) * t])
                head.bias.copy_(sma.temporal_gate.excite.bias[i * t:(i + 1) * t])
        assert n == len(sma.convs)
        return self

    def forward(self, x: Tensor) -> Tensor:
        t, b = x.shape[:2]
        us = []
        for conv, bn, act in zip(self.convs, self.bns, self.acts):
            us.append(act(bn(conv(x.flatten(0, 1))).view(x.shape)))
        u = torch.stack(us)                                               # [N, T, B, C, H, W]
        z = u.sum(0).mean((-1, -2))                                       # [T, B, C]
        hc = F.relu(self.fc_c1(z))
        a_c = torch.softmax(torch.stack([h(hc) for h in self.heads_c]), dim=0)   # [N, T, B, C]
        if self.temporal:
            q = z.mean(-1).transpose(0, 1)                                # [B, T]
            ht = F.relu(self.fc_t1(q))
            a_t = torch.softmax(torch.stack([h(ht) for h in self.heads_t]), dim=0).permute(0, 2, 1)  # [N, T, B]
            zs = a_t[..., None, None, None] * a_c[..., None, None] * u
        else:
            a_t = None
            zs = a_c[..., None, None] * u
        self.last = (a_t, a_c)
        if self.azo is not None and self.training:
            zs = azo_vectorised(zs, a_t, a_c, *self.azo)
        return zs.sum(0)


def azo_vectorised(zs: Tensor, a_t, a_c: Tensor, rtr: float, rcr: float) -> Tensor:
    """Spec §3.3: clone, then per scale one assignment from the un-replaced tensor."""
    n, t, b, c = a_c.shape
    n_t, n_c = math.floor(t / rtr), math.floor(c / rcr)
    out = zs.clone()
    for i in range(n):
        s_t = (a_t[i] if a_t is not None else a_c[i].mean(-1)).detach().sum(-1)
        steps = torch.topk(s_t, n_t, largest=False).indices
        r_c = a_c[i].detach()[steps].sum((0, 1))
        chans = torch.topk(r_c, n_c, largest=False).indices
        steps = steps[steps != 0]
        out[i, steps[:, None], :, chans[None, :]] = zs[i, steps[:, None] - 1, :, chans[None, :]]
    return out
