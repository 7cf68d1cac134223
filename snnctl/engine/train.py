"""The training loop of ``snnctl train``: one function, :func:`train`.

It builds the run from its config (names become objects in :mod:`snnctl.engine.build`), trains and
evaluates epoch by epoch, and writes the run folder (:mod:`snnctl.engine.checkpoint`). Plugins take
part through callback objects collected once at the start (the ``training_callbacks`` hook); a
callback may define ``on_train_start(state)``, ``on_batch_end(state)``, ``on_epoch_end(state)`` and
``on_train_end(state)``.

Stops are safe:

* Ctrl-C (SIGINT) finishes the current batch, writes a resumable ``last`` checkpoint and exits 130;
  ``snnctl train --resume RUN`` continues exactly where it stopped. A second Ctrl-C aborts at once,
  keeping the previous checkpoint.
* A loss that is NaN or infinite stops the run before the bad step is applied; the last good
  checkpoint is kept and named.
* Running out of memory stops with the batch size and T to try next.
"""

from __future__ import annotations

import json
import signal
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Optional

import torch

from snnctl.config import RunConfig, config_hash, dump_yaml
from snnctl.files import atomic_write, make_dir
from snnctl.engine import build, checkpoint
from snnctl.engine.data import augment_events, eval_batches, load_splits, train_batches
from snnctl.engine.distributed import Dist
from snnctl.engine.evaluate import EvalResult, autocast, evaluate
from snnctl.engine.losses import lr_at, make_optimizer, run_loss
from snnctl.errors import ConfigError, Interrupted, PluginError, SnnctlError
from snnctl.nn import reset_states

__all__ = ["train", "TrainResult", "TrainState", "Reporter", "TrainingDiverged", "OutOfMemory"]


class TrainingDiverged(SnnctlError):
    """The loss became NaN or infinite."""

    exit_code = 3


class OutOfMemory(SnnctlError):
    """A batch did not fit in memory."""

    exit_code = 3


class Reporter:
    """Receives progress; the CLI draws it, the library default stays silent."""

    def data(self, done: int, total: int) -> None: ...
    def start(self, state: "TrainState") -> None: ...
    def batch(self, state: "TrainState", loss: float, acc: float, samples_per_s: float) -> None: ...
    def epoch(self, state: "TrainState", metrics: dict[str, Any]) -> None: ...
    def message(self, text: str) -> None: ...
    def stop(self) -> None: ...


@dataclass
class TrainState:
    """What callbacks and reporters see.

    During an epoch ``epoch`` is its 0-based index and ``batch`` counts the batches done in it; once
    the epoch is finished (at ``on_epoch_end``) ``epoch`` is the number of epochs finished and
    ``metrics[-1]`` is the row just written to ``metrics.jsonl``. ``model`` is the unwrapped model
    (never the DDP wrapper). Under torchrun every process calls the callbacks: ``rank`` is the
    process's rank and ``main`` is true in the one process (rank 0) that writes the run folder, so a
    callback writes files only where ``main`` holds.
    """

    config: RunConfig
    run_dir: Path
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    epochs: int
    steps_per_epoch: int
    epoch: int = 0
    batch: int = 0
    metrics: list[dict[str, Any]] = field(default_factory=list)
    best_acc: float = -1.0
    best_epoch: int = -1
    info: Any = None
    regularized: dict[str, list[str]] = field(default_factory=dict)
    rank: int = 0
    main: bool = True


@dataclass
class TrainResult:
    run_dir: Path
    epochs: int
    best_acc: float
    best_epoch: int  # 1-based
    last_acc: float
    seconds: float
    metrics: list[dict[str, Any]]
    firing_rate: float
    main: bool = True  # False in the processes of a distributed run other than rank 0
    confusion: list[list[int]] = field(default_factory=list)  # of the last test pass: rows true, columns predicted

    def to_json(self) -> dict[str, Any]:
        return {"run": str(self.run_dir), "epochs": self.epochs, "best_test_acc": self.best_acc,
                "best_epoch": self.best_epoch, "last_test_acc": self.last_acc,
                "firing_rate": self.firing_rate, "seconds": round(self.seconds, 2)}


def precision_for(precision: str, device: torch.device) -> str:
    if precision == "auto":
        return "fp16" if device.type == "cuda" else "fp32"
    if precision == "fp16" and device.type != "cuda":
        raise ConfigError("precision: fp16 needs a GPU (gradient scaling of fp16 autocast)",
                          "Use --precision bf16 on CPU, or fp32.")
    return precision


def train(cfg: RunConfig, resume: Optional[Path] = None, reporter: Optional[Reporter] = None) -> TrainResult:
    """Train a run from its config, or continue the run folder ``resume`` (its own config.yaml)."""
    reporter = reporter or Reporter()
    build.check_components(cfg)
    device_type = build.resolve_device(cfg.device).type
    dist = Dist.from_env(device_type)
    try:
        return _train(cfg, resume, reporter if dist.main else Reporter(), dist)
    finally:
        reporter.stop()
        dist.close()


def _train(cfg: RunConfig, resume: Optional[Path], reporter: Reporter, dist: Dist) -> TrainResult:
    t_start = time.perf_counter()
    device = build.resolve_device(cfg.device, dist.local_rank if dist.enabled else None)
    precision = precision_for(cfg.precision, device)
    if cfg.batch_size % dist.world:
        raise ConfigError(f"batch_size: {cfg.batch_size} does not split evenly over {dist.world} processes",
                          f"Use a multiple of {dist.world}; batch_size is the global batch.")
    if cfg.deterministic and device.type == "cuda":
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False

    # -- everything that can fail without data, first ---------------------------------------------------
    dataset = build.make_run_dataset(cfg)
    info = build.data_info(cfg, dataset)
    _seed_all(cfg.seed)
    model = build.build_model(cfg, info)
    regs = build.attach_regularizers(cfg, model)
    if cfg.init and resume is None:
        build.load_weights(model, cfg.init)
    chash = config_hash(cfg)

    # -- data -------------------------------------------------------------------------------------------------
    if dist.main:
        splits = load_splits(cfg, dataset, info, progress=reporter.data)
    dist.barrier()
    if not dist.main:
        splits = load_splits(cfg, dataset, info)
    n_train = len(splits.train)
    if n_train < cfg.batch_size:
        raise ConfigError(f"batch_size: {cfg.batch_size} is larger than the {n_train} training samples of "
                          f"'{info.name}'", "Use a smaller --batch-size.")
    steps = n_train // cfg.batch_size
    model.to(device)
    _probe(cfg, model, splits.train, info, device)

    # the run folder appears only once the data is there, and the model has met it
    if resume is not None and not checkpoint.has_checkpoint(resume, "last"):
        reporter.message(f"{resume} has no checkpoint yet: its training starts over")
        if dist.main:
            _clear_run(Path(resume))
        run_dir, resume = Path(resume), None
    else:
        run_dir = Path(resume) if resume is not None else dist.broadcast(_new_run_dir(cfg, info) if dist.main else None)
    if resume is None and dist.main:
        atomic_write(run_dir / "config.yaml", dump_yaml(cfg).encode(), "the run config")

    if dist.enabled and cfg.sync_bn:
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    net = model
    if dist.enabled:
        from torch.nn.parallel import DistributedDataParallel as DDP

        net = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)
    optimizer = make_optimizer(model.parameters(), cfg.optim)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")

    state = TrainState(cfg, run_dir, model, optimizer, cfg.epochs, steps, info=info,
                       regularized={ref.name: names for ref, (_, names) in zip(cfg.regularizers, regs)},
                       rank=dist.rank, main=dist.main)
    penalties = penalty_terms(cfg, [r for r, _ in regs])  # (metrics key, regularizer); without penalty() none
    width = 5 + len(penalties)  # the per-epoch sums: loss, hits, samples, seconds, task loss, each penalty
    start_epoch, start_batch, partial = 0, 0, [0.0] * width
    if resume is not None:
        start_epoch, start_batch, partial = _restore(run_dir, model, optimizer, scaler, state, device)
        partial = (partial + [0.0] * width)[:width]  # a checkpoint of an older snnctl holds the first four
        state.epoch, state.batch = start_epoch, start_batch  # what on_train_start sees
        reporter.message(f"resuming {run_dir} at epoch {start_epoch + 1}, batch {start_batch}")
    else:
        torch.manual_seed(cfg.seed + dist.rank)  # dropout and augmentation draws differ between processes

    import snnctl.plugins

    callbacks = snnctl.plugins.get_manager().call_collect("training_callbacks", config=cfg)

    def call(hook: str) -> None:
        for cb in callbacks:
            fn = getattr(cb, hook, None)
            if fn is None:
                continue
            try:
                fn(state)
            except (SnnctlError, KeyboardInterrupt):
                raise
            except Exception as exc:
                who = f"{type(cb).__module__}.{type(cb).__qualname__}"
                when = {"on_train_start": "before the first batch", "on_train_end": "after the last epoch",
                        "on_epoch_end": f"after epoch {state.epoch}"}.get(hook, f"in epoch {state.epoch + 1}")
                raise PluginError(f"the training callback {who} failed in {hook} {when} ({type(exc).__name__}: {exc})",
                                  "The fault is in the plugin that supplied it (--debug shows where); "
                                  "the run's last checkpoint is kept.") from exc

    stop = _StopRequest()
    reporter.start(state)
    call("on_train_start")
    last_eval: Optional[EvalResult] = None
    metrics_file = run_dir / "metrics.jsonl"
    with stop:
        for epoch in range(start_epoch, cfg.epochs):
            state.epoch, state.batch = epoch, start_batch
            lr = lr_at(epoch, cfg.epochs, cfg.optim.lr, cfg.schedule)
            for g in optimizer.param_groups:
                g["lr"] = lr
            net.train()
            sums = list(partial) if epoch == start_epoch else [0.0] * width
            t_epoch = time.perf_counter()
            batches = train_batches(splits.train, cfg.batch_size, cfg.seed, epoch, dist.rank, dist.world,
                                    cfg.data.workers, skip=state.batch)
            for x, y in batches:
                t0 = time.perf_counter()
                x = info.encode(x.to(device, non_blocking=True).float())
                y = y.to(device, non_blocking=True)
                if info.kind == "events":
                    x = augment_events(x, cfg.data.flip, cfg.data.translate)
                try:
                    with autocast(device, precision):
                        out = net(x)
                        loss = task = run_loss(out, y, cfg.loss)
                        terms = []
                        for _, r in penalties:
                            term = r.penalty(model)
                            terms.append(0.0 if term is None else float(term.detach()))
                            if term is not None:
                                loss = loss + term
                    if not bool(torch.isfinite(loss.detach())):
                        raise _diverged(run_dir, epoch, state.batch, float(loss.detach()))
                    optimizer.zero_grad(set_to_none=True)
                    scaler.scale(loss).backward()
                    if cfg.grad_clip:
                        scaler.unscale_(optimizer)
                        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                    scaler.step(optimizer)
                    scaler.update()
                except SnnctlError:
                    raise
                except Exception as exc:
                    if _is_oom(exc):
                        raise _oom(cfg, info, device) from None
                    blame = _third_party(cfg)
                    if not blame:
                        raise  # only snnctl's own components: a bug of snnctl
                    raise PluginError(f"the training step failed ({type(exc).__name__}: {exc}) at epoch {epoch + 1}, "
                                      f"batch {state.batch + 1}, in a run built from {blame}",
                                      "The fault is in that plugin's component (--debug shows where)."
                                      + (" No checkpoint was written yet." if state.epoch == 0 else "")) from exc
                reset_states(model)
                out = out.detach().float()
                n = y.numel()
                sums[0] += float(loss.detach()) * n
                sums[1] += float(((out.mean(0) if out.dim() == 3 else out).argmax(-1) == y).sum())
                sums[2] += n
                sums[3] += time.perf_counter() - t0
                sums[4] += float(task.detach()) * n
                for i, value in enumerate(terms):
                    sums[5 + i] += value * n
                state.batch += 1
                reporter.batch(state, sums[0] / sums[2], sums[1] / sums[2], sums[2] * dist.world / max(sums[3], 1e-9))
                call("on_batch_end")
                if dist.any(stop.requested, device):
                    if dist.main:
                        _save(run_dir, "last", state, model, optimizer, scaler, cfg, info, chash,
                              partial=sums)
                    raise Interrupted(
                        f"training interrupted at epoch {epoch + 1}, batch {state.batch}/{steps}; "
                        f"a resumable checkpoint is in {run_dir / 'last'}",
                        f"Continue with: snnctl train --resume {run_dir}")
            train_time = time.perf_counter() - t_epoch
            # training sums are per process; combine them
            totals = dist.sum(torch.tensor([sums[0], sums[1], sums[2], *sums[4:]], dtype=torch.float64,
                                           device=device)).cpu()
            busy = sums[3]
            count = max(float(totals[2]), 1.0)
            final = epoch == cfg.epochs - 1
            if final or (epoch + 1) % cfg.eval_every == 0:
                last_eval = evaluate(net, eval_batches(splits.test, cfg.eval_batch_size or cfg.batch_size,
                                                       dist.rank, dist.world, cfg.data.workers),
                                     info.encode, info.num_classes, device, precision, cfg.loss, dist)
            row = {
                "epoch": epoch + 1,
                "lr": lr,
                "train_loss": float(totals[0]) / count,
                "task_loss": float(totals[3]) / count,
                "penalties": {key: float(totals[4 + i]) / count for i, (key, _) in enumerate(penalties)},
                "train_acc": float(totals[1]) / count,
                "test_loss": last_eval.loss if last_eval else None,
                "test_acc": last_eval.top1 if last_eval else None,
                "test_top5": last_eval.top5 if last_eval else None,
                "firing_rate": last_eval.firing_rate if last_eval else None,
                "samples_per_s": float(totals[2]) / max(busy, 1e-9),
                "seconds": round(train_time, 3),
            }
            improved = last_eval is not None and last_eval.top1 > state.best_acc
            if improved:
                state.best_acc, state.best_epoch = last_eval.top1, epoch + 1
            state.metrics.append(row)
            state.epoch, state.batch = epoch + 1, 0
            if dist.main:  # rewritten whole, so a kill never leaves a torn line
                atomic_write(metrics_file, "".join(json.dumps(r) + "\n" for r in state.metrics).encode(),
                             "the run's metrics")
                _save(run_dir, "last", state, model, optimizer, scaler, cfg, info, chash)
                if improved:  # the same state: link last's files instead of writing them again
                    checkpoint.copy_checkpoint(run_dir, "last", "best")
            reporter.epoch(state, row)
            call("on_epoch_end")
            start_batch = 0
    dist.barrier()
    call("on_train_end")
    return TrainResult(run_dir, cfg.epochs, state.best_acc, state.best_epoch,
                       state.metrics[-1]["test_acc"] if state.metrics else float("nan"),
                       time.perf_counter() - t_start, state.metrics,
                       state.metrics[-1]["firing_rate"] if state.metrics else float("nan"), dist.main,
                       last_eval.confusion if last_eval is not None else [])


# -- helpers ----------------------------------------------------------------------------------------------
def _new_run_dir(cfg: RunConfig, info: Any) -> Path:
    base = Path(cfg.output_dir).expanduser()
    name = cfg.name or f"{cfg.model.name}-{info.name}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    make_dir(base, "the runs folder")
    for i in range(1000):
        path = base / (name if i == 0 else f"{name}-{i + 1}")
        try:
            make_dir(path, "the run folder", exist_ok=False)
            return path
        except FileExistsError:
            if cfg.name and i == 0 and _unstarted(path):  # killed before its first checkpoint: start it over
                _clear_run(path)
                return path
            if cfg.name and i == 0 and (path / "config.yaml").exists():
                raise ConfigError(f"name: run folder {path} already exists",
                                  f"Continue it with 'snnctl train --resume {path}', or choose another --name.")
    raise ConfigError(f"output_dir: could not create a new run folder under {base}")


def _save(run_dir: Path, which: str, state: TrainState, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
          scaler: Any, cfg: RunConfig, info: Any, chash: str, partial: Optional[list[float]] = None) -> None:
    opt_t, opt_j = checkpoint.optimizer_state(optimizer)
    rng_t, rng_j = checkpoint.rng_state()
    js = {
        "format": checkpoint.FORMAT,
        "epoch": state.epoch,
        "batch": state.batch,
        "partial": partial or [0.0, 0.0, 0.0, 0.0],
        "best_acc": state.best_acc,
        "best_epoch": state.best_epoch,
        "config_hash": chash,
        "optimizer": opt_j,
        "scaler": scaler.state_dict() if scaler.is_enabled() else None,
        "rng": rng_j,
    }
    checkpoint.save_checkpoint(run_dir, which, model.state_dict(),
                               checkpoint.model_metadata(cfg, info, state.epoch, chash), {**opt_t, **rng_t}, js)


def _restore(run_dir: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scaler: Any,
             state: TrainState, device: torch.device) -> tuple[int, int, list[float]]:
    _tidy(run_dir)
    ckpt = checkpoint.checkpoint_dir(run_dir, "last")
    weights, meta = checkpoint.read_model_file(ckpt / "model.safetensors")
    tensors, js = checkpoint.read_train_state(ckpt)
    if js.get("config_hash") != config_hash(state.config):
        raise SnnctlError(f"{run_dir / 'config.yaml'} no longer matches the checkpoint in {ckpt}",
                          "Resuming needs the config the run was trained with; restore it or start a new run.")
    checkpoint.load_state(model, weights, ckpt / "model.safetensors")
    try:
        checkpoint.restore_optimizer(optimizer, {k: v.to(device) for k, v in tensors.items() if k.startswith("optim.")},
                                     js["optimizer"])
        if js.get("scaler") and scaler.is_enabled():
            scaler.load_state_dict(js["scaler"])
        checkpoint.restore_rng({k: v for k, v in tensors.items() if k.startswith("rng.")}, js["rng"])
    except (KeyError, IndexError, ValueError, TypeError, RuntimeError) as exc:
        raise SnnctlError(f"checkpoint {ckpt} does not restore the optimizer and random generators "
                          f"({type(exc).__name__}: {exc})",
                          "It is damaged; start a new run, or start from its weights with --init.") from None
    state.best_acc, state.best_epoch = js["best_acc"], js["best_epoch"]
    epoch = js["epoch"]
    # A kill between writing last and linking best leaves best behind the state that says last is best.
    if js["batch"] == 0 and js["best_epoch"] == epoch and epoch > 0 and _best_epoch(run_dir) != epoch:
        checkpoint.copy_checkpoint(run_dir, ckpt.name, "best")
    metrics_file = run_dir / "metrics.jsonl"
    rows = [r for r in checkpoint.read_metrics(metrics_file) if r["epoch"] <= epoch]  # epochs the checkpoint includes
    if metrics_file.exists():
        atomic_write(metrics_file, "".join(json.dumps(r) + "\n" for r in rows).encode(), "the run's metrics")
    state.metrics = rows
    return epoch, js["batch"], list(js["partial"])


def penalty_terms(cfg: RunConfig, regularizers: list[Any]) -> list[tuple[str, Any]]:
    """The regularizers that add a loss term (they override ``penalty``), each with its key in
    ``metrics.jsonl``: its registry name, or ``name.N`` (its position in ``regularizers``) where
    the run lists a name twice."""
    from snnctl.nn import Regularizer

    names = [ref.name for ref in cfg.regularizers]
    out = []
    for i, (name, r) in enumerate(zip(names, regularizers)):
        if getattr(type(r), "penalty", None) is Regularizer.penalty:
            continue
        out.append((name if names.count(name) == 1 else f"{name}.{i}", r))
    return out


def _third_party(cfg: RunConfig) -> str:
    """The plugins other than snnctl's own that provide the run's model, neuron, attention and regularizers."""
    import snnctl

    reg = snnctl.registry()
    names = [("model", cfg.model.name), ("neuron", cfg.model.neuron), ("attention", cfg.model.attention)]
    names += [("regularizer", r.name) for r in cfg.regularizers]
    found = []
    for kind, name in names:
        if name and name != "none" and (kind, name) in reg:
            p = reg.get(kind, name).provider
            if p.distribution != "snnctl":
                found.append(f"{kind} '{name}' ({p})")
    return ", ".join(found)


def _probe(cfg: RunConfig, model: torch.nn.Module, samples: Any, info: Any, device: torch.device) -> None:
    """Run the model on two samples before anything is written: a model that breaks its contract (no
    per-step logits [T, B, K]) or fails on the data is named with its plugin, and no run folder is made."""
    import snnctl

    entry = snnctl.registry().get("model", cfg.model.name)
    who = f"model '{cfg.model.name}' ({entry.provider})"
    x = torch.stack([samples[i][0] for i in range(min(2, len(samples)))])
    x = info.encode(x.to(device).float())
    before = _parameter_shapes(model, who)
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(x)
    except SnnctlError:
        raise
    except Exception as exc:
        if _is_oom(exc):
            raise _oom(cfg, info, device) from None
        raise PluginError(f"{who} failed on the first samples of '{info.name}' ({type(exc).__name__}: {exc})",
                          "The fault is in that model or a component it builds (--debug shows where); "
                          "no run folder was made.") from exc
    finally:
        reset_states(model)
        model.train(was)
    after = _parameter_shapes(model, who)
    if after != before:
        changed = sorted(k for k in after if after[k] != before.get(k))
        raise PluginError(f"{who}: its first forward pass created or reshaped parameters ({', '.join(changed[:3])}"
                          f"{', ...' if len(changed) > 3 else ''}); the optimizer, the parameter count and the "
                          "checkpoints would miss them",
                          "Create every parameter when the component is built; a neuron that needs its layer's "
                          "width declares a features argument (docs/guides/neurons.md). No run folder was made.")
    want = (info.timesteps, x.shape[1], info.num_classes)
    if not torch.is_tensor(out) or tuple(out.shape) not in (want, want[1:]):
        got = list(out.shape) if torch.is_tensor(out) else type(out).__name__
        raise PluginError(f"{who} returned {got} for input {list(x.shape)}; a model returns per-step logits "
                          f"[T, B, K] = {list(want)}",
                          "The model breaks the SpikingModel contract; no run folder was made.")


def _parameter_shapes(model: torch.nn.Module, who: str) -> dict[str, tuple[int, ...]]:
    """Every parameter's shape; a lazy (uninitialised) one is named as the plugin's fault."""
    out = {}
    for name, p in model.named_parameters():
        if isinstance(p, torch.nn.parameter.UninitializedParameter):
            raise PluginError(f"{who}: parameter {name} is lazy (uninitialised until the first call); the "
                              "optimizer, the parameter count and the checkpoints need it built",
                              "Create every parameter when the component is built; a neuron that needs its layer's "
                              "width declares a features argument (docs/guides/neurons.md). No run folder was made.")
        out[name] = tuple(p.shape)
    return out


def _best_epoch(run_dir: Path) -> Optional[int]:
    """The epoch the run's ``best`` checkpoint holds, or None where there is none (or it is unreadable)."""
    try:
        return checkpoint.checkpoint_epoch(checkpoint.checkpoint_dir(run_dir, "best"))
    except SnnctlError:
        return None


def _seed_all(seed: int) -> None:
    """torch, numpy and Python generators from the run's seed: a plugin drawing from any of them repeats."""
    import random

    import numpy as np

    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def _tidy(run_dir: Path) -> None:
    """Remove what a killed run left half-done: temporary files, a ``.new`` checkpoint it was writing,
    and the ``.old`` one of a swap that had finished. The checkpoints themselves stay."""
    from snnctl.files import remove_tree

    for tmp in run_dir.glob(".*.tmp-*"):
        tmp.unlink(missing_ok=True)
    for which in ("last", "best"):
        remove_tree(run_dir / f"{which}.new")
        if (run_dir / which / "model.safetensors").is_file():
            remove_tree(run_dir / f"{which}.old")


#: what a run folder holds before its first checkpoint
UNSTARTED = ("config.yaml", "metrics.jsonl", "last.new", "best.new")


def _unstarted(run_dir: Path) -> bool:
    """A run folder that snnctl made and that holds no checkpoint yet (empty, or a config and metrics)."""
    return not checkpoint.has_checkpoint(run_dir, "last") and all(
        p.name in UNSTARTED or (p.name.startswith(".") and ".tmp-" in p.name) for p in run_dir.iterdir())


def _clear_run(run_dir: Path) -> None:
    """Empty a run folder that holds no checkpoint, for a fresh start in it (its config.yaml is rewritten)."""
    import shutil

    for path in run_dir.iterdir():
        if path.name != "config.yaml":
            shutil.rmtree(path) if path.is_dir() else path.unlink()


def _diverged(run_dir: Path, epoch: int, batch: int, value: float) -> TrainingDiverged:
    last = run_dir / "last"
    kept = f"the last good checkpoint is kept in {last}" if (last / "model.safetensors").exists() \
        else "no checkpoint was written yet"
    return TrainingDiverged(
        f"the loss became {value} at epoch {epoch + 1}, batch {batch + 1}; training stopped before applying "
        f"that step ({kept})",
        "Lower the learning rate (--lr), clip gradients (--set grad_clip=1.0) or train in fp32 (--precision fp32).")


def _is_oom(exc: BaseException) -> bool:
    if isinstance(exc, torch.cuda.OutOfMemoryError) or type(exc).__name__ == "OutOfMemoryError":
        return True
    text = str(exc)
    return "out of memory" in text or "can't allocate memory" in text or "not enough memory" in text


def _oom(cfg: RunConfig, info: Any, device: torch.device) -> OutOfMemory:
    half = max(1, cfg.batch_size // 2)
    return OutOfMemory(
        f"out of memory on {device} with batch size {cfg.batch_size} and T={info.timesteps}",
        f"Try --batch-size {half}" + (f" or fewer time steps (--timesteps {max(1, info.timesteps // 2)})"
                                       if info.timesteps > 1 else "")
        + ("; bf16/fp16 precision also halves activation memory." if cfg.precision in ("fp32", "auto") else "."))


class _StopRequest:
    """SIGINT asks the loop to stop after the current batch; a second SIGINT interrupts at once."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> "_StopRequest":
        try:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread: leave Ctrl-C alone
            self._previous = None
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)

