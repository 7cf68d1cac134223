"""Datasets on fixtures in the real on-disk formats: tonic's readers, preprocess, the cache, bad input."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import tarfile
import textwrap
import time
import zipfile
from pathlib import Path
from unittest import mock

import numpy as np
import pytest

import snnctl
import event_fixtures as fx
from conftest import SNNCTL
from snnctl.data.archive import UnsafeArchiveError, safe_extract
from snnctl.data.cache import FrameCache
from snnctl.data.frames import to_frames
from snnctl.errors import SnnctlError

tonic = pytest.importorskip("tonic")

WRITERS = {
    "dvsgesture": (fx.write_dvsgesture, "DVSGesture", {"train": True}),
    "nmnist": (fx.write_nmnist, "NMNIST", {"train": True}),
    "ncaltech101": (fx.write_ncaltech101, "NCALTECH101", {}),
    "cifar10dvs": (fx.write_cifar10dvs, "CIFAR10DVS", {}),
    "asldvs": (fx.write_asldvs, "ASLDVS", {}),
    "dvslip": (fx.write_dvslip, "DVSLip", {"train": True}),
}


@pytest.fixture
def guard(monkeypatch):
    return fx.NetworkGuard(monkeypatch)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    path = tmp_path / "cache"
    monkeypatch.setenv("SNNCTL_CACHE", str(path))
    return path


def same_events(a: np.ndarray, b: np.ndarray) -> bool:
    return len(a) == len(b) and all(np.array_equal(a[f], b[f]) for f in ("x", "y", "p", "t"))


@pytest.mark.parametrize("name", list(WRITERS))
def test_fixtures_load_through_tonics_real_classes_without_network(name, tmp_path, guard):
    write, cls_name, kwargs = WRITERS[name]
    write(tmp_path)
    cls = getattr(tonic.datasets, cls_name)
    # tonic insists on its full file counts before it reads anything; its own tests patch this check
    with mock.patch.object(cls, "_check_exists", return_value=True):
        real = cls(str(tmp_path), **kwargs)
    ours = snnctl.create("dataset", name)
    recordings = {r.path: r for r in ours.locate(tmp_path, download=False)}
    assert len(real.data) > 0
    for i, path in enumerate(real.data):
        events, target = real[i]
        rec = recordings[os.path.normpath(path)]
        assert same_events(ours.read(rec), events)
        assert ours.classes[rec.label] == target if isinstance(target, str) else rec.label == target
    assert guard.attempts == []


def test_preprocess_writes_the_cache_then_hits_it_and_frames_change_it(cli, tmp_path, cache, guard):
    fx.write_dvsgesture(tmp_path)
    first = cli("preprocess", "dvsgesture", "--root", str(tmp_path), "--frames", "4", "--workers", "2", "--json")
    assert first.code == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["cache_hit"] is False and report["frame_shape"] == [4, 2, 128, 128]
    assert report["splits"]["train"]["samples"] == 22 and report["splits"]["test"]["samples"] == 11
    assert report["splits"]["train"]["classes"] == 11
    again = json.loads(cli("preprocess", "dvsgesture", "--root", str(tmp_path), "--frames", "4", "--json").stdout)
    assert again["cache_hit"] is True and again["cache"] == report["cache"]
    other = json.loads(cli("preprocess", "dvsgesture", "--root", str(tmp_path), "--frames", "5", "--json").stdout)
    assert other["cache_hit"] is False and other["cache"] != report["cache"] and other["frame_shape"][0] == 5
    assert guard.attempts == []
    # the cached frames are the recordings integrated by the same rule
    frames, label = FrameCache(Path(report["cache"])).dataset("test")[0]
    ds = snnctl.create("dataset", "dvsgesture")
    rec = sorted((r for r in ds.locate(tmp_path, False) if r.split == "test"), key=lambda r: r.key)[0]
    assert label == rec.label
    assert np.array_equal(frames.numpy(), to_frames(ds.read(rec), (128, 128, 2), 4, "number").astype(np.float32))


def test_summary_table_on_stdout_and_progress_on_stderr(cli, tmp_path, cache):
    fx.write_nmnist(tmp_path)
    result = cli("preprocess", "nmnist", "--root", str(tmp_path / "NMNIST"), "-T", "3", "--workers", "1")
    assert result.code == 0, result.stderr
    for word in ("split", "samples", "classes", "events", "bytes", "train", "test", "cache:"):
        assert word in result.stdout
    assert "nmnist" in result.stderr  # the progress line


def test_changing_a_raw_file_changes_the_key(cli, tmp_path, cache):
    paths = fx.write_nmnist(tmp_path)
    a = json.loads(cli("preprocess", "nmnist", "--root", str(tmp_path), "-T", "2", "--json").stdout)
    paths[0].write_bytes(paths[0].read_bytes()[:-5])
    b = json.loads(cli("preprocess", "nmnist", "--root", str(tmp_path), "-T", "2", "--json").stdout)
    assert a["key"] != b["key"] and b["cache_hit"] is False


def test_a_corrupt_file_is_named_and_skip_caches_the_rest(cli, tmp_path, cache):
    paths = fx.write_dvsgesture(tmp_path)
    bad = paths[3]
    bad.write_bytes(b"\x93NUMPY garbage")
    fail = cli("preprocess", "dvsgesture", "--root", str(tmp_path), "-T", "2")
    assert fail.code == 2 and fail.stdout == ""
    assert str(bad) in fail.stderr and "--on-error skip" in fail.stderr
    assert not list(cache.rglob("manifest.json"))
    skip = cli("preprocess", "dvsgesture", "--root", str(tmp_path), "-T", "2", "--on-error", "skip", "--json")
    report = json.loads(skip.stdout)
    assert [s["recording"] for s in report["skipped"]] == [str(bad)]
    assert report["splits"]["train"]["samples"] + report["splits"]["test"]["samples"] == len(paths) - 1
    table = cli("preprocess", "dvsgesture", "--root", str(tmp_path), "-T", "2", "--on-error", "skip")
    assert "skipped 1 recording" in table.stdout and str(bad) in table.stdout
    # a cache built with skips is not served to a run that asks to fail on bad files
    assert cli("preprocess", "dvsgesture", "--root", str(tmp_path), "-T", "2").code == 2


@pytest.mark.parametrize(
    "name, damage, message",
    [
        ("nmnist", lambda p: p.write_bytes(p.read_bytes()[:-2]), "truncated"),
        ("nmnist", lambda p: p.write_bytes(b""), "empty"),
        ("ncaltech101", lambda p: p.write_bytes(p.read_bytes()[:7]), "truncated"),
        ("dvsgesture", lambda p: p.write_bytes(b""), "empty"),
        ("dvsgesture", lambda p: np.save(p, np.zeros((5, 3))), "array of x, y, p, t"),
        ("dvsgesture", lambda p: p.rename(p.with_name("12.npy")), "unknown label"),
        ("dvsgesture", lambda p: p.rename(p.with_name("wave.npy")), "unknown label"),
        ("cifar10dvs", lambda p: p.write_bytes(p.read_bytes()[:100]), "cannot read"),
        ("cifar10dvs", lambda p: p.rename(p.parent.parent / "ghost" / p.name) if (p.parent.parent / "ghost").mkdir() is None else None, "unknown label"),
    ],
)
def test_bad_recordings_are_reported_by_file(name, damage, message, tmp_path, cache):
    paths = WRITERS[name][0](tmp_path)
    damage(paths[1])
    ds = snnctl.create("dataset", name)
    from snnctl.data.cache import FrameSpec
    from snnctl.data.preprocess import RecordingFailed, preprocess

    with pytest.raises(RecordingFailed, match=message) as err:
        preprocess(ds, FrameSpec(2), root=tmp_path, workers=1)
    assert paths[1].stem in str(err.value) or "12.npy" in str(err.value) or "wave.npy" in str(err.value)
    report = preprocess(ds, FrameSpec(2), root=tmp_path, workers=1, on_error="skip")
    assert len(report.skipped) == 1 and message in report.skipped[0]["error"]


def test_missing_data_says_which_files_to_place_where(cli, tmp_path, cache, guard):
    result = cli("preprocess", "dvsgesture", "--root", str(tmp_path), "--no-download")
    assert result.code == 2
    assert str(tmp_path / "DVSGesture") in result.stderr
    assert "ibmGestureTrain.tar.gz" in result.stderr and "ibmGestureTest.tar.gz" in result.stderr
    assert guard.attempts == []


def test_a_failed_download_ends_in_one_message(cli, tmp_path, cache, guard):
    start = time.monotonic()
    result = cli("preprocess", "nmnist", "--root", str(tmp_path))
    assert result.code == 2 and time.monotonic() - start < 30
    assert "could not download nmnist" in result.stderr
    assert "train.zip" in result.stderr and "Traceback" not in result.stderr
    assert guard.attempts  # it did try, and was refused


def test_archives_placed_by_hand_are_unpacked(cli, tmp_path, cache, guard):
    src = tmp_path / "src"
    fx.write_dvsgesture(src)
    target = tmp_path / "data" / "DVSGesture"
    target.mkdir(parents=True)
    for sub, name in (("ibmGestureTrain", "ibmGestureTrain.tar.gz"), ("ibmGestureTest", "ibmGestureTest.tar.gz")):
        with tarfile.open(target / name, "w:gz") as tf:
            tf.add(src / "DVSGesture" / sub, arcname=sub)
    report = json.loads(cli("preprocess", "dvsgesture", "--root", str(tmp_path / "data"), "-T", "2", "--json").stdout)
    assert report["splits"]["train"]["samples"] == 22 and guard.attempts == []


def test_archive_extraction_refuses_paths_that_escape(tmp_path):
    evil_zip = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil_zip, "w") as zf:
        zf.writestr("ok.txt", "fine")
        zf.writestr("../escaped.txt", "gotcha")
    with pytest.raises(UnsafeArchiveError, match=r"'\.\./escaped\.txt' would be written outside"):
        safe_extract(evil_zip, tmp_path / "out")
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "out" / "ok.txt").exists()

    abs_tar = tmp_path / "abs.tar"
    with tarfile.open(abs_tar, "w") as tf:
        info = tarfile.TarInfo("/tmp/snnctl-absolute.txt")
        info.size = 1
        tf.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(UnsafeArchiveError, match="outside"):
        safe_extract(abs_tar, tmp_path / "out")

    link_tar = tmp_path / "link.tar"
    with tarfile.open(link_tar, "w") as tf:
        info = tarfile.TarInfo("data/link")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tf.addfile(info)
    with pytest.raises(UnsafeArchiveError, match="link or special file"):
        safe_extract(link_tar, tmp_path / "out")

    good = tmp_path / "good.zip"
    with zipfile.ZipFile(good, "w") as zf:
        zf.writestr("a/b.txt", "fine")
    assert safe_extract(good, tmp_path / "out") == ["a/b.txt"] and (tmp_path / "out" / "a" / "b.txt").read_text() == "fine"


def test_per_class_split_is_nine_to_one_and_independent_of_listing_order(tmp_path, cache):
    from snnctl.data.splits import split_recordings

    fx.write_cifar10dvs(tmp_path, per_class=20)
    ds = snnctl.create("dataset", "cifar10dvs")
    recs = ds.locate(tmp_path, False)
    a = split_recordings(ds, recs)
    b = split_recordings(ds, list(reversed(recs)))
    assert [r.key for r in a["test"]] == [r.key for r in b["test"]]
    assert len(a["test"]) == 6 and len(a["train"]) == 54
    assert {r.label for r in a["test"]} == {0, 3, 9}
    c = split_recordings(snnctl.create("dataset", "cifar10dvs", split_seed=1), recs)
    assert [r.key for r in c["test"]] != [r.key for r in a["test"]]


def test_split_file_is_stored_and_reported_by_info(cli, tmp_path, cache):
    fx.write_ncaltech101(tmp_path)
    report = json.loads(cli("preprocess", "ncaltech101", "--root", str(tmp_path), "-T", "2", "--json").stdout)
    split = json.loads((Path(report["cache"]) / "split.json").read_text())
    assert split["seed"] == 3402 and len(split["test"]) == 3 and len(split["train"]) == 27
    info = json.loads(cli("info", "dataset", "ncaltech101", "--json").stdout)
    assert "9:1" in info["split_policy"] and info["default_frames"] == 14
    assert info["caches"][0]["path"] == report["cache"]
    assert info["caches"][0]["split_file"].endswith("split.json")
    assert info["caches"][0]["samples"] == {"test": 3, "train": 27}
    table = cli("info", "dataset", "ncaltech101")
    assert "split.json" in table.stdout


SLOW_PLUGIN = """
import time
import numpy as np
import snnctl
from snnctl.data.base import EventDataset, Recording

class Slow(EventDataset):
    '''Forty tiny recordings that take a while to read.'''
    name = "slow"
    sensor_size = (4, 4, 2)
    classes = ("a", "b")
    default_frames = 2
    split_policy = "official"

    def locate(self, root, download):
        return [Recording(f"r{i:03d}", i % 2, "train" if i < 30 else "test") for i in range(40)]

    def read(self, rec):
        time.sleep(0.05)
        rng = np.random.default_rng(int(rec.key[1:]))
        ev = np.zeros(50, [("x", "i2"), ("y", "i2"), ("p", "?"), ("t", "i8")])
        ev["x"], ev["y"], ev["p"] = rng.integers(0, 4, 50), rng.integers(0, 4, 50), rng.integers(0, 2, 50)
        ev["t"] = np.sort(rng.integers(0, 1000, 50))
        return ev

@snnctl.hookimpl
def register_datasets(register):
    register("slow", Slow)
"""


def test_killing_preprocess_half_way_then_rerunning_gives_the_same_cache(tmp_path, plugin_dir):
    plugin_dir("slow.py", SLOW_PLUGIN)
    env = {**os.environ, "SNNCTL_PLUGINS_DIR": str(plugin_dir.path), "SNNCTL_SHARD_SIZE": "2"}
    cmd = [SNNCTL, "preprocess", "slow", "--workers", "1", "--json"]
    killed = subprocess.Popen(cmd, env={**env, "SNNCTL_CACHE": str(tmp_path / "a")}, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list((tmp_path / "a").rglob("train-*.safetensors"))) < 3:
        time.sleep(0.01)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    partial = list((tmp_path / "a").rglob("*.safetensors"))
    assert 3 <= len(partial) < 20 and not list((tmp_path / "a").rglob("manifest.json"))
    resumed = subprocess.run(cmd, env={**env, "SNNCTL_CACHE": str(tmp_path / "a")}, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["resumed_shards"] >= 3
    whole = subprocess.run(cmd, env={**env, "SNNCTL_CACHE": str(tmp_path / "b")}, capture_output=True, text=True)
    assert whole.returncode == 0, whole.stderr

    def files(root: Path) -> dict[str, bytes]:
        return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}

    a, b = files(tmp_path / "a"), files(tmp_path / "b")
    assert a.keys() == b.keys() and a == b
    assert not [k for k in a if ".tmp" in k]


def test_bad_options_are_clear_errors(cli, tmp_path, cache):
    assert "--split-by" in cli("preprocess", "nmnist", "--split-by", "bins").stderr
    assert "did you mean 'nmnist'" in cli("preprocess", "nmist").stderr
    result = cli("preprocess", "nmnist", "--set", "stabilise=true")
    assert result.code == 2 and "stabilise: unknown field" in result.stderr
    assert "expected KEY=VALUE" in cli("preprocess", "nmnist", "--set", "stabilize").stderr


def test_dataset_settings_reach_the_reader(tmp_path, cache):
    fx.write_nmnist(tmp_path)
    ds = snnctl.create("dataset", "nmnist", first_saccade_only=True)
    rec = ds.locate(tmp_path, False)[0]
    assert ds.read(rec)["t"].max() < 100_000 < snnctl.create("dataset", "nmnist").read(rec)["t"].max()
    assert ds.params() == {"first_saccade_only": True, "stabilize": False}


def test_datasets_are_listed(cli):
    names = {row["name"] for row in json.loads(cli("list", "datasets", "--json").stdout)}
    assert {"dvsgesture", "cifar10dvs", "ncaltech101", "nmnist", "asldvs", "dvslip", "synthetic-gestures"} <= names


def test_a_dataset_that_is_not_an_event_dataset_is_refused(cli, plugin_dir):
    plugin_dir("odd.py", textwrap.dedent("""
        import snnctl
        @snnctl.hookimpl
        def register_datasets(register):
            register("odd", dict)
    """))
    result = cli("--plugins-dir", str(plugin_dir.path), "preprocess", "odd")
    assert result.code == 2 and "not a snnctl.data.EventDataset" in result.stderr


def test_errors_carry_hints():
    with pytest.raises(SnnctlError) as err:
        snnctl.create("dataset", "cifar10dvs").locate(Path("/nonexistent/snnctl"), download=False)
    assert "CIFAR10DVS.zip" in err.value.hint


def test_the_built_in_dataset_needs_no_download_and_is_deterministic(cli, cache, guard):
    args = ("preprocess", "synthetic-gestures", "--set", "train_per_class=3", "--set", "test_per_class=2", "--json")
    first = json.loads(cli(*args).stdout)
    assert first["frame_shape"] == [8, 2, 32, 32] and first["num_classes"] == 8
    assert first["splits"]["train"]["samples"] == 24 and first["splits"]["test"]["samples"] == 16
    assert json.loads(cli(*args).stdout)["cache_hit"] is True
    a = snnctl.create("dataset", "synthetic-gestures", seed=5)
    b = snnctl.create("dataset", "synthetic-gestures", seed=5)
    rec = a.locate(None, False)[7]
    assert same_events(a.read(rec), b.read(rec))
    assert not same_events(a.read(rec), snnctl.create("dataset", "synthetic-gestures", seed=6).read(rec))
    assert guard.attempts == []


def test_every_dataset_in_the_real_format_preprocesses(tmp_path, cache, guard):
    from snnctl.data.cache import FrameSpec
    from snnctl.data.preprocess import preprocess

    for name, (write, _, _) in WRITERS.items():
        write(tmp_path)
        report = preprocess(snnctl.create("dataset", name), FrameSpec(3), root=tmp_path, workers=1)
        total = sum(s["samples"] for s in report.splits.values())
        assert total == len(list((tmp_path / WRITERS[name][1]).rglob("*" + snnctl.create("dataset", name).extension)))
        assert report.skipped == [] and report.frame_shape[0] == 3
    assert guard.attempts == []


def test_dvslip_without_data_explains_the_manual_download(cli, tmp_path, cache, guard):
    result = cli("preprocess", "dvslip", "--root", str(tmp_path))
    assert result.code == 2 and "DVS-Lip.zip" in result.stderr and "drive.google.com" in result.stderr
    assert guard.attempts == []


@pytest.mark.parametrize("name", list(WRITERS) + ["synthetic-gestures"])
def test_every_dataset_passes_the_contract(name, tmp_path, guard):
    from snnctl.testing import check_dataset

    if name in WRITERS:
        WRITERS[name][0](tmp_path)
    check_dataset(name, root=tmp_path)
    assert guard.attempts == []


def test_ctrl_c_keeps_finished_shards_and_says_how_to_resume(cli, cache, monkeypatch):
    from snnctl.data import preprocess as pre

    real, calls = pre.process_shard, []

    def interrupted_on_second_shard(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(pre, "process_shard", interrupted_on_second_shard)
    monkeypatch.setenv("SNNCTL_SHARD_SIZE", "8")
    args = ("preprocess", "--set", "train_per_class=2", "--set", "test_per_class=1", "--workers", "1")
    result = cli(*args)
    assert result.code == 130 and "interrupted" in result.stderr and "same command again" in result.stderr
    assert len(list(cache.rglob("*.safetensors"))) == 1
    monkeypatch.setattr(pre, "process_shard", real)
    assert cli(*args, "--json").code == 0


def test_cached_frames_work_with_a_multi_process_data_loader(cli, cache):
    import torch

    report = json.loads(cli("preprocess", "--set", "train_per_class=4", "--set", "test_per_class=1", "--json").stdout)
    train = FrameCache(Path(report["cache"])).dataset("train")
    batches = list(torch.utils.data.DataLoader(train, batch_size=8, num_workers=2))
    frames = torch.cat([b[0] for b in batches])
    labels = torch.cat([b[1] for b in batches])
    assert frames.shape == (32, 8, 2, 32, 32) and frames.dtype == torch.float32
    assert labels.tolist() == train.labels().tolist() and torch.equal(frames[5], train[5][0])
