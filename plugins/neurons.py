"""First-party spiking neurons: lif, plif, if, ms-lif.

All four share one membrane recurrence,

    H[t] = charge(V[t-1], X[t])            (per neuron, below)
    S[t] = Heaviside(H[t] - v_threshold)   (strictly greater for ms-lif)
    V[t] = H[t] * (1 - S[t]) + v_reset * S[t]       hard reset (v_reset is a number)
    V[t] = H[t] - v_threshold * S[t]                 soft reset (v_reset is None)

with V[-1] = v_reset (0 for a soft reset) after ``reset()``, as in SpikingJelly. With ``detach_reset`` the spike in the reset term carries no gradient.

charge, exactly as SpikingJelly writes it (so ``lif`` and ``plif`` reproduce ``LIFNode`` and
``ParametricLIFNode`` bit for bit in the forward pass), with v_r = v_reset or 0:

    lif   decay_input:  H = V + (X - (V - v_r)) / tau      otherwise  H = V - (V - v_r) / tau + X
    plif  as lif with 1/tau replaced by sigmoid(w), w learnable, w0 = -log(init_tau - 1)
    if    H = V + X
    ms-lif  H = decay * V + X   (MS-ResNet's neuron: decay 0.25, threshold 0.5, hard reset to 0,
                                 reset detached, rectangular surrogate; spec section 4.2)

The multi-step path is one autograd function per call: the forward pass runs the whole time loop
writing into preallocated outputs and saves only the pre-spike membrane H; the backward pass
recomputes spikes and states from H and runs the reverse recurrence

    dL/dH[t]   = dL/dS[t] * sg(H[t] - v_th) + dL/dV[t] * dV[t]/dH[t]
    dL/dX[t]   = dL/dH[t] * dH/dX                 dL/dV[t-1] = dL/dH[t] * dH/dV
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, Optional, Union

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor, nn

from snnctl import hookimpl
from snnctl.errors import ConfigError
from snnctl.nn import Neuron, Surrogate


@dataclass(frozen=True)
class Dynamics:
    """The constants of one neuron's recurrence (everything but the learnable PLIF weight)."""

    kind: str  # "lif", "plif", "if" or "ms"
    v_threshold: float
    v_reset: Optional[float]
    detach_reset: bool
    surrogate: Surrogate
    tau: float = 2.0
    decay_input: bool = True
    decay: float = 0.25
    strict: bool = False

    @property
    def v_init(self) -> float:
        """The membrane after reset(): v_reset for a hard reset, else 0 (as in SpikingJelly)."""
        return self.v_reset or 0.0

    # -- forward, in place ----------------------------------------------------------------------
    def charge_(self, h: Tensor, v: Tensor, x: Tensor, d: Optional[Tensor]) -> None:
        """Write H = charge(V, X) into ``h``; ``d`` is sigmoid(w) for plif."""
        vr = self.v_reset or 0.0
        if self.kind in ("lif", "plif"):
            if self.decay_input:
                if vr:
                    torch.sub(v, vr, out=h)
                    torch.sub(x, h, out=h)
                else:
                    torch.sub(x, v, out=h)
                h.div_(self.tau) if self.kind == "lif" else h.mul_(d)
                h.add_(v)
            else:
                torch.sub(v, vr, out=h) if vr else h.copy_(v)
                h.div_(self.tau) if self.kind == "lif" else h.mul_(d)
                torch.sub(v, h, out=h)
                h.add_(x)
        elif self.kind == "if":
            torch.add(v, x, out=h)
        else:  # ms
            torch.mul(v, self.decay, out=h)
            h.add_(x)

    def fire_(self, out: Tensor, h: Tensor) -> Tensor:
        """S = H >= v_th (H > v_th if strict) into ``out`` (bool or floating)."""
        return torch.gt(h, self.v_threshold, out=out) if self.strict else torch.ge(h, self.v_threshold, out=out)

    def reset_(self, v: Tensor, h: Tensor, s: Tensor, tmp: Tensor) -> None:
        """V = reset(H, S) into ``v``; ``s`` holds the spikes as 0/1 of H's dtype."""
        if self.v_reset is None:
            torch.sub(h, s, alpha=self.v_threshold, out=v)  # H - v_th * S
        else:
            torch.mul(h, s, out=tmp)
            torch.sub(h, tmp, out=v)  # H * (1 - S), exact: H - H where S = 1
            if self.v_reset:
                v.add_(s, alpha=self.v_reset)

    # -- forward, with autograd (single-step mode) -------------------------------------------------
    def charge(self, v: Tensor, x: Tensor, d: Optional[Tensor]) -> Tensor:
        vr = self.v_reset or 0.0
        if self.kind in ("lif", "plif"):
            scale = (lambda t: t / self.tau) if self.kind == "lif" else (lambda t: t * d)
            if self.decay_input:
                return scale(x - (v - vr) if vr else x - v) + v
            return v - scale(v - vr if vr else v) + x
        if self.kind == "if":
            return v + x
        return v * self.decay + x

    def step(self, x: Tensor, v: Tensor, d: Optional[Tensor]) -> tuple[Tensor, Tensor]:
        h = self.charge(v, x, d)
        s = self.surrogate(h - self.v_threshold, strict=self.strict)
        sd = s.detach() if self.detach_reset else s
        if self.v_reset is None:
            v_next = h - self.v_threshold * sd
        else:
            v_next = h * (1.0 - sd) + self.v_reset * sd
        return s, v_next

    # -- backward constants -------------------------------------------------------------------------
    def dh_dv(self, d: Optional[Tensor]) -> Any:
        return {"lif": lambda: 1.0 - 1.0 / self.tau, "plif": lambda: 1.0 - d, "if": lambda: 1.0,
                "ms": lambda: self.decay}[self.kind]()


class MultiStep(torch.autograd.Function):
    """The whole time loop of a neuron as one autograd node (see the module docstring)."""

    @staticmethod
    def forward(ctx, x: Tensor, v0: Optional[Tensor], w: Optional[Tensor], dyn: Dynamics):
        keep = ctx.needs_input_grad[0] or ctx.needs_input_grad[1] or ctx.needs_input_grad[2]
        d = torch.sigmoid(w).to(x.dtype) if w is not None else None
        spikes, v, h_all = run_forward(x, v0, d, dyn, keep_h=keep)
        if keep:
            ctx.save_for_backward(h_all, v0, w)
        ctx.dyn = dyn
        return spikes, v

    @staticmethod
    def backward(ctx, g_spikes: Optional[Tensor], g_v: Optional[Tensor]):
        h_all, v0, w = ctx.saved_tensors
        dyn: Dynamics = ctx.dyn
        d = torch.sigmoid(w).to(h_all.dtype) if w is not None else None
        need_w = w is not None and ctx.needs_input_grad[2]
        gx, g_v0, g_d = run_backward(h_all, v0, d, g_spikes, g_v, dyn, need_w)
        g_w = None
        if need_w:
            s = torch.sigmoid(w)
            g_w = (g_d * s * (1 - s)).to(w.dtype).reshape(w.shape)
        return gx, (g_v0 if ctx.needs_input_grad[1] else None), g_w, None


def run_forward(x: Tensor, v0: Optional[Tensor], d: Optional[Tensor], dyn: Dynamics, keep_h: bool):
    """Spikes [T, ...], the last membrane V[T-1], and (if ``keep_h``) every pre-spike membrane H."""
    x = x.contiguous()
    spikes = torch.empty_like(x)
    h_all = torch.empty_like(x) if keep_h else None
    h_buf = None if keep_h else torch.empty_like(x[0])
    v = torch.full_like(x[0], dyn.v_init) if v0 is None else v0.detach().to(x.dtype).expand_as(x[0]).clone()
    tmp = torch.empty_like(v)
    for t, (x_t, s_t) in enumerate(zip(x.unbind(0), spikes.unbind(0))):
        h = h_all[t] if keep_h else h_buf
        dyn.charge_(h, v, x_t, d)
        dyn.fire_(s_t, h)
        dyn.reset_(v, h, s_t, tmp)
    return spikes, v, h_all


def run_backward(h_all, v0, d, g_spikes, g_v, dyn: Dynamics, need_d: bool):
    """Gradients for X, for the initial state V[-1], and for plif's decay sigmoid(w)."""
    T = h_all.shape[0]
    gx = torch.empty_like(h_all)
    carry = torch.zeros_like(h_all[0]) if g_v is None else g_v.to(h_all.dtype).clone()
    sg = torch.empty_like(carry)
    tmp = torch.empty_like(carry)
    mask = torch.empty(carry.shape, dtype=torch.bool, device=carry.device)
    prev_mask = torch.empty_like(mask) if need_d else None
    k = dyn.dh_dv(d)
    vth, vr = dyn.v_threshold, dyn.v_reset
    g_d = torch.zeros((), dtype=torch.float64, device=h_all.device) if need_d else None
    for t in range(T - 1, -1, -1):
        h = h_all[t]
        gh = gx[t]
        torch.sub(h, vth, out=sg)
        dyn.surrogate.grad_(sg)
        dyn.fire_(mask, h)
        if g_spikes is None:
            gh.zero_()
        else:
            torch.mul(g_spikes[t], sg, out=gh)
        # dL/dV[t] * dV[t]/dH[t]
        if vr is None:
            gh.add_(carry)
            if not dyn.detach_reset:  # d(-v_th * S)/dH
                torch.mul(sg, carry, out=tmp)
                gh.sub_(tmp, alpha=vth)
        else:
            if not dyn.detach_reset:  # d(S * (v_r - H))/dH
                torch.sub(h, vr, out=tmp)
                tmp.mul_(sg).mul_(carry)
                gh.sub_(tmp)
            carry.masked_fill_(mask, 0.0)
            gh.add_(carry)
        if need_d:  # dH/dd: (X - (V - v_r)) = (H - V)/d with decay_input, else -(V - v_r)
            v_prev = previous_state_(tmp, h_all, t, v0, dyn, prev_mask)
            if dyn.decay_input:
                torch.sub(h, v_prev, out=tmp)
                tmp.div_(d)
            else:
                torch.sub(v_prev, vr or 0.0, out=tmp)
                tmp.neg_()
            g_d += torch.dot(tmp.reshape(-1), gh.reshape(-1)).double()
        torch.mul(gh, k, out=carry)
        if dyn.kind == "lif" and dyn.decay_input:
            gh.div_(dyn.tau)
        elif dyn.kind == "plif" and dyn.decay_input:
            gh.mul_(d)
    return gx, carry, g_d


def previous_state_(out: Tensor, h_all: Tensor, t: int, v0: Optional[Tensor], dyn: Dynamics, mask: Tensor) -> Tensor:
    """V[t-1], recomputed from H[t-1] (or the initial state) into ``out``."""
    if t == 0:
        return out.fill_(dyn.v_init) if v0 is None else out.copy_(v0.detach().expand_as(out))
    h = h_all[t - 1]
    dyn.fire_(mask, h)
    if dyn.v_reset is None:
        out.copy_(mask)
        return torch.sub(h, out, alpha=dyn.v_threshold, out=out)
    return out.copy_(h).masked_fill_(mask, dyn.v_reset)


# -- modules ------------------------------------------------------------------------------------------
class FusedNeuron(Neuron):
    """A neuron whose recurrence is a :class:`Dynamics`; multi-step runs as one autograd node."""

    def dynamics(self) -> Dynamics:
        raise NotImplementedError

    def decay_weight(self) -> Optional[Tensor]:
        return None

    def single_step(self, x: Tensor) -> Tensor:
        w = self.decay_weight()
        dyn = self.dynamics()
        v = self.v if self.v is not None else torch.full_like(x, dyn.v_init)
        s, self.v = dyn.step(x, v, None if w is None else torch.sigmoid(w).to(x.dtype))
        return s

    def multi_step(self, x: Tensor) -> Tensor:
        w = self.decay_weight()
        dyn = self.dynamics()
        grad = torch.is_grad_enabled() and (
            x.requires_grad or (w is not None and w.requires_grad) or (self.v is not None and self.v.requires_grad)
        )
        if grad:
            spikes, self.v = MultiStep.apply(x, self.v, w, dyn)
        else:
            d = None if w is None else torch.sigmoid(w).to(x.dtype)
            spikes, self.v, _ = run_forward(x, self.v, d, dyn, keep_h=False)
        return spikes


def reset_value(v_reset: float | str | None) -> Optional[float]:
    """None or 'soft' select the soft reset; a number is the hard reset value."""
    if v_reset is None or v_reset == "soft":
        return None
    if isinstance(v_reset, str):
        raise ConfigError(f"v_reset: expected a number or 'soft', got {v_reset!r}")
    return float(v_reset)


def _common_reset_repr(m) -> str:
    return f"v_threshold={m.v_threshold}, v_reset={m.v_reset}, detach_reset={m.detach_reset}"


# Configs list each neuron's own parameters first, then the fields every neuron shares.
def _surrogate(default: str = "atan"):
    return Field(default, description="surrogate gradient, by registry name (snnctl list surrogates)")


def _surrogate_args():
    return Field(default_factory=dict, description="arguments of the surrogate, e.g. {alpha: 4.0}")


def _step_mode():
    return Field("m", pattern="^[ms]$", description="'m': input [T, B, ...]; 's': one step [B, ...]")


def _v_threshold(default: float = 1.0):
    return Field(default, description="firing threshold")


def _v_reset():
    return Field(0.0, description="hard reset value, or 'soft' to reset by subtracting the threshold (None in Python)")


def _detach_reset():
    return Field(True, description="no gradient through the spike in the reset term")


def _decay_input():
    return Field(True, description="scale the input by the decay as well as the leak")


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LIFConfig(_Config):
    tau: float = Field(2.0, gt=1.0, description="membrane time constant (> 1)")
    v_threshold: float = _v_threshold()
    v_reset: Union[float, Literal["soft"]] = _v_reset()
    decay_input: bool = _decay_input()
    detach_reset: bool = _detach_reset()
    surrogate: str = _surrogate()
    surrogate_args: dict[str, Any] = _surrogate_args()
    step_mode: str = _step_mode()


class LIF(FusedNeuron):
    """Leaky integrate-and-fire, identical to SpikingJelly's LIFNode."""

    def __init__(self, tau: float = 2.0, v_threshold: float = 1.0, v_reset: float | str | None = 0.0,
                 decay_input: bool = True, detach_reset: bool = True, surrogate: str | Surrogate = "atan",
                 surrogate_args: Optional[dict] = None, step_mode: str = "m"):
        super().__init__(surrogate, surrogate_args, step_mode)
        if not tau > 1.0:
            raise ConfigError(f"tau: must be greater than 1, got {tau}")
        self.tau, self.v_threshold, self.v_reset = float(tau), float(v_threshold), reset_value(v_reset)
        self.decay_input, self.detach_reset = decay_input, detach_reset

    def dynamics(self) -> Dynamics:
        return Dynamics("lif", self.v_threshold, self.v_reset, self.detach_reset, self.surrogate,
                        tau=self.tau, decay_input=self.decay_input)

    def extra_repr(self) -> str:
        return f"tau={self.tau}, decay_input={self.decay_input}, {_common_reset_repr(self)}, {super().extra_repr()}"


class PLIFConfig(_Config):
    init_tau: float = Field(2.0, gt=1.0, description="initial time constant; tau = 1 / sigmoid(w) is learned")
    v_threshold: float = _v_threshold()
    v_reset: Union[float, Literal["soft"]] = _v_reset()
    decay_input: bool = _decay_input()
    detach_reset: bool = _detach_reset()
    surrogate: str = _surrogate()
    surrogate_args: dict[str, Any] = _surrogate_args()
    step_mode: str = _step_mode()


class PLIF(FusedNeuron):
    """Parametric LIF with a learnable time constant, identical to SpikingJelly's ParametricLIFNode."""

    def __init__(self, init_tau: float = 2.0, v_threshold: float = 1.0, v_reset: float | str | None = 0.0,
                 decay_input: bool = True, detach_reset: bool = True, surrogate: str | Surrogate = "atan",
                 surrogate_args: Optional[dict] = None, step_mode: str = "m"):
        super().__init__(surrogate, surrogate_args, step_mode)
        if not init_tau > 1.0:
            raise ConfigError(f"init_tau: must be greater than 1, got {init_tau}")
        self.w = nn.Parameter(torch.as_tensor(-math.log(init_tau - 1.0)))
        self.v_threshold, self.v_reset = float(v_threshold), reset_value(v_reset)
        self.decay_input, self.detach_reset = decay_input, detach_reset

    @property
    def tau(self) -> float:
        """The current time constant, 1 / sigmoid(w)."""
        return float(1.0 / torch.sigmoid(self.w.detach()))

    def decay_weight(self) -> Tensor:
        return self.w

    def dynamics(self) -> Dynamics:
        return Dynamics("plif", self.v_threshold, self.v_reset, self.detach_reset, self.surrogate,
                        decay_input=self.decay_input)

    def extra_repr(self) -> str:
        return f"tau={self.tau:.4f}, decay_input={self.decay_input}, {_common_reset_repr(self)}, {super().extra_repr()}"


class IF(FusedNeuron):
    """Integrate-and-fire without leak, identical to SpikingJelly's IFNode."""

    def __init__(self, v_threshold: float = 1.0, v_reset: float | str | None = 0.0, detach_reset: bool = True,
                 surrogate: str | Surrogate = "atan", surrogate_args: Optional[dict] = None, step_mode: str = "m"):
        super().__init__(surrogate, surrogate_args, step_mode)
        self.v_threshold, self.v_reset, self.detach_reset = float(v_threshold), reset_value(v_reset), detach_reset

    def dynamics(self) -> Dynamics:
        return Dynamics("if", self.v_threshold, self.v_reset, self.detach_reset, self.surrogate)

    def extra_repr(self) -> str:
        return f"{_common_reset_repr(self)}, {super().extra_repr()}"


class IFConfig(_Config):
    v_threshold: float = _v_threshold()
    v_reset: Union[float, Literal["soft"]] = _v_reset()
    detach_reset: bool = _detach_reset()
    surrogate: str = _surrogate()
    surrogate_args: dict[str, Any] = _surrogate_args()
    step_mode: str = _step_mode()


class MSLIFConfig(_Config):
    decay: float = Field(0.25, ge=0.0, lt=1.0, description="leak factor on the previous membrane")
    v_threshold: float = Field(0.5, description="firing threshold (spikes where U > threshold)")
    surrogate: str = _surrogate("rect")
    surrogate_args: dict[str, Any] = _surrogate_args()
    step_mode: str = _step_mode()


class MSLIF(FusedNeuron):
    """MS-ResNet's LIF: U = decay * U_prev * (1 - S_prev) + X, S = U > 0.5, rectangular surrogate."""

    def __init__(self, decay: float = 0.25, v_threshold: float = 0.5, surrogate: str | Surrogate = "rect",
                 surrogate_args: Optional[dict] = None, step_mode: str = "m"):
        super().__init__(surrogate, surrogate_args, step_mode)
        self.decay, self.v_threshold = float(decay), float(v_threshold)
        self.v_reset, self.detach_reset = 0.0, True

    def dynamics(self) -> Dynamics:
        return Dynamics("ms", self.v_threshold, 0.0, True, self.surrogate, decay=self.decay, strict=True)

    def extra_repr(self) -> str:
        return f"decay={self.decay}, v_threshold={self.v_threshold}, {super().extra_repr()}"


@hookimpl
def register_neurons(register):
    register("lif", LIF, config=LIFConfig)
    register("plif", PLIF, config=PLIFConfig)
    register("if", IF, config=IFConfig)
    register("ms-lif", MSLIF, config=MSLIFConfig)
