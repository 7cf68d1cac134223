"""snnctl: train, profile and export spiking neural networks on event-camera data.

The small public API::

    import snnctl
    snnctl.list_components("neuron")            # ['if', 'lif', 'ms-lif', 'plif', ...]
    lif = snnctl.create("neuron", "lif", tau=2.0)
    snnctl.create_neuron("plif", surrogate="sigmoid")
    model = snnctl.load("runs/default/export/vgg5-sma-best.safetensors")   # an exported bundle

Plugins implement the hooks in :mod:`snnctl.hookspecs`, marked with :data:`snnctl.hookimpl`.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version as _version
from typing import Any

from snnctl.plugins import hookimpl

try:
    __version__ = _version("snnctl")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

__all__ = [
    "__version__",
    "hookimpl",
    "registry",
    "create",
    "list_components",
    "describe",
    "create_neuron",
    "create_surrogate",
    "create_model",
    "list_models",
    "load",
]


def registry():
    """The registry built from every loaded plugin (loaded on first use)."""
    from snnctl.plugins import get_manager

    return get_manager().registry


def create(kind: str, name: str, /, **kwargs: Any) -> Any:
    """Build a registered component by kind and name; arguments that are None are ignored."""
    return registry().create(kind, name, **kwargs)


def list_components(kind: str, pattern: str = "*") -> list[str]:
    """Registered names of one kind matching a wildcard pattern, in natural order."""
    return registry().list(kind, pattern)


def describe(kind: str, name: str) -> dict[str, Any]:
    """A JSON-ready description of one component (provider, config schema with defaults)."""
    return registry().describe(kind, name)


def create_neuron(name: str, /, **kwargs: Any) -> Any:
    """A neuron by registry name: ``create("neuron", name, **kwargs)``."""
    return create("neuron", name, **kwargs)


def create_surrogate(name: str, /, **kwargs: Any) -> Any:
    """A surrogate gradient by registry name: ``create("surrogate", name, **kwargs)``."""
    return create("surrogate", name, **kwargs)


def create_model(name: str, /, **kwargs: Any) -> Any:
    """A model by registry name: ``create("model", name, **kwargs)`` (its data fields: see :class:`snnctl.nn.SpikingModel`)."""
    return create("model", name, **kwargs)


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a wildcard pattern."""
    return list_components("model", pattern)


def load(path: Any, /, **options: Any) -> Any:
    """The model saved at ``path`` in eval mode: a bundle (``snnctl export``), a NIR graph, or a run folder.

    A bundle is rebuilt through the registry from the components it names; a NIR graph (written by
    snnctl or another tool) runs in snnctl's NIR interpreter. ``options`` go to the format's loader
    (NIR: ``dt``, the seconds one step stands for, where the file does not record it).
    """
    from snnctl.export import load as _load

    return _load(path, **options)
