"""Checkpoints and run folders, without pickle.

A run folder holds::

    config.yaml                 the resolved run config
    metrics.jsonl               one JSON line per epoch
    best/ and last/             checkpoints:
        model.safetensors       weights and buffers, metadata: snnctl version, model, config hash, T, epoch
        state.safetensors       optimizer tensors and random-generator states
        state.json              epoch, batch, optimizer settings, gradient scaler, generator states, best accuracy

A checkpoint folder is written next to its final place and swapped in by renames, so a crash leaves
either the previous checkpoint or the new one, never a mixture: ``<which>.new`` is complete before
``<which>`` is moved to ``<which>.old``, and a reader that finds only ``<which>.old`` uses it.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from snnctl.errors import SnnctlError
from snnctl.files import fsync_dir, link_or_copy, make_dir, remove_tree, replace, safetensors_bytes, write_file

FORMAT = "snnctl-checkpoint-1"

__all__ = ["save_checkpoint", "copy_checkpoint", "checkpoint_dir", "has_checkpoint", "checkpoint_epoch", "read_model_file",
           "read_train_state", "read_metrics", "load_run", "LoadedRun", "load_state",
           "optimizer_state", "restore_optimizer", "rng_state", "restore_rng"]


# -- folders -----------------------------------------------------------------------------------------------
def checkpoint_dir(run_dir: Path, which: str) -> Path:
    """The checkpoint folder ``best`` or ``last`` of a run (or its ``.old`` copy after an interrupted swap)."""
    run_dir = Path(run_dir)
    for candidate in (run_dir / which, run_dir / f"{which}.old"):
        if (candidate / "model.safetensors").is_file():
            return candidate
    if not (run_dir / "config.yaml").is_file():
        raise SnnctlError(f"{run_dir} is not a run folder: it has no config.yaml",
                          "Give the folder 'snnctl train' created, e.g. runs/<name>.")
    if (run_dir / which).is_dir():
        other = "best" if which == "last" else "last"
        raise SnnctlError(f"checkpoint {run_dir / which} is incomplete: its model.safetensors is missing",
                          f"Use the run's other checkpoint ({other}), or start a new run.")
    raise SnnctlError(f"run {run_dir} has no '{which}' checkpoint yet",
                      "A run writes its checkpoints at the end of each epoch.")


def has_checkpoint(run_dir: Path, which: str = "last") -> bool:
    """Whether a run has written checkpoint ``which`` (its folder, or the ``.old`` copy of an interrupted swap)."""
    return any((Path(run_dir) / name).exists() for name in (which, f"{which}.old"))


def save_checkpoint(run_dir: Path, which: str, model_state: dict[str, torch.Tensor], metadata: dict[str, str],
                    state_tensors: dict[str, torch.Tensor], state_json: dict[str, Any]) -> Path:
    """Write a checkpoint folder atomically (see the module docstring).

    The same tensors and metadata always give the same bytes (:func:`snnctl.files.safetensors_bytes`),
    so runs can be compared by checksum.
    """
    run_dir = Path(run_dir)
    new = run_dir / f"{which}.new"
    files = {
        "model.safetensors": safetensors_bytes(model_state, {"format": FORMAT, **metadata}),
        "state.safetensors": safetensors_bytes(state_tensors, {"format": FORMAT}),
        "state.json": json.dumps(state_json, indent=1).encode(),
    }
    total = sum(len(b) for b in files.values())
    what = f"checkpoint '{which}' of run {run_dir.name}"
    remove_tree(new)
    make_dir(new, what)
    for name, blob in files.items():
        write_file(new / name, blob, what, size=total)
    fsync_dir(new)
    return _swap_in(run_dir, which)


def copy_checkpoint(run_dir: Path, source: str, which: str) -> Path:
    """Make checkpoint ``which`` the same as ``source`` (``best`` from a just-written ``last``).

    Checkpoint files are never changed in place (a new checkpoint is a new folder), so hard links
    share them without a second write; where links are not possible the files are copied.
    """
    run_dir = Path(run_dir)
    src, new = run_dir / source, run_dir / f"{which}.new"
    what = f"checkpoint '{which}' of run {run_dir.name}"
    remove_tree(new)
    make_dir(new, what)
    for f in sorted(src.iterdir()):
        link_or_copy(f, new / f.name, what)
    fsync_dir(new)
    return _swap_in(run_dir, which)


def _swap_in(run_dir: Path, which: str) -> Path:
    """Replace ``<which>`` by the complete ``<which>.new`` through ``<which>.old`` (see the module docstring)."""
    final, new, old = run_dir / which, run_dir / f"{which}.new", run_dir / f"{which}.old"
    what = f"checkpoint '{which}' of run {run_dir.name}"
    if final.exists():
        remove_tree(old)
        replace(final, old, what)
    replace(new, final, what)
    fsync_dir(run_dir)
    remove_tree(old)
    return final


def checkpoint_epoch(ckpt: Path) -> Optional[int]:
    """The epoch a checkpoint folder's ``model.safetensors`` says it holds (None if unreadable)."""
    from snnctl.files import read_safetensors_header

    try:
        meta = (read_safetensors_header(ckpt / "model.safetensors") or {}).get("__metadata__") or {}
        return int(meta["epoch"])
    except (SnnctlError, KeyError, ValueError, TypeError):
        return None


def read_model_file(file: Path, damaged_hint: str = "The file is damaged; use the run's other checkpoint (best or last)."
                    ) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Weights and metadata of a safetensors file (a checkpoint's ``model.safetensors``, a bundle);
    a missing or damaged file is named, with ``damaged_hint`` saying what to do."""
    from safetensors import SafetensorError, safe_open

    file = Path(file)
    if not file.is_file():
        raise SnnctlError(f"{file} does not exist", "Give a run folder or a model.safetensors written by snnctl.")
    try:
        with safe_open(str(file), framework="pt") as f:
            meta = f.metadata() or {}
            state = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise SnnctlError(f"{file} is not a readable safetensors file ({exc})", damaged_hint) from None
    return state, meta


#: what a checkpoint's state.json holds, and the type of each entry
STATE_FIELDS = {"epoch": int, "batch": int, "partial": list, "best_acc": (int, float), "best_epoch": int,
                "config_hash": str, "optimizer": dict, "rng": dict}


def read_train_state(ckpt: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The training state of a checkpoint folder (``state.safetensors`` and ``state.json``), validated.

    Every way the two files can be missing or damaged is one error naming the file.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    ckpt = Path(ckpt)
    hint = "This checkpoint cannot be resumed; start a new run, or start from its weights with --init."
    for name in ("state.safetensors", "state.json"):
        if not (ckpt / name).is_file():
            raise SnnctlError(f"checkpoint {ckpt} is incomplete: {name} is missing", hint)
    try:
        tensors = load_file(str(ckpt / "state.safetensors"))
    except (SafetensorError, OSError, ValueError) as exc:
        raise SnnctlError(f"{ckpt / 'state.safetensors'} is damaged ({exc})", hint) from None
    file = ckpt / "state.json"
    try:
        state = json.loads(file.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        raise SnnctlError(f"{file} is not UTF-8 text: it is damaged", hint) from None
    except (json.JSONDecodeError, RecursionError) as exc:
        raise SnnctlError(f"{file} is not valid JSON ({exc})", hint) from None
    if not isinstance(state, dict):
        raise SnnctlError(f"{file} holds {type(state).__name__}, not a JSON object", hint)
    for key, kind in STATE_FIELDS.items():
        if key not in state:
            raise SnnctlError(f"{file} has no '{key}'", hint)
        if not isinstance(state[key], kind) or isinstance(state[key], bool):
            raise SnnctlError(f"{file}: '{key}' is {type(state[key]).__name__}, not what a checkpoint holds", hint)
    for key in ("rng.torch", "rng.numpy"):
        if key not in tensors:
            raise SnnctlError(f"{ckpt / 'state.safetensors'} has no tensor '{key}'", hint)
    return tensors, state


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """The rows of a run's ``metrics.jsonl`` (none if it does not exist); a damaged line is named."""
    path = Path(path)
    if not path.exists():
        return []
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise SnnctlError(f"{path} is not UTF-8 text: it is damaged",
                          "Delete it; resuming rewrites the metrics of every epoch after the checkpoint.") from None
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (json.JSONDecodeError, RecursionError):
            row = None
        if not isinstance(row, dict) or not isinstance(row.get("epoch"), int):
            raise SnnctlError(f"{path}, line {n}, is damaged (not an epoch's JSON object): {line[:60]!r}",
                              "Remove that line (and those after it); the checkpoint holds the training state.")
        rows.append(row)
    return rows


# -- optimizer ----------------------------------------------------------------------------------------------
def optimizer_state(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """An optimizer's state as tensors (``optim.<param>.<key>``) plus JSON (settings, scalars)."""
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for pid, st in sd["state"].items():
        for key, value in st.items():
            if torch.is_tensor(value):
                tensors[f"optim.{pid}.{key}"] = value
            else:
                scalars.setdefault(str(pid), {})[key] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars, "tensors": sorted(tensors)}


def restore_optimizer(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], js: dict[str, Any]) -> None:
    """Load what :func:`optimizer_state` saved; every tensor it listed must be there, each of its
    parameter's shape (``load_state_dict`` checks neither)."""
    missing = [k for k in js.get("tensors", []) if k not in tensors]
    if missing:
        raise KeyError(f"{len(missing)} optimizer tensor(s) missing, e.g. {missing[0]}")
    params = [p for group in opt.param_groups for p in group["params"]]
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        if name.startswith("optim."):
            _, pid, key = name.split(".", 2)
            i = int(pid)
            if not 0 <= i < len(params):
                raise ValueError(f"{name}: the optimizer has {len(params)} parameters")
            if value.dim() > 0 and value.shape != params[i].shape:
                raise ValueError(f"{name} is {tuple(value.shape)}, its parameter {tuple(params[i].shape)}")
            state.setdefault(i, {})[key] = value
    for pid, st in js["scalars"].items():
        state.setdefault(int(pid), {}).update(st)
    opt.load_state_dict({"state": state, "param_groups": js["param_groups"]})


# -- random generators -------------------------------------------------------------------------------------
def rng_state() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """torch (CPU and every GPU), numpy and Python generator states."""
    tensors = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    tensors["rng.numpy"] = torch.from_numpy(np.asarray(keys, dtype=np.uint32).astype(np.int64))
    version, internal, py_gauss = random.getstate()
    js = {"numpy": [kind, int(pos), int(has_gauss), float(gauss)],
          "python": [version, list(internal), py_gauss]}
    return tensors, js


def restore_rng(tensors: dict[str, torch.Tensor], js: dict[str, Any]) -> None:
    torch.set_rng_state(tensors["rng.torch"])
    cuda = [tensors[k] for k in sorted(k for k in tensors if k.startswith("rng.cuda."))]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda[: torch.cuda.device_count()])
    kind, pos, has_gauss, gauss = js["numpy"]
    np.random.set_state((kind, tensors["rng.numpy"].numpy().astype(np.uint32), pos, has_gauss, gauss))
    version, internal, py_gauss = js["python"]
    random.setstate((version, tuple(internal), py_gauss))


# -- loading a run -------------------------------------------------------------------------------------------
@dataclass
class LoadedRun:
    """A trained model rebuilt from its run folder."""

    path: Path
    checkpoint: Path
    config: Any  # snnctl.config.RunConfig
    model: torch.nn.Module
    metadata: dict[str, str]
    classes: list[str]
    components: list[Any] = field(default_factory=list)  # registry entries the model was built from
    model_args: dict[str, Any] = field(default_factory=dict)  # the model's validated settings, as JSON

    @property
    def timesteps(self) -> int:
        return int(self.model.timesteps)


def load_run(path: Path, which: str = "best") -> LoadedRun:
    """Rebuild the model of a run folder and load a checkpoint's weights (eval mode, CPU).

    The model is rebuilt from ``config.yaml`` through the registry with the shapes recorded in the
    checkpoint, so the dataset itself is not needed.
    """
    from snnctl.config import read_run_config
    from snnctl.engine.build import DataInfo, build_model, resolved_model_args

    path = Path(path).expanduser()
    if not (path / "config.yaml").is_file():
        raise SnnctlError(f"{path} is not a run folder: it has no config.yaml",
                          "Give the folder 'snnctl train' created, e.g. runs/<name>.")
    cfg = read_run_config(path / "config.yaml")
    ckpt = checkpoint_dir(path, which)
    state, meta = read_model_file(ckpt / "model.safetensors")
    try:
        data = json.loads(meta["data"])
        info = DataInfo(str(data["name"]), str(data["kind"]), [str(c) for c in data["classes"]], int(data["in_channels"]),
                        (int(data["input_size"][0]), int(data["input_size"][1])), int(data["timesteps"]))
    except (KeyError, IndexError, TypeError, ValueError, RecursionError):
        raise SnnctlError(f"{ckpt / 'model.safetensors'} has no readable data description in its metadata",
                          "It is damaged, or was not written by 'snnctl train'; use the run's other checkpoint.") from None
    import snnctl

    with snnctl.registry().recording() as used:
        model = build_model(cfg, info)
    load_state(model, state, ckpt / "model.safetensors")
    model.eval()
    return LoadedRun(path, ckpt, cfg, model, meta, list(info.classes), list(used), resolved_model_args(cfg, info))


def load_state(model: torch.nn.Module, state: dict[str, torch.Tensor], file: Path) -> None:
    """Load weights read from ``file`` into ``model``, refusing any tensor that is missing, extra, or of
    another shape or dtype (``load_state_dict`` would cast a changed dtype silently)."""
    want = model.state_dict()
    missing = [k for k in want if k not in state]
    extra = [k for k in state if k not in want]
    wrong = [f"{k} is {tuple(state[k].shape)} {str(state[k].dtype).removeprefix('torch.')}, the model's "
             f"{tuple(v.shape)} {str(v.dtype).removeprefix('torch.')}"
             for k, v in want.items() if k in state and (state[k].shape != v.shape or state[k].dtype != v.dtype)]
    problems = ([f"{len(missing)} tensor(s) missing (e.g. {missing[0]})"] if missing else []) + \
               ([f"{len(extra)} unexpected (e.g. {extra[0]})"] if extra else []) + wrong[:3]
    if problems:
        raise SnnctlError(f"{file} does not fit the model it describes: {'; '.join(problems)}",
                          "The file is damaged or was written for other settings; use another checkpoint or export.")
    model.load_state_dict(state)


def model_metadata(cfg: Any, info: Any, epoch: int, config_hash: str) -> dict[str, str]:
    import snnctl

    return {
        "snnctl_version": snnctl.__version__,
        "model": cfg.model.name,
        "config_hash": config_hash,
        "timesteps": str(info.timesteps),
        "epoch": str(epoch),
        "data": json.dumps({"name": info.name, "kind": info.kind, "classes": info.classes,
                            "in_channels": info.in_channels, "input_size": list(info.input_size),
                            "timesteps": info.timesteps}),
    }

