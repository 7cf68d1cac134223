"""The pytest plugin that snnctl installs for plugin authors (entry point pytest11)."""

from __future__ import annotations

import importlib.metadata as md
import textwrap

import pytest

import snnctl
from snnctl.testing import check_neuron


def test_pytest_plugin_is_installed_through_its_entry_point():
    eps = {ep.name: ep.value for ep in md.entry_points(group="pytest11")}
    assert eps.get("snnctl") == "snnctl.testing.plugin"


def test_snnctl_registry_fixture(snnctl_registry):
    assert snnctl_registry is snnctl.registry()
    assert {"lif", "plif", "if", "ms-lif"} <= set(snnctl_registry.list("neuron"))


def test_snnctl_plugins_dir_fixture(snnctl_plugins_dir):
    (snnctl_plugins_dir / "double_if.py").write_text(
        textwrap.dedent(
            """
            import snnctl
            from snnctl_plugins.neurons import IF

            @snnctl.hookimpl
            def register_neurons(register):
                register("double-if", lambda **kw: IF(v_threshold=2.0, **kw), description="IF with threshold 2")
            """
        )
    )
    entry = snnctl.registry().get("neuron", "double-if")
    assert entry.provider.source == "plugins-dir"
    assert check_neuron("double-if").v_threshold == 2.0
    # the installed plugins (the package under test among them) load beside the folder, as on the command line
    assert {"snnctl", None, "snnctl-alif"} <= {e.provider.distribution for e in snnctl.registry().entries("neuron")}


FIXTURE_TEST = """
import snnctl

def test_sees(snnctl_plugins_dir, snnctl_registry):
    (snnctl_plugins_dir / "one.py").write_text("import snnctl\\n")
    dists = {e.provider.distribution for e in snnctl.registry().entries("neuron")}
    assert ("snnctl-alif" in dists) is WANT
    assert "lif" in snnctl.registry().list("neuron")
"""


@pytest.mark.parametrize("ini, want", [("snnctl-alif", True), ("some-other-plugin", False), (None, True)])
def test_the_pytest_configuration_names_the_plugins_the_fixtures_load(pytester, monkeypatch, ini, want):
    monkeypatch.delenv("SNNCTL_LOAD_PLUGINS", raising=False)
    if ini:
        pytester.makeini(f"[pytest]\nsnnctl_load_plugins =\n    {ini}\n")
    pytester.makepyfile(test_fixture=FIXTURE_TEST.replace("WANT", str(want)))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
