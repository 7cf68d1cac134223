"""Plugin loading: entry points (built-ins included), --plugins-dir, switches, failures, every hook."""

from __future__ import annotations

import importlib.metadata as md
import re
import textwrap
from pathlib import Path

import pytest

import snnctl
from snnctl import plugins
from snnctl.errors import DuplicateNameError, PluginError
from snnctl.hookdoc import hook_functions, render
from snnctl.plugins import PluginManager

ROOT = Path(__file__).resolve().parents[1]


def quiet_manager(*dirs, entry_points=False):
    failures = []
    pm = PluginManager(dirs, entry_points=entry_points, report=failures.append)
    return pm, failures


class Plugin:
    """A plugin object whose hooks are given as keyword functions."""

    def __init__(self, **hooks):
        for name, fn in hooks.items():
            setattr(self, name, snnctl.hookimpl(fn))


# -- built-ins are plugins, loaded through the entry-point group ----------------------------------
def test_builtins_are_declared_in_the_entry_point_group():
    eps = {ep.name: ep.value for ep in md.entry_points(group="snnctl") if ep.dist and ep.dist.name == "snnctl"}
    assert eps["neurons"] == "snnctl_plugins.neurons"
    assert eps["surrogates"] == "snnctl_plugins.surrogates"


def test_builtins_load_like_third_party_plugins():
    pm = plugins.get_manager()
    info = pm.plugins["neurons"]
    assert info.ok, info.error
    assert (info.source, info.distribution, info.version) == ("builtin", "snnctl", snnctl.__version__)
    assert "register_neurons" in info.hooks
    entry = pm.registry.get("neuron", "lif")
    assert entry.provider.plugin == "neurons" and entry.provider.distribution == "snnctl"


# -- --plugins-dir ----------------------------------------------------------------------------------
NEW_NEURON = """
    import snnctl

    class Doubler:
        '''Doubles its input (a test neuron).'''
        def __init__(self, gain: float = 2.0):
            self.gain = gain

    @snnctl.hookimpl
    def register_neurons(register):
        register("doubler", Doubler)
"""


def test_plugins_dir_adds_a_component_with_provenance(plugin_dir):
    plugin_dir("my_neuron.py", NEW_NEURON)
    plugin_dir("_private.py", "raise RuntimeError('files starting with _ are not plugins')")
    pm, failures = quiet_manager(plugin_dir.path)
    assert failures == []
    entry = pm.registry.get("neuron", "doubler")
    assert entry.provider.plugin == "my_neuron.py" and entry.provider.source == "plugins-dir"
    assert pm.registry.create("neuron", "doubler", gain=3).gain == 3.0


def test_missing_plugins_dir_is_a_clear_error(tmp_path):
    with pytest.raises(PluginError, match="does not exist"):
        PluginManager([tmp_path / "nope"], entry_points=False)


def test_broken_plugin_is_reported_by_name_and_others_still_load(plugin_dir):
    plugin_dir("broken.py", "import snnctl\nimport no_such_module_xyz\n")
    plugin_dir("good.py", NEW_NEURON)
    pm, failures = quiet_manager(plugin_dir.path)
    assert [f.name for f in failures] == ["broken.py"]
    assert "No module named 'no_such_module_xyz'" in failures[0].error
    assert "doubler" in pm.registry.list("neuron")
    assert pm.plugins["broken.py"].as_dict()["status"] == "failed"


def test_misspelled_hook_is_caught(plugin_dir):
    plugin_dir(
        "typo.py",
        """
        import snnctl
        @snnctl.hookimpl
        def register_nuerons(register):
            pass
        """,
    )
    pm, failures = quiet_manager(plugin_dir.path)
    assert len(failures) == 1 and "register_nuerons" in failures[0].error
    assert "typo.py" not in [p.name for p in pm.plugins.values() if p.ok]


def test_plugin_raising_in_a_hook_is_skipped_and_reported():
    def register_models(register):
        raise RuntimeError("boom")

    failures = []
    pm = PluginManager(entry_points=False, report=failures.append)
    pm.register_object(Plugin(register_models=register_models), "exploding")
    assert pm.registry.list("model") == []
    assert failures and "RuntimeError: boom" in failures[0].error


def test_duplicate_across_plugins_names_both_providers(plugin_dir):
    plugin_dir(
        "shadow_lif.py",
        """
        import snnctl
        @snnctl.hookimpl
        def register_neurons(register):
            register("lif", lambda: None, description="not the real lif")
        """,
    )
    failures = []
    pm = PluginManager([plugin_dir.path], report=failures.append)
    reg = pm.registry  # the registry is built: only the duplicated name is refused
    assert "lif" not in reg.list("neuron") and "plif" in reg.list("neuron")
    with pytest.raises(DuplicateNameError) as err:
        reg.get("neuron", "lif")
    assert "plugin 'neurons' (snnctl" in str(err.value)
    assert "plugin 'shadow_lif.py' (plugins-dir)" in str(err.value)
    assert pm.plugins["shadow_lif.py"].conflicts == ["neuron 'lif'"]
    assert failures and "registers neuron 'lif'" in failures[0].error


# -- the environment switch restricts entry points -----------------------------------------------
def install_fake_distribution(site, name: str, version: str, entry_points: str, modules: dict[str, str]):
    """Make ``site`` hold an installed distribution (dist-info with entry points) and its modules."""
    dist = site / f"{name.replace('-', '_')}-{version}.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (dist / "entry_points.txt").write_text(entry_points)
    for module, source in modules.items():
        (site / f"{module}.py").write_text(textwrap.dedent(source))


@pytest.fixture
def fake_distribution(tmp_path, monkeypatch):
    """An installed distribution 'fakeplug' with an entry point in group snnctl."""
    source = """
        import snnctl
        @snnctl.hookimpl
        def register_surrogates(register):
            def fake(alpha: float = 1.0):
                '''A fake surrogate.'''
                return alpha
            register("fake", fake)
        """
    install_fake_distribution(tmp_path, "fakeplug", "1.2", "[snnctl]\nfake = fakeplug_mod\n", {"fakeplug_mod": source})
    monkeypatch.syspath_prepend(str(tmp_path))
    return "fakeplug"


def test_installed_distributions_are_loaded(fake_distribution):
    pm = PluginManager(report=lambda info: None)
    entry = pm.registry.get("surrogate", "fake")
    assert (entry.provider.plugin, entry.provider.distribution, entry.provider.version) == ("fake", "fakeplug", "1.2")


@pytest.mark.parametrize(
    "value, loaded", [("", False), ("fakeplug", True), ("fake", True), ("other,fakeplug", True), ("other", False)]
)
def test_load_switch_restricts_third_party_entry_points(fake_distribution, monkeypatch, value, loaded):
    monkeypatch.setenv("SNNCTL_LOAD_PLUGINS", value)
    pm = PluginManager(report=lambda info: None)
    assert ("surrogate", "fake") in pm.registry if loaded else ("surrogate", "fake") not in pm.registry
    assert ("neuron", "lif") in pm.registry  # built-ins always load


def test_trace_switch_prints_hook_calls(monkeypatch, capsys):
    monkeypatch.setenv("SNNCTL_TRACE", "1")
    _ = PluginManager(report=lambda info: None).registry
    assert "snnctl: hook register_neurons -> plugin 'neurons'" in capsys.readouterr().err


# -- one test per hook (a meta-test below keeps this list complete) -------------------------------
def _registers(kind_hook: str, kind: str):
    def hook(register):
        register("thing-1", lambda size=1: ("built", size), description="a thing")

    pm, failures = quiet_manager()
    pm.register_object(Plugin(**{kind_hook: hook}), "p")
    assert failures == []
    assert pm.registry.list(kind) == ["thing-1"]
    assert pm.registry.create(kind, "thing-1", size=2) == ("built", 2)
    assert pm.registry.get(kind, "thing-1").provider.plugin == "p"


def test_hook_register_neurons():
    _registers("register_neurons", "neuron")


def test_hook_register_surrogates():
    _registers("register_surrogates", "surrogate")


def test_hook_register_attention():
    _registers("register_attention", "attention")


def test_hook_register_regularizers():
    _registers("register_regularizers", "regularizer")


def test_hook_register_models():
    _registers("register_models", "model")


def test_hook_register_datasets():
    _registers("register_datasets", "dataset")


def test_hook_register_recipes():
    _registers("register_recipes", "recipe")


def test_hook_register_monitors():
    _registers("register_monitors", "monitor")


def test_hook_register_exporters():
    _registers("register_exporters", "exporter")


def test_hook_register_commands(cli, plugin_dir):
    plugin_dir(
        "hello.py",
        """
        import snnctl
        @snnctl.hookimpl
        def register_commands(cli):
            @cli.command("hello")
            def hello(name: str = "world"):
                '''Say hello.'''
                print(f"hello {name}")
        """,
    )
    result = cli("--plugins-dir", str(plugin_dir.path), "hello", "--name", "spikes")
    assert result.code == 0 and result.stdout == "hello spikes\n"


def test_hook_startup_sees_every_registration():
    seen = {}

    def register_neurons(register):
        register("late-neuron", lambda: None, description="x")

    def startup(registry):
        seen["neurons"] = registry.list("neuron")

    pm, _ = quiet_manager()
    pm.register_object(Plugin(startup=startup), "checker")  # loaded first, still sees the later one
    pm.register_object(Plugin(register_neurons=register_neurons), "provider")
    _ = pm.registry
    assert seen["neurons"] == ["late-neuron"]


def test_hook_training_callbacks_are_collected_once():
    class Cb:
        def on_epoch_end(self, state):
            pass

    a, b = Cb(), Cb()
    pm, _ = quiet_manager()
    pm.register_object(Plugin(training_callbacks=lambda config: [a, b]), "two")
    pm.register_object(Plugin(training_callbacks=lambda config: None), "none")
    assert pm.call_collect("training_callbacks", config={"epochs": 1}) == [a, b]


# -- the contract stays documented and tested ----------------------------------------------------
def test_every_hook_has_a_test_named_after_it():
    sources = "".join(p.read_text() for p in Path(__file__).parent.glob("test_*.py"))
    missing = [f.__name__ for f in hook_functions() if not re.search(rf"def test_hook_{f.__name__}[(_]", sources)]
    assert missing == []


def test_every_hook_is_documented_with_its_signature():
    for fn in hook_functions():
        doc = fn.__doc__ or ""
        assert len(doc.strip()) > 40, fn.__name__
        for arg in fn.__code__.co_varnames[: fn.__code__.co_argcount]:
            assert f":param {arg}:" in doc, (fn.__name__, arg)


def test_hook_reference_in_docs_is_generated_from_the_hookspecs():
    doc = (ROOT / "docs" / "hooks.md").read_text()
    assert doc == render(), "docs/hooks.md is stale: run `python -m snnctl.hookdoc > docs/hooks.md`"
    for fn in hook_functions():
        assert re.search(rf"### `{fn.__name__}\(", doc)


def test_builtins_keep_their_names_when_a_third_party_entry_point_shares_one(tmp_path, monkeypatch):
    install_fake_distribution(tmp_path, "aaa-plug", "0.3", "[snnctl]\nneurons = aaa_plug_mod\n", {"aaa_plug_mod": ""})
    monkeypatch.syspath_prepend(str(tmp_path))
    pm = PluginManager(report=lambda info: None)
    assert pm.plugins["neurons"].distribution == "snnctl"
    assert pm.plugins["aaa-plug:neurons"].distribution == "aaa-plug"
    assert pm.registry.get("neuron", "lif").provider.plugin == "neurons"


def test_a_plugin_command_never_replaces_another(cli, plugin_dir):
    plugin_dir("takeover.py", '''
import snnctl

@snnctl.hookimpl
def register_commands(cli):
    @cli.command("list")
    def hijack():
        print("hijacked")

    @cli.command("hello")
    def hello():
        print("hello")
''')
    folder = str(plugin_dir.path)
    r = cli("--plugins-dir", folder, "list", "neurons", "--json")
    assert r.code == 0 and "hijacked" not in r.stdout and "lif" in r.stdout
    assert "takeover" in r.stderr and "'list' is snnctl's own" in r.stderr
    assert cli("--plugins-dir", folder, "hello").code != 0  # the plugin's commands go together


def test_register_commands_raising_a_user_error_skips_only_that_plugin(cli, plugin_dir):
    plugin_dir("strict.py", '''
import snnctl
from snnctl.errors import ConfigError

@snnctl.hookimpl
def register_commands(cli):
    raise ConfigError("strict: SETTING is missing")
''')
    r = cli("--plugins-dir", str(plugin_dir.path), "list", "neurons", "--json")
    assert r.code == 0, r.stderr
    assert "strict" in r.stderr and "SETTING is missing" in r.stderr
    r = cli("--plugins-dir", str(plugin_dir.path), "plugins", "--json")
    assert r.code == 0
    assert any(p["name"].startswith("strict") and p["status"] != "ok" for p in __import__("json").loads(r.stdout))
