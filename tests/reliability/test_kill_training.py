"""SIGKILL at every step of a training run's writes, and at random times: resuming (or rerunning the
same command) ends with exactly the files of an uninterrupted run."""

from __future__ import annotations

import json
import random
import signal
import time
from pathlib import Path

import pytest

from faultkit import Snnctl, metrics_without_timing

DATA = {"train_per_class": 32, "test_per_class": 2, "size": 16}
TRAIN = ["train", "--model", "test-vgg", "--reg", "none", "--set", f"data.args={json.dumps(DATA)}", "-T", "4",
         "--epochs", "2", "--batch-size", "16", "--lr", "0.02", "--quiet"]


@pytest.fixture(scope="module")
def whole(tmp_path_factory) -> tuple[Snnctl, list[str]]:
    """The uninterrupted run (runs/whole) and the names of its write steps, in order."""
    root = tmp_path_factory.mktemp("kills")
    run = Snnctl(root)
    frames = run("preprocess", *[a for k, v in DATA.items() for a in ("--set", f"{k}={v}")], "-T", "4", "--json")
    assert frames.code == 0, frames.stderr  # the frame cache first: the runs below only read it
    r = run(*TRAIN, "--name", "whole", log=root / "steps.log")
    assert r.code == 0, r.stderr
    return run, (root / "steps.log").read_text().splitlines()


def same_as_whole(root: Path, name: str) -> None:
    w, c = root / "runs" / "whole", root / "runs" / name
    assert sorted(p.name for p in c.iterdir()) == ["best", "config.yaml", "last", "metrics.jsonl"], name
    for which in ("best", "last"):
        assert sorted(p.name for p in (c / which).iterdir()) == ["model.safetensors", "state.json", "state.safetensors"]
        assert (c / which / "model.safetensors").read_bytes() == (w / which / "model.safetensors").read_bytes(), \
            f"{name}/{which}"
    a, b = metrics_without_timing(w), metrics_without_timing(c)
    assert [r["epoch"] for r in b] == [1, 2] and [r["test_acc"] for r in a] == [r["test_acc"] for r in b]
    assert [r["train_loss"] for r in a] == pytest.approx([r["train_loss"] for r in b], rel=1e-9)


def finish(run: Snnctl, name: str):
    """After a kill: resume the run, or rerun the same command if it never wrote its config."""
    if (run.cwd / "runs" / name / "config.yaml").exists():
        return run.start("train", "--resume", f"runs/{name}", "--quiet")
    return run.start(*TRAIN, "--name", name)


def wait_all(procs):
    return [(p.wait(timeout=300), p.stderr.read()) for p in procs]


def test_the_reference_run_writes_best_twice(whole):
    run, steps = whole
    assert sum(s == "rename best" for s in steps) == 2  # epochs 1 and 2 both improve: best is linked twice
    assert sum(s == "rename last" for s in steps) == 2 and sum(s.startswith("link ") for s in steps) == 6
    rows = metrics_without_timing(run.cwd / "runs" / "whole")
    assert rows[1]["test_acc"] > rows[0]["test_acc"]


def test_a_kill_at_every_write_step_resumes_to_the_uninterrupted_run(whole):
    """Each of the run's write steps in turn (making the run and its config, each epoch's metrics, last's
    files, fsyncs and renames, best's links and renames): killed there, the run is finished by --resume
    (or by the same command where it had not written its config yet) and ends byte for byte like runs/whole."""
    run, steps = whole
    points = list(range(1, len(steps) + 1))
    for pair in (points[i:i + 2] for i in range(0, len(points), 2)):  # two at a time: the machine has 2 cores
        killed = [run.start(*TRAIN, "--name", f"cut{n}", fault=f"kill@{n}") for n in pair]
        for n, (code, err) in zip(pair, wait_all(killed)):
            assert code == -signal.SIGKILL, (n, steps[n - 1], err[-500:])
        for n, (code, err) in zip(pair, wait_all([finish(run, f"cut{n}") for n in pair])):
            assert code == 0, (n, steps[n - 1], err[-2000:])
        for n in pair:
            same_as_whole(run.cwd, f"cut{n}")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_kill_at_a_random_time_resumes_to_the_uninterrupted_run(whole, seed):
    run, _ = whole
    name = f"random{seed}"
    p = run.start(*TRAIN, "--name", name)
    time.sleep(random.Random(seed).uniform(1.5, 4.0))  # the run takes about 4 s: kills land in its import, data or epochs
    p.kill()
    p.wait()
    for attempt in range(3):  # a run killed before its folder exists is simply run again
        q = finish(run, name)
        code, err = q.wait(timeout=300), q.stderr.read()
        if code == 0:
            break
    assert code == 0, err[-2000:]
    same_as_whole(run.cwd, name)


def test_a_run_without_a_checkpoint_can_be_resumed_or_rerun(whole):
    """Killed before its first checkpoint, only config.yaml (and maybe metrics) exists: both ways go on."""
    run, steps = whole
    first_checkpoint = steps.index("mkdir last.new") + 1
    for name, how in (("fresh-resume", "resume"), ("fresh-rerun", "rerun")):
        assert run(*TRAIN, "--name", name, fault=f"kill@{first_checkpoint}").code == -signal.SIGKILL
        assert sorted(p.name for p in (run.cwd / "runs" / name).iterdir()) == ["config.yaml", "metrics.jsonl"]
        r = run("train", "--resume", f"runs/{name}") if how == "resume" else run(*TRAIN, "--name", name)
        assert r.code == 0, r.stderr
        assert how == "rerun" or "has no checkpoint yet: its training starts over" in r.stderr
        same_as_whole(run.cwd, name)
    with_checkpoint = run(*TRAIN, "--name", "fresh-rerun")
    assert with_checkpoint.code == 2 and "already exists" in with_checkpoint.stderr  # a run with checkpoints is kept


def test_two_identical_runs_write_identical_files(whole):
    """Reproducible files: the same training gives the same bytes in every checkpoint file (sorted metadata)."""
    run, _ = whole
    assert run(*TRAIN, "--name", "twin").code == 0
    w, t = run.cwd / "runs" / "whole", run.cwd / "runs" / "twin"
    for which in ("best", "last"):
        for name in ("model.safetensors", "state.safetensors", "state.json"):
            assert (w / which / name).read_bytes() == (t / which / name).read_bytes(), f"{which}/{name}"
