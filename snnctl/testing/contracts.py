"""The contract checks behind :mod:`snnctl.testing`."""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import Tensor

from snnctl.nn import Attention, Neuron, SpikingModel, Surrogate, reset_states, takes_features

Factory = Callable[..., Any]


def _fail(what: str, rule: str) -> None:
    raise AssertionError(f"{what}: {rule}")


def _build(kind: str, target: str | Factory, kwargs: dict[str, Any]) -> Any:
    if isinstance(target, str):
        import snnctl

        return snnctl.create(kind, target, **kwargs)
    return target(**kwargs)


# -- surrogates ------------------------------------------------------------------------------------
def check_surrogate(surrogate: str | Surrogate | Factory, **kwargs: Any) -> Surrogate:
    """Check the surrogate contract; returns the instance that was checked.

    Rules: it is a ``snnctl.nn.Surrogate``; the forward pass is exactly the Heaviside step
    (``x >= 0``, or ``x > 0`` when strict); ``grad`` keeps shape and dtype and is finite and
    non-negative, largest near the threshold and vanishing far from it; the in-place ``grad_(x)``
    overwrites ``x`` with ``grad(x)`` and returns it; autograd through the spike function multiplies the upstream gradient
    by ``grad``; it has a readable repr and equal parameters compare equal.
    """
    s = surrogate if isinstance(surrogate, Surrogate) else _build("surrogate", surrogate, kwargs)
    name = repr(s)
    if not isinstance(s, Surrogate):
        _fail(name, "must be an instance of snnctl.nn.Surrogate")
    for dtype in (torch.float32, torch.float64):
        x = torch.cat([torch.linspace(-4, 4, 801, dtype=dtype), torch.tensor([0.0, -0.0, 1e-12, -1e-12], dtype=dtype)])
        xr = x.clone().requires_grad_()
        out = s(xr)
        if out.dtype != dtype or out.shape != x.shape:
            _fail(name, f"spike function must keep shape and dtype ({dtype})")
        if not torch.equal(out.detach(), (x >= 0).to(dtype)):
            _fail(name, "forward must be the Heaviside step x >= 0")
        if not torch.equal(s(x, strict=True), (x > 0).to(dtype)):
            _fail(name, "strict forward must be x > 0")
        g = s.grad(x)
        if g.shape != x.shape or g.dtype != dtype:
            _fail(name, f"grad() must keep shape and dtype ({dtype})")
        if not torch.isfinite(g).all() or (g < 0).any():
            _fail(name, "grad() must be finite and non-negative")
        if not g.max() > 0:
            _fail(name, "grad() must be positive somewhere near the threshold")
        far = s.grad(torch.tensor([-1e3, 1e3], dtype=dtype))
        if not (far <= 1e-3 * g.max()).all():
            _fail(name, "grad() must vanish far from the threshold")
        if not g[(x.abs() < 0.05)].max() >= g.max() * 0.5:
            _fail(name, "grad() must be largest near the threshold")
        buf = x.clone()
        g2 = s.grad_(buf)
        if not torch.allclose(g2, g, rtol=1e-5, atol=1e-7 if dtype == torch.float32 else 1e-12):
            _fail(name, "grad_() (in place) must agree with grad()")
        # fused neurons read the buffer they passed, not what grad_ returns
        if not torch.allclose(buf, g, rtol=1e-5, atol=1e-7 if dtype == torch.float32 else 1e-12):
            _fail(name, "grad_(x) must overwrite x with grad(x) (fused neurons read the buffer, not the returned "
                        "tensor); write into x with in-place operations (x.mul_(...), torch.sigmoid(x, out=x), ...)")
        up = torch.linspace(-1, 1, x.numel(), dtype=dtype)
        (out * up).sum().backward()
        if not torch.allclose(xr.grad, up * g, rtol=1e-6, atol=1e-12):
            _fail(name, "autograd through the spike function must multiply the upstream gradient by grad()")
    if type(s).__repr__ is object.__repr__ or "object at 0x" in repr(s):
        _fail(name, "needs a readable repr")
    return s


# -- neurons ---------------------------------------------------------------------------------------
def _drive(shape: tuple[int, ...], scale: float, dtype: torch.dtype, seed: int) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(shape, generator=g, dtype=torch.float64) * scale + 0.5 * scale).to(dtype)


def _make_neuron(target: str | Factory, kwargs: dict[str, Any], step_mode: str, shape: tuple[int, ...]) -> Neuron:
    """Build for inputs of ``shape``: a neuron that declares ``features`` gets the size of its feature axis."""
    args = {**kwargs, "step_mode": step_mode}
    if takes_features(target) and "features" not in kwargs:
        args["features"] = shape[2]
    n = _build("neuron", target, args)
    if not isinstance(n, Neuron):
        _fail(repr(target), "must build a snnctl.nn.Neuron (subclass it for the state handling)")
    return n


def parameter_shapes(module: torch.nn.Module, name: str) -> dict[str, tuple[int, ...]]:
    """Every parameter's shape; a lazy (uninitialised) parameter breaks the contract."""
    out = {}
    for pname, p in module.named_parameters():
        if isinstance(p, torch.nn.parameter.UninitializedParameter):
            _fail(name, f"parameter {pname} is lazy (uninitialised until the first call); create every parameter "
                        "in __init__ (a neuron that needs its layer's width declares a features argument)")
        out[pname] = tuple(p.shape)
    return out


def _same_parameters(module: torch.nn.Module, before: dict[str, tuple[int, ...]], name: str) -> None:
    after = parameter_shapes(module, name)
    if after != before:
        added = sorted(set(after) - set(before)) or sorted(k for k in after if after[k] != before.get(k))
        _fail(name, f"a call created or reshaped parameters ({', '.join(added)}); create every parameter in "
                    "__init__, so that parameter counts, the optimizer and checkpoints see it (a neuron that "
                    "needs its layer's width declares a features argument)")


def check_neuron(neuron: str | Factory, **kwargs: Any) -> Neuron:
    """Check the neuron contract; returns a multi-step instance.

    Rules: it builds in both step modes (``step_mode="m"`` and ``"s"``); every parameter exists once
    it is built (no lazy parameters, none created or reshaped by a call); multi-step keeps shape and
    dtype for ``[T, B]``, ``[T, B, F]`` and ``[T, B, C, H, W]`` inputs, in float32 and float64 (a
    neuron that declares a ``features`` argument is built for each input with the size of its
    feature axis, F or C, and checked on inputs that have one); spikes are exactly 0
    or 1 and some input drive gives both; single-step over time after ``reset()`` gives the same
    spikes and input gradients as multi-step; a multi-step call continues from the state the
    previous call left (two calls of T/2 steps give the spikes of one call of T steps); the input
    is not modified; ``reset()`` restores the initial state; results do not depend on autograd being
    enabled (including ``torch.inference_mode``); gradients reach the input and every learnable
    parameter and are finite, and a second backward pass through a retained graph gives the same
    gradients; ``state_dict`` round-trips.
    """
    m = _make_neuron(neuron, kwargs, "m", (6, 3, 16))
    name = f"{neuron!r} ({type(m).__name__})"
    if not hasattr(m, "reset") or not callable(m.reset):
        _fail(name, "needs reset()")
    shapes = parameter_shapes(m, name)

    # Find an input scale at which the neuron both fires and stays silent somewhere.
    scale = None
    for candidate in (1.0, 2.0, 4.0, 8.0, 0.5, 16.0):
        m.reset()
        with torch.no_grad():
            s = m(_drive((8, 4, 16), candidate, torch.float32, 0))
        _same_parameters(m, shapes, name)
        if 0 < s.mean().item() < 1:
            scale = candidate
            break
    if scale is None:
        _fail(name, "no input drive in 0.5..16 gives a mix of spikes and silence")

    for dtype in (torch.float32, torch.float64):
        for shape in ((5, 2, 3) if takes_features(neuron) else (5, 3), (4, 2, 3, 5, 5), (1, 2, 7)):
            x = _drive(shape, scale, dtype, 1)
            m_ = _make_neuron(neuron, kwargs, "m", shape).to(dtype)
            s_ = _make_neuron(neuron, kwargs, "s", shape).to(dtype)
            s_.load_state_dict(m_.state_dict())
            xm = x.clone().requires_grad_()
            out = m_(xm)
            if out.shape != x.shape or out.dtype != dtype:
                _fail(name, f"multi-step must keep shape and dtype: {tuple(x.shape)} {dtype} -> "
                            f"{tuple(out.shape)} {out.dtype}")
            if not ((out == 0) | (out == 1)).all():
                _fail(name, "spikes must be exactly 0 or 1")
            up = _drive(shape, 1.0, dtype, 2)
            (out * up).sum().backward()
            xs = x.clone().requires_grad_()
            out_s = torch.stack([s_(xt) for xt in xs.unbind(0)])
            if not torch.equal(out_s.detach(), out.detach()):
                _fail(name, f"single-step over time must give the same spikes as multi-step ({dtype}, {shape})")
            (out_s * up).sum().backward()
            tol = dict(rtol=1e-4, atol=1e-5) if dtype == torch.float32 else dict(rtol=1e-9, atol=1e-12)
            if not torch.allclose(xm.grad, xs.grad, **tol):
                _fail(name, f"single-step and multi-step input gradients differ ({dtype}, {shape})")
            if not torch.isfinite(xm.grad).all():
                _fail(name, "input gradient must be finite")
            for (pname, pm), (_, ps) in zip(m_.named_parameters(), s_.named_parameters()):
                if pm.requires_grad and (pm.grad is None or not torch.isfinite(pm.grad).all()):
                    _fail(name, f"parameter {pname} gets no finite gradient")
                if pm.requires_grad and not torch.allclose(pm.grad, ps.grad, **tol):
                    _fail(name, f"parameter {pname}: single-step and multi-step gradients differ")
    x = _drive((6, 3, 16), scale, torch.float32, 3)
    xr = x.clone().requires_grad_()
    m.reset()
    a = m(xr)
    if not torch.equal(xr.detach(), x):
        _fail(name, "must not modify its input")
    up = _drive(tuple(x.shape), 1.0, torch.float32, 4)
    (a * up).sum().backward(retain_graph=True)
    if xr.grad is None or not xr.grad.abs().sum() > 0:
        _fail(name, "gradient must reach the input")
    first = xr.grad.clone()
    xr.grad = None
    try:
        (a * up).sum().backward()
    except RuntimeError as exc:
        _fail(name, f"a second backward pass through a retained graph (retain_graph=True) failed: {exc}")
    if not torch.equal(first, xr.grad):
        _fail(name, "a second backward pass through a retained graph (retain_graph=True) must give "
                    "the same gradients")
    m.reset()
    with torch.no_grad():
        halves = torch.cat([m(x[:2]), m(x[2:])])
    if not torch.equal(a.detach(), halves):
        _fail(name, "a multi-step call must continue from the state the previous call left "
                    "(two calls of T/2 steps must equal one call of T steps)")
    m.reset()
    with torch.inference_mode():
        inf = m(x)
    if not torch.equal(a.detach(), inf):
        _fail(name, "spikes under torch.inference_mode must equal those with autograd")
    m.reset()
    with torch.no_grad():
        b = m(x)
    if not torch.equal(a.detach(), b):
        _fail(name, "spikes must not depend on autograd being enabled")
    m.reset()
    with torch.no_grad():
        c = m(x)
    if not torch.equal(b, c):
        _fail(name, "reset() must restore the initial state")
    fresh = _make_neuron(neuron, kwargs, "m", tuple(x.shape))
    fresh.load_state_dict(m.state_dict())
    with torch.no_grad():
        m.reset()
        if not torch.equal(fresh(x), m(x)):
            _fail(name, "a neuron loaded from state_dict must behave the same")
    m.reset()
    return m


# -- attention ---------------------------------------------------------------------------------------
def _grads_reach(module: torch.nn.Module, x: Tensor, out: Tensor, name: str) -> None:
    up = _drive(tuple(out.shape), 1.0, out.dtype, 5)
    (out * up).sum().backward()
    if x.grad is None or not torch.isfinite(x.grad).all() or not x.grad.abs().sum() > 0:
        _fail(name, "a finite, non-zero gradient must reach the input")
    for pname, p in module.named_parameters():
        if p.requires_grad and (p.grad is None or not torch.isfinite(p.grad).all()):
            _fail(name, f"parameter {pname} gets no finite gradient")


def check_attention(attention: str | Factory, channels: int = 8, timesteps: int = 4, **kwargs: Any) -> Attention:
    """Check the attention contract; returns the instance that was checked.

    Rules: it builds from ``channels`` and ``timesteps`` as a ``snnctl.nn.Attention`` with every
    parameter created (none lazy, none added by a call); it maps
    ``[T, B, C, H, W]`` to the same shape and dtype (float32 and float64, square and non-square
    maps); it does not modify its input; gradients reach the input and every parameter and are
    finite; in evaluation the output is deterministic; ``state_dict`` round-trips.
    """
    args = {**kwargs, "channels": channels, "timesteps": timesteps}
    a = _build("attention", attention, args)
    name = f"{attention!r} ({type(a).__name__})"
    if not isinstance(a, Attention):
        _fail(name, "must build a snnctl.nn.Attention")
    for dtype in (torch.float32, torch.float64):
        for hw in ((6, 6), (5, 7)):
            m = _build("attention", attention, args).to(dtype)
            shapes = parameter_shapes(m, name)
            x = _drive((timesteps, 3, channels, *hw), 2.0, dtype, 6)
            xr = x.clone().requires_grad_()
            reset_states(m)
            out = m(xr)
            _same_parameters(m, shapes, name)
            if out.shape != x.shape or out.dtype != dtype:
                _fail(name, f"must keep shape and dtype: {tuple(x.shape)} {dtype} -> {tuple(out.shape)} {out.dtype}")
            if not torch.equal(xr.detach(), x):
                _fail(name, "must not modify its input")
            _grads_reach(m, xr, out, name)
    _check_eval(a, lambda: _build("attention", attention, args), _drive((timesteps, 2, channels, 6, 6), 2.0, torch.float32, 7), name)
    return a


def _check_eval(module: torch.nn.Module, rebuild: Callable[[], torch.nn.Module], x: Tensor, name: str) -> Tensor:
    """Evaluation is deterministic and survives a state_dict round trip; returns the output."""
    module.eval()
    with torch.no_grad():
        reset_states(module)
        first = module(x)
        reset_states(module)
        if not torch.equal(first, module(x)):
            _fail(name, "evaluation output must be deterministic")
        fresh = rebuild().eval()
        fresh.load_state_dict(module.state_dict())
        reset_states(fresh)
        if not torch.equal(fresh(x), first):
            _fail(name, "an instance loaded from state_dict must behave the same")
        reset_states(module)
    return first


# -- models ------------------------------------------------------------------------------------------
def check_model(model: str | Factory, batch: int = 2, **kwargs: Any) -> SpikingModel:
    """Check the model contract; returns the instance that was checked.

    Rules: it builds as a ``snnctl.nn.SpikingModel`` with every parameter created (none lazy, none
    added by a call); its ``example_input`` ``[T, B, C_in, H, W]``
    gives finite per-step logits ``[T, B, num_classes]``; gradients reach every parameter; after
    ``reset_states`` evaluation is deterministic and independent of the batch it is in; ``state_dict``
    round-trips.
    """
    m = _build("model", model, kwargs)
    name = f"{model!r} ({type(m).__name__})"
    if not isinstance(m, SpikingModel):
        _fail(name, "must build a snnctl.nn.SpikingModel")
    shapes = parameter_shapes(m, name)
    torch.manual_seed(0)
    x = m.example_input(batch)
    xr = x.clone().requires_grad_()
    m.train()
    reset_states(m)
    out = m(xr)
    _same_parameters(m, shapes, name)
    want = (m.timesteps, batch, m.num_classes)
    if tuple(out.shape) != want:
        _fail(name, f"must return per-step logits {want}, got {tuple(out.shape)}")
    if not torch.isfinite(out).all():
        _fail(name, "logits must be finite")
    _grads_reach(m, xr, out, name)
    first = _check_eval(m, lambda: _build("model", model, kwargs), x, name)
    with torch.no_grad():
        alone = m(x[:, :1])
    reset_states(m)
    if not torch.allclose(alone, first[:, :1], rtol=1e-4, atol=1e-5):
        _fail(name, "in evaluation a sample's logits must not depend on the rest of the batch")
    return m


# -- datasets ----------------------------------------------------------------------------------------
def check_dataset(dataset: str | Factory, root: Any = None, samples: int = 4, **kwargs: Any) -> Any:
    """Check the dataset contract on data at ``root`` (or generated data); returns the instance.

    Rules: it builds as a ``snnctl.data.base.EventDataset`` with class names, a sensor ``(W, H, P)``
    and a default T; ``locate(root, download=False)`` finds recordings with unique keys and labels
    among the classes, and official splits name ``train`` and ``test``; the first ``samples``
    recordings read as valid events on the sensor (see ``snnctl.data.frames.check_events``), the same
    on a second read; the dataset pickles (workers receive it) and its ``params()`` and
    ``describe()`` are JSON-ready.
    """
    import json
    import pickle
    from pathlib import Path

    import numpy as np

    from snnctl.data.base import EventDataset
    from snnctl.data.frames import RecordingError, check_events

    d = _build("dataset", dataset, kwargs)
    name = f"{dataset!r} ({type(d).__name__})"
    if not isinstance(d, EventDataset):
        _fail(name, "must build a snnctl.data.base.EventDataset")
    recordings = d.locate(Path(root) if root is not None else None, False)
    if not recordings:
        _fail(name, "locate() found no recordings")
    if not d.classes or len(d.sensor_size) != 3 or d.default_frames < 1:
        _fail(name, "needs classes, a sensor_size (W, H, P) and a default_frames >= 1")
    keys = [r.key for r in recordings]
    if len(set(keys)) != len(keys):
        _fail(name, "recording keys must be unique")
    if any(not 0 <= r.label < len(d.classes) for r in recordings):
        _fail(name, "every label must index the class names")
    if d.split_policy == "official" and not {"train", "test"} <= {r.split for r in recordings}:
        _fail(name, "an official split must name 'train' and 'test' recordings")
    clone = pickle.loads(pickle.dumps(d))
    for rec in recordings[:samples]:
        try:
            events = check_events(d.read(rec), d.sensor_size)
        except RecordingError as exc:
            _fail(name, f"recording {rec.key} is not valid: {exc}")
        again = check_events(clone.read(rec), clone.sensor_size)
        if len(events) != len(again) or any(not np.array_equal(events[f], again[f]) for f in ("x", "y", "p", "t")):
            _fail(name, f"reading {rec.key} twice (once after pickling) must give the same events")
    for what, value in (("params()", d.params()), ("describe()", d.describe())):
        try:
            json.dumps(value)
        except TypeError as exc:
            _fail(name, f"{what} must be JSON-ready: {exc}")
    return d
