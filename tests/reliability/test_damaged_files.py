"""Every file snnctl writes, damaged in turn (each tensor, each field, each line): one message naming the
file and what to do, exit status 2, no traceback, no silent conversion. A damaged frame cache is never
served: its damaged parts are removed, and the same command again rebuilds it to the same bytes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from snnctl.engine.checkpoint import STATE_FIELDS
from snnctl.files import safetensors_bytes


def read(file: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    with safe_open(str(file), "pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata() or {})


def rewrite(file: Path, tensors: dict[str, torch.Tensor], meta: dict[str, str]) -> None:
    file.write_bytes(safetensors_bytes(tensors, meta))


def named_failure(r, *names: str) -> None:
    assert r.code == 2, (r.code, r.stderr[-1500:])
    assert "Traceback" not in r.stderr and "Internal error" not in r.stderr, r.stderr[-1500:]
    for name in names:
        assert name in r.stderr, (name, r.stderr[-1500:])


@pytest.fixture
def copy(runs, tmp_path):
    """A fresh copy of the tiny trained run 'avg' for each damage."""
    counter = {"n": 0}

    def make() -> Path:
        counter["n"] += 1
        target = tmp_path / f"run{counter['n']}"
        shutil.copytree(runs["avg"], target)
        return target

    return make


def evaluate_and_resume(cli, run: Path, which: str):
    """The command that reads ``which``: evaluate for best, resume for last."""
    if which == "best":
        return cli("evaluate", str(run))
    return cli("train", "--resume", str(run), "--quiet")


@pytest.mark.parametrize("which", ["best", "last"])
def test_every_tensor_of_a_checkpoint_damaged_in_turn(cli, copy, which):
    """Each tensor given another shape, another dtype, or removed; an extra one; the file cut or deleted."""
    base = copy()
    tensors, meta = read(base / which / "model.safetensors")
    damages: list[tuple[str, object, str]] = []
    for name, t in tensors.items():
        bad = torch.zeros(t.numel() + 1, dtype=t.dtype) if t.dim() else torch.zeros(2, dtype=t.dtype)
        damages.append((f"shape of {name}", {**tensors, name: bad}, name))
        other = torch.float64 if t.dtype != torch.float64 else torch.float32
        damages.append((f"dtype of {name}", {**tensors, name: t.to(other)}, name))
        damages.append((f"missing {name}", {k: v for k, v in tensors.items() if k != name}, "missing"))
    damages.append(("an extra tensor", {**tensors, "surplus": torch.zeros(3)}, "surplus"))
    tried = 0
    for label, damaged, word in damages:
        run = copy()
        rewrite(run / which / "model.safetensors", damaged, meta)
        named_failure(evaluate_and_resume(cli, run, which), f"{run / which / 'model.safetensors'}", word)
        tried += 1
    assert tried == 3 * len(tensors) + 1
    for how in ("cut", "empty", "garbage", "deleted"):
        run = copy()
        file = run / which / "model.safetensors"
        if how == "deleted":
            file.unlink()
            named_failure(evaluate_and_resume(cli, run, which), str(run / which), "model.safetensors is missing")
            continue
        file.write_bytes({"cut": file.read_bytes()[:-64], "empty": b"", "garbage": b"\x00" * 100}[how])
        named_failure(evaluate_and_resume(cli, run, which), str(file), "not a readable safetensors file")


@pytest.mark.parametrize("field, value, message", [
    ("data", None, "has no readable data description"),
    ("data", "{not json", "has no readable data description"),
    ("data", json.dumps({"name": "synthetic-gestures"}), "has no readable data description"),
    ("data", json.dumps({"name": "x", "kind": "events", "classes": [1], "in_channels": "two",
                         "input_size": [16, 16], "timesteps": 4}), "has no readable data description"),
])
def test_a_checkpoints_metadata_damaged(cli, copy, field, value, message):
    run = copy()
    file = run / "best" / "model.safetensors"
    tensors, meta = read(file)
    if value is None:
        meta.pop(field)
    else:
        meta[field] = value
    rewrite(file, tensors, meta)
    named_failure(cli("evaluate", str(run)), str(file), message)


def state_damages() -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = [("not utf-8", b"\xff\xfe{\x00"), ("not json", b"{epoch: 1"), ("array", b"[1, 2]")]
    for key in STATE_FIELDS:
        out.append((f"without {key}", ("drop", key)))
        out.append((f"{key} of the wrong type", ("set", key, "a string" if STATE_FIELDS[key] is not str else 7)))
    return out


@pytest.mark.parametrize("label, damage", state_damages(), ids=[label for label, _ in state_damages()])
def test_a_state_json_damaged(cli, copy, label, damage):
    run = copy()
    file = run / "last" / "state.json"
    if isinstance(damage, bytes):
        file.write_bytes(damage)
    else:
        state = json.loads(file.read_text())
        if damage[0] == "drop":
            state.pop(damage[1])
        else:
            state[damage[1]] = damage[2]
        file.write_text(json.dumps(state))
    named_failure(cli("train", "--resume", str(run), "--quiet"), str(file))


@pytest.mark.parametrize("damage, message", [
    ("deleted", "state.safetensors is missing"),
    ("cut", "state.safetensors is damaged"),
    ("no rng", "has no tensor 'rng.torch'"),
    ("no optimizer state", "does not restore the optimizer"),
    ("wrong optimizer state", "does not restore the optimizer"),
])
def test_a_state_safetensors_damaged(cli, copy, damage, message):
    run = copy()
    file = run / "last" / "state.safetensors"
    tensors, meta = read(file)
    if damage == "deleted":
        file.unlink()
    elif damage == "cut":
        file.write_bytes(file.read_bytes()[:-32])
    elif damage == "no rng":
        rewrite(file, {k: v for k, v in tensors.items() if k != "rng.torch"}, meta)
    elif damage == "no optimizer state":
        rewrite(file, {k: v for k, v in tensors.items() if not k.startswith("optim.")}, meta)
    else:
        first = next(k for k in tensors if k.startswith("optim."))
        rewrite(file, {**tensors, first: torch.zeros(1, 2, 3)}, meta)
    named_failure(cli("train", "--resume", str(run), "--quiet"), str(run / "last"), message)


@pytest.mark.parametrize("damage, message", [
    ("torn last line", "line 2, is damaged"),
    ("garbage first line", "line 1, is damaged"),
    ("a line without an epoch", "line 1, is damaged"),
    ("not utf-8", "is not UTF-8 text"),
])
def test_a_metrics_file_damaged(cli, copy, damage, message):
    run = copy()
    file = run / "metrics.jsonl"
    lines = file.read_text().splitlines()
    text = {"torn last line": lines[0] + "\n" + lines[1][: len(lines[1]) // 2],
            "garbage first line": "}{\n" + "\n".join(lines[1:]),
            "a line without an epoch": json.dumps({"test_acc": 1}) + "\n" + "\n".join(lines[1:])}.get(damage)
    file.write_bytes(text.encode() if text is not None else b"\xff\xfe\x00")
    named_failure(cli("train", "--resume", str(run), "--quiet"), str(file), message)


@pytest.mark.parametrize("damage, message", [
    ("deleted", "not a run folder: it has no config.yaml"),
    ("garbage", "not valid YAML"),
    ("unknown field", "unknown field"),
    ("latin-1", "is not UTF-8 text"),
])
def test_a_run_config_damaged(cli, copy, damage, message):
    run = copy()
    file = run / "config.yaml"
    if damage == "deleted":
        file.unlink()
    else:
        file.write_bytes({"garbage": b"model: [unclosed\n", "unknown field": file.read_bytes() + b"colour: red\n",
                          "latin-1": file.read_bytes() + "name: caf\xe9\n".encode("latin-1")}[damage])
    for command in (["evaluate", str(run)], ["train", "--resume", str(run)], ["export", str(run), "--out", "x.safetensors"]):
        named_failure(cli(*command), str(run))


# -- the frame cache --------------------------------------------------------------------------------------
SMALL = ["--set", "train_per_class=2", "--set", "test_per_class=1", "--set", "size=16", "-T", "4", "--workers", "1"]


def cache_snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("damage", ["manifest not json", "manifest an array", "manifest without splits",
                                    "manifest with wrong shard lists", "a shard cut", "a shard deleted",
                                    "a shard of other frames", "a shard of garbage"])
def test_a_damaged_frame_cache_is_named_and_the_same_command_rebuilds_it(cli, tmp_path, monkeypatch, damage):
    monkeypatch.setenv("SNNCTL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SNNCTL_SHARD_SIZE", "8")
    assert cli("preprocess", *SMALL, "--json").code == 0
    good = cache_snapshot(tmp_path / "cache")
    folder = next((tmp_path / "cache").glob("synthetic-gestures/*"))
    manifest, shard = folder / "manifest.json", sorted(folder.glob("train-*.safetensors"))[0]
    m = json.loads(manifest.read_text())
    if damage == "manifest not json":
        manifest.write_text("{")
    elif damage == "manifest an array":
        manifest.write_text("[]")
    elif damage == "manifest without splits":
        manifest.write_text(json.dumps({k: v for k, v in m.items() if k != "splits"}))
    elif damage == "manifest with wrong shard lists":
        m["splits"]["train"]["shard_sizes"] = m["splits"]["train"]["shard_sizes"][:-1]
        manifest.write_text(json.dumps(m))
    elif damage == "a shard cut":
        shard.write_bytes(shard.read_bytes()[:-100])
    elif damage == "a shard deleted":
        shard.unlink()
    elif damage == "a shard of other frames":
        frames, meta = read(shard)
        rewrite(shard, {**frames, "frames": frames["frames"][:1]}, meta)
    else:
        shard.write_bytes(b"\x00" * 4096)
    r = cli("preprocess", *SMALL)
    named_failure(r, "is damaged", "run the same command again")
    assert str(folder) in r.stderr.replace("\n", "")
    again = cli("preprocess", *SMALL, "--json")
    assert again.code == 0, again.stderr
    assert cache_snapshot(tmp_path / "cache") == good  # rebuilt to the very same bytes


def test_a_shard_damaged_under_a_reader_is_named(tmp_path, monkeypatch, cli):
    from snnctl.data.cache import FrameCache
    from snnctl.errors import SnnctlError

    monkeypatch.setenv("SNNCTL_CACHE", str(tmp_path / "cache"))
    assert cli("preprocess", *SMALL, "--json").code == 0
    folder = next((tmp_path / "cache").glob("synthetic-gestures/*"))
    frames = FrameCache(folder).dataset("train")
    shard = sorted(folder.glob("train-*.safetensors"))[0]
    shard.write_bytes(b"\x00" * 64)
    with pytest.raises(SnnctlError, match=r"frame cache shard .*train-00000.safetensors is damaged") as err:
        frames[0]
    assert "snnctl preprocess" in str(err.value)
