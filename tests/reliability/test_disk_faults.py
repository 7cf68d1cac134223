"""A full disk, a missing permission, a read-only file system, at the writes of a run, the frame cache and an
export: one message naming the folder, what was being written and the room it needs; nothing written
before is lost, and the job goes on once the fault is gone."""

from __future__ import annotations

import json

import pytest
import torch

import snnctl

DATA = json.dumps({"train_per_class": 4, "test_per_class": 2, "size": 16})
TRAIN = ["train", "--model", "test-vgg", "--reg", "none", "--set", f"data.args={DATA}", "-T", "4", "--epochs", "2",
         "--batch-size", "8", "--quiet"]


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("SNNCTL_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def refused(r, *words: str) -> None:
    assert r.code == 2, (r.code, r.stderr[-1500:])
    assert "Traceback" not in r.stderr and "Internal error" not in r.stderr
    for w in words:
        assert w in r.stderr.replace("\n", " "), (w, r.stderr)


def test_a_full_disk_at_a_checkpoint_keeps_the_previous_one(cli, home, monkeypatch):
    assert cli(*TRAIN, "--name", "whole").code == 0
    monkeypatch.setenv("SNNCTL_FAULT", "enospc@2:write model.safetensors")  # epoch 2's checkpoint
    r = cli(*TRAIN, "--name", "cut")
    refused(r, "no space left in", "runs/cut/last.new", "for checkpoint 'last' of run cut", "needed", "free")
    assert json.loads((home / "runs/cut/last/state.json").read_text())["epoch"] == 1  # epoch 1's is intact
    monkeypatch.delenv("SNNCTL_FAULT")
    assert cli("train", "--resume", "runs/cut", "--quiet").code == 0  # room again: the run goes on
    a = snnctl.load(home / "runs/whole").state_dict()
    b = snnctl.load(home / "runs/cut").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("fault, step, words", [
    ("eacces", "mkdir cut", ["no permission to write the run folder in", "runs"]),
    ("erofs", "write .config.yaml", ["is on a read-only file system: cannot write the run config"]),
    ("enospc", "write .metrics.jsonl", ["no space left in", "for the run's metrics"]),
    ("eacces", "link", ["no permission to write checkpoint 'best' of run cut"]),
])
def test_faults_at_each_kind_of_run_write_are_named(cli, home, monkeypatch, fault, step, words):
    monkeypatch.setenv("SNNCTL_FAULT", f"{fault}@1:{step}")
    refused(cli(*TRAIN, "--name", "cut"), *words)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_read_only_cache_is_named_and_resumes_once_writable(cli, home, monkeypatch, workers):
    args = ["preprocess", "--set", "train_per_class=4", "--set", "test_per_class=2", "--set", "size=16", "-T", "4",
            "--workers", workers]
    monkeypatch.setenv("SNNCTL_SHARD_SIZE", "8")
    monkeypatch.setenv("SNNCTL_FAULT", "erofs@2:write .train-")  # a worker meets it at its second shard
    refused(cli(*args), "is on a read-only file system: cannot write frame cache shard", "cache/synthetic-gestures")
    written = {p.name: p.read_bytes() for p in (home / "cache").rglob("*.safetensors")}
    assert written and not list((home / "cache").rglob(".*.tmp-*"))  # whole shards only
    monkeypatch.delenv("SNNCTL_FAULT")
    r = cli(*args, "--json")
    assert r.code == 0, r.stderr
    assert json.loads(r.stdout)["resumed_shards"] >= 1
    assert all((next((home / "cache").rglob(name))).read_bytes() == blob for name, blob in written.items())


@pytest.mark.parametrize("fault, words", [("enospc", ["no space left in", "for the bundle", "needed", "free"]),
                                          ("eacces", ["no permission to write the bundle"])])
def test_a_fault_while_exporting_leaves_no_file(cli, home, monkeypatch, fault, words):
    assert cli(*TRAIN, "--name", "run", "--epochs", "1").code == 0
    monkeypatch.setenv("SNNCTL_FAULT", f"{fault}@1:write .m.safetensors")
    refused(cli("export", "runs/run", "--out", "m.safetensors"), *words)
    assert sorted(p.name for p in home.iterdir()) == ["cache", "runs"]  # no file, no temporary file
    monkeypatch.setenv("SNNCTL_FAULT", f"{fault}@1:write .m.safetensors.report.json")
    refused(cli("export", "runs/run", "--out", "m.safetensors"), "the report of m.safetensors")
    assert (home / "m.safetensors").is_file()  # the verified export itself was kept, and says so


def test_a_full_disk_under_the_profiles_csv_and_figures_is_named(cli, home, monkeypatch):
    args = ["profile", "test-vgg", "--random-input", "--samples", "2", "--spikes", "--ops"]
    monkeypatch.setenv("SNNCTL_FAULT", "enospc@1:write .p.csv")
    refused(cli(*args, "--csv", "p.csv"), "no space left in", "for the profile's CSV p.csv", "needed")
    monkeypatch.setenv("SNNCTL_FAULT", "enospc@1:write .firing_rates.png")
    refused(cli(*args, "--plot", "figs"), "no space left in", "figs", "for the figure firing_rates.png")
    assert not [p for p in home.rglob("*") if ".tmp-" in p.name]
