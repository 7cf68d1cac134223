"""The fused neurons' time loop as one C kernel (forward and backward), where a C compiler is present.

:func:`forward` and :func:`backward` compute exactly what :func:`snnctl_plugins.neurons.run_forward` and
``run_backward`` compute with PyTorch operations, in the same order and with the same roundings, but in
one pass per block of neurons (each ``addcmul``/``sub(alpha=)`` as the fused multiply-add that PyTorch's
vectorised CPU kernels compute): each block of 1024 neurons runs its whole time loop while its state stays
in cache, so every element of the input, the spikes, the saved membranes and the input gradient is read
or written once. Spikes, membranes and gradients are bit-identical to the PyTorch path's.

It covers lif, if and ms-lif (any reset, detached or not) with the built-in surrogates atan, rect and
triangle, on float32 CPU tensors whose time axis is outermost and whose steps are dense (any
memory format). Anything else (plif's learnable decay, another dtype or device, a third-party
surrogate) returns None and the caller runs its PyTorch path. The kernel is compiled on first use
(:mod:`snnctl.native`); ``SNNCTL_NATIVE=0`` turns it off.
"""

from __future__ import annotations

import ctypes
import math
from typing import Optional

import torch
from torch import Tensor

from snnctl import native

SOURCE = r"""
#include <math.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    int32_t kind;       /* 0 lif (decay_input), 1 lif (no decay_input), 2 if, 3 ms */
    int32_t hard;       /* 1: V = H (1 - S) + v_r S;  0: V = H - v_th S */
    int32_t strict;     /* S = H > v_th instead of H >= v_th */
    int32_t detach;     /* the spike in the reset carries no gradient */
    int32_t surrogate;  /* 0 atan, 2 rect, 3 triangle */
    int32_t gx_mode;    /* dL/dX = dL/dH / tau (0) or dL/dH (1) */
    float vth, vr, tau, decay, k, sp1, sp2;
} params;

#define BLK 1024

void neuron_forward(const float *x, float *spikes, float *h_all, float *v, int64_t T, int64_t N,
                    int64_t start, int64_t end, const params *p) {
    float vb[BLK], hb[BLK];
    const int kind = p->kind, hard = p->hard, strict = p->strict;
    const float vth = p->vth, vr = p->vr, tau = p->tau, decay = p->decay;
    for (int64_t b0 = start; b0 < end; b0 += BLK) {
        const int64_t n = end - b0 < BLK ? end - b0 : BLK;
        memcpy(vb, v + b0, n * sizeof(float));
        for (int64_t t = 0; t < T; t++) {
            const float *xt = x + t * N + b0;
            float *st = spikes + t * N + b0;
            float *ht = h_all ? h_all + t * N + b0 : hb;
            switch (kind) {
            case 0: for (int64_t i = 0; i < n; i++) { float a = xt[i] - (vb[i] - vr); ht[i] = vb[i] + a / tau; } break;
            case 1: for (int64_t i = 0; i < n; i++) { float a = vb[i] - vr; float h = vb[i] - a / tau; ht[i] = h + xt[i]; } break;
            case 2: for (int64_t i = 0; i < n; i++) ht[i] = vb[i] + xt[i]; break;
            default: for (int64_t i = 0; i < n; i++) { float h = vb[i] * decay; ht[i] = h + xt[i]; } break;
            }
            if (hard) {
                for (int64_t i = 0; i < n; i++) {
                    float h = ht[i];
                    float s = (strict ? h > vth : h >= vth) ? 1.0f : 0.0f;
                    st[i] = s;
                    vb[i] = fmaf(s, vr, fmaf(-h, s, h));
                }
            } else {
                for (int64_t i = 0; i < n; i++) {
                    float h = ht[i];
                    float s = (strict ? h > vth : h >= vth) ? 1.0f : 0.0f;
                    st[i] = s;
                    vb[i] = h - vth * s;
                }
            }
        }
        memcpy(v + b0, vb, n * sizeof(float));
    }
}

/* gx may be h_all itself: step t reads H[t] before it writes dL/dX[t] at the same place.
   Each step runs as a few simple loops over the block (surrogate, carry, input gradient) so that
   each one vectorises. */
void neuron_backward(const float *h_all, const float *g_spikes, float *gx, float *carry, int64_t T, int64_t N,
                     int64_t start, int64_t end, const params *p) {
    float cb[BLK], sg[BLK], zero[BLK];
    const int hard = p->hard, strict = p->strict, detach = p->detach, which = p->surrogate, gx_mode = p->gx_mode;
    const float vth = p->vth, vr = p->vr, tau = p->tau, k = p->k, sp1 = p->sp1, sp2 = p->sp2;
    memset(zero, 0, sizeof(zero));
    for (int64_t b0 = start; b0 < end; b0 += BLK) {
        const int64_t n = end - b0 < BLK ? end - b0 : BLK;
        memcpy(cb, carry + b0, n * sizeof(float));
        for (int64_t t = T - 1; t >= 0; t--) {
            const float *ht = h_all + t * N + b0;
            const float *gt = g_spikes ? g_spikes + t * N + b0 : zero;
            float *gxt = gx ? gx + t * N + b0 : NULL;
            switch (which) {  /* dS/dH at H - v_th */
            case 0: for (int64_t i = 0; i < n; i++) { float x = ht[i] - vth; float y = fmaf(sp1 * x, x, 1.0f); sg[i] = (1.0f / y) * sp2; } break;
            case 2: for (int64_t i = 0; i < n; i++) { float x = ht[i] - vth; sg[i] = (fabsf(x) < sp1 ? 1.0f : 0.0f) / sp2; } break;
            default: for (int64_t i = 0; i < n; i++) { float x = ht[i] - vth; float y = -fabsf(x) + sp1; y = y < 0.0f ? 0.0f : y; sg[i] = y / sp2; } break;
            }
            /* dL/dH = dL/dS * dS/dH + dL/dV * dV/dH */
            if (hard && detach) {
                for (int64_t i = 0; i < n; i++) {
                    const float silent = (strict ? ht[i] <= vth : ht[i] < vth) ? 1.0f : 0.0f;
                    cb[i] = fmaf(gt[i], sg[i], cb[i] * silent);
                }
            } else if (hard) {
                for (int64_t i = 0; i < n; i++) {
                    const float silent = (strict ? ht[i] <= vth : ht[i] < vth) ? 1.0f : 0.0f;
                    const float a = fmaf(-cb[i], ht[i] - vr, gt[i]);
                    cb[i] = fmaf(a, sg[i], cb[i] * silent);
                }
            } else if (detach) {
                for (int64_t i = 0; i < n; i++) cb[i] = fmaf(gt[i], sg[i], cb[i]);
            } else {
                for (int64_t i = 0; i < n; i++) cb[i] = fmaf(fmaf(cb[i], -vth, gt[i]), sg[i], cb[i]);
            }
            if (gxt && gx_mode == 0) for (int64_t i = 0; i < n; i++) gxt[i] = cb[i] / tau;
            else if (gxt) memcpy(gxt, cb, n * sizeof(float));
            if (k != 1.0f) for (int64_t i = 0; i < n; i++) cb[i] = cb[i] * k;
        }
        memcpy(carry + b0, cb, n * sizeof(float));
    }
}
"""


class Params(ctypes.Structure):
    _fields_ = [(name, ctypes.c_int32) for name in ("kind", "hard", "strict", "detach", "surrogate", "gx_mode")] + \
               [(name, ctypes.c_float) for name in ("vth", "vr", "tau", "decay", "k", "sp1", "sp2")]


_ptr = ctypes.c_void_p
_i64 = ctypes.c_int64


def library() -> Optional[ctypes.CDLL]:
    lib = native.load("neuron", SOURCE)
    if lib is not None and not getattr(lib, "_typed", False):
        for fn in (lib.neuron_forward, lib.neuron_backward):
            fn.argtypes = [_ptr, _ptr, _ptr, _ptr, _i64, _i64, _i64, _i64, ctypes.POINTER(Params)]
            fn.restype = None
        lib._typed = True
    return lib


def params(dyn) -> Optional[Params]:
    """The kernel's constants for a :class:`~snnctl_plugins.neurons.Dynamics`, or None where it has no kernel."""
    from snnctl_plugins import surrogates

    if dyn.kind == "plif":
        return None
    sur = dyn.surrogate
    # exact types: a subclass may compute its own gradient. sigmoid stays on the PyTorch path: C's expf
    # and PyTorch's vectorised exp differ in the last bit.
    kind_of = {surrogates.ATan: 0, surrogates.Rect: 2, surrogates.Triangle: 3}
    which = kind_of.get(type(sur))
    if which is None:
        return None
    if which == 0:
        sp = ((math.pi / 2 * sur.alpha) ** 2, sur.alpha / 2)
    elif which == 2:
        sp = (sur.width / 2, sur.width)
    else:
        sp = (sur.width, sur.width ** 2)
    kind = {"lif": 0 if dyn.decay_input else 1, "if": 2, "ms": 3}[dyn.kind]
    k = dyn.dh_dv(None)
    return Params(kind=kind, hard=dyn.v_reset is not None, strict=dyn.strict, detach=dyn.detach_reset,
                  surrogate=which, gx_mode=0 if kind == 0 else 1, vth=dyn.v_threshold, vr=dyn.v_reset or 0.0,
                  tau=dyn.tau, decay=dyn.decay, k=k, sp1=sp[0], sp2=sp[1])


def _fits(x: Tensor) -> bool:
    """float32 on the CPU, time axis outermost, every step one dense block in the same layout."""
    if x.dtype != torch.float32 or x.device.type != "cpu" or x.dim() < 2 or x.numel() == 0:
        return False
    return _dense(x) and x.stride(0) == x[0].numel()


def _dense(t: Tensor) -> bool:
    """Whether ``t`` covers one block of memory with no gaps or overlaps (any order of its axes)."""
    expected = 1
    for stride, size in sorted((st, sz) for sz, st in zip(t.shape, t.stride()) if sz != 1):
        if stride != expected:
            return False
        expected *= size
    return True


def _addr(t: Optional[Tensor]) -> Optional[int]:
    return None if t is None else t.data_ptr()


def forward(x: Tensor, v0: Optional[Tensor], dyn, keep_h: bool):
    """(spikes, V[T-1], H or None) as ``run_forward`` computes them, or None where the kernel does not apply."""
    p = params(dyn)
    if p is None or not _fits(x) or (lib := library()) is None:
        return None
    spikes = torch.empty_like(x)
    if spikes.stride() != x.stride():
        return None
    h_all = torch.empty_like(x) if keep_h else None
    v = torch.empty_like(x[0])
    v.fill_(dyn.v_init) if v0 is None else v.copy_(v0.detach())
    T, N = x.shape[0], v.numel()
    native.run_parallel(lambda s, e: lib.neuron_forward(x.data_ptr(), spikes.data_ptr(), _addr(h_all), v.data_ptr(),
                                                        T, N, s, e, ctypes.byref(p)), N, torch.get_num_threads())
    return spikes, v, h_all


def backward(h_all: Tensor, g_spikes: Optional[Tensor], g_v: Optional[Tensor], dyn, gx: Optional[Tensor]):
    """dL/dV[-1] as ``run_backward`` computes it, writing dL/dX into ``gx``; None where the kernel does not apply."""
    p = params(dyn)
    if p is None or not _fits(h_all) or (gx is not None and gx.stride() != h_all.stride()) or (lib := library()) is None:
        return None
    if g_spikes is not None and (g_spikes.dtype != h_all.dtype or g_spikes.device != h_all.device):
        return None
    if g_spikes is not None and g_spikes.stride() != h_all.stride():
        g_spikes = torch.empty_like(h_all).copy_(g_spikes)
    carry = torch.empty_like(h_all[0])
    carry.zero_() if g_v is None else carry.copy_(g_v)
    T, N = h_all.shape[0], carry.numel()
    native.run_parallel(lambda s, e: lib.neuron_backward(h_all.data_ptr(), _addr(g_spikes), _addr(gx),
                                                         carry.data_ptr(), T, N, s, e, ctypes.byref(p)),
                        N, torch.get_num_threads())
    return carry
