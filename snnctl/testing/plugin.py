"""pytest plugin installed with snnctl (entry point ``pytest11``): fixtures for plugin authors."""

from __future__ import annotations

import pytest


@pytest.fixture
def snnctl_registry():
    """The registry built from every installed plugin, as the command line sees it."""
    import snnctl

    return snnctl.registry()


@pytest.fixture
def snnctl_plugins_dir(tmp_path, monkeypatch):
    """A folder of one-file plugins that snnctl loads, for this test only.

    Write plugin files into it, then use ``snnctl.create`` / ``snnctl.registry()`` as usual: plugins
    load on first use. Third-party entry points other than snnctl's built-ins are not loaded, so the
    test sees the built-ins plus the files in the folder.
    """
    from snnctl import plugins

    folder = tmp_path / "snnctl-plugins"
    folder.mkdir()
    monkeypatch.setenv(plugins.ENV_LOAD, "")
    monkeypatch.delenv(plugins.ENV_DIRS, raising=False)
    plugins.configure([str(folder)])
    yield folder
    plugins.configure([])
