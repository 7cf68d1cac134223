"""pytest plugin installed with snnctl (entry point ``pytest11``): fixtures for plugin authors.

* ``snnctl_registry``: the registry as the command line sees it.
* ``snnctl_plugins_dir``: a folder of one-file plugins loaded for one test, beside the installed ones.

Which installed plugins those fixtures load follows the command line: every plugin of the entry-point
group ``snnctl`` (snnctl's built-ins, the package under test once it is installed, and any other
installed plugin), or only those that ``SNNCTL_LOAD_PLUGINS`` lists. To keep a test suite
independent of whatever else is installed, name the packages it may see in the pytest configuration::

    [tool.pytest.ini_options]
    snnctl_load_plugins = ["snnctl-alif"]      # snnctl's built-ins and this distribution only
"""

from __future__ import annotations

import pytest

INI = "snnctl_load_plugins"


def pytest_addoption(parser) -> None:
    parser.addini(INI, type="linelist", default=None,
                  help="installed snnctl plugins (entry-point or distribution names) that snnctl's fixtures load "
                       "beside snnctl's built-ins (default: every installed plugin, as the command line)")


def _select(request, monkeypatch) -> None:
    from snnctl import plugins

    chosen = request.config.getini(INI)
    if chosen:  # an explicit list in the pytest configuration wins over the environment
        monkeypatch.setenv(plugins.ENV_LOAD, ",".join(chosen))


@pytest.fixture
def snnctl_registry(request, monkeypatch):
    """The registry built from the installed plugins (see the module docstring), as the command line sees it."""
    import snnctl
    from snnctl import plugins

    _select(request, monkeypatch)
    plugins.reset()
    yield snnctl.registry()
    plugins.reset()


@pytest.fixture
def snnctl_plugins_dir(request, tmp_path, monkeypatch):
    """A folder of one-file plugins that snnctl loads, for this test only, beside the installed plugins.

    Write plugin files into it, then use ``snnctl.create`` / ``snnctl.registry()`` as usual: plugins
    load on first use. The installed plugins are those the command line loads (the package under
    test included); ``snnctl_load_plugins`` in the pytest configuration narrows them. Folders named in
    ``SNNCTL_PLUGINS_DIR`` are not loaded, so the test sees exactly the installed plugins and this folder.
    """
    from snnctl import plugins

    folder = tmp_path / "snnctl-plugins"
    folder.mkdir(exist_ok=True)
    _select(request, monkeypatch)
    monkeypatch.delenv(plugins.ENV_DIRS, raising=False)
    plugins.configure([str(folder)])
    yield folder
    plugins.configure([])
