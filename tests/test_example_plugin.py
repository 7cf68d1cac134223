"""The example third-party package, installed, is found through its real entry point."""

from __future__ import annotations

import importlib.metadata as md
import json
import os
import subprocess

import pytest

from conftest import SNNCTL



@pytest.fixture(scope="module")
def installed():
    try:
        return md.distribution("snnctl-alif")
    except md.PackageNotFoundError:
        if os.environ.get("CI"):
            pytest.fail("CI must install examples/snnctl-alif (the README's test command does)")
        pytest.skip("examples/snnctl-alif is not installed: pip install -e examples/snnctl-alif")


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([SNNCTL, *args], capture_output=True, text=True, timeout=120)


def test_entry_point_is_declared(installed):
    eps = [ep for ep in installed.entry_points if ep.group == "snnctl"]
    assert [(ep.name, ep.value) for ep in eps] == [("alif", "snnctl_alif")]


def test_list_neurons_shows_it_with_provenance(installed):
    out = run("list", "neurons", "--json")
    assert out.returncode == 0, out.stderr
    rows = {row["name"]: row for row in json.loads(out.stdout)}
    assert {"lif", "plif", "if", "ms-lif", "alif"} <= set(rows)
    assert (rows["alif"]["plugin"], rows["alif"]["distribution"], rows["alif"]["version"]) == (
        "alif", "snnctl-alif", installed.version)
    surrogates = json.loads(run("list", "surrogates", "--json").stdout)
    assert "fast-sigmoid" in {row["name"] for row in surrogates}


def test_info_neuron_works(installed):
    out = run("info", "neuron", "alif", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["distribution"] == "snnctl-alif"
    assert {p["name"]: p["default"] for p in data["parameters_schema"]}["tau_adapt"] == 20.0
    out = run("info", "neuron", "alif")
    assert out.returncode == 0 and "tau_adapt" in out.stdout and "snnctl-alif" in out.stdout


def test_load_switch_can_leave_it_out(installed):
    env = {**os.environ, "SNNCTL_LOAD_PLUGINS": ""}
    out = subprocess.run([SNNCTL, "list", "neurons", "--json"], capture_output=True, text=True, env=env, timeout=120)
    assert "alif" not in {row["name"] for row in json.loads(out.stdout)}
