"""`snnctl plugin new`: the package it writes, for every kind, installs, passes its own tests, and its components
work through the command line; bad names, kinds and folders are refused and nothing half-written is left
(tests/packages.py installs and runs packages as an author would)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from packages import SMALL_DATA, Step, environment, install, run_step
from snnctl import scaffold

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

NAME = "scaffolded"
DIST = f"snnctl-{NAME}"


# -- refusals: exit status 2 and nothing written ------------------------------------------------------------------
@pytest.mark.parametrize("name, message", [
    ("My_Thing", "Did you mean 'snnctl-my-thing'?"),
    ("snnctl_thing", "Did you mean 'snnctl-thing'?"),
    ("9lives", "not a valid plugin name"),
    ("a--b", "not a valid plugin name"),
    ("snnctl", "names no plugin"),
    ("snnctl-", "names no plugin"),
])
def test_an_invalid_name_is_refused(cli, tmp_path, name, message):
    r = cli("plugin", "new", name, "--kind", "neuron", "--out", str(tmp_path / "pkg"))
    assert r.code == 2, r.stderr
    assert message in r.stderr and "lowercase letters, digits and single hyphens" in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_kind_is_refused_with_the_list_of_kinds(cli, tmp_path):
    r = cli("plugin", "new", NAME, "--kind", "neuron,nueron", "--out", str(tmp_path / "pkg"))
    assert r.code == 2
    assert "unknown kind 'nueron'" in r.stderr and "Did you mean 'neuron'?" in r.stderr
    assert all(kind in r.stderr for kind in scaffold.KINDS) and "or all" in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_folder_that_is_not_empty_is_left_alone(cli, tmp_path):
    out = tmp_path / "pkg"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    r = cli("plugin", "new", NAME, "--kind", "neuron", "--out", str(out))
    assert r.code == 2
    assert f"{out} already exists and is not empty" in r.stderr and "--out DIR" in r.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["pkg"] and [p.name for p in out.iterdir()] == ["notes.txt"]
    assert (out / "notes.txt").read_text() == "mine"


def test_an_empty_folder_receives_the_package(cli, tmp_path):
    out = tmp_path / "pkg"
    out.mkdir()
    r = cli("plugin", "new", NAME, "--kind", "surrogate", "--out", str(out), "--json")
    assert r.code == 0, r.stderr
    written = json.loads(r.stdout)
    assert written["path"] == str(out) and written["distribution"] == DIST
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == sorted(written["files"])
    assert [p.name for p in tmp_path.iterdir()] == ["pkg"]


def test_a_failed_write_leaves_nothing_behind(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("SNNCTL_FAULT", "enospc@4:write")  # the disk fills up at the fourth file
    r = cli("plugin", "new", NAME, "--kind", "all", "--out", str(tmp_path / "new" / "folders" / "pkg"))
    assert r.code == 2 and "no space left" in r.stderr
    assert list(tmp_path.iterdir()) == []  # neither the package, its temporary folder, nor the folders above it
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("SNNCTL_FAULT", "erofs@1:rename")  # the last step, the rename into place, fails
    r = cli("plugin", "new", NAME, "--kind", "all", "--out", str(tmp_path / "empty"))
    assert r.code == 2 and [p.name for p in tmp_path.iterdir()] == ["empty"] and not any((tmp_path / "empty").iterdir())


def test_names_already_taken_are_refused(cli, tmp_path):
    r = cli("plugin", "new", "lif", "--kind", "model,neuron", "--out", str(tmp_path / "a"))
    assert r.code == 2 and "neuron 'lif' is already registered by plugin 'neurons'" in r.stderr
    r = cli("plugin", "new", "train", "--kind", "command", "--out", str(tmp_path / "b"))
    assert r.code == 2 and "'snnctl train' is already a command" in r.stderr
    assert list(tmp_path.iterdir()) == []
    assert cli("plugin", "new", "train", "--kind", "neuron", "--out", str(tmp_path / "c")).code == 0


def test_the_default_folder_is_named_after_the_distribution(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = cli("plugin", "new", f"snnctl-{NAME}", "--kind", "callback")
    assert r.code == 0, r.stderr
    assert (tmp_path / DIST / "pyproject.toml").is_file() and f"written to {tmp_path / DIST}" in r.stdout
    assert "pip install -e" in r.stdout


# -- every kind alone: a package whose files compile -------------------------------------------------------------
@pytest.mark.parametrize("kind", scaffold.KINDS)
def test_each_kind_alone_gives_a_package_that_compiles(kind):
    s = scaffold.plan(f"one-{kind}", [kind])
    pkg = s.package
    assert set(s.files) == {"pyproject.toml", "README.md", f"{pkg}/__init__.py", f"{pkg}/{kind}.py",
                            f"tests/test_{pkg}.py"}
    for path, text in s.files.items():
        if path.endswith(".py"):
            compile(text, path, "exec")
        assert "${" not in text and "$name" not in text, path
    meta = tomllib.loads(s.files["pyproject.toml"])
    assert meta["project"]["name"] == f"snnctl-one-{kind}"
    assert meta["project"]["entry-points"]["snnctl"] == {f"one-{kind}": pkg}
    assert [d.split(">=")[0] for d in meta["project"]["dependencies"]] == ["snnctl"]
    assert meta["project"]["license"] == "GPL-3.0-or-later"
    assert f"docs/guides/{scaffold.GUIDES[kind]}.md" in s.files["README.md"]


def test_the_requirement_follows_snnctls_version():
    s = scaffold.plan(NAME, ["neuron"], snnctl_version="2.7.1", check_registry=False)
    assert 'dependencies = ["snnctl>=2.7"]' in s.files["pyproject.toml"]


# -- one package with every kind, installed and used ----------------------------------------------------------------
@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The package with every kind, written and installed into a folder on PYTHONPATH (the test env stays as it was)."""
    base = tmp_path_factory.mktemp("scaffold")
    folder = base / DIST
    scaffold.new_plugin(NAME, ["all"], folder)
    site = base / "site"
    install([folder], site)
    env = environment(site, base / "cache")
    # one thread per process: the children run one after another, and on a shared machine torch's default
    # thread pools make small networks many times slower
    env.setdefault("OMP_NUM_THREADS", "1")
    return folder, base, env


def snnctl(built, *args: str, expect: int = 0):
    _, base, env = built
    return run_step(Step("snnctl", list(args), expect, "snnctl " + " ".join(args)), base, env, timeout=300,
                    in_process=True)


def test_the_package_passes_its_own_tests(built):
    folder, _, env = built
    r = run_step(Step("pytest", [], source="pytest"), folder, env)
    assert " passed" in r.stdout and "skipped" not in r.stdout


def test_list_info_and_plugins_show_its_components(built):
    rows = json.loads(snnctl(built, "list", "--json").stdout)
    mine = {(r["kind"], r["name"]) for r in rows if r["distribution"] == DIST}
    assert mine == {(k, NAME) for k in scaffold.REGISTRY_KINDS}
    info = json.loads(snnctl(built, "info", "model", NAME, "--json").stdout)
    assert info["distribution"] == DIST and info["parameters"] > 0
    assert {p["name"] for p in info["parameters_schema"]} >= {"neuron", "attention", "widths"}
    plugins = {p["name"]: p for p in json.loads(snnctl(built, "plugins", "--json").stdout)}
    assert plugins[NAME]["status"] == "ok" and {"register_commands", "training_callbacks"} <= set(plugins[NAME]["hooks"])


@pytest.fixture(scope="module")
def runs(built):
    """Two one-epoch runs: every component named on the command line, and the recipe."""
    snnctl(built, "train", "--model", NAME, "--neuron", NAME, "--attention", NAME, "--reg", NAME, "--data", NAME,
           "--set", SMALL_DATA, "--name", "parts", "--output-dir", "runs")
    snnctl(built, "train", "--recipe", NAME, "--set", SMALL_DATA, "--name", "recipe", "--output-dir", "runs")
    return built[1] / "runs"


def test_training_uses_every_component_and_the_callback_writes_its_csv(runs):
    import yaml

    for run in ("parts", "recipe"):
        cfg = yaml.safe_load((runs / run / "config.yaml").read_text())
        assert (cfg["model"]["name"], cfg["data"]["name"], [r["name"] for r in cfg["regularizers"]]) == \
            (NAME, NAME, [NAME])
        metrics = [json.loads(line) for line in (runs / run / "metrics.jsonl").read_text().splitlines()]
        assert list(metrics[0]["penalties"]) == [NAME]
        lines = (runs / run / f"{NAME}-epochs.csv").read_text().splitlines()
        assert lines[0].startswith("epoch,lr,") and len(lines) == 2 and lines[1].startswith("1,")
    parts = yaml.safe_load((runs / "parts" / "config.yaml").read_text())
    assert (parts["model"]["neuron"], parts["model"]["attention"], cfg["recipe"]) == (NAME, NAME, NAME)


def test_profile_counts_the_gate_through_its_monitor(built, runs):
    report = json.loads(snnctl(built, "profile", str(runs / "parts"), "--spikes", "--ops", "--energy",
                               "--samples", "4", "--json").stdout)
    assert report["model"]["name"] == NAME and report["uncounted"] == []
    gates = [layer for layer in report["ops"]["layers"] if layer.get("monitor") == NAME]
    assert len(gates) == 2  # one gate per conv block


def test_evaluate_reads_the_run(built, runs):
    result = json.loads(snnctl(built, "evaluate", str(runs / "recipe"), "--json").stdout)
    assert (result["model"], result["data"]) == (NAME, NAME)


def test_export_writes_and_verifies_the_npz(built, runs):
    report = json.loads(snnctl(built, "export", str(runs / "parts"), "--format", NAME, "--samples", "4",
                               "--json").stdout)
    assert report["verification"]["passed"] and report["exporter"]["distribution"] == DIST
    with np.load(report["file"]) as saved:
        assert any(key.startswith("features.0.attention.") for key in saved.files)
    assert Path(report["file"]).suffix == ".npz"


def test_the_command_lists_the_components(built):
    rows = json.loads(snnctl(built, NAME, "--json").stdout)
    assert [(r["kind"], r["name"], r["distribution"]) for r in rows] == \
        [(k, NAME, DIST) for k in scaffold.REGISTRY_KINDS]
