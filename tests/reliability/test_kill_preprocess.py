"""snnctl preprocess under kills: at every write step of the cache, of the parent with workers running,
and of a worker (as the system's out-of-memory killer would). Workers never outlive their parent, and
finishing the job gives the cache an uninterrupted run writes, byte for byte."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from faultkit import Snnctl

SMALL = ["preprocess", "--set", "train_per_class=2", "--set", "test_per_class=1", "--set", "size=16", "-T", "4",
         "--workers", "1", "--json"]
MANY = ["preprocess", "--set", "train_per_class=24", "--set", "test_per_class=4", "--set", "size=24", "-T", "4",
        "--json"]


def cache_files(root: Path) -> dict[str, bytes]:
    base = root / "cache"
    return {str(p.relative_to(base)): p.read_bytes() for p in sorted(base.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[dict[str, bytes], list[str]]:
    """The cache an uninterrupted run writes, and the names of its write steps."""
    root = tmp_path_factory.mktemp("preprocess-ref")
    r = Snnctl(root)(*SMALL, log=root / "steps.log", SNNCTL_SHARD_SIZE="8")
    assert r.code == 0, r.stderr
    return cache_files(root), (root / "steps.log").read_text().splitlines()


def test_a_kill_at_every_cache_write_step_resumes_to_the_same_cache(reference, tmp_path):
    want, steps = reference
    assert sum(s.startswith("rename ") for s in steps) == 5  # split.json, three shards, manifest.json
    points = list(range(1, len(steps) + 1))
    for pair in (points[i:i + 2] for i in range(0, len(points), 2)):  # two at a time: the machine has 2 cores
        runs = {}
        for n in pair:
            (tmp_path / f"kill{n}").mkdir()
            runs[n] = Snnctl(tmp_path / f"kill{n}")
        killed = {n: runs[n].start(*SMALL, fault=f"kill@{n}", SNNCTL_SHARD_SIZE="8") for n in pair}
        for n, p in killed.items():
            assert p.wait(timeout=120) == -signal.SIGKILL, steps[n - 1]
        again = {n: runs[n].start(*SMALL, SNNCTL_SHARD_SIZE="8") for n in pair}
        for n, p in again.items():
            assert p.wait(timeout=120) == 0, (n, p.stderr.read())
            assert cache_files(runs[n].cwd) == want, f"after a kill at step {n} ({steps[n - 1]})"


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_for(condition, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.05)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process trees from /proc")
def test_workers_die_with_a_killed_parent_and_write_nothing_after_it(tmp_path):
    run = Snnctl(tmp_path)
    p = run.start(*MANY, "--workers", "2", SNNCTL_SHARD_SIZE="4")
    shards = lambda: list((tmp_path / "cache").rglob("*.safetensors"))  # noqa: E731
    wait_for(lambda: len(children(p.pid)) >= 2 and shards())
    workers = children(p.pid)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    wait_for(lambda: not any(alive(w) for w in workers), timeout=3.0)  # the watchdog's half second, with room
    before = sorted(str(s) for s in shards())
    time.sleep(1.0)
    assert sorted(str(s) for s in shards()) == before  # nothing more was written
    finished = run(*MANY, "--workers", "2", SNNCTL_SHARD_SIZE="4")
    assert finished.code == 0, finished.stderr
    assert not list((tmp_path / "cache").rglob(".*.tmp-*"))  # what the killed run left half-written is gone


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process trees from /proc")
def test_a_worker_killed_from_outside_is_reported_with_the_resume_hint(tmp_path):
    run = Snnctl(tmp_path)
    p = run.start(*MANY, "--workers", "2", SNNCTL_SHARD_SIZE="4")
    wait_for(lambda: len(children(p.pid)) >= 2)
    os.kill(children(p.pid)[0], signal.SIGKILL)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 2, err
    assert "a worker process died while making synthetic-gestures frames" in err and "Run the same command again" in err
    assert "Traceback" not in err and "Internal error" not in err
    assert not any(alive(c) for c in children(p.pid))
    finished = run(*MANY, "--workers", "2", SNNCTL_SHARD_SIZE="4")
    assert finished.code == 0, finished.stderr
    ref = tmp_path / "ref"
    ref.mkdir()
    assert Snnctl(ref)(*MANY, "--workers", "2", SNNCTL_SHARD_SIZE="4").code == 0
    assert cache_files(tmp_path) == cache_files(ref)
