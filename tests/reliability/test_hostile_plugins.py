"""Plugins that break things: each is named, and the rest of the command line keeps working."""

from __future__ import annotations

import json

import pytest

DATA = json.dumps({"train_per_class": 2, "test_per_class": 1, "size": 16})
TRAIN = ["train", "--set", f"data.args={DATA}", "-T", "4", "--epochs", "1", "--batch-size", "8", "--reg", "none",
         "--quiet"]

HOSTILE = {
    "exit_on_import.py": """
        import sys
        sys.exit(3)
    """,
    "exit_in_hook.py": """
        import sys
        import snnctl

        @snnctl.hookimpl
        def register_neurons(register):
            sys.exit("leaving")
    """,
    "bad_name.py": """
        import snnctl

        @snnctl.hookimpl
        def register_surrogates(register):
            register("fine-one", lambda: None)
            register("Bad_Name", lambda: None)
    """,
    "not_callable.py": """
        import snnctl

        @snnctl.hookimpl
        def register_models(register):
            register("broken-model", 42)
    """,
    "shadow.py": """
        import snnctl

        @snnctl.hookimpl
        def register_neurons(register):
            register("plif", lambda tau=2.0: None, description="another plif")
    """,
}


@pytest.fixture
def hostile(plugin_dir):
    for name, source in HOSTILE.items():
        plugin_dir(name, source)
    return str(plugin_dir.path)


def test_every_command_works_beside_hostile_plugins(cli, hostile):
    for args in (["--help"], ["list", "neurons"], ["info", "model", "vgg5"], ["plugins"], ["list", "exporters"]):
        r = cli("--plugins-dir", hostile, *args)
        assert r.code == 0, (args, r.stderr)
        assert r.stdout.strip(), args
    assert "Traceback" not in r.stderr and "Internal error" not in r.stderr


def test_snnctl_plugins_names_each_failure_and_the_conflict(cli, hostile):
    rows = {p["name"]: p for p in json.loads(cli("--plugins-dir", hostile, "plugins", "--json").stdout)}
    assert "SystemExit: 3" in rows["exit_on_import.py"]["error"]
    assert "register_neurons raised SystemExit: leaving" in rows["exit_in_hook.py"]["error"]
    assert "invalid surrogate name 'Bad_Name'" in rows["bad_name.py"]["error"]
    assert "factory that is not callable" in rows["not_callable.py"]["error"]
    assert rows["shadow.py"]["status"] == "ok" and rows["shadow.py"]["conflicts"] == ["neuron 'plif'"]
    table = cli("--plugins-dir", hostile, "plugins")
    assert "neuron 'plif' is registered by plugin 'neurons'" in table.stdout and "shadow.py" in table.stdout


def test_a_failed_plugin_leaves_nothing_registered_and_a_duplicate_is_refused_where_used(cli, hostile, tmp_path,
                                                                                        monkeypatch):
    monkeypatch.setenv("SNNCTL_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    surrogates = json.loads(cli("--plugins-dir", hostile, "list", "surrogates", "--json").stdout)
    assert "fine-one" not in [s["name"] for s in surrogates]  # bad_name.py's valid registration went with it
    r = cli("--plugins-dir", hostile, *TRAIN, "--neuron", "plif")
    assert r.code == 2 and "neuron 'plif' is registered twice" in r.stderr and "shadow.py" in r.stderr
    ok = cli("--plugins-dir", hostile, *TRAIN, "--model", "test-vgg", "--name", "fine")
    assert ok.code == 0, ok.stderr  # names nobody else registers still work


CONTRACT = """
    import torch
    import snnctl
    from snnctl.nn import SpikingModel


    class Flat(SpikingModel):
        '''Returns [B, K, T] instead of per-step logits [T, B, K].'''

        def __init__(self, in_channels=2, num_classes=8, input_size=(16, 16), timesteps=4, fail=False):
            super().__init__(timesteps, in_channels, input_size, num_classes)
            self.fc = torch.nn.Linear(in_channels * input_size[0] * input_size[1], num_classes)
            self.fail = fail

        def forward(self, x):
            if self.fail:
                raise ValueError("this model cannot")
            return self.fc(x.flatten(2)).permute(1, 2, 0)


    @snnctl.hookimpl
    def register_models(register):
        register("flat", Flat)
"""


@pytest.mark.parametrize("fail, message", [(False, "returned [2, 8, 4] for input [4, 2, 2, 16, 16]"),
                                           (True, "failed on the first samples of 'synthetic-gestures' (ValueError: this model cannot)")])
def test_a_model_breaking_its_contract_is_named_and_leaves_no_run_folder(cli, plugin_dir, tmp_path, monkeypatch,
                                                                        fail, message):
    monkeypatch.setenv("SNNCTL_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    plugin_dir("flat_model.py", CONTRACT)
    r = cli("--plugins-dir", str(plugin_dir.path), *TRAIN, "--model", "flat", "--name", "flat",
            "--set", f"model.args.fail={json.dumps(fail)}")
    assert r.code == 2, r.stderr
    assert "model 'flat' (plugin 'flat_model.py' (plugins-dir))" in r.stderr and message in r.stderr
    assert "Traceback" not in r.stderr and "no run folder was made" in r.stderr
    assert not (tmp_path / "runs" / "flat").exists()
