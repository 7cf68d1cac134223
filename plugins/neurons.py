"""First-party spiking neurons: lif, plif, if, ms-lif.

All four share one membrane recurrence,

    H[t] = charge(V[t-1], X[t])            (per neuron, below)
    S[t] = Heaviside(H[t] - v_threshold)   (strictly greater for ms-lif)
    V[t] = H[t] * (1 - S[t]) + v_reset * S[t]       hard reset (v_reset is a number)
    V[t] = H[t] - v_threshold * S[t]                 soft reset (v_reset is None)

with V[-1] = v_reset (0 for a soft reset) after ``reset()``, as in SpikingJelly. With ``detach_reset``
the spike in the reset term carries no gradient.

charge, exactly as SpikingJelly writes it (so ``lif`` and ``plif`` reproduce ``LIFNode`` and
``ParametricLIFNode`` bit for bit in the forward pass), with v_r = v_reset or 0:

    lif   decay_input:  H = V + (X - (V - v_r)) / tau      otherwise  H = V - (V - v_r) / tau + X
    plif  as lif with 1/tau replaced by sigmoid(w), w learnable, w0 = -log(init_tau - 1)
    if    H = V + X
    ms-lif  H = decay * V + X   (MS-ResNet's neuron: decay 0.25, threshold 0.5, hard reset to 0,
                                 reset detached, rectangular surrogate; spec section 4.2)

The multi-step path is one autograd function per call (:class:`MultiStep`):

* forward runs the whole time loop, iterating with ``unbind`` and writing each step into outputs
  allocated once in the input's memory layout (in-place ops and ``out=``; per-step scratch is
  reused). It saves only the pre-spike membranes H, one tensor of the input's size and dtype (plus
  the small carried-in state and plif's ``w``). Spikes (H >= v_th) and the previous state V[t-1]
  (the reset of H[t-1]) are recomputed from H. With autograd off, or no input needing a gradient,
  nothing is kept: H lives in one per-step buffer.
* backward runs the reverse recurrence itself, calling ``surrogate.grad_`` so any registered
  surrogate works:

      dL/dH[t]   = dL/dS[t] * sg(H[t] - v_th) + dL/dV[t] * dV[t]/dH[t]
      dL/dX[t]   = dL/dH[t] * dH/dX                 dL/dV[t-1] = dL/dH[t] * dH/dV

  Unless the graph is kept (``retain_graph``/``create_graph``), dL/dX is written over H step by
  step, so the input gradient costs no new memory: forward + backward hold spikes + H and nothing
  else of the input's size. Masks are float 0/1 tensors, never bool (masked_fill and where on bool
  masks are several times slower on CPU).
* the state carried into a call (``self.v`` from the previous call) is an input of the node, so
  gradients flow across calls; ``reset()`` starts from V = v_reset (0 for a soft reset) again.

``detach_reset`` defaults to True, unlike SpikingJelly's LIFNode (False): every LIF of the spec's
networks (SMA-VGG, spec section 4.1) and MS-ResNet's neuron detach the reset, and it is the cheaper
backward. With ``detach_reset=False`` the dynamics and gradients equal LIFNode's as well.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, Optional, Union

import torch
from pydantic import BaseModel, ConfigDict, Field, create_model
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from snnctl import hookimpl
from snnctl.errors import ConfigError
from snnctl.nn import Neuron, Surrogate
from snnctl_plugins import neuron_kernel

SOFT_RESET = ("soft reset (v_reset='soft') subtracts the threshold; NIR's neurons reset the membrane to v_reset "
              "(use a hard reset, v_reset=0.0)")


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
    # Every formula is evaluated in the same order and with the same roundings as SpikingJelly
    # (and MS-ResNet for ms-lif), so the spikes are bit-identical. torch.addcdiv(a, b, c) rounds
    # exactly like a + b / c; torch.addcmul may fuse a + b * c into one rounding, so it is used
    # only where one factor is a 0/1 spike and the product is exact.
    def charge_(self, h: Tensor, v: Tensor, x: Tensor, d: Optional[Tensor], tau: Optional[Tensor]) -> None:
        """Write H = charge(V, X) into ``h``; ``d`` is sigmoid(w) for plif, ``tau`` a 0-dim tensor for lif."""
        vr = self.v_reset or 0.0
        if self.kind == "lif":
            if self.decay_input:  # V + (X - (V - v_r)) / tau
                if vr:
                    torch.sub(v, vr, out=h)
                    torch.sub(x, h, out=h)
                else:
                    torch.sub(x, v, out=h)
                torch.addcdiv(v, h, tau, out=h)
            else:  # V - (V - v_r) / tau + X
                if vr:
                    torch.sub(v, vr, out=h)
                    torch.addcdiv(v, h, tau, value=-1.0, out=h)
                else:
                    torch.addcdiv(v, v, tau, value=-1.0, out=h)
                h.add_(x)
        elif self.kind == "plif":
            if self.decay_input:  # V + (X - (V - v_r)) * d
                if vr:
                    torch.sub(v, vr, out=h)
                    torch.sub(x, h, out=h)
                else:
                    torch.sub(x, v, out=h)
                h.mul_(d)
                h.add_(v)
            else:  # V - (V - v_r) * d + X
                torch.sub(v, vr, out=h) if vr else h.copy_(v)
                h.mul_(d)
                torch.sub(v, h, out=h)
                h.add_(x)
        elif self.kind == "if":
            torch.add(v, x, out=h)
        else:  # ms: decay * U + X
            torch.mul(v, self.decay, out=h)
            h.add_(x)

    def fire_(self, out: Tensor, h: Tensor) -> Tensor:
        """S = H >= v_th (H > v_th if strict) as 0/1 into ``out`` (float: much faster than bool)."""
        return torch.gt(h, self.v_threshold, out=out) if self.strict else torch.ge(h, self.v_threshold, out=out)

    def silent_(self, out: Tensor, h: Tensor) -> Tensor:
        """1 - S as 0/1 into ``out``."""
        return torch.le(h, self.v_threshold, out=out) if self.strict else torch.lt(h, self.v_threshold, out=out)

    def reset_(self, v: Tensor, h: Tensor, s: Tensor) -> None:
        """V = reset(H, S) into ``v``; ``s`` holds the spikes as 0/1 of H's dtype."""
        if self.v_reset is None:
            torch.sub(h, s, alpha=self.v_threshold, out=v)  # H - v_th * S
        else:
            torch.addcmul(h, h, s, value=-1.0, out=v)  # H - H * S: exact, S is 0 or 1
            if self.v_reset:
                v.add_(s, alpha=self.v_reset)

    # -- forward, with autograd (single-step mode) -------------------------------------------------
    def charge(self, v: Tensor, x: Tensor, d: Optional[Tensor]) -> Tensor:
        vr = self.v_reset or 0.0
        if self.kind in ("lif", "plif"):
            scale = (lambda t: t / self.tau) if self.kind == "lif" else (lambda t: t * d)
            if self.decay_input:
                return v + scale(x - (v - vr) if vr else x - v)
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
        """dH[t]/dV[t-1]."""
        return {"lif": lambda: 1.0 - 1.0 / self.tau, "plif": lambda: 1.0 - d, "if": lambda: 1.0,
                "ms": lambda: self.decay}[self.kind]()


def _keep_graph() -> bool:
    """Whether the running backward pass keeps the graph (retain_graph / create_graph).

    Uses the private accessor that torch's own AOT autograd uses to free saved tensors early;
    where it is missing (or outside a backward pass) the answer is the safe one, True.
    """
    probe = getattr(torch._C._autograd, "_get_current_graph_task_keep_graph", None)
    try:
        return True if probe is None else bool(probe())
    except Exception:  # pragma: no cover - a torch without a graph task here
        return True


class MultiStep(torch.autograd.Function):
    """The whole time loop of a neuron as one autograd node (see the module docstring).

    Inputs: ``x`` [T, ...], the carried state ``v0`` (``None`` after reset), plif's ``w`` (else
    ``None``) and the :class:`Dynamics`. Outputs: spikes [T, ...] and the last membrane V[T-1].
    Saved for backward: the pre-spike membranes H [T, ...] (plus ``v0`` and ``w``, which are
    small); nothing when no input needs a gradient.
    """

    @staticmethod
    def forward(ctx, x: Tensor, v0: Optional[Tensor], w: Optional[Tensor], dyn: Dynamics):
        ctx.set_materialize_grads(False)
        keep = any(ctx.needs_input_grad[:3])
        d = per_feature(torch.sigmoid(w).to(x.dtype), x.dim() - 1) if w is not None else None
        spikes, v, h_all = run_forward(x, v0, d, dyn, keep_h=keep)
        if keep:
            ctx.save_for_backward(h_all, v0, w)
        ctx.dyn = dyn
        return spikes, v

    @staticmethod
    @once_differentiable
    def backward(ctx, g_spikes: Optional[Tensor], g_v: Optional[Tensor]):
        h_all, v0, w = ctx.saved_tensors
        dyn: Dynamics = ctx.dyn
        need_x, need_v0, need_w = ctx.needs_input_grad[:3]
        d = per_feature(torch.sigmoid(w).to(h_all.dtype), h_all.dim() - 1) if w is not None else None
        # H is needed by no one after this pass unless the graph is kept: the input gradient
        # then overwrites it step by step instead of taking a fresh [T, ...] buffer.
        gx = h_all if (need_x and not _keep_graph()) else (torch.empty_like(h_all) if need_x else None)
        g_v0, g_d = run_backward(h_all, v0, d, g_spikes, g_v, dyn, gx, need_w)
        g_w = None
        if need_w:
            s = torch.sigmoid(w.detach().double())
            g_w = (g_d * s * (1 - s)).to(w.dtype).reshape(w.shape)
        return gx, (g_v0 if need_v0 else None), g_w, None


def run_forward(x: Tensor, v0: Optional[Tensor], d: Optional[Tensor], dyn: Dynamics, keep_h: bool):
    """Spikes [T, ...], the last membrane V[T-1], and (if ``keep_h``) every pre-spike membrane H.

    The outputs are allocated once, in ``x``'s memory layout (so a channels-last input stays
    channels-last and nothing is copied), and each step writes into them in place. Where the C kernel
    applies (:mod:`snnctl_plugins.neuron_kernel`) it computes the same, bit for bit, in one pass.
    """
    if d is None and (fast := neuron_kernel.forward(x, v0, dyn, keep_h)) is not None:
        return fast
    spikes = torch.empty_like(x)
    h_all = torch.empty_like(x) if keep_h else None
    h_buf = None if keep_h else torch.empty_like(x[0])
    v = torch.empty_like(x[0])
    v.fill_(dyn.v_init) if v0 is None else v.copy_(v0.detach())
    tau = torch.tensor(dyn.tau, dtype=x.dtype, device=x.device) if dyn.kind == "lif" else None
    for t, (x_t, s_t) in enumerate(zip(x.unbind(0), spikes.unbind(0))):
        h = h_all[t] if keep_h else h_buf
        dyn.charge_(h, v, x_t, d, tau)
        dyn.fire_(s_t, h)
        dyn.reset_(v, h, s_t)
    return spikes, v, h_all


def run_backward(h_all: Tensor, v0: Optional[Tensor], d: Optional[Tensor], g_spikes: Optional[Tensor],
                 g_v: Optional[Tensor], dyn: Dynamics, gx: Optional[Tensor], need_d: bool):
    """The reverse recurrence. Writes dL/dX into ``gx`` (which may be ``h_all`` itself: step t
    reads H[t] and H[t-1] before it writes gx[t], and later steps only read earlier H).

    Returns dL/dV[-1] and, if ``need_d``, dL/d(sigmoid(w)) in float64: a scalar, or one value per
    feature where ``d`` holds one decay per feature (shaped to broadcast over a step ``[B, F, ...]``).
    Where the C kernel applies (no decay, so no decay gradient) it runs the same recurrence in one pass.
    """
    if d is None and not need_d and (fast := neuron_kernel.backward(h_all, g_spikes, g_v, dyn, gx)) is not None:
        return fast, None
    T = h_all.shape[0]
    vth, vr = dyn.v_threshold, dyn.v_reset
    carry = torch.empty_like(h_all[0])  # dL/dV[t], then dL/dH[t]
    carry.zero_() if g_v is None else carry.copy_(g_v)
    sg = torch.empty_like(carry)
    tmp = torch.empty_like(carry)
    aux = torch.empty_like(carry) if (vr is not None and not dyn.detach_reset) or need_d else None
    zeros = torch.zeros_like(carry) if g_spikes is None else None
    k = dyn.dh_dv(d)
    scale_x = dyn.decay_input and dyn.kind in ("lif", "plif")
    per_feature_d = d is not None and d.dim() > 0
    reduce_dims = [0, *range(2, h_all.dim() - 1)]  # a step is [B, F, ...]: every axis but the features
    g_d = torch.zeros(d.numel() if per_feature_d else (), dtype=torch.float64, device=h_all.device) if need_d else None
    for t in range(T - 1, -1, -1):
        h = h_all[t]
        g = zeros if g_spikes is None else g_spikes[t]
        torch.sub(h, vth, out=sg)
        dyn.surrogate.grad_(sg)  # dS/dH
        # dL/dH = dL/dS * dS/dH + dL/dV * dV/dH
        if vr is None:  # V = H - v_th * S
            if dyn.detach_reset:
                carry.addcmul_(g, sg)
            else:  # dV/dH = 1 - v_th * sg:  carry + sg * (g - v_th * carry)
                torch.sub(g, carry, alpha=vth, out=tmp)
                carry.addcmul_(tmp, sg)
        else:  # V = H * (1 - S) + v_r * S
            if dyn.detach_reset:
                dyn.silent_(tmp, h)
                carry.mul_(tmp)
                carry.addcmul_(g, sg)
            else:  # dV/dH = (1 - S) + (v_r - H) * sg:  carry * (1 - S) + sg * (g - carry * (H - v_r))
                torch.sub(h, vr, out=tmp) if vr else tmp.copy_(h)
                torch.addcmul(g, carry, tmp, value=-1.0, out=tmp)
                dyn.silent_(aux, h)
                carry.mul_(aux)
                carry.addcmul_(tmp, sg)
        if need_d:  # dH/dd = X - (V - v_r) = (H - V) / d with decay_input, else -(V - v_r)
            v_prev = previous_state_(tmp, aux, h_all, t, v0, dyn)
            if dyn.decay_input:
                torch.sub(h, v_prev, out=tmp)
                if per_feature_d:
                    g_d += tmp.mul_(carry).sum(reduce_dims, dtype=torch.float64)
                else:
                    g_d += torch.dot(tmp.reshape(-1), carry.reshape(-1)).double()
            else:
                if vr:
                    v_prev.sub_(vr)
                if per_feature_d:
                    g_d -= v_prev.mul_(carry).sum(reduce_dims, dtype=torch.float64)
                else:
                    g_d -= torch.dot(v_prev.reshape(-1), carry.reshape(-1)).double()
        if gx is not None:  # H[t] is not read again from here on
            gx_t = gx[t]
            if scale_x and dyn.kind == "lif":
                torch.div(carry, dyn.tau, out=gx_t)
            elif scale_x:
                torch.mul(carry, d, out=gx_t)
            else:
                gx_t.copy_(carry)
        if not (isinstance(k, float) and k == 1.0):
            carry.mul_(k)  # dL/dV[t-1]
    if need_d and dyn.decay_input:
        g_d = g_d / d.double().reshape(-1 if per_feature_d else ())
    return carry, g_d


def per_feature(d: Tensor, step_dims: int) -> Tensor:
    """A decay with one value per feature, shaped ``[F, 1, ...]`` to broadcast over a step ``[B, F, ...]``
    of ``step_dims`` dimensions (a scalar decay is returned as it is)."""
    if d.dim() == 0:
        return d
    return d.reshape(-1, *([1] * (step_dims - 2)))


def previous_state_(out: Tensor, scratch: Tensor, h_all: Tensor, t: int, v0: Optional[Tensor], dyn: Dynamics) -> Tensor:
    """V[t-1], recomputed from H[t-1] (or the initial state) into ``out``."""
    if t == 0:
        return out.fill_(dyn.v_init) if v0 is None else out.copy_(v0.detach())
    h = h_all[t - 1]
    dyn.fire_(scratch, h)
    dyn.reset_(out, h, scratch)
    return out


# -- modules ------------------------------------------------------------------------------------------
class FusedNeuron(Neuron):
    """A neuron whose recurrence is a :class:`Dynamics`; multi-step runs as one autograd node."""

    def dynamics(self) -> Dynamics:
        raise NotImplementedError

    def decay_weight(self) -> Optional[Tensor]:
        return None

    def check_features(self, x: Tensor, feature_axis: int) -> None:
        """Raise a clear error where a neuron with one parameter per feature meets another feature count."""
        w = self.decay_weight()
        if w is None or w.dim() == 0:
            return
        if x.dim() <= feature_axis or x.shape[feature_axis] != w.numel():
            got = "no feature axis" if x.dim() <= feature_axis else f"{x.shape[feature_axis]} features"
            raise ConfigError(f"{type(self).__name__} has one time constant per feature ({w.numel()} features) but "
                              f"its input {tuple(x.shape)} has {got}",
                              "Build it with the feature count of its layer (features=C: the channels of "
                              "[T, B, C, H, W], the width of [T, B, F]).")

    def single_step(self, x: Tensor) -> Tensor:
        self.check_features(x, 1)
        w = self.decay_weight()
        dyn = self.dynamics()
        v = self.v if self.v is not None else torch.full_like(x, dyn.v_init)
        s, self.v = dyn.step(x, v, None if w is None else per_feature(torch.sigmoid(w).to(x.dtype), x.dim()))
        return s

    def multi_step(self, x: Tensor) -> Tensor:
        self.check_features(x, 2)
        w = self.decay_weight()
        dyn = self.dynamics()
        grad = torch.is_grad_enabled() and (
            x.requires_grad or (w is not None and w.requires_grad) or (self.v is not None and self.v.requires_grad)
        )
        if grad:
            spikes, self.v = MultiStep.apply(x, self.v, w, dyn)
        elif _exporting():
            d = None if w is None else per_feature(torch.sigmoid(w).to(x.dtype), x.dim() - 1)
            spikes, self.v = traced_forward(x, self.v, d, dyn)
        else:
            d = None if w is None else per_feature(torch.sigmoid(w).to(x.dtype), x.dim() - 1)
            spikes, self.v, _ = run_forward(x, self.v, d, dyn, keep_h=False)
        return spikes


_exporting = getattr(torch.compiler, "is_exporting", lambda: False)


def traced_forward(x: Tensor, v0: Optional[Tensor], d: Optional[Tensor], dyn: Dynamics) -> tuple[Tensor, Tensor]:
    """The forward recurrence without in-place writes, for graph exporters (``torch.export``, ONNX).

    The same operations in the same order as :func:`run_forward`, so the same spikes bit for bit, but
    each step's spikes are new tensors stacked at the end: an exported graph then holds plain
    per-step arithmetic instead of scatters into a preallocated buffer.
    """
    v = torch.full_like(x[0], dyn.v_init) if v0 is None else v0.detach()
    out = []
    for x_t in x.unbind(0):
        h = dyn.charge(v, x_t, d)
        s = (h > dyn.v_threshold if dyn.strict else h >= dyn.v_threshold).to(x.dtype)
        if dyn.v_reset is None:
            v = h - dyn.v_threshold * s
        else:
            v = h - h * s
            if dyn.v_reset:
                v = v + dyn.v_reset * s
        out.append(s)
    return torch.stack(out), v


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
    return Field(True, description="no gradient through the spike in the reset term "
                                   "(True as in the spec's networks; SpikingJelly's default is False)")


def _decay_input():
    return Field(True, description="scale the input by the decay as well as the leak")


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _leaky_fields() -> dict[str, Any]:
    """The fields lif and plif share, after each one's own time constant."""
    return {
        "v_threshold": (float, _v_threshold()),
        "v_reset": (Union[float, Literal["soft"]], _v_reset()),
        "decay_input": (bool, _decay_input()),
        "detach_reset": (bool, _detach_reset()),
        "surrogate": (str, _surrogate()),
        "surrogate_args": (dict[str, Any], _surrogate_args()),
        "step_mode": (str, _step_mode()),
    }


LIFConfig = create_model(
    "LIFConfig", __base__=_Config,
    tau=(float, Field(2.0, gt=1.0, description="membrane time constant (> 1)")), **_leaky_fields(),
)
PLIFConfig = create_model(
    "PLIFConfig", __base__=_Config,
    init_tau=(float, Field(2.0, gt=1.0, description="initial time constant; tau = 1 / sigmoid(w) is learned")),
    per_channel=(bool, Field(False, description="learn one time constant per channel (per feature of a linear "
                                                "layer) instead of one per layer")),
    features=(Optional[int], Field(None, gt=0, description="channels or features of the layer (filled in by the "
                                                           "model; needed by per_channel)")),
    **_leaky_fields(),
)


class _Leaky(FusedNeuron):
    """What lif and plif share: threshold, reset and input decay."""

    def __init__(self, v_threshold: float, v_reset: float | str | None, decay_input: bool, detach_reset: bool,
                 surrogate: str | Surrogate, surrogate_args: Optional[dict], step_mode: str):
        super().__init__(surrogate, surrogate_args, step_mode)
        self.v_threshold, self.v_reset = float(v_threshold), reset_value(v_reset)
        self.decay_input, self.detach_reset = decay_input, detach_reset

    def extra_repr(self) -> str:
        return f"tau={self.tau:.6g}, decay_input={self.decay_input}, {_common_reset_repr(self)}, {super().extra_repr()}"

    def tau_values(self, step_dims: int) -> Any:
        """The time constant as a float64 array broadcasting over one step's per-sample shape
        (``step_dims`` axes: features first), or a float where every neuron shares it."""
        return float(self.tau)

    def to_nir(self, ctx):
        """NIR's ``LIF`` under forward Euler with step ``dt``: ``tau = tau_steps * dt``, ``v_leak = v_reset``,
        ``r = 1`` (``decay_input``, H = V + (X - (V - v_r)) / tau) or ``r = tau_steps`` (H = V - (V - v_r) / tau + X).

        snnctl fires at H >= threshold, NIR at v > threshold: they differ only for a membrane exactly
        on the threshold.
        """
        import nir

        from snnctl.export import NotExportable

        if self.v_reset is None:
            raise NotExportable(SOFT_RESET)
        tau = self.tau_values(len(ctx.input_shape))
        return nir.LIF(tau=ctx.full(tau * ctx.dt), r=ctx.full(1.0 if self.decay_input else tau),
                       v_leak=ctx.full(self.v_reset), v_threshold=ctx.full(self.v_threshold),
                       v_reset=ctx.full(self.v_reset))


class LIF(_Leaky):
    """Leaky integrate-and-fire, identical to SpikingJelly's LIFNode."""

    def __init__(self, tau: float = 2.0, v_threshold: float = 1.0, v_reset: float | str | None = 0.0,
                 decay_input: bool = True, detach_reset: bool = True, surrogate: str | Surrogate = "atan",
                 surrogate_args: Optional[dict] = None, step_mode: str = "m"):
        super().__init__(v_threshold, v_reset, decay_input, detach_reset, surrogate, surrogate_args, step_mode)
        if not tau > 1.0:
            raise ConfigError(f"tau: must be greater than 1, got {tau}")
        self.tau = float(tau)

    def dynamics(self) -> Dynamics:
        return Dynamics("lif", self.v_threshold, self.v_reset, self.detach_reset, self.surrogate,
                        tau=self.tau, decay_input=self.decay_input)


class PLIF(_Leaky):
    """Parametric LIF with a learnable time constant (one per layer, or per channel), as SpikingJelly's ParametricLIFNode.

    With ``per_channel`` the layer learns one time constant per channel of ``[T, B, C, H, W]`` (per
    feature of ``[T, B, F]``): ``w`` has ``features`` entries, which the model fills in. With one per
    layer it is identical to SpikingJelly's ``ParametricLIFNode``.
    """

    def __init__(self, init_tau: float = 2.0, v_threshold: float = 1.0, v_reset: float | str | None = 0.0,
                 decay_input: bool = True, detach_reset: bool = True, surrogate: str | Surrogate = "atan",
                 surrogate_args: Optional[dict] = None, step_mode: str = "m", per_channel: bool = False,
                 features: Optional[int] = None):
        super().__init__(v_threshold, v_reset, decay_input, detach_reset, surrogate, surrogate_args, step_mode)
        if not init_tau > 1.0:
            raise ConfigError(f"init_tau: must be greater than 1, got {init_tau}")
        if per_channel and not features:
            raise ConfigError("plif: per_channel needs the layer's feature count (features)",
                              "Models fill it in; built alone, give features=C (the channels of its input).")
        self.per_channel = bool(per_channel)
        shape = (int(features),) if per_channel else ()
        self.w = nn.Parameter(torch.full(shape, -math.log(init_tau - 1.0)))

    @property
    def tau(self) -> Any:
        """The current time constant, 1 / sigmoid(w) in float64: a float, or a tensor of one per feature."""
        tau = 1.0 / torch.sigmoid(self.w.detach().double())
        return tau if self.per_channel else float(tau)

    def tau_values(self, step_dims: int) -> Any:
        if not self.per_channel:
            return float(self.tau)
        return self.tau.cpu().numpy().reshape(-1, *([1] * (step_dims - 1)))

    def extra_repr(self) -> str:
        if not self.per_channel:
            return super().extra_repr()
        tau = self.tau
        return (f"tau=per channel ({tau.numel()}, {float(tau.min()):.4g}..{float(tau.max()):.4g}), "
                f"decay_input={self.decay_input}, {_common_reset_repr(self)}, {Neuron.extra_repr(self)}")

    def decay_weight(self) -> Tensor:
        return self.w

    def dynamics(self) -> Dynamics:
        return Dynamics("plif", self.v_threshold, self.v_reset, self.detach_reset, self.surrogate,
                        decay_input=self.decay_input)


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

    def to_nir(self, ctx):
        """NIR's ``IF`` (dv/dt = r I) under forward Euler with step ``dt``: ``r = 1 / dt``, so one step adds X."""
        import nir

        from snnctl.export import NotExportable

        if self.v_reset is None:
            raise NotExportable(SOFT_RESET)
        return nir.IF(r=ctx.full(1.0 / ctx.dt), v_threshold=ctx.full(self.v_threshold), v_reset=ctx.full(self.v_reset))


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

    def to_nir(self, ctx):
        """NIR's ``LIF`` under forward Euler: U = decay * U + X is ``dt / tau = 1 - decay`` and ``r = 1 / (1 - decay)``,
        with ``v_leak = v_reset = 0``; MS-LIF fires where U > threshold, as NIR's LIF does."""
        import nir

        keep = 1.0 - self.decay
        return nir.LIF(tau=ctx.full(ctx.dt / keep), r=ctx.full(1.0 / keep), v_leak=ctx.full(0.0),
                       v_threshold=ctx.full(self.v_threshold), v_reset=ctx.full(0.0))

    def extra_repr(self) -> str:
        return f"decay={self.decay}, v_threshold={self.v_threshold}, {super().extra_repr()}"


@hookimpl
def register_neurons(register):
    register("lif", LIF, config=LIFConfig)
    register("plif", PLIF, config=PLIFConfig)
    register("if", IF, config=IFConfig)
    register("ms-lif", MSLIF, config=MSLIFConfig)
