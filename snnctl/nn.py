"""Base classes for neuron and surrogate plugins.

These hold no neuron model of their own: they fix the contract that every neuron and surrogate,
built-in or third-party, follows, so the engine, the profiler and the contract checks in
:mod:`snnctl.testing` can treat them alike.

* :class:`Surrogate`: the spike function. Forward is the Heaviside step of ``x = v - threshold``
  (``x >= 0``); backward multiplies by :meth:`Surrogate.grad`, the derivative of a smooth stand-in.
* :class:`Neuron`: a stateful ``nn.Module``. ``step_mode="m"`` maps ``[T, B, ...]`` to spikes of the same
  shape and dtype (time first); ``step_mode="s"`` takes one ``[B, ...]`` step. Either way the membrane
  potential stays in ``self.v`` until :meth:`Neuron.reset`, so a multi-step call continues from the
  state the previous call left, and both modes give the same spikes for the same sequence.

State and gradients: the carried state keeps its autograd history, so gradients flow across
consecutive calls exactly as through one long call (two calls of T/2 steps equal one of T steps).
The flip side, as in SpikingJelly: call :meth:`Neuron.reset` (or :func:`reset_states` on the
network) between independent sequences, in particular after every optimizer step; otherwise the
next backward pass reaches into a graph that was already freed.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from snnctl.errors import ConfigError

__all__ = ["Surrogate", "Neuron", "spike", "reset_states", "make_surrogate"]


class Surrogate:
    """A surrogate gradient: Heaviside forward, ``grad(x)`` backward.

    Subclasses implement :meth:`grad`; they may override :meth:`grad_` with an in-place version,
    which fused neuron kernels call on a scratch buffer to avoid allocations. Parameters are the
    public attributes set in ``__init__``; they make up :meth:`extra_repr`, ``repr`` and equality.
    """

    def grad(self, x: Tensor) -> Tensor:
        """Derivative of the smooth stand-in for the Heaviside step, at ``x = v - threshold``."""
        raise NotImplementedError

    def grad_(self, x: Tensor) -> Tensor:
        """In-place :meth:`grad`: overwrite ``x`` with the derivative and return it."""
        return x.copy_(self.grad(x))

    def __call__(self, x: Tensor, strict: bool = False) -> Tensor:
        """Spikes ``x >= 0`` (``x > 0`` when ``strict``) with this surrogate's gradient."""
        return spike(x, self, strict)

    def _params(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def extra_repr(self) -> str:
        """The parameters as ``name=value, ...`` (as ``nn.Module.extra_repr``)."""
        return ", ".join(f"{k}={v!r}" for k, v in self._params().items())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self._params() == other._params()  # type: ignore[union-attr]

    def __hash__(self) -> int:
        return hash((type(self), tuple(sorted(self._params().items()))))


class _SpikeFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, surrogate: Surrogate, strict: bool) -> Tensor:
        if x.requires_grad:
            ctx.save_for_backward(x)
        ctx.surrogate = surrogate
        return (x > 0 if strict else x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        (x,) = ctx.saved_tensors
        return grad_out * ctx.surrogate.grad(x), None, None


def spike(x: Tensor, surrogate: Surrogate, strict: bool = False) -> Tensor:
    """Heaviside step of ``x`` (``x >= 0``, or ``x > 0`` if strict) with ``surrogate``'s gradient."""
    return _SpikeFunction.apply(x, surrogate, strict)


def make_surrogate(surrogate: str | Surrogate, args: dict[str, Any] | None = None) -> Surrogate:
    """A surrogate instance from a registry name (with its arguments) or an instance."""
    if isinstance(surrogate, Surrogate):
        if args:
            raise ConfigError("surrogate_args: give arguments only with a surrogate name, not an instance")
        return surrogate
    if isinstance(surrogate, str):
        import snnctl

        made = snnctl.create("surrogate", surrogate, **(args or {}))
        if not isinstance(made, Surrogate):
            raise ConfigError(f"surrogate '{surrogate}' is not a snnctl.nn.Surrogate (got {type(made).__name__})")
        return made
    raise ConfigError(f"surrogate: expected a registry name or a Surrogate, got {type(surrogate).__name__}")


class Neuron(nn.Module):
    """Base class of spiking neurons: step modes, membrane state and the surrogate by name.

    Subclasses implement :meth:`single_step` (one step, reading and writing ``self.v``) and may
    override :meth:`multi_step` with a fused implementation; the default loops over time. A
    subclass with more state than ``self.v`` overrides :meth:`reset` and calls ``super().reset()``.
    ``surrogate`` is a registry name (resolved through ``snnctl.create("surrogate", name,
    **surrogate_args)``) or a :class:`Surrogate` instance.

    The contract (checked by :func:`snnctl.testing.check_neuron`): multi-step keeps shape and dtype,
    spikes are exactly 0 or 1, single steps after ``reset()`` equal one multi-step call, a call
    continues from the carried state, the input is not modified, and gradients reach the input and
    every parameter.
    """

    def __init__(
        self,
        surrogate: str | Surrogate = "atan",
        surrogate_args: dict[str, Any] | None = None,
        step_mode: str = "m",
    ) -> None:
        super().__init__()
        if step_mode not in ("m", "s"):
            raise ConfigError(f"step_mode: expected 'm' (multi-step) or 's' (single-step), got {step_mode!r}")
        self.step_mode = step_mode
        self.surrogate = make_surrogate(surrogate, surrogate_args)
        self.v: Tensor | None = None

    def reset(self) -> None:
        """Forget the membrane state (call between samples or batches)."""
        self.v = None

    def forward(self, x: Tensor) -> Tensor:
        if self.step_mode == "m":
            if x.dim() < 2:
                raise ValueError(f"{type(self).__name__} in multi-step mode expects [T, B, ...], "
                                 f"got shape {tuple(x.shape)}")
            return self.multi_step(x)
        return self.single_step(x)

    def single_step(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def multi_step(self, x: Tensor) -> Tensor:
        return torch.stack([self.single_step(xt) for xt in x.unbind(0)])

    def extra_repr(self) -> str:
        return f"step_mode={self.step_mode!r}, surrogate={self.surrogate!r}"


def reset_states(module: nn.Module) -> None:
    """Reset every neuron in a network (the equivalent of SpikingJelly's ``reset_net``)."""
    for m in module.modules():
        if isinstance(m, Neuron):
            m.reset()
