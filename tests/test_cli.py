"""Every command, with and without --json; user errors exit 2 with one message on stderr."""

from __future__ import annotations

import json
import subprocess
import sys


import snnctl
from conftest import SNNCTL

NEURONS = {"lif", "plif", "if", "ms-lif"}
SURROGATES = {"atan", "sigmoid", "rect", "triangle"}



def test_help_lists_the_commands(cli):
    r = cli("--help")
    assert r.code == 0
    for cmd in ("list", "info", "plugins"):
        assert cmd in r.stdout


def test_version(cli):
    r = cli("--version")
    assert r.code == 0 and r.stdout.strip() == f"snnctl {snnctl.__version__}"


def test_python_dash_m_and_console_script_work():
    for cmd in ([sys.executable, "-m", "snnctl", "list", "neurons", "--json"], [SNNCTL, "list", "neurons", "--json"]):
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert NEURONS <= {row["name"] for row in json.loads(out.stdout)}


def test_list_all_kinds_table(cli):
    r = cli("list")
    assert r.code == 0
    for name in NEURONS | SURROGATES:
        assert name in r.stdout


def test_list_neurons_json(cli):
    r = cli("list", "neurons", "--json")
    assert r.code == 0
    rows = json.loads(r.stdout)
    assert NEURONS <= {row["name"] for row in rows}
    lif = next(row for row in rows if row["name"] == "lif")
    assert lif["kind"] == "neuron" and lif["plugin"] == "neurons" and lif["distribution"] == "snnctl"
    assert lif["description"]


def test_list_surrogates_json(cli):
    r = cli("list", "surrogates", "--json")
    assert r.code == 0
    assert SURROGATES <= {row["name"] for row in json.loads(r.stdout)}


def test_list_with_pattern(cli):
    r = cli("list", "neuron", "*lif", "--json")
    names = [row["name"] for row in json.loads(r.stdout)]
    assert {"lif", "plif", "ms-lif"} <= set(names) and "if" not in names
    r = cli("list", "neurons", "*lif")
    assert r.code == 0 and "matching '*lif'" in r.stdout


def test_unknown_kind_exits_2_with_suggestion_and_empty_stdout(cli):
    r = cli("list", "modelz")
    assert r.code == 2
    assert r.stdout == ""
    assert "did you mean 'models'" in r.stderr
    assert "Traceback" not in r.stderr


def test_info_neuron_table_and_json(cli):
    r = cli("info", "neuron", "lif")
    assert r.code == 0
    assert "tau" in r.stdout and "v_threshold" in r.stdout and "provided by: neurons from snnctl" in r.stdout
    r = cli("info", "neurons", "lif", "--json")
    data = json.loads(r.stdout)
    fields = {p["name"]: p["default"] for p in data["parameters_schema"]}
    assert fields["tau"] == 2.0 and fields["v_threshold"] == 1.0 and fields["surrogate"] == "atan"
    assert data["plugin"] == "neurons" and data["version"] == snnctl.__version__


def test_info_unknown_name(cli):
    r = cli("info", "neuron", "lfi", "--json")
    assert r.code == 2 and r.stdout == ""
    assert "did you mean 'lif'" in r.stderr and "snnctl list neurons" in r.stderr


def test_info_model_reports_parameter_count(cli, plugin_dir):
    plugin_dir(
        "tiny_model.py",
        """
        import snnctl, torch

        @snnctl.hookimpl
        def register_models(register):
            def tiny(hidden: int = 5):
                '''Two linear layers.'''
                return torch.nn.Sequential(torch.nn.Linear(3, hidden), torch.nn.Linear(hidden, 2))
            register("tiny-test", tiny)
        """,
    )
    r = cli("--plugins-dir", str(plugin_dir.path), "info", "model", "tiny-test", "--json")
    assert r.code == 0, r.stderr
    assert json.loads(r.stdout)["parameters"] == (3 * 5 + 5) + (5 * 2 + 2)
    r = cli("--plugins-dir", str(plugin_dir.path), "info", "model", "tiny-test")
    assert "parameters: 32" in r.stdout


def test_plugins_command(cli):
    r = cli("plugins")
    assert r.code == 0 and "neurons" in r.stdout and "register_neurons" in r.stdout
    rows = {row["name"]: row for row in json.loads(cli("plugins", "--json").stdout)}
    assert rows["neurons"]["status"] == "ok" and rows["neurons"]["distribution"] == "snnctl"
    assert "register_surrogates" in rows["surrogates"]["hooks"]


def test_broken_plugin_does_not_take_the_cli_down(cli, plugin_dir):
    plugin_dir("broken.py", "raise ImportError('needs a missing library')\n")
    r = cli("--plugins-dir", str(plugin_dir.path), "plugins", "--json")
    assert r.code == 0
    rows = {row["name"]: row for row in json.loads(r.stdout)}
    assert rows["broken.py"]["status"] == "failed" and "needs a missing library" in rows["broken.py"]["error"]
    assert "plugin 'broken.py' was skipped" in r.stderr
    assert cli("--plugins-dir", str(plugin_dir.path), "list", "neurons").code == 0


def test_a_duplicate_name_is_refused_where_it_is_used_and_the_rest_works(cli, plugin_dir):
    plugin_dir(
        "my_lif.py",
        """
        import snnctl
        @snnctl.hookimpl
        def register_neurons(register):
            register("lif", lambda tau=2.0: None, description="another lif")
        """,
    )
    folder = str(plugin_dir.path)
    r = cli("--plugins-dir", folder, "list", "neurons")
    assert r.code == 0 and "plif" in r.stdout and "│ lif " not in r.stdout
    assert "my_lif.py" in r.stderr and "registers neuron 'lif'" in r.stderr  # the warning names the plugin
    used = cli("--plugins-dir", folder, "info", "neuron", "lif")
    assert used.code == 2
    assert "plugin 'neurons' (snnctl" in used.stderr and "plugin 'my_lif.py' (plugins-dir)" in used.stderr
    shown = cli("--plugins-dir", folder, "plugins")
    assert shown.code == 0 and "neuron 'lif' is registered by plugin 'neurons'" in shown.stdout


def test_debug_switch_shows_the_traceback(cli, monkeypatch):
    assert "Traceback" not in cli("list", "modelz").stderr
    r = cli("--debug", "list", "modelz")
    assert r.code == 2 and "Traceback" in r.stderr
    monkeypatch.setenv("SNNCTL_DEBUG", "1")
    assert "Traceback" in cli("list", "modelz").stderr


def test_usage_error_exits_2(cli):
    r = cli("info", "neuron")
    assert r.code == 2 and r.stdout == ""
    assert "Missing argument" in r.stderr


def test_plugins_dir_from_environment(cli, plugin_dir, monkeypatch):
    plugin_dir(
        "envplug.py",
        """
        import snnctl
        @snnctl.hookimpl
        def register_surrogates(register):
            register("from-env", lambda: None, description="env")
        """,
    )
    monkeypatch.setenv("SNNCTL_PLUGINS_DIR", str(plugin_dir.path))
    r = cli("list", "surrogates", "--json")
    assert "from-env" in {row["name"] for row in json.loads(r.stdout)}
