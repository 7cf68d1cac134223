"""Base classes for component plugins.

These hold no SNN component of their own: they fix the contract that every neuron, surrogate,
attention module, regularizer and model, built-in or third-party, follows, so the engine, the profiler and the contract checks in
:mod:`snnctl.testing` can treat them alike.

* :class:`Surrogate`: the spike function. Forward is the Heaviside step of ``x = v - threshold``
  (``x >= 0``); backward multiplies by :meth:`Surrogate.grad`, the derivative of a smooth stand-in.
* :class:`Neuron`: a stateful ``nn.Module``. ``step_mode="m"`` maps ``[T, B, ...]`` to spikes of the same
  shape and dtype (time first); ``step_mode="s"`` takes one ``[B, ...]`` step. Either way the membrane
  potential stays in ``self.v`` until :meth:`Neuron.reset`, so a multi-step call continues from the
  state the previous call left, and both modes give the same spikes for the same sequence.
* :class:`Attention`, :class:`Regularizer` and :class:`SpikingModel`: the contracts of attention
  modules, regularizers and models; :class:`SeqFold` and :class:`StepDropout` apply stateless layers
  to time-first tensors.

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

__all__ = [
    "Surrogate",
    "Neuron",
    "Attention",
    "Regularizer",
    "SpikingModel",
    "SeqFold",
    "StepDropout",
    "spike",
    "reset_states",
    "make_surrogate",
    "make_neuron",
    "make_attention",
    "takes_features",
    "SpikeRecorder",
]


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

        return snnctl.registry().create_as("surrogate", surrogate, Surrogate, "snnctl.nn.Surrogate", **(args or {}))
    raise ConfigError(f"surrogate: expected a registry name or a Surrogate, got {type(surrogate).__name__}")


class Neuron(nn.Module):
    """Base class of spiking neurons: step modes, membrane state and the surrogate by name.

    Subclasses implement :meth:`single_step` (one step, reading and writing ``self.v``) and may
    override :meth:`multi_step` with a fused implementation; the default loops over time. A
    subclass with more state than ``self.v`` overrides :meth:`reset` and calls ``super().reset()``.
    ``surrogate`` is a registry name (resolved through ``snnctl.create("surrogate", name,
    **surrogate_args)``) or a :class:`Surrogate` instance.

    Parameters are created in the constructor, never lazily or in the first forward pass
    (``check_neuron`` and ``snnctl train`` refuse neurons whose parameters appear or change shape
    when called). A neuron with one parameter per channel declares a ``features`` argument in its
    config: models pass each layer's width there (see :func:`make_neuron`), and a parameter of shape
    ``[features]`` then broadcasts over the feature axis (axis 2 of ``[T, B, C, H, W]``, axis 1 of a
    single step). State (``self.v`` and anything a subclass adds) is plain tensors, not buffers, so
    it is never saved in checkpoints; the trainer resets it after every batch.

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


def make_neuron(name: str, args: dict[str, Any] | None = None, *, features: int | None = None, **fixed: Any) -> Neuron:
    """A neuron from a registry name and its arguments (models build neurons this way).

    ``features`` is the feature count of the layer the neuron serves: the channels C of a
    ``[T, B, C, H, W]`` input, the width F of ``[T, B, F]``. It reaches only neurons whose config
    declares a ``features`` field (``plif`` with ``per_channel``, or a third-party neuron with
    per-channel parameters); others never see it. ``fixed`` are arguments the caller insists on
    (``step_mode="m"``); they override ``args``.
    """
    import snnctl

    args = dict(args or {})
    if features is not None and "features" in snnctl.registry().get("neuron", name).config.model_fields:
        if args.get("features") not in (None, features):
            raise ConfigError(f"neuron_args.features: the model sets the feature count of each layer "
                              f"(here {features}), but the arguments give {args['features']}",
                              "Remove features from the neuron's arguments.")
        args["features"] = int(features)
    return snnctl.registry().create_as("neuron", name, nn.Module, "torch.nn.Module", **{**args, **fixed})


def takes_features(neuron: str | Any) -> bool:
    """Whether a neuron (registry name or factory) declares a ``features`` argument (see :func:`make_neuron`)."""
    import inspect

    if isinstance(neuron, str):
        import snnctl

        return "features" in snnctl.registry().get("neuron", neuron).config.model_fields
    target = neuron.__init__ if inspect.isclass(neuron) else neuron
    try:
        return "features" in inspect.signature(target).parameters
    except (TypeError, ValueError):
        return False


class SpikeRecorder:
    """The spikes every neuron of a model emitted in its latest forward pass.

    The supported way for regularizers, training callbacks and analysis code to read spikes and
    firing rates::

        recorder = SpikeRecorder(model)        # every snnctl.nn.Neuron inside model
        logits = model(x)
        recorder.rates()                       # {"features.0.neuron": tensor(0.12, grad_fn=...), ...}
        recorder.rate()                        # all spikes / all neuron updates, one scalar
        recorder.spikes()["features.0.neuron"] # [T, B, ...] as the neuron returned it
        recorder.close()                       # remove the hooks

    Each forward pass of ``model`` starts a new record, so what it holds is always the latest pass
    (of a training or an evaluation batch). Spikes keep their autograd graph, so a penalty built
    from them trains the network (surrogate gradients flow back through the neurons); with
    ``detach=True`` they are stored without it. ``neurons`` keeps only the neurons whose qualified
    names match one of its shell-style patterns (``["features.*"]``). A neuron in single-step mode,
    called once per step, is recorded as the stack of its T outputs.
    """

    def __init__(self, model: nn.Module, neurons: list[str] | None = None, detach: bool = False) -> None:
        import fnmatch

        self.detach = bool(detach)
        targets = [(name, m) for name, m in model.named_modules() if isinstance(m, Neuron)]
        if neurons is not None:
            targets = [(n, m) for n, m in targets if any(fnmatch.fnmatchcase(n, p) for p in neurons)]
        #: qualified names of the recorded neurons, in the model's order
        self.names: list[str] = [n for n, _ in targets]
        self._calls: dict[str, list[Tensor]] = {}
        self._single: dict[str, bool] = {}
        self._handles = [model.register_forward_pre_hook(lambda module, args: self.clear())]
        for name, m in targets:
            self._handles.append(m.register_forward_hook(self._hook(name)))

    def _hook(self, name: str):
        def record(module: nn.Module, inputs: Any, output: Tensor) -> None:
            self._single[name] = getattr(module, "step_mode", "m") == "s"
            self._calls.setdefault(name, []).append(output.detach() if self.detach else output)
        return record

    def clear(self) -> None:
        """Forget the recorded spikes (done at the start of every forward pass of the model)."""
        self._calls = {}

    def spikes(self) -> dict[str, Tensor]:
        """Per recorded neuron that ran in the latest pass, its spikes ``[T, B, ...]``: single-step calls
        stacked over time, several multi-step calls joined along it."""
        out = {}
        for name, calls in self._calls.items():
            out[name] = torch.stack(calls) if self._single.get(name) else \
                (calls[0] if len(calls) == 1 else torch.cat(calls))
        return out

    def rates(self) -> dict[str, Tensor]:
        """Per recorded neuron, its firing rate in the latest pass: spikes / (neurons x steps x samples)."""
        out = {}
        for name, calls in self._calls.items():
            total = sum(c.sum(dtype=torch.float32) for c in calls)
            out[name] = total / sum(c.numel() for c in calls)
        return out

    def rate(self) -> Tensor:
        """The firing rate of all recorded neurons together (each spike and neuron update counted once)."""
        if not self._calls:
            raise RuntimeError("SpikeRecorder: no spikes recorded yet; call the model first")
        calls = [c for cs in self._calls.values() for c in cs]
        return sum(c.sum(dtype=torch.float32) for c in calls) / sum(c.numel() for c in calls)

    def close(self) -> None:
        """Remove the hooks; the recorder records nothing from then on."""
        for h in self._handles:
            h.remove()
        self._handles = []
        self.clear()

    def __enter__(self) -> "SpikeRecorder":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SpikeRecorder({len(self.names)} neurons)"


# -- attention ---------------------------------------------------------------------------------------
class Attention(nn.Module):
    """Base class of attention modules: ``[T, B, C, H, W] -> [T, B, C, H, W]``.

    Built with ``channels`` (C) and ``timesteps`` (T, the model's number of steps) plus the module's
    own settings. A module that weighs several scales per time step and channel may accept
    *zoneout* regularizers (``supports_zoneout = True``): it then calls :meth:`zoneout_sources` in
    its forward pass with its scale weights and, where that returns a map, reads every scale's
    attention-weighted feature of step ``t`` and channel ``c`` from step ``src[n, t, c]`` instead.
    """

    supports_zoneout: bool = False

    def __init__(self, channels: int, timesteps: int) -> None:
        super().__init__()
        self.channels = int(channels)
        self.timesteps = int(timesteps)
        self.zoneouts = nn.ModuleList()

    def add_zoneout(self, module: nn.Module) -> None:
        """Attach a zoneout module (see :meth:`zoneout_sources`); it follows ``train()``/``eval()``."""
        if not self.supports_zoneout:
            raise ConfigError(f"{type(self).__name__} has no per-scale weights for a zoneout regularizer to act on")
        self.zoneouts.append(module)

    def zoneout_sources(self, a_t: Tensor | None, a_c: Tensor) -> Tensor | None:
        """The composed source-step map of the attached zoneouts, or None where nothing moves.

        ``a_t`` is the temporal attention ``[N, T, B]`` (None for a module without one) and ``a_c``
        the channel attention ``[N, T, B, C]``. Each zoneout returns None or a LongTensor ``[N, T, C]``;
        consecutive maps compose (the second reads the first one's output). Zoneouts act in training
        only: in evaluation this returns None without calling them.
        """
        if not self.training or len(self.zoneouts) == 0:
            return None
        src: Tensor | None = None
        for module in self.zoneouts:
            nxt = module(a_t, a_c)
            if nxt is None:
                continue
            src = nxt if src is None else torch.gather(src, 1, nxt)
        return src

    def check_input(self, x: Tensor) -> None:
        """Raise a clear error when ``x`` is not ``[T, B, C, H, W]`` with this module's T and C."""
        if x.dim() != 5:
            raise ConfigError(f"{type(self).__name__} expects [T, B, C, H, W], got shape {tuple(x.shape)}")
        if x.shape[0] != self.timesteps:
            raise ConfigError(
                f"{type(self).__name__} was built for T={self.timesteps} time steps but got T={x.shape[0]}",
                "Build the model with the T of the data (the model's 'timesteps' setting).",
            )
        if x.shape[2] != self.channels:
            raise ConfigError(f"{type(self).__name__} was built for {self.channels} channels but got {x.shape[2]}")

    def extra_repr(self) -> str:
        return f"channels={self.channels}, timesteps={self.timesteps}"


def make_attention(name: str, channels: int, timesteps: int, args: dict[str, Any] | None = None) -> nn.Module:
    """An attention module from a registry name, built for ``channels`` and ``timesteps``."""
    import snnctl

    args = {**(args or {}), "channels": channels, "timesteps": timesteps}
    return snnctl.registry().create_as("attention", name, nn.Module, "torch.nn.Module", **args)


# -- regularizers ------------------------------------------------------------------------------------
class Regularizer:
    """Base class of regularizers: objects built from their config, not ``nn.Module`` s.

    The life of a regularizer in ``snnctl train`` (and in :func:`snnctl.testing.check_learning`):

    1. The factory registered with ``register_regularizers`` is called with the entry's ``args``
       (``--reg NAME:KEY=VALUE``, ``--set regularizers.0.args.KEY=VALUE``), validated by its config.
    2. :meth:`attach` is called once with the built model: after the weights are initialised and
       before ``--init`` weights are loaded, before the model moves to its device, before
       SyncBatchNorm conversion and before DDP wraps it. Modules it installs there (hooks, submodules
       such as AZO's zoneouts) therefore move, convert and replicate with the model; it must not keep
       tensors of its own that would stay on the CPU.
    3. Each training batch: the forward pass, then :meth:`penalty` with the unwrapped model (never the
       DDP wrapper), inside the same autocast region as the forward pass. A tensor it returns is added
       to the loss (it should be a scalar that keeps its autograd graph); ``None`` adds nothing.
       ``metrics.jsonl`` records each penalty's mean per epoch under ``penalties`` beside ``task_loss``.
       Only regularizers that override ``penalty`` get a column.
    4. Evaluation runs the model in ``eval()`` mode and never calls :meth:`penalty`; whatever
       :meth:`attach` installed must be the identity there.

    To read spikes or firing rates in :meth:`penalty`, create a :class:`SpikeRecorder` on the model
    in :meth:`attach` (with ``detach=False``, so the penalty's gradient reaches the network): it
    holds the spikes of the latest forward pass.
    """

    name: str = "regularizer"

    def attach(self, model: nn.Module) -> list[str]:
        """Install into ``model``; return the qualified names of the modules it acts on.

        Raise :class:`snnctl.errors.ConfigError` when the model offers nothing to act on (the command
        line prints it as one message, exit status 2).
        """
        raise NotImplementedError

    def penalty(self, model: nn.Module) -> Tensor | None:
        """A term added to the training loss after each forward pass, or None (the default)."""
        return None


# -- models ------------------------------------------------------------------------------------------
class SpikingModel(nn.Module):
    """Base class of models: ``[T, B, C_in, H, W]`` input, per-step logits ``[T, B, K]`` out.

    The prediction is the time-mean of the logits. ``timesteps``, ``in_channels``, ``input_size``
    (H, W) and ``num_classes`` describe the input the model was built for; the engine and the
    profiler read them.

    The factory registered with ``register_models`` is called with the model's own settings
    (``model.args``) plus what the run fills in: ``timesteps``, ``in_channels``, ``input_size`` and
    ``num_classes`` from the data (each only where the model's config declares it; a value the user
    gives that differs from the data's is an error), and ``neuron``, ``neuron_args``, ``attention``
    and ``attention_args`` where the config sets them (``--neuron``, ``--attention``,
    ``model.neuron_args``, ...; a model without such a field rejects them by name). Build each spiking layer with :func:`make_neuron` (passing the layer's width as
    ``features``) and each attention module with :func:`make_attention`, so ``--neuron`` and
    ``--attention`` reach them; wrap stateless 2-D layers in :class:`SeqFold`.

    The model does not reset its neurons: the trainer, the evaluator and the profiler call
    :func:`reset_states` after every batch. Calling the model a second time without a reset
    continues from the first call's state (and, in training, reaches into a freed graph).
    All parameters must exist once the constructor returns (no lazy modules).
    """

    def __init__(self, timesteps: int, in_channels: int, input_size: tuple[int, int], num_classes: int) -> None:
        super().__init__()
        self.timesteps = int(timesteps)
        self.in_channels = int(in_channels)
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.num_classes = int(num_classes)

    def check_input(self, x: Tensor) -> None:
        """Raise a clear error when ``x`` is not ``[T, B, C_in, H, W]`` with this model's input channels."""
        if x.dim() != 5 or x.shape[2] != self.in_channels:
            raise ConfigError(
                f"{type(self).__name__} expects input [T, B, {self.in_channels}, H, W], got shape {tuple(x.shape)}"
            )

    def example_input(self, batch: int = 1, device: Any = None, dtype: torch.dtype = torch.float32) -> Tensor:
        """A random input of the shape the model was built for."""
        shape = (self.timesteps, batch, self.in_channels, *self.input_size)
        return torch.rand(shape, device=device, dtype=dtype)


# -- multi-step helpers for stateless layers ----------------------------------------------------------
class SeqFold(nn.Module):
    """Apply stateless layers to ``[T, B, ...]`` by folding T into the batch (``T*B, ...``)."""

    def __init__(self, *layers: nn.Module) -> None:
        super().__init__()
        self.layers = layers[0] if len(layers) == 1 else nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        t, b = x.shape[:2]
        y = self.layers(x.flatten(0, 1))
        return y.view(t, b, *y.shape[1:])


class StepDropout(nn.Module):
    """Dropout on ``[T, B, ...]`` with one mask per sample shared by every time step."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ConfigError(f"dropout: expected a probability in [0, 1), got {p}")
        self.p = float(p)

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = torch.empty_like(x[0]).bernoulli_(1.0 - self.p).div_(1.0 - self.p)
        return x * keep

    def extra_repr(self) -> str:
        return f"p={self.p}"
