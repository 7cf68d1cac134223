"""``snnctl plugin new``: write an installable plugin package with a working component of each kind asked for.

:func:`plan` turns a name and a list of kinds into the package's files (in memory, nothing written);
:func:`write` puts them on disk whole or not at all: every file goes into a temporary folder beside the
target, which is renamed into place only once everything is written. :func:`new_plugin` does both.

For ``NAME`` (``snnctl-my-thing`` or ``my-thing``) the package is::

    snnctl-my-thing/
        pyproject.toml          distribution snnctl-my-thing, entry point group "snnctl"
        README.md               what each component is; how to install, test and use it
        snnctl_my_thing/
            __init__.py         the hook implementations: one registration per component
            neuron.py ...       one module per kind
        tests/
            test_snnctl_my_thing.py   snnctl.testing's contract checks and plain assertions

Every component is registered under the same name (``my-thing``): registry kinds are separate
namespaces, so ``--neuron my-thing`` and ``--model my-thing`` do not collide. Components that work
together use each other: the model defaults to the package's neuron and attention, the neuron to its
surrogate, the recipe to its model, dataset and regularizer, the monitor counts its attention module.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Iterable, Optional

from snnctl.errors import ConfigError

__all__ = ["KINDS", "Scaffold", "parse_kinds", "parse_name", "plan", "write", "new_plugin"]

#: every kind a package can hold, in the order the files list them
KINDS: tuple[str, ...] = ("neuron", "surrogate", "attention", "regularizer", "model", "dataset", "recipe",
                          "monitor", "exporter", "command", "callback")
#: the kinds that are registry kinds (``snnctl list`` shows them); command and callback are hooks
REGISTRY_KINDS = KINDS[:9]
#: other spellings accepted by ``--kind``
_ALIASES = {"neurons": "neuron", "surrogates": "surrogate", "regularizers": "regularizer", "models": "model",
            "datasets": "dataset", "recipes": "recipe", "monitors": "monitor", "exporters": "exporter",
            "commands": "command", "callbacks": "callback", "training-callback": "callback"}
#: snnctl's guide page of each kind
GUIDES = {"neuron": "neurons", "surrogate": "surrogates", "attention": "attention", "regularizer": "regularizers",
          "model": "models", "dataset": "datasets", "recipe": "recipes", "monitor": "monitors",
          "exporter": "exporters", "command": "commands", "callback": "callbacks"}
PLURALS = {"neuron": "neurons", "surrogate": "surrogates", "attention": "attention", "regularizer": "regularizers",
           "model": "models", "dataset": "datasets", "recipe": "recipes", "monitor": "monitors",
           "exporter": "exporters"}
NAME_RE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
PREFIX = "snnctl-"


@dataclass
class Scaffold:
    """A package planned by :func:`plan`: its names and its files (relative path -> text)."""

    name: str  # the components' registry name and the command's name: my-thing
    distribution: str  # snnctl-my-thing
    package: str  # snnctl_my_thing
    kinds: tuple[str, ...]
    files: dict[str, str] = field(default_factory=dict)
    path: Optional[Path] = None  # where write() put it

    def as_dict(self) -> dict:
        return {"distribution": self.distribution, "package": self.package, "name": self.name,
                "kinds": list(self.kinds), "path": str(self.path) if self.path else None, "files": list(self.files),
                "components": [{"kind": k, "name": self.name} for k in self.kinds if k in REGISTRY_KINDS]}


# -- names and kinds -------------------------------------------------------------------------------------------
def parse_name(text: str) -> tuple[str, str, str]:
    """``(component name, distribution, import package)`` for ``snnctl-my-thing`` or ``my-thing``."""
    raw = text.strip()
    name = raw[len(PREFIX):] if raw.startswith(PREFIX) else raw
    if NAME_RE.match(name) and len(name) <= 60 and name != "snnctl":
        return name, PREFIX + name, "snnctl_" + name.replace("-", "_")
    guess = re.sub(r"[^a-z0-9]+", "-", raw.lower()).strip("-")
    guess = guess[len(PREFIX):] if guess.startswith(PREFIX) else guess
    guess = guess.lstrip("0123456789-")
    hint = ("Use lowercase letters, digits and single hyphens, starting with a letter, at most 60 characters "
            "(e.g. 'my-neuron': distribution snnctl-my-neuron, package snnctl_my_neuron).")
    if guess and guess != "snnctl" and NAME_RE.match(guess) and len(guess) <= 60:
        hint = f"Did you mean '{PREFIX}{guess}'? " + hint
    if name in ("", "snnctl") or raw in ("snnctl", PREFIX):
        raise ConfigError(f"NAME '{raw}' names no plugin: give the plugin's own name after 'snnctl-'", hint)
    raise ConfigError(f"'{raw}' is not a valid plugin name", hint)


def parse_kinds(items: Iterable[str]) -> tuple[str, ...]:
    """The kinds named by ``--kind`` values (each may be a comma-separated list; ``all`` is every kind)."""
    chosen: set[str] = set()
    given = [part.strip().lower() for item in items for part in item.split(",") if part.strip()]
    if not given:
        raise ConfigError("--kind: name at least one kind", f"Kinds: {', '.join(KINDS)}, or all.")
    for kind in given:
        if kind == "all":
            chosen.update(KINDS)
            continue
        kind = _ALIASES.get(kind, kind)
        if kind not in KINDS:
            import difflib

            close = difflib.get_close_matches(kind, [*KINDS, "all"], n=1)
            raise ConfigError(f"--kind: unknown kind '{kind}'",
                              (f"Did you mean '{close[0]}'? " if close else "")
                              + f"Kinds: {', '.join(KINDS)}, or all.")
        chosen.add(kind)
    return tuple(k for k in KINDS if k in chosen)


def _check_free(name: str, distribution: str, package: str, kinds: tuple[str, ...],
                commands: Optional[dict[str, str]]) -> None:
    """Refuse a name another plugin already registers in a chosen kind, or a command snnctl already has."""
    import snnctl

    reg = snnctl.registry()
    for kind in kinds:
        if kind not in REGISTRY_KINDS or (kind, name) not in reg:
            continue
        providers = reg.conflicts.get((kind, name)) or [reg.get(kind, name).provider]
        others = [p for p in providers if (p.distribution or "").lower().replace("_", "-") != distribution]
        if not others:
            continue  # an installed version of this very package
        raise ConfigError(f"{kind} '{name}' is already registered by {others[0]}: the plugin's {kind} could not "
                          "be used", f"Choose another NAME; names are unique within a kind "
                                     f"('snnctl list {PLURALS[kind]}').")
    if "command" in kinds and commands and name in commands and commands[name].split(".")[0] != package:
        raise ConfigError(f"'snnctl {name}' is already a command: the plugin's command would collide with it",
                          "Choose another NAME, or leave out --kind command.")


# -- planning ----------------------------------------------------------------------------------------------------
def plan(name: str, kinds: Iterable[str], *, snnctl_version: Optional[str] = None, check_registry: bool = True,
         commands: Optional[dict[str, str]] = None) -> Scaffold:
    """The package for ``name`` holding one component of each of ``kinds`` (nothing is written).

    ``check_registry`` refuses a name that another loaded plugin registers in one of the kinds;
    ``commands`` (command name -> module of its function) refuses a command name already taken.
    """
    component, distribution, package = parse_name(name)
    kinds = parse_kinds(kinds)
    if check_registry:
        _check_free(component, distribution, package, kinds, commands)
    if snnctl_version is None:
        import snnctl

        snnctl_version = snnctl.__version__
    ctx = _Context(component, distribution, package, kinds, snnctl_version)
    files = {
        "pyproject.toml": _pyproject(ctx),
        "README.md": _readme(ctx),
        f"{package}/__init__.py": _init(ctx),
    }
    for kind in kinds:
        files[f"{package}/{kind}.py"] = ctx.fill(_MODULES[kind](ctx))
    files[f"tests/test_{package}.py"] = _tests(ctx)
    return Scaffold(component, distribution, package, kinds, files)


@dataclass
class _Context:
    name: str
    dist: str
    pkg: str
    kinds: tuple[str, ...]
    version: str

    @property
    def cls(self) -> str:
        return "".join(part[:1].upper() + part[1:] for part in self.name.split("-"))

    @property
    def requirement(self) -> str:
        numbers = re.findall(r"\d+", self.version)[:2]
        return f"snnctl>={'.'.join(numbers)}" if len(numbers) == 2 and numbers != ["0", "0"] else "snnctl"

    def has(self, kind: str) -> bool:
        return kind in self.kinds

    def fill(self, text: str, **extra: str) -> str:
        return Template(text).substitute(name=self.name, dist=self.dist, pkg=self.pkg, Cls=self.cls, **extra)

    # what the components default to: the package's own where it has one
    @property
    def surrogate(self) -> str:
        return self.name if self.has("surrogate") else "atan"

    @property
    def neuron(self) -> str:
        return self.name if self.has("neuron") else "lif"

    @property
    def attention(self) -> str:
        return self.name if self.has("attention") else "none"

    @property
    def test_model(self) -> str:
        """The model the package's tests build (its own, else snnctl's tiny test network)."""
        return self.name if self.has("model") else "test-vgg"


#: one line per kind: what the package's component is
WHAT = {
    "neuron": "a leaky integrate-and-fire neuron with a soft reset",
    "surrogate": "a Gaussian surrogate gradient",
    "attention": "a channel gate (a squeeze-and-excite per time step) that accepts zoneout regularizers such as azo",
    "regularizer": "a firing-rate penalty pulling every spiking layer toward a target rate",
    "model": "a small convolutional spiking network built from any registered neuron and attention",
    "dataset": "generated event recordings of a bar sweeping across the sensor in one of four directions",
    "recipe": "training settings for 'snnctl train --recipe'",
    "monitor": "how 'snnctl profile' counts the arithmetic of a layer type",
    "exporter": "a file format for 'snnctl export': every weight in one .npz file, verified by reloading it",
    "command": "a subcommand of snnctl that lists what this plugin adds",
    "callback": "a training callback writing a per-epoch CSV into every run folder",
}
CLASS = {"neuron": "Neuron", "surrogate": "Surrogate", "attention": "Gate", "regularizer": "RatePenalty",
         "model": "Net", "dataset": "Dataset", "monitor": "Monitor", "exporter": "Exporter", "callback": "EpochLog"}


def _what(ctx: _Context, kind: str) -> str:
    if kind == "monitor":
        return ("how 'snnctl profile' counts the arithmetic of the attention module (its squeeze and gate)"
                if ctx.has("attention") else "how 'snnctl profile' counts softmax layers")
    return WHAT[kind]


# -- pyproject.toml ----------------------------------------------------------------------------------------------
def _pyproject(ctx: _Context) -> str:
    described = ", ".join(f"{k} '{ctx.name}'" for k in ctx.kinds if k in REGISTRY_KINDS)
    extra = [f"the command 'snnctl {ctx.name}'" if ctx.has("command") else "",
             "a training callback" if ctx.has("callback") else ""]
    description = "An snnctl plugin: " + ", ".join(filter(None, [described, *extra])) + "."
    return ctx.fill('''\
[build-system]
requires = ["setuptools>=77"]
build-backend = "setuptools.build_meta"

[project]
name = "$dist"
version = "0.1.0"
description = "$description"
readme = "README.md"
requires-python = ">=3.10"
# snnctl's own license
license = "GPL-3.0-or-later"
dependencies = ["$requirement"]

[project.optional-dependencies]
test = ["pytest>=8"]

# This table makes the package a plugin: snnctl loads every entry point of group "snnctl".
[project.entry-points.snnctl]
$name = "$pkg"

[tool.setuptools]
packages = ["$pkg"]

[tool.pytest.ini_options]
testpaths = ["tests"]
# snnctl's fixtures (snnctl_registry) load snnctl's built-ins and this package only
snnctl_load_plugins = ["$dist"]
''', description=description.replace('"', "'"), requirement=ctx.requirement)


# -- the hooks ---------------------------------------------------------------------------------------------------
_HOOKS = {
    "neuron": ("register_neurons", "register", 'register("$name", ${Cls}Neuron, config=${Cls}NeuronConfig)'),
    "surrogate": ("register_surrogates", "register",
                  'register("$name", ${Cls}Surrogate, config=${Cls}SurrogateConfig)'),
    "attention": ("register_attention", "register", 'register("$name", ${Cls}Gate, config=${Cls}GateConfig)'),
    "regularizer": ("register_regularizers", "register",
                    'register("$name", ${Cls}RatePenalty, config=${Cls}RatePenaltyConfig)'),
    "model": ("register_models", "register", 'register("$name", ${Cls}Net, config=${Cls}NetConfig)'),
    "dataset": ("register_datasets", "register", 'register("$name", ${Cls}Dataset, config=${Cls}DatasetConfig)'),
    "recipe": ("register_recipes", "register", 'register("$name", recipe, description=RECIPE_DESCRIPTION)'),
    "monitor": ("register_monitors", "register", 'register("$name", ${Cls}Monitor)'),
    "exporter": ("register_exporters", "register",
                 'register("$name", ${Cls}Exporter, config=${Cls}ExporterConfig)'),
    "command": ("register_commands", "cli", 'cli.command("$name")(show)'),
    "callback": ("training_callbacks", "config", "return [${Cls}EpochLog()]"),
}
_IMPORTS = {
    "neuron": "${Cls}Neuron, ${Cls}NeuronConfig",
    "surrogate": "${Cls}Surrogate, ${Cls}SurrogateConfig",
    "attention": "${Cls}Gate, ${Cls}GateConfig",
    "regularizer": "${Cls}RatePenalty, ${Cls}RatePenaltyConfig",
    "model": "${Cls}Net, ${Cls}NetConfig",
    "dataset": "${Cls}Dataset, ${Cls}DatasetConfig",
    "recipe": "RECIPE_DESCRIPTION, recipe",
    "monitor": "${Cls}Monitor",
    "exporter": "${Cls}Exporter, ${Cls}ExporterConfig",
    "command": "show",
    "callback": "${Cls}EpochLog",
}


def _init(ctx: _Context) -> str:
    listing = "\n".join(f"* ``{k}.py``: {_what(ctx, k)}" for k in ctx.kinds)
    imports = "\n".join(f"from $pkg.{k} import {_IMPORTS[k]}" for k in sorted(ctx.kinds))
    hooks = []
    for kind in ctx.kinds:
        hook, arg, body = _HOOKS[kind]
        doc = {"command": f'    """Add ``snnctl {ctx.name}``."""\n',
               "callback": '    """The callbacks of every training run (called once when a run starts)."""\n'}.get(kind, "")
        hooks.append(f"@snnctl.hookimpl\ndef {hook}({arg}):\n{doc}    {body}\n")
    text = '''\
"""$dist: a plugin for snnctl.

snnctl imports this module through the entry point in pyproject.toml (group ``snnctl``) and calls the hooks
below: the registration hooks once, when the registry is first used; ``register_commands`` while the
command line is assembled; ``training_callbacks`` when a training run starts. snnctl's docs/hooks.md
describes every hook. Each component lives in a module of its own:

$listing
"""

from __future__ import annotations

import snnctl

$imports

__version__ = "0.1.0"


''' + "\n\n".join(hooks)
    return ctx.fill(text, listing=listing, imports=ctx.fill(imports))


# -- component modules -------------------------------------------------------------------------------------------
def _neuron(ctx: _Context) -> str:
    return '''\
"""The neuron ``$name``: leaky integrate-and-fire with a soft reset.

Who builds it: snnctl, by name, wherever a model asks for a neuron (``snnctl train --neuron $name``,
``snnctl.create("neuron", "$name", tau=3.0)``), with the fields of :class:`${Cls}NeuronConfig`; models
build it with ``step_mode="m"``. A model calls it once per forward pass with ``[T, B, ...]`` (one step
``[B, ...]`` per call in single-step mode); the membrane potential stays in ``self.v`` until ``reset()``,
which snnctl calls between batches. snnctl's docs/guides/neurons.md covers fused multi-step kernels and
per-channel parameters.
"""

from __future__ import annotations

from typing import Any, Optional

import torch
from pydantic import BaseModel, ConfigDict, Field
from snnctl.nn import Neuron, Surrogate
from torch import Tensor


class ${Cls}Neuron(Neuron):
    """Leaky integrate-and-fire with a soft reset: a spike subtracts the threshold from the membrane.

    Per step, with ``V = 0`` after ``reset()``::

        H = V + (X - V) / tau            leak toward the input
        S = Heaviside(H - v_threshold)   forward: a spike; backward: the surrogate's gradient
        V = H - v_threshold * S          soft reset: the charge above the threshold is kept
    """

    def __init__(self, tau: float = 2.0, v_threshold: float = 1.0, surrogate: str | Surrogate = "$surrogate",
                 surrogate_args: Optional[dict[str, Any]] = None, step_mode: str = "m") -> None:
        super().__init__(surrogate, surrogate_args, step_mode)
        self.tau, self.v_threshold = float(tau), float(v_threshold)

    def single_step(self, x: Tensor) -> Tensor:
        v = self.v if self.v is not None else torch.zeros_like(x)
        h = v + (x - v) / self.tau
        s = self.surrogate(h - self.v_threshold)
        self.v = h - self.v_threshold * s
        return s

    # multi_step: the base class loops single_step over time; override it with a fused loop for speed.

    def extra_repr(self) -> str:
        return f"tau={self.tau}, v_threshold={self.v_threshold}, {super().extra_repr()}"


class ${Cls}NeuronConfig(BaseModel):
    """The arguments of ``$name`` (``snnctl info neuron $name``); ``--neuron $name:tau=3`` sets them."""

    model_config = ConfigDict(extra="forbid")

    tau: float = Field(2.0, gt=1.0, description="membrane time constant, in steps (> 1)")
    v_threshold: float = Field(1.0, gt=0, description="firing threshold")
    surrogate: str = Field("$surrogate", description="surrogate gradient (registry name)")
    surrogate_args: dict[str, Any] = Field(default_factory=dict, description="arguments of the surrogate")
    step_mode: str = Field("m", pattern="^[ms]$$", description="'m': input [T, B, ...]; 's': one step [B, ...]")
'''.replace("$surrogate", ctx.surrogate)


def _surrogate(ctx: _Context) -> str:
    return '''\
"""The surrogate gradient ``$name``: the Gaussian.

Who builds it: a neuron, from its ``surrogate`` and ``surrogate_args`` settings
(``--neuron lif:surrogate=$name``), once, when the neuron is built. The forward pass of the spike function
is the Heaviside step of ``x = v - threshold``; the backward pass multiplies the upstream gradient by
:meth:`${Cls}Surrogate.grad`. snnctl's docs/guides/surrogates.md has more.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field
from snnctl.nn import Surrogate
from torch import Tensor


class ${Cls}Surrogate(Surrogate):
    """Gaussian: grad = exp(-x^2 / (2 sigma^2)) / (sigma sqrt(2 pi)), the density of N(0, sigma^2)."""

    def __init__(self, sigma: float = 0.5) -> None:
        self.sigma = float(sigma)

    def grad(self, x: Tensor) -> Tensor:
        return (x / self.sigma).square().mul(-0.5).exp() / (self.sigma * math.sqrt(2 * math.pi))

    def grad_(self, x: Tensor) -> Tensor:
        # in place, on a scratch buffer (fused neuron kernels call this to save an allocation)
        return x.div_(self.sigma).square_().mul_(-0.5).exp_().div_(self.sigma * math.sqrt(2 * math.pi))


class ${Cls}SurrogateConfig(BaseModel):
    """The arguments of ``$name`` (``surrogate_args`` of a neuron)."""

    model_config = ConfigDict(extra="forbid")

    sigma: float = Field(0.5, gt=0, description="width of the Gaussian; the gradient peaks at 1 / (sigma sqrt(2 pi))")
'''


def _attention(ctx: _Context) -> str:
    return '''\
"""The attention module ``$name``: a channel gate, one squeeze-and-excite per time step.

Who builds it: a model, by name (``snnctl.nn.make_attention("$name", channels, timesteps, args)``), once per
place it puts attention; ``snnctl train --attention $name`` swaps it into any model that takes an
attention module. The model fills in ``channels`` (C) and ``timesteps`` (T); the other fields of
:class:`${Cls}GateConfig` come from the user. It maps ``[T, B, C, H, W]`` to the same shape.

Zoneout: the gate weighs every step and channel, so it sets ``supports_zoneout`` and a zoneout
regularizer (``--reg azo``) attaches to it; in training the regularizer may make step t of channel c read
the gated feature of another step. snnctl's docs/guides/attention.md has more.
"""

from __future__ import annotations

import torch
from pydantic import BaseModel, ConfigDict, Field
from snnctl.nn import Attention
from torch import Tensor, nn


class ${Cls}Gate(Attention):
    """Channel gate: each step's channels scaled by a sigmoid of their spatial means (squeeze-and-excite)."""

    supports_zoneout = True

    def __init__(self, channels: int, timesteps: int, reduction: float = 4.0) -> None:
        super().__init__(channels, timesteps)
        self.reduction = float(reduction)
        hidden = max(1, int(self.channels // self.reduction))
        self.squeeze = nn.Linear(self.channels, hidden)
        self.excite = nn.Linear(hidden, self.channels)

    def weights(self, x: Tensor) -> Tensor:
        """The gate ``[T, B, C]`` in (0, 1) for an input ``[T, B, C, H, W]``."""
        z = x.mean((-2, -1))
        return torch.sigmoid(self.excite(torch.relu(self.squeeze(z))))

    def forward(self, x: Tensor) -> Tensor:
        self.check_input(x)
        g = self.weights(x)
        y = x * g[..., None, None]
        # Attached zoneouts (training only) return which step each (step, channel) reads: [1, T, C], or None.
        src = self.zoneout_sources(None, g.unsqueeze(0))
        if src is not None:
            y = torch.gather(y, 0, src[0][:, None, :, None, None].expand_as(y))
        return y

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, reduction={self.reduction}"


class ${Cls}GateConfig(BaseModel):
    """The arguments of ``$name``: ``--attention $name:reduction=2``."""

    model_config = ConfigDict(extra="forbid")

    channels: int = Field(gt=0, description="channels C of the input (set by the model)")
    timesteps: int = Field(gt=0, description="time steps T of the input (set by the model)")
    reduction: float = Field(4.0, ge=1, description="the gate's hidden width is max(1, C // reduction)")
'''


def _regularizer(ctx: _Context) -> str:
    return '''\
"""The regularizer ``$name``: a firing-rate penalty.

Who builds it: the training run, from its ``regularizers`` list (``snnctl train --reg $name:target=0.05``),
once per run, with the fields of :class:`${Cls}RatePenaltyConfig`. Then ``attach(model)`` is called once on
the built model and returns the names of the modules it acts on; ``penalty(model)`` is called after every
training forward pass and its result is added to the loss (``metrics.jsonl`` reports it under
``penalties``). It never runs in evaluation. snnctl's docs/guides/regularizers.md has more.
"""

from __future__ import annotations

from typing import Optional

import torch
from pydantic import BaseModel, ConfigDict, Field
from snnctl.errors import ConfigError
from snnctl.nn import Regularizer, SpikeRecorder
from torch import Tensor, nn


class ${Cls}RatePenalty(Regularizer):
    """Firing-rate penalty: weight x the mean over spiking layers of (firing rate - target)^2."""

    name = "$name"

    def __init__(self, target: float = 0.1, weight: float = 0.1, neurons: Optional[list[str]] = None) -> None:
        self.target, self.weight = float(target), float(weight)
        self.neurons = list(neurons) if neurons else None
        self.recorder: Optional[SpikeRecorder] = None

    def attach(self, model: nn.Module) -> list[str]:
        recorder = SpikeRecorder(model, self.neurons)
        if not recorder.names:
            recorder.close()
            which = f" matching {self.neurons}" if self.neurons else ""
            raise ConfigError(f"regularizer '$name' found no spiking neuron{which} in {type(model).__name__}",
                              "Give a model with snnctl.nn.Neuron layers, or other 'neurons' patterns.")
        self.recorder = recorder
        return list(recorder.names)

    def penalty(self, model: nn.Module) -> Optional[Tensor]:
        rates = list(self.recorder.rates().values()) if self.recorder is not None else []
        if not rates:
            return None
        # the spikes keep their graph, so the penalty's gradient reaches the network through the surrogates
        return self.weight * torch.stack([(r - self.target) ** 2 for r in rates]).mean()

    def __repr__(self) -> str:
        return f"${Cls}RatePenalty(target={self.target}, weight={self.weight}, neurons={self.neurons})"


class ${Cls}RatePenaltyConfig(BaseModel):
    """The arguments of ``$name``: ``--reg $name:target=0.05,weight=0.5``."""

    model_config = ConfigDict(extra="forbid")

    target: float = Field(0.1, ge=0, le=1, description="firing rate each spiking layer is pulled toward")
    weight: float = Field(0.1, ge=0, description="weight of the penalty in the loss")
    neurons: Optional[list[str]] = Field(None, description="shell patterns of the neurons it reads "
                                                           "(e.g. ['features.*']); default: every neuron")
'''


def _model(ctx: _Context) -> str:
    classes, size = (4, 16) if ctx.has("dataset") else (8, 32)
    data = f"the dataset '{ctx.name}'" if ctx.has("dataset") else "snnctl's synthetic-gestures"
    return '''\
"""The model ``$name``: a small convolutional spiking network.

Who builds it: the training run, ``snnctl profile`` and ``snnctl info model $name``, by name, with the fields
of :class:`${Cls}NetConfig`. The run sets ``in_channels``, ``num_classes``, ``input_size`` and ``timesteps``
from its dataset; ``--neuron`` and ``--attention`` set ``neuron`` and ``attention``. Every neuron and
attention module is built by registry name, so any registered one can be swapped in. Input
``[T, B, C_in, H, W]``, per-step logits ``[T, B, K]`` out. snnctl's docs/guides/models.md has more.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from snnctl.nn import SeqFold, SpikingModel, make_attention, make_neuron
from torch import Tensor, nn


class ${Cls}Net(SpikingModel):
    """Blocks of conv3x3 -> [attention] -> BN -> neuron -> 2x2 average pool, then a linear read-out per step."""

    def __init__(self, in_channels: int = 2, num_classes: int = $classes, input_size: tuple[int, int] = ($size, $size),
                 timesteps: int = 8, widths: tuple[int, ...] = (8, 16), neuron: str = "$neuron",
                 neuron_args: dict[str, Any] | None = None, attention: str = "$attention",
                 attention_args: dict[str, Any] | None = None) -> None:
        super().__init__(timesteps, in_channels, input_size, num_classes)
        blocks = []
        c_in = self.in_channels
        for width in widths:
            # SeqFold applies a stateless layer to [T, B, ...] by folding T into the batch
            layers: OrderedDict[str, nn.Module] = OrderedDict(conv=SeqFold(nn.Conv2d(c_in, width, 3, padding=1)))
            if attention != "none":
                layers["attention"] = make_attention(attention, width, self.timesteps, attention_args)
            layers["norm"] = SeqFold(nn.BatchNorm2d(width))
            layers["neuron"] = make_neuron(neuron, neuron_args, features=width, step_mode="m")
            layers["pool"] = SeqFold(nn.AvgPool2d(2))
            blocks.append(nn.Sequential(layers))
            c_in = width
        self.features = nn.Sequential(*blocks)
        self.head = SeqFold(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, self.num_classes))

    def forward(self, x: Tensor) -> Tensor:
        self.check_input(x)
        return self.head(self.features(x))


class ${Cls}NetConfig(BaseModel):
    """The settings of ``$name`` (``snnctl info model $name``); the defaults fit $data."""

    model_config = ConfigDict(extra="forbid")

    in_channels: int = Field(2, gt=0, description="input channels (2 for ON/OFF event frames; set from the data)")
    num_classes: int = Field($classes, gt=1, description="number of classes K (set from the data)")
    input_size: tuple[int, int] = Field(($size, $size), description="input height and width (set from the data)")
    timesteps: int = Field(8, gt=0, description="time steps T (set from the data or --timesteps)")
    widths: tuple[int, ...] = Field((8, 16), min_length=1, description="output channels of the conv blocks")
    neuron: str = Field("$neuron", description="neuron of every spiking layer (registry name)")
    neuron_args: dict[str, Any] = Field(default_factory=dict, description="arguments of the neuron")
    attention: str = Field("$attention", description="attention module after each conv (registry name; 'none': without)")
    attention_args: dict[str, Any] = Field(default_factory=dict, description="arguments of the attention module")
'''.replace("$classes", str(classes)).replace("$size", str(size)).replace("$neuron", ctx.neuron) \
        .replace("$attention", ctx.attention).replace("$data", data)


def _dataset(ctx: _Context) -> str:
    return '''\
"""The dataset ``$name``: event recordings generated from a seed, no files needed.

Who builds it: ``snnctl preprocess``, the training run, ``snnctl evaluate`` and ``snnctl profile``, by name
(``--data $name``), with the fields of :class:`${Cls}DatasetConfig` (``--set data.args.size=32``). snnctl
calls ``locate(root, download)`` to list the recordings and ``read(recording)`` for each one, in worker
processes (the dataset is pickled, so it holds only settings); it turns the events into frames
``[T, P, H, W]``, splits them and caches the frames, keyed by ``params()``. A dataset that reads files finds
them under ``root`` in ``locate``; snnctl's docs/guides/datasets.md shows one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from snnctl.data import EventDataset, Recording

#: part of the cache key: change it whenever read() gives other events for the same settings
GENERATOR_VERSION = 1
EVENT = np.dtype([("x", "<i2"), ("y", "<i2"), ("p", "<i1"), ("t", "<i8")])


class ${Cls}Dataset(EventDataset):
    """A bar sweeping across the sensor to the right, left, down or up: ON events at its front, OFF behind.

    Summed over time, right and left (down and up) look alike: telling them apart takes the order of the
    frames. Each recording is generated from its own seed, so every machine gets the same events.
    """

    name = "$name"
    classes = ("right", "left", "down", "up")
    default_frames = 8
    split_policy = "official"  # every Recording carries its split

    def __init__(self, seed: int = 0, train_per_class: int = 64, test_per_class: int = 16, size: int = 16,
                 noise: float = 0.02) -> None:
        self.seed, self.train_per_class, self.test_per_class = int(seed), int(train_per_class), int(test_per_class)
        self.size, self.noise = int(size), float(noise)
        self.sensor_size = (self.size, self.size, 2)

    def params(self) -> dict[str, Any]:
        return {"seed": self.seed, "train_per_class": self.train_per_class, "test_per_class": self.test_per_class,
                "size": self.size, "noise": self.noise, "generator": GENERATOR_VERSION}

    def locate(self, root: Optional[Path], download: bool) -> list[Recording]:
        out = []
        for split, count in (("train", self.train_per_class), ("test", self.test_per_class)):
            for label, cls in enumerate(self.classes):
                out += [Recording(f"{split}/{cls}/{i:05d}", label, split) for i in range(count)]
        return out

    def read(self, recording: Recording) -> np.ndarray:
        split, _, index = recording.key.split("/")
        rng = np.random.default_rng([self.seed, split == "test", recording.label, int(index)])
        n, steps, step_us = self.size, 24, 1000
        lo = int(rng.integers(0, n // 2))
        rows = np.arange(lo, int(rng.integers(lo + n // 4, n + 1)))  # the bar's extent across its motion
        start = rng.uniform(0, n / 4)
        columns = []
        for k in range(steps):
            front = int(start + k * (n - start) / steps)
            for polarity, col in ((1, front), (0, front - 2)):
                if 0 <= col < n:
                    columns.append((np.full(len(rows), col), rows, np.full(len(rows), polarity),
                                    k * step_us + rng.integers(0, step_us, len(rows))))
        x, y, p, t = (np.concatenate(c) for c in zip(*columns))
        label = recording.label
        if label == 1:  # left
            x = n - 1 - x
        if label in (2, 3):  # down, up: the motion along y
            x, y = y, x
            if label == 3:
                y = n - 1 - y
        noise = int(self.noise * n * n * steps)
        events = np.empty(len(x) + noise, EVENT)
        events["x"] = np.concatenate([x, rng.integers(0, n, noise)])
        events["y"] = np.concatenate([y, rng.integers(0, n, noise)])
        events["p"] = np.concatenate([p, rng.integers(0, 2, noise)])
        events["t"] = np.concatenate([t, rng.integers(0, steps * step_us, noise)])
        return events[np.argsort(events["t"], kind="stable")]

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "generated": True, "settings": self.params()}


class ${Cls}DatasetConfig(BaseModel):
    """The settings of ``$name``: ``--set data.args.size=32``."""

    model_config = ConfigDict(extra="forbid")

    seed: int = Field(0, ge=0, description="seed of the whole dataset (each recording's seed derives from it)")
    train_per_class: int = Field(64, ge=1, description="training recordings per class")
    test_per_class: int = Field(16, ge=1, description="test recordings per class")
    size: int = Field(16, ge=8, le=256, description="sensor height and width in pixels")
    noise: float = Field(0.02, ge=0, description="background events per pixel per step")
'''


def _recipe(ctx: _Context) -> str:
    model = ctx.name if ctx.has("model") else "vgg5"
    section = [f'"name": "{model}"']
    if ctx.has("neuron") and not ctx.has("model"):
        section.append(f'"neuron": "{ctx.name}"')
    if ctx.has("attention") and not ctx.has("model"):
        section.append(f'"attention": "{ctx.name}"')
    if ctx.has("regularizer"):
        regs = f'[{{"name": "{ctx.name}", "args": {{"target": 0.1, "weight": 0.1}}}}]'
    elif ctx.has("attention"):
        regs = '[{"name": "azo"}]'  # the gate accepts zoneout
    else:
        regs = "[]"
    if ctx.has("dataset"):
        data = f'{{"name": "{ctx.name}"}}'
        data_text = f"the dataset '{ctx.name}'"
    else:
        data = '{"name": "synthetic-gestures", "args": {"train_per_class": 64, "test_per_class": 16, "size": 16}}'
        data_text = "snnctl's synthetic-gestures (16 x 16, 64 training recordings per class)"
    parts = [f"model '{model}'"] + ([f"neuron '{ctx.name}'"] if ctx.has("neuron") else []) \
        + ([f"attention '{ctx.name}'"] if ctx.has("attention") else [])
    reg_text = f"regularizer '{ctx.name}'" if ctx.has("regularizer") else "azo" if ctx.has("attention") \
        else "no regularizer"
    description = (f"{', '.join(parts)} with {reg_text} on {data_text}: T=8, AdamW lr 3e-3, cosine over 12 "
                   f"epochs, batch 16, seed 0")
    return '''\
"""The recipe ``$name``: a named set of training settings (``snnctl train --recipe $name``).

Who uses it: ``snnctl train --recipe $name`` layers the dict :func:`recipe` returns over snnctl's defaults
and under ``--config`` files, ``--set`` and options, so any of its settings can still be changed
(``--epochs 2``); ``snnctl info recipe $name`` shows every setting it makes. snnctl calls :func:`recipe`
each time the recipe is used. The dict has the shape of the run config (``snnctl train --print-config``
prints one). snnctl's docs/guides/recipes.md has more.
"""

from __future__ import annotations

import copy
from typing import Any

RECIPE_DESCRIPTION = $description

SETTINGS: dict[str, Any] = {
    "model": {$section},
    "regularizers": $regs,
    "data": $data,
    "timesteps": 8,
    "epochs": 12,
    "batch_size": 16,
    "optim": {"name": "adamw", "lr": 3e-3},
    "schedule": {"name": "cosine"},
    "loss": {"name": "ce"},
    "seed": 0,
}


def recipe() -> dict[str, Any]:
    """The recipe's settings (a new copy on every call: snnctl may change what it is given)."""
    return copy.deepcopy(SETTINGS)
'''.replace("$section", ", ".join(section)).replace("$regs", regs).replace("$data", data) \
        .replace("$description", _string(description))


def _monitor(ctx: _Context) -> str:
    head = '''\
"""The monitor ``$name``: how ``snnctl profile`` counts $what.

Who builds it: ``snnctl profile``, once per profile run, with no arguments, like every registered
monitor. It claims the module types in ``types``; after every call of a claimed module, a forward hook
calls ``count(module, inputs, output, ctx)``, which returns what that one call did as
``snnctl.profile.Counts`` (synaptic operations, elementwise operations, neuron updates, spikes). The
profiler adds the calls up and derives SOPs, MACs and energy from them. A layer no monitor claims is
listed as uncounted. snnctl's docs/guides/monitors.md has more.
"""

from __future__ import annotations

from typing import Any

'''
    if ctx.has("attention"):
        body = '''\
from snnctl.profile import Context, Counts, Monitor
from torch import nn

from $pkg.attention import ${Cls}Gate


class ${Cls}Monitor(Monitor):
    """Counts the gate's own arithmetic: its squeeze and its gating, one operation per element each.

    The squeeze (a spatial mean) adds every input element; the gating multiplies every output element by
    its channel's weight. The gate's linear layers are counted by snnctl's ``linear`` monitor.
    """

    types = (${Cls}Gate,)

    def count(self, module: nn.Module, inputs: tuple[Any, ...], output: Any, ctx: Context) -> Counts:
        x = inputs[0]
        return Counts(elementwise=float(x.numel() + output.numel()), info={"reduction": module.reduction})
'''
        what = f"the attention module '{ctx.name}' (its squeeze and gating)"
    else:
        body = '''\
from snnctl.profile import Context, Counts, Monitor
from torch import nn


class ${Cls}Monitor(Monitor):
    """Counts softmax layers, which snnctl's own monitors leave uncounted: three operations per element.

    An exponential, an addition to the sum and a division for every element of the output.
    """

    types = (nn.Softmax, nn.Softmin, nn.LogSoftmax)

    def count(self, module: nn.Module, inputs: tuple[Any, ...], output: Any, ctx: Context) -> Counts:
        return Counts(elementwise=3.0 * float(output.numel()))
'''
        what = "softmax layers"
    return head.replace("$what", what) + body


def _exporter(ctx: _Context) -> str:
    return '''\
"""The exporter ``$name``: ``snnctl export RUN --format $name`` writes every weight to one .npz file.

Who builds it: ``snnctl export``, once per export, with the fields of :class:`${Cls}ExporterConfig`
(``--set compressed=true``). Then, in this order: ``preflight(model, ctx)`` (the modules the format cannot
express; any stops the export before a byte is written), ``write(model, path, ctx)`` (write the file at the
temporary ``path`` given) and ``verify(path, model, ctx)`` (read it back and compare with the model on
``ctx.batches()``, real samples ``[T, B, C, H, W]``). Only a file that passes is renamed into place.
snnctl's docs/guides/exporters.md has more.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from snnctl.export import ExportContext, Exporter, Verification
from snnctl.nn import reset_states


class ${Cls}Exporter(Exporter):
    """Every tensor of the model's state dict as a numpy array of the same name, in one .npz file."""

    suffix = ".npz"

    def __init__(self, compressed: bool = False, tolerance: float = 1e-5) -> None:
        self.compressed, self.tolerance = bool(compressed), float(tolerance)

    def write(self, model: Any, path: Path, ctx: ExportContext) -> dict[str, Any]:
        arrays = {key: value.detach().cpu().numpy() for key, value in model.state_dict().items()}
        with open(path, "wb") as f:
            (np.savez_compressed if self.compressed else np.savez)(f, **arrays)
        return {"arrays": len(arrays), "compressed": self.compressed}

    def verify(self, path: Path, model: Any, ctx: ExportContext) -> Verification:
        """Load the arrays into a copy of the model and compare its logits with the model's."""
        with np.load(path, allow_pickle=False) as saved:
            state = {key: torch.from_numpy(saved[key]) for key in saved.files}
        copy_ = copy.deepcopy(model).eval()
        failures = []
        try:
            copy_.load_state_dict(state)
        except RuntimeError as exc:  # missing, unexpected or reshaped arrays
            return Verification("numpy", 0, float("inf"), self.tolerance, 0.0, failures=[str(exc).splitlines()[0]])
        worst, agree, samples = 0.0, 0, 0
        with torch.no_grad():
            for x in ctx.batches():
                reset_states(model)
                reset_states(copy_)
                a, b = model(x), copy_(x)
                worst = max(worst, float((a - b).abs().max()))
                agree += int((a.mean(0).argmax(-1) == b.mean(0).argmax(-1)).sum())
                samples += x.shape[1]
        reset_states(model)
        if worst > self.tolerance:
            failures.append(f"the logits differ by up to {worst:.3g} (tolerance {self.tolerance})")
        return Verification("numpy", samples, worst, self.tolerance, agree / max(samples, 1), failures=failures)


class ${Cls}ExporterConfig(BaseModel):
    """The settings of ``$name``: ``snnctl export RUN --format $name --set compressed=true``."""

    model_config = ConfigDict(extra="forbid")

    compressed: bool = Field(False, description="write a compressed .npz")
    tolerance: float = Field(1e-5, ge=0, description="largest logit difference the verification accepts")
'''


def _command(ctx: _Context) -> str:
    components = "".join(f'\n    ("{k}", "{ctx.name}"),' for k in ctx.kinds if k in REGISTRY_KINDS)
    components += "\n" if components else ""
    hooks = ", ".join(f'"{_HOOKS[k][0]}"' for k in ctx.kinds if k not in REGISTRY_KINDS)
    return '''\
"""The command ``snnctl $name``: what this plugin adds to snnctl, and which version provides it.

Who calls it: snnctl calls the hook ``register_commands`` once while it assembles its command line, after
every plugin has registered its components; :func:`show` then becomes ``snnctl $name`` (Typer reads the
options from its signature). Results go to stdout; ``--json`` prints them for scripts. snnctl's
docs/guides/commands.md has more.
"""

from __future__ import annotations

import json as jsonlib
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated

import snnctl
import typer

DISTRIBUTION = "$dist"
#: (kind, registry name) of every component this package registers
COMPONENTS: list[tuple[str, str]] = [$components]
#: the other hooks it implements
HOOKS: list[str] = [$hooks]


JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON on stdout (and nothing else).")]


def show(json: JsonOpt = False) -> None:
    """List the components of $dist: kind, name, the version that registered it, description."""
    rows = []
    for kind, name in COMPONENTS:
        d = snnctl.describe(kind, name)
        rows.append({"kind": kind, "name": name, "distribution": d["distribution"], "version": d["version"],
                     "description": d["description"], "parameters": [p["name"] for p in d["parameters_schema"]]})
    if json:
        print(jsonlib.dumps(rows, indent=2))
        return
    try:
        installed = version(DISTRIBUTION)
    except PackageNotFoundError:
        installed = "not installed"
    hooks = f"; hooks {', '.join(HOOKS)}" if HOOKS else ""
    print(f"{DISTRIBUTION} {installed}: {len(rows)} components{hooks}")
    for r in rows:
        print(f"  {r['kind']:<12} {r['name']:<20} {r['description']}")
'''.replace("$components", components).replace("$hooks", hooks)


def _callback(ctx: _Context) -> str:
    return '''\
"""The training callback of $dist: a per-epoch CSV, ``${name}-epochs.csv``, in every run folder.

Who calls it: snnctl calls the hook ``training_callbacks(config)`` once when a training run starts, in
every run while this package is installed; the callbacks it returns may define ``on_train_start(state)``,
``on_batch_end(state)``, ``on_epoch_end(state)`` and ``on_train_end(state)``, and the loop calls those that
exist. ``state`` is a ``snnctl.engine.train.TrainState``: the config, the run folder, the model, the
optimizer, and ``metrics``, one row per finished epoch (the rows of ``metrics.jsonl``). snnctl's
docs/guides/callbacks.md has more.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from snnctl.files import atomic_write

FILE = "${name}-epochs.csv"
COLUMNS = ("epoch", "lr", "train_loss", "train_acc", "test_loss", "test_acc", "firing_rate", "seconds")


class ${Cls}EpochLog:
    """Rewrites the CSV after every epoch from ``state.metrics`` (so a resumed run's file is whole)."""

    def on_epoch_end(self, state: Any) -> None:
        if not _main_process():
            return
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\\n")
        writer.writerow(COLUMNS)
        for row in state.metrics:
            writer.writerow(["" if row.get(c) is None else row[c] for c in COLUMNS])
        # through a temporary file and a rename: a kill never leaves half a file
        atomic_write(Path(state.run_dir) / FILE, text.getvalue().encode(), f"{FILE} of the run")


def _main_process() -> bool:
    """False in the processes of a distributed run (torchrun) other than the first: one writes the file."""
    import torch.distributed as dist

    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0
'''


def _string(text: str) -> str:
    """A Python string literal of ``text``, split over lines of at most 100 characters."""
    if len(text) <= 80:
        return json.dumps(text)
    lines = textwrap.wrap(text, 96, drop_whitespace=False)
    return "(\n" + "\n".join(f"    {json.dumps(line)}" for line in lines) + "\n)"


_MODULES = {"neuron": _neuron, "surrogate": _surrogate, "attention": _attention, "regularizer": _regularizer,
            "model": _model, "dataset": _dataset, "recipe": _recipe, "monitor": _monitor, "exporter": _exporter,
            "command": _command, "callback": _callback}


# -- the package's tests -----------------------------------------------------------------------------------------
def _tests(ctx: _Context) -> str:
    model = ctx.test_model
    checks = sorted({"neuron": "check_neuron", "surrogate": "check_surrogate", "attention": "check_attention",
                     "model": "check_model", "dataset": "check_dataset"}[k]
                    for k in ctx.kinds if k in ("neuron", "surrogate", "attention", "model", "dataset"))
    if ctx.has("neuron"):
        checks.append("check_learning")
    imports = (["import json"] if ctx.has("command") else []) \
        + (["import math"] if ctx.has("surrogate") or (ctx.has("monitor") and ctx.has("attention")) else [])
    uses_torch = any(ctx.has(k) for k in ("neuron", "surrogate", "attention", "regularizer", "monitor"))
    uses_snnctl = any(ctx.has(k) for k in REGISTRY_KINDS)  # the registration test
    third = (["import numpy as np"] if ctx.has("exporter") else []) + ["import pytest"] \
        + (["import snnctl"] if uses_snnctl else []) + (["import torch"] if uses_torch else [])
    own = []
    if ctx.has("recipe"):
        own.append("from snnctl.config import resolve_config")
    if ctx.has("regularizer"):
        own.append("from snnctl.errors import ConfigError")
    if ctx.has("exporter"):
        own.append("from snnctl.export import ExportContext")
    if ctx.has("regularizer"):
        own.append("from snnctl.nn import SpikeRecorder")
    if ctx.has("monitor"):
        own.append("from snnctl.profile import profile_model")
    if checks:
        own.append(f"from snnctl.testing import {', '.join(sorted(checks))}")
    package = [f"from {ctx.pkg}.callback import FILE, {ctx.cls}EpochLog"] if ctx.has("callback") else []
    registry_kinds = [k for k in ctx.kinds if k in REGISTRY_KINDS]
    head = f'''\
"""Tests of {ctx.dist}: snnctl's contract checks and plain assertions, one group per component.

Each component is checked the way snnctl's built-ins are. Run them with ``python -m pytest`` in the
package's folder once it is installed (``pip install -e .``): snnctl finds the components through the
package's entry point, so these tests also check that it is declared right. The fixture
``snnctl_registry`` (snnctl's pytest plugin) loads snnctl's built-ins and this package only
(``snnctl_load_plugins`` in pyproject.toml), whatever else is installed.
"""

from __future__ import annotations

{chr(10).join(imports)}{chr(10) + chr(10) if imports else ""}{chr(10).join(third + own)}
{chr(10) + chr(10).join(package) + chr(10) if package else ""}
NAME = "{ctx.name}"
DISTRIBUTION = "{ctx.dist}"


@pytest.fixture(autouse=True)
def registry(snnctl_registry):
    """Every test sees snnctl's built-ins and this package (see the module docstring)."""
    return snnctl_registry
'''
    if ctx.has("recipe") or ctx.has("command"):
        head += '''

def run_cli(*args: str) -> int:
    """Run the snnctl command line in this process; returns the exit status."""
    from snnctl.cli import main

    try:
        main(list(args))
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 0
    return 0
'''
    parts = [head]
    if registry_kinds:
        kinds = ", ".join(f'"{k}"' for k in registry_kinds)
        kinds = "\n" + textwrap.fill(kinds, 110, initial_indent=" " * 8, subsequent_indent=" " * 8) + "\n    " \
            if len(kinds) > 80 else kinds + ("," if len(registry_kinds) == 1 else "")
        parts.append(f'''
def test_every_component_is_registered_through_the_entry_point():
    for kind in ({kinds}):
        about = snnctl.describe(kind, NAME)
        assert (about["distribution"], about["source"]) == (DISTRIBUTION, "entry point"), about
''')
    for kind in ctx.kinds:
        parts.append(ctx.fill(_TESTS[kind](ctx), model=model))
    return "\n".join(parts).rstrip() + "\n"


def _test_neuron(ctx: _Context) -> str:
    return '''
def test_neuron_passes_the_contract():
    check_neuron(NAME)
    check_neuron(NAME, tau=4.0, v_threshold=0.5, surrogate="sigmoid")  # any registered surrogate


def test_neuron_soft_reset_keeps_the_charge_above_the_threshold():
    n = snnctl.create("neuron", NAME, tau=2.0, v_threshold=1.0)
    # t0: H = 3 / 2 = 1.5 -> spike, V = 0.5;  t1: H = 0.5 + (0 - 0.5) / 2 = 0.25 -> silent
    assert n(torch.tensor([[3.0], [0.0]])).flatten().tolist() == [1.0, 0.0]
    assert n.v.item() == pytest.approx(0.25)


def test_neuron_learns():
    """A small network of these neurons learns snnctl's synthetic gestures (about 15 s on 2 CPU cores)."""
    result = check_learning(neuron=NAME)
    assert result.accuracy > 2 * result.chance, result.summary()
'''


def _test_surrogate(ctx: _Context) -> str:
    return '''
def test_surrogate_passes_the_contract():
    check_surrogate(NAME)
    check_surrogate(NAME, sigma=2.0)


def test_surrogate_is_the_gaussian_density():
    s = snnctl.create("surrogate", NAME, sigma=1.0)
    want = [math.exp(-v * v / 2) / math.sqrt(2 * math.pi) for v in (0.0, 1.0, -2.0)]
    assert s.grad(torch.tensor([0.0, 1.0, -2.0])).tolist() == pytest.approx(want)
'''


def _test_attention(ctx: _Context) -> str:
    return '''
def test_attention_passes_the_contract():
    check_attention(NAME, channels=8, timesteps=4)
    check_attention(NAME, channels=3, timesteps=2, reduction=1.0)


def test_attention_takes_a_zoneout_regularizer_in_training_only():
    gate = snnctl.create("attention", NAME, channels=4, timesteps=3)
    azo = snnctl.create("regularizer", "azo", rtr=1.0, rcr=1.0)  # every step and channel: step t reads t - 1
    assert azo.attach(torch.nn.Sequential(gate)) == ["0"]
    x = torch.rand(3, 2, 4, 5, 5)
    with torch.no_grad():
        trained, evaluated = gate.train()(x), gate.eval()(x)
    assert torch.equal(trained[0], evaluated[0])
    assert torch.allclose(trained[1:], evaluated[:-1])
'''


def _test_regularizer(ctx: _Context) -> str:
    return '''
def test_regularizer_penalises_the_distance_to_the_target_rate():
    model = snnctl.create_model("$model")
    reg = snnctl.create("regularizer", NAME, target=0.0, weight=2.0)
    names = reg.attach(model)
    recorder = SpikeRecorder(model)
    assert names == recorder.names and names
    model(model.example_input(2))
    want = 2.0 * torch.stack([r**2 for r in recorder.rates().values()]).mean()
    penalty = reg.penalty(model)
    assert penalty.item() == pytest.approx(want.item())
    penalty.backward()  # the gradient reaches the network through the surrogate gradients
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_regularizer_refuses_a_model_without_neurons():
    with pytest.raises(ConfigError, match="no spiking neuron"):
        snnctl.create("regularizer", NAME).attach(torch.nn.Linear(2, 2))
'''


def _test_model(ctx: _Context) -> str:
    return '''
def test_model_passes_the_contract():
    check_model(NAME)
    check_model(NAME, neuron="lif", attention="none", widths=[4])


def test_model_builds_any_registered_neuron_and_attention():
    model = snnctl.create_model(NAME, neuron="plif", attention="sma", timesteps=4)
    assert model(model.example_input(2)).shape == (4, 2, model.num_classes)
'''


def _test_dataset(ctx: _Context) -> str:
    return '''
def test_dataset_passes_the_contract():
    # a generated dataset needs no root; one that reads files gets a folder of tiny recordings here
    check_dataset(NAME)
    check_dataset(NAME, size=8, train_per_class=1, test_per_class=1, samples=8)


def test_dataset_classes_differ_in_the_direction_of_motion():
    d = snnctl.create("dataset", NAME)
    first = {r.label: r for r in d.locate(None, False)}  # one recording of each class
    for label, (axis, sign) in enumerate((("x", 1), ("x", -1), ("y", 1), ("y", -1))):
        on = d.read(first[label])
        on = on[on["p"] == 1]
        early, late = on[: len(on) // 3], on[-len(on) // 3:]
        assert sign * (late[axis].mean() - early[axis].mean()) > 2, d.classes[label]
'''


def _test_recipe(ctx: _Context) -> str:
    model = ctx.name if ctx.has("model") else "vgg5"
    data = ctx.name if ctx.has("dataset") else "synthetic-gestures"
    return '''
def test_recipe_is_a_valid_run_config():
    cfg = resolve_config(NAME)
    assert (cfg.recipe, cfg.model.name, cfg.data.name) == (NAME, "$rmodel", "$rdata")


def test_recipe_names_only_registered_components_with_valid_arguments(capsys):
    # --print-config checks every name and every component's arguments before printing
    assert run_cli("train", "--recipe", NAME, "--epochs", "2", "--print-config") == 0
    printed = capsys.readouterr().out
    assert f"recipe: {NAME}" in printed and "epochs: 2" in printed
'''.replace("$rmodel", model).replace("$rdata", data)


def _test_monitor(ctx: _Context) -> str:
    if ctx.has("attention"):
        return '''
def test_monitor_counts_the_gate():
    model = snnctl.create_model("$model", attention=NAME)
    result = profile_model(model, [model.example_input(2)])
    gates = [layer for layer in result.layers if layer.monitor == NAME]
    assert gates and not result.uncounted
    for layer in gates:  # the squeeze and the gating: two operations per element
        assert layer.elementwise == 2 * math.prod(layer.shapes[0])
'''
    return '''
def test_monitor_counts_softmax_layers():
    model = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Softmax(-1))
    result = profile_model(model, [torch.rand(4, 2, 6)], timesteps=4)
    assert result.layer("1").monitor == NAME
    assert result.layer("1").elementwise == 3 * 4 * 2 * 5
'''


def _test_exporter(ctx: _Context) -> str:
    return '''
def test_exporter_writes_every_weight_and_verifies_by_reloading(tmp_path):
    model = snnctl.create_model("$model").eval()
    ctx = ExportContext(source=None, make_batches=lambda: iter([model.example_input(2)]), sample_count=2)
    exporter = snnctl.create("exporter", NAME)
    path = tmp_path / f"model{exporter.suffix}"
    exporter.write(model, path, ctx)
    with np.load(path) as saved:
        assert sorted(saved.files) == sorted(model.state_dict())
        arrays = {key: saved[key] for key in saved.files}
    assert exporter.verify(path, model, ctx).passed
    # a file whose weights differ from the model's fails the verification (here the read-out's bias)
    key = [k for k, v in arrays.items() if v.dtype.kind == "f"][-1]
    arrays[key] = arrays[key] + 1.0
    np.savez(path, **arrays)
    assert not exporter.verify(path, model, ctx).passed
'''


def _test_command(ctx: _Context) -> str:
    return '''
def test_command_lists_the_components(capsys):
    from $pkg.command import COMPONENTS

    assert run_cli(NAME, "--json") == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["kind"], r["name"]) for r in rows] == COMPONENTS
    assert all(r["distribution"] == DISTRIBUTION for r in rows)
    assert run_cli(NAME) == 0
    assert DISTRIBUTION in capsys.readouterr().out
'''


def _test_callback(ctx: _Context) -> str:
    return '''
def test_callback_is_returned_for_every_run():
    import $pkg

    assert [type(c) for c in $pkg.training_callbacks(config=None)] == [${Cls}EpochLog]


def test_callback_writes_one_row_per_epoch(tmp_path):
    from types import SimpleNamespace

    rows = [{"epoch": 1, "lr": 0.001, "train_loss": 2.0, "train_acc": 0.25, "test_loss": 1.9, "test_acc": 0.3,
             "firing_rate": 0.1, "seconds": 1.5},
            {"epoch": 2, "lr": 0.0005, "train_loss": 1.0, "train_acc": 0.5, "test_loss": None, "test_acc": None,
             "firing_rate": None, "seconds": 1.4}]
    log = ${Cls}EpochLog()
    for done in (1, 2):
        log.on_epoch_end(SimpleNamespace(run_dir=tmp_path, metrics=rows[:done]))
    lines = (tmp_path / FILE).read_text().splitlines()
    assert lines[0].split(",")[:2] == ["epoch", "lr"] and len(lines) == 3
    assert lines[2].split(",")[:2] == ["2", "0.0005"] and lines[2].split(",")[5] == ""
'''


_TESTS = {"neuron": _test_neuron, "surrogate": _test_surrogate, "attention": _test_attention,
          "regularizer": _test_regularizer, "model": _test_model, "dataset": _test_dataset, "recipe": _test_recipe,
          "monitor": _test_monitor, "exporter": _test_exporter, "command": _test_command, "callback": _test_callback}


# -- README.md ---------------------------------------------------------------------------------------------------
def _train_command(ctx: _Context) -> str:
    flags = []
    if ctx.has("model"):
        flags.append(f"--model {ctx.name}")
    if ctx.has("neuron"):
        flags.append(f"--neuron {ctx.name}")
    if ctx.has("attention"):
        flags.append(f"--attention {ctx.name}")
    if ctx.has("regularizer"):
        flags.append(f"--reg {ctx.name}")
    elif ctx.has("model") and not ctx.has("attention"):
        flags.append("--reg none")  # snnctl's default regularizer, azo, needs an attention module that takes it
    if ctx.has("dataset"):
        flags.append(f"--data {ctx.name}")
    return " ".join(["snnctl train", *flags, f"--name {ctx.name}-run"])


def _readme(ctx: _Context) -> str:
    rows = "\n".join(f"| {k} | {f'`{ctx.name}`' if k in REGISTRY_KINDS else _readme_name(ctx, k)} | "
                     f"{_what(ctx, k)} | `{ctx.pkg}/{k}.py` |" for k in ctx.kinds)
    listing = [f"snnctl list {PLURALS[k]} '{ctx.name}'" for k in ctx.kinds if k in REGISTRY_KINDS][:2]
    use = [_train_command(ctx) + "   # add --epochs 1 for a quick try"]
    if ctx.has("recipe"):
        use.append(f"snnctl train --recipe {ctx.name} --name {ctx.name}-recipe")
    use += [f"snnctl profile runs/{ctx.name}-run", f"snnctl evaluate runs/{ctx.name}-run"]
    if ctx.has("exporter"):
        use.append(f"snnctl export runs/{ctx.name}-run --format {ctx.name}")
    if ctx.has("command"):
        use.append(f"snnctl {ctx.name}")
    sections = "\n\n".join(ctx.fill(_README_SECTIONS[k](ctx)).strip() for k in ctx.kinds)
    text = f'''\
# {ctx.dist}

A plugin for snnctl. It adds:

| kind | name | what it is | code |
| --- | --- | --- | --- |
{rows}

Each component is minimal and works as written; change it into your own, keeping its tests passing.

## Install

```bash
pip install -e .                 # in this folder; snnctl finds the plugin through its entry point (group "snnctl")
snnctl plugins                   # lists '{ctx.name}' ({ctx.dist} 0.1.0) with the hooks it implements
{chr(10).join(listing)}
```

`snnctl plugins` also says why a plugin failed to load; `snnctl --debug ...` shows the traceback.

## Test

```bash
pip install -e '.[test]'
python -m pytest                 # snnctl.testing's contract checks, as snnctl's built-ins pass them
```

## Use

```bash
{chr(10).join(use)}
```

## The components

{sections}

## Publishing

Set the version in `pyproject.toml` and `{ctx.pkg}/__init__.py`, then `python -m build` and upload the
files in `dist/`. The entry point table in `pyproject.toml` is all snnctl needs to find the package.
snnctl's docs/plugins.md walks through writing a plugin, and docs/hooks.md lists every hook.
'''
    return text


def _readme_name(ctx: _Context, kind: str) -> str:
    return f"`snnctl {ctx.name}`" if kind == "command" else f"`{ctx.name}-epochs.csv`"


_README_SECTIONS = {
    "neuron": lambda ctx: '''
### neuron `$name`

Leaky integrate-and-fire with a soft reset: `H = V + (X - V) / tau`, a spike where `H >= v_threshold`,
then `V = H - v_threshold * S`. Any model takes it by name (`snnctl train --neuron $name:tau=3`), and it
takes any registered surrogate gradient (`surrogate=...`). Its tests run `check_neuron` and
`check_learning`. See snnctl's docs/guides/neurons.md.
''',
    "surrogate": lambda ctx: '''
### surrogate gradient `$name`

The Gaussian density as the derivative of the spike function (`sigma` sets its width). A neuron uses it with
`--neuron lif:surrogate=$name`. Its tests run `check_surrogate`. See snnctl's docs/guides/surrogates.md.
''',
    "attention": lambda ctx: '''
### attention `$name`

A channel gate: each step's channels are scaled by a sigmoid of their spatial means through a small
bottleneck (`reduction`). It sets `supports_zoneout`, so `--reg azo` attaches to it. Any model that takes
an attention module uses it with `--attention $name`. Its tests run `check_attention`. See snnctl's
docs/guides/attention.md.
''',
    "regularizer": lambda ctx: '''
### regularizer `$name`

Adds `weight * mean((rate - target)^2)` over the spiking layers to the training loss, from the spikes that
`snnctl.nn.SpikeRecorder` records: `--reg $name:target=0.05,weight=0.5`. `metrics.jsonl` reports the
term under `penalties`. See snnctl's docs/guides/regularizers.md.
''',
    "model": lambda ctx: '''
### model `$name`

Two blocks of conv3x3, an attention module (`attention`; `none` leaves it out), BatchNorm, a spiking
neuron and 2x2 average pooling, then a linear read-out per time step. The run fits it to its data
(channels, classes, size, T); `--neuron` and `--attention` swap in any registered neuron and attention
module; `--set model.args.widths=[16,32]` changes its width. `snnctl info model $name` shows its settings and parameter count. Its tests run
`check_model`. See snnctl's docs/guides/models.md.
''',
    "dataset": lambda ctx: '''
### dataset `$name`

Generated event recordings (no download): a bar sweeping right, left, down or up across a 16 x 16 sensor,
64 training and 16 test recordings per class by default (`--set data.args.size=32`). The two directions of
an axis look the same summed over time, so a network must use the order of the frames.
`snnctl preprocess $name` turns it into cached frames; `snnctl info dataset $name` describes it.
Its tests run `check_dataset`. See snnctl's docs/guides/datasets.md for datasets read from files.
''',
    "recipe": lambda ctx: '''
### recipe `$name`

Training settings: `snnctl train --recipe $name` (any of them can still be changed: `--epochs 2`).
`snnctl info recipe $name` shows every setting it makes. See snnctl's docs/guides/recipes.md.
''',
    "monitor": lambda ctx: ('''
### monitor `$name`

Tells `snnctl profile` how to count the gate's own arithmetic (the squeeze and the gating: two operations
per element); its linear layers are counted by snnctl's `linear` monitor. See snnctl's
docs/guides/monitors.md.
''' if ctx.has("attention") else '''
### monitor `$name`

Tells `snnctl profile` how to count softmax layers, which snnctl's own monitors leave uncounted: three
operations per element. See snnctl's docs/guides/monitors.md.
'''),
    "exporter": lambda ctx: '''
### exporter `$name`

`snnctl export RUN --format $name` writes every tensor of the model's state dict to one `.npz` file
(`--set compressed=true`), then verifies it: the arrays are loaded into a copy of the model, whose logits
must match the model's on real test samples. It is weights only: rebuilding the model needs its config
(the run's `config.yaml`). See snnctl's docs/guides/exporters.md.
''',
    "command": lambda ctx: '''
### command `snnctl $name`

Lists the components of this package with the version that registered them (`--json` for scripts).
See snnctl's docs/guides/commands.md.
''',
    "callback": lambda ctx: '''
### training callback

Writes `${name}-epochs.csv` into every run folder while the package is installed: one row per finished
epoch (epoch, learning rate, losses, accuracies, firing rate, seconds). See snnctl's
docs/guides/callbacks.md.
''',
}


# -- writing -----------------------------------------------------------------------------------------------------
def default_folder(scaffold: Scaffold) -> Path:
    """Where the package goes without ``--out``: a folder named after the distribution in the current one."""
    return Path.cwd() / scaffold.distribution


def _check_target(out: Path) -> None:
    if out.is_dir() and any(out.iterdir()):
        raise ConfigError(f"{out} already exists and is not empty; nothing was written",
                          "Choose another folder with --out DIR, or move that one away first.")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out} exists and is not a folder; nothing was written", "Choose another folder with --out DIR.")


def write(scaffold: Scaffold, out: Optional[Path] = None) -> Path:
    """Write the package to ``out`` (default: ``./DISTRIBUTION``): all of it, or nothing.

    ``out`` must not exist, or be an empty folder. The files are written into a temporary folder beside
    it, flushed to disk, and the folder is renamed to ``out`` last; on any failure the temporary folder
    is removed and ``out`` is as it was.
    """
    from snnctl.files import fsync_dir, make_dir, replace, write_file

    out = Path(out).expanduser() if out is not None else default_folder(scaffold)
    out = out.absolute()
    _check_target(out)
    created = [p for p in out.parents if not p.exists()]  # removed again if the write fails
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    emptied = False
    try:
        make_dir(out.parent, f"the folder for {scaffold.distribution}")
        shutil.rmtree(tmp, ignore_errors=True)  # left by a killed run of this process id
        make_dir(tmp, f"the files of {scaffold.distribution}", exist_ok=False)
        folders = {tmp}
        for rel, text in scaffold.files.items():
            path = tmp / rel
            if path.parent not in folders:
                make_dir(path.parent, f"{rel} of {scaffold.distribution}")
                folders.add(path.parent)
            write_file(path, text.encode(), f"{rel} of {scaffold.distribution}")
        for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
            fsync_dir(folder)
        _check_target(out)  # again: something may have appeared there meanwhile
        if out.is_dir():
            out.rmdir()  # empty: the package folder takes its place
            emptied = True
        replace(tmp, out, f"the folder {out.name}")
        fsync_dir(out.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if emptied and not out.exists():
            out.mkdir()
        for folder in created:  # deepest first
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    scaffold.path = out
    return out


def new_plugin(name: str, kinds: Iterable[str], out: Optional[Path] = None, *,
               commands: Optional[dict[str, str]] = None) -> Scaffold:
    """Plan and write the package for ``name`` with ``kinds`` (see :func:`plan` and :func:`write`)."""
    scaffold = plan(name, kinds, commands=commands)
    write(scaffold, out)
    return scaffold
