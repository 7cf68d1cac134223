"""The plugin contract of snnctl.

Every hook snnctl calls is declared here as a do-nothing function whose docstring is its
documentation; ``docs/hooks.md`` is generated from these docstrings (``python -m snnctl.hookdoc``)
and a test keeps the two identical.

A plugin is a module (or any object) with functions of these names, marked with
``snnctl.hookimpl``. Plugins load from the entry-point group ``snnctl`` (the built-ins in ``plugins/``
load exactly that way) and from one-file modules in ``--plugins-dir``. A plugin implements only the
hooks it needs; a function marked ``@hookimpl`` whose name is not a hook below is reported as an error.

Registration hooks all receive one argument, ``register``, a callback with the signature::

    register(name, factory, *, config=None, description=None)

``name``
    The component's registry name: lowercase letters and digits joined by single hyphens
    (``adaptive-lif``). It must be unique within its kind across all plugins; a second registration
    is an error that names both plugins.
``factory``
    A callable, usually the class, called as ``factory(**fields)`` with the validated config fields.
``config``
    A pydantic ``BaseModel`` class describing the arguments (declare ``extra="forbid"``). If omitted,
    one is derived from the factory's signature (type annotations and defaults).
``description``
    One line shown by ``snnctl list`` and ``snnctl info``; defaults to the docstring's first line.

The host records which plugin made each registration; ``snnctl list`` and ``snnctl info`` show it.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("snnctl")


@hookspec
def register_neurons(register):
    """Register spiking neuron types.

    A neuron is a ``torch.nn.Module`` that maps a time-first input ``[T, B, ...]`` to spikes of the
    same shape and dtype in multi-step mode (``step_mode="m"``), and one step ``[B, ...]`` in
    single-step mode (``step_mode="s"``), keeping its state until ``reset()``. Subclass
    ``snnctl.nn.Neuron`` to get the state handling, and check it with ``snnctl.testing.check_neuron``.
    A neuron takes its surrogate gradient by registry name (``surrogate="atan"``).

    :param register: the registration callback, ``register(name, factory, *, config=None, description=None)``.
    :return: ignored.
    """


@hookspec
def register_surrogates(register):
    """Register surrogate gradients of the spike function.

    A surrogate is a ``snnctl.nn.Surrogate``: the forward pass is the Heaviside step ``x >= 0`` and the
    backward pass uses ``grad(x)``, the derivative of a smooth stand-in, at ``x = v - threshold``.
    Neurons choose one by name, with its parameters in ``surrogate_args``.

    :param register: the registration callback, ``register(name, factory, *, config=None, description=None)``.
    :return: ignored.
    """


@hookspec
def register_attention(register):
    """Register attention modules.

    An attention module is a ``snnctl.nn.Attention``: it maps ``[T, B, C, H, W]`` to a tensor of the
    same shape. Its factory is called with ``channels`` and ``timesteps`` (the model's T) plus its own
    config fields. A module that weighs several scales per step and channel sets
    ``supports_zoneout = True`` and applies :meth:`snnctl.nn.Attention.zoneout_sources`, so zoneout
    regularizers such as ``azo`` attach to it. Check one with ``snnctl.testing.check_attention``.

    :param register: the registration callback, ``register(name, factory, *, config=None, description=None)``.
    :return: ignored.
    """


@hookspec
def register_regularizers(register):
    """Register regularizers.

    A regularizer is a ``snnctl.nn.Regularizer`` built from its config. ``attach(model)`` installs it
    in a built model (``azo`` adds a zoneout to every attention module that supports one) and returns
    the names of the modules it acts on, or raises ``snnctl.errors.ConfigError`` when the model offers
    none; ``penalty(model)`` may return a term added to the loss. What it installs acts in training
    only and is the identity in evaluation (it follows ``model.train()`` / ``model.eval()``).

    :param register: the registration callback, ``register(name, factory, *, config=None, description=None)``.
    :return: ignored.
    """


@hookspec
def register_models(register):
    """Register network architectures.

    A model factory builds a ``snnctl.nn.SpikingModel`` from its config: input ``[T, B, C_in, H, W]``,
    per-step logits ``[T, B, K]`` out. It creates its neurons and attention modules by registry name
    (``snnctl.nn.make_neuron``, ``snnctl.nn.make_attention``), so any registered neuron or attention
    can be swapped in without code changes. ``snnctl info model NAME`` reports the parameter count of
    the default configuration. Check one with ``snnctl.testing.check_model``.

    :param register: the registration callback, ``register(name, factory, *, config=None, description=None)``.
    :return: ignored.
    """


@hookspec
def register_datasets(register):
    """Register datasets.

    A dataset factory builds a ``snnctl.data.base.EventDataset``: it names its classes, sensor size
    ``(W, H, P)``, default T and split policy, lists its recordings with ``locate(root, download)``
    and reads one with ``read(recording)`` (a structured array with ``x``, ``y``, ``p``, ``t``).
    ``snnctl preprocess`` does the rest: validation, frames ``[T, P, H, W]``, deterministic splits and
    the cache. Check one with ``snnctl.testing.check_dataset``.

    :param register: the registration callback, ``register(name, factory, *, config=None, description=None)``.
    :return: ignored.
    """


@hookspec
def register_recipes(register):
    """Register training recipes: named, partial run configurations.

    A recipe factory takes no arguments and returns a dict in the shape of the run config
    (``snnctl.config.RunConfig``): model, regularizers, data, optimizer, schedule, loss, epochs, batch
    size, seed. ``snnctl train --recipe NAME`` layers it over the built-in defaults and under
    ``--config`` files, ``--set`` and flags; ``snnctl list recipes`` lists them and
    ``snnctl info recipe NAME`` shows every setting it makes. A setting the user must supply (the
    weights a fine-tuning recipe starts from) is named under the extra key ``requires``, mapping its
    dotted path to the reason: ``{"requires": {"init": "it fine-tunes the stage-1 weights"}}``;
    training refuses to start until it is given.

    :param register: the registration callback, ``register(name, factory, *, config=None, description=None)``.
    :return: ignored.
    """


@hookspec
def register_monitors(register):
    """Register monitors: how ``snnctl profile`` counts a layer type.

    A monitor is a ``snnctl.profile.Monitor``, built with no arguments. It claims module types
    (its ``types`` attribute, or its own ``claims(module)``); after every call of a claimed module a
    forward hook calls ``count(module, inputs, output, ctx)``, which returns a
    ``snnctl.profile.Counts`` for that call: dense synaptic operations, effective and reachable
    synapses, bias and other elementwise operations, neuron updates and the output spikes
    ``[T, B, ...]``. The profiler measures whether the input is binary spikes and derives SOPs,
    MACs, firing rates and every energy convention from these counts. Where several monitors claim a
    module, the highest ``priority`` wins, then the most specific type; a tie is an error. A layer
    (a leaf module, or one with parameters of its own) that no monitor claims is listed as
    uncounted, never silently dropped. ``snnctl list monitors`` shows the installed monitors; the
    contract is in docs/api.md (``snnctl.profile.Monitor``), a worked example in docs/guides/monitors.md.

    :param register: the registration callback, ``register(name, factory, *, config=None, description=None)``.
    :return: ignored.
    """


@hookspec
def register_exporters(register):
    """Register exporters of trained models: ``snnctl export SOURCE --format NAME``.

    An exporter is a ``snnctl.export.Exporter`` built from its config (``--set KEY=VALUE``). For one
    export ``snnctl export`` calls ``preflight(model, ctx)`` (a list of ``snnctl.export.Problem``
    for every module the format cannot express exactly; any one stops the export before writing),
    ``write(model, path, ctx)`` (write the file at the temporary ``path`` it is given; return report
    entries such as ``folded`` and ``removed``) and ``verify(path, model, ctx)`` (read the file back
    with a reader that did not write it and compare it with the model on ``ctx.batches()``, real
    samples ``[T, B, C, H, W]``; return a ``snnctl.export.Verification``). Only a file that passes is
    renamed into place. Its ``suffix`` names the file type and ``packages`` the optional packages it
    needs. An exporter whose files can be run again implements ``can_load(path)`` and
    ``load(path, **options)`` (an ``snnctl.export.OpenedModel``); ``snnctl.load``, ``snnctl evaluate``
    and ``snnctl profile`` then accept those files. docs/export.md has a complete example.

    :param register: the registration callback, ``register(name, factory, *, config=None, description=None)``.
    :return: ignored.
    """


@hookspec
def register_commands(cli):
    """Add subcommands to the ``snnctl`` command line.

    Called once while the CLI is assembled, after every plugin has registered its components.

    :param cli: the root ``typer.Typer`` application; add commands with ``@cli.command()`` or
        sub-applications with ``cli.add_typer(...)``.
    :return: ignored.
    """


@hookspec
def startup(registry):
    """Called once after every plugin has registered its components.

    Use it to check or cross-reference registrations (for example, that a model's default neuron
    exists). Raise ``snnctl.errors.SnnctlError`` to report a problem to the user; it names your plugin.

    :param registry: the loaded ``snnctl.registry.Registry`` (read it; register through the hooks).
    :return: ignored.
    """


@hookspec
def training_callbacks(config):
    """Supply callback objects for a training run.

    Called once when a run starts, never inside the training loop. Each callback may define any of
    ``on_train_start(state)`` (before the first batch, also when a run resumes),
    ``on_batch_end(state)`` (after each optimizer step), ``on_epoch_end(state)`` (after the epoch's
    evaluation, once its metrics row and checkpoint are written) and ``on_train_end(state)`` (after
    the last epoch); the loop calls the methods that exist, with the ``snnctl.engine.train.TrainState``
    of the run. Under torchrun they run in every process (``state.main`` marks the one that writes
    files). An exception in a callback stops the run with a message naming the callback (exit
    status 2); the last checkpoint is kept.

    :param config: the resolved run configuration.
    :return: a list of callback objects, or None.
    """
