"""pytest plugin installed with snnctl (entry point ``pytest11``): fixtures for plugin authors."""

from __future__ import annotations

import pytest


@pytest.fixture
def snnctl_registry():
    """The registry built from every installed plugin, as the command line sees it."""
    import snnctl

    return snnctl.registry()


@pytest.fixture
def snnctl_plugin_manager(tmp_path, monkeypatch):
    """A fresh plugin manager that also loads one-file plugins from ``tmp_path``.

    Write ``tmp_path / "my_plugin.py"`` first, then use the fixture's ``.registry``.
    """
    from snnctl import plugins

    monkeypatch.delenv(plugins.ENV_LOAD, raising=False)
    plugins.configure([str(tmp_path)])
    yield plugins.get_manager
    plugins.reset()
    plugins.configure([])
