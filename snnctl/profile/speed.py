"""Speed and peak memory: the model, and every registered neuron at the model's spiking-layer shapes.

Times are medians over ``repeat`` runs after ``warmup`` runs, divided by the batch size (seconds per
sample). Forward passes run in evaluation mode without autograd; forward+backward passes run on a
copy of the model in training mode (BN batch statistics, dropout on) with the loss ``sum(logits)``.

Peak memory is the most memory a run held above what was allocated before it (activations, autograd
buffers, gradients), per batch: ``torch.cuda.max_memory_allocated`` on CUDA, and on CPU the
allocations and frees the PyTorch profiler records (``profile_memory=True``), replayed in order.
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import statistics
import sys
import time
from typing import Any, Callable, Iterator, Optional

import torch
from torch import Tensor, nn

from snnctl.nn import reset_states

__all__ = ["time_call", "peak_memory", "time_model", "time_neurons"]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(fn: Callable[[], Any], device: torch.device, repeat: int = 3, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` in seconds."""
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(max(1, repeat)):
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@contextlib.contextmanager
def _quiet_fd2() -> Iterator[None]:
    """Silence file descriptor 2 (the profiler's C++ start/stop lines), keeping Python's stderr intact."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def peak_memory(fn: Callable[[], Any], device: torch.device) -> Optional[int]:
    """Peak bytes ``fn()`` allocated above what was allocated before it (None where not measurable)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        fn()
        torch.cuda.synchronize(device)
        return int(torch.cuda.max_memory_allocated(device) - before)
    if device.type != "cpu":
        return None
    from torch.profiler import ProfilerActivity, profile

    prof = profile(activities=[ProfilerActivity.CPU], profile_memory=True)
    # The profiler's C++ side writes start/stop lines and allocator notes straight to fd 2.
    with _quiet_fd2():
        prof.start()
        try:
            fn()
        finally:
            prof.stop()
    try:
        events = prof.profiler.kineto_results.events()
        allocs = sorted((e.start_ns(), e.nbytes()) for e in events if e.name() == "[memory]")
    except AttributeError:  # a torch without kineto results
        return None
    live = peak = 0
    for _, nbytes in allocs:
        live += nbytes
        peak = max(peak, live)
    return int(peak)


def time_model(model: nn.Module, x: Tensor, repeat: int = 3, warmup: int = 1) -> dict[str, Any]:
    """Forward and forward+backward time per sample and peak memory per batch for ``x`` ``[T, B, ...]``."""
    device = x.device
    batch = int(x.shape[1])
    was_training = model.training
    model.eval()

    @torch.no_grad()
    def forward() -> None:
        reset_states(model)
        model(x)
        reset_states(model)

    trainee = copy.deepcopy(model).train()
    params = [p for p in trainee.parameters() if p.requires_grad]

    def train_step() -> None:
        reset_states(trainee)
        for p in params:
            p.grad = None
        out = trainee(x)
        out.float().sum().backward()
        reset_states(trainee)

    try:
        fwd = time_call(forward, device, repeat, warmup)
        fwd_mem = peak_memory(forward, device)
        train = time_call(train_step, device, repeat, warmup)
        for p in params:
            p.grad = None
        train_mem = peak_memory(train_step, device)
    finally:
        model.train(was_training)
    return {
        "batch_size": batch,
        "forward_s": fwd / batch,
        "forward_backward_s": train / batch,
        "forward_peak_bytes": fwd_mem,
        "forward_backward_peak_bytes": train_mem,
    }


def time_neurons(shapes: list[tuple[int, ...]], names: list[str], device: torch.device,
                 repeat: int = 3, warmup: int = 1) -> list[dict[str, Any]]:
    """Each neuron alone at every shape (``[T, B, ...]``, one per spiking layer call), per sample.

    ``forward_s`` and ``forward_backward_s`` add up the layers (the time the model's spiking layers
    would take with this neuron; layers of equal shape are timed once); the peak memory is that of
    one forward+backward at the largest shape (a neuron's memory grows with its input). A neuron
    that cannot be built in multi-step mode, or fails at a shape, is reported with the error.
    """
    from collections import Counter

    from snnctl.nn import make_neuron

    counts = Counter(tuple(s) for s in shapes)
    largest = max(counts, key=math.prod) if counts else None
    out = []
    for name in names:
        rec: dict[str, Any] = {"neuron": name}
        try:
            fwd = train = 0.0
            peak: Optional[int] = None
            for shape, layers in counts.items():
                # a neuron with per-feature parameters is built for each layer's width, as the model builds it
                neuron = make_neuron(name, None, features=shape[2] if len(shape) > 2 else None, step_mode="m").to(device)
                batch = shape[1] if len(shape) > 1 else 1
                x = torch.rand(shape, device=device) * 2.0

                @torch.no_grad()
                def forward() -> None:
                    neuron.reset()
                    neuron(x)
                    neuron.reset()

                xg = x.clone().requires_grad_(True)

                def train_step() -> None:
                    neuron.reset()
                    xg.grad = None
                    neuron(xg).sum().backward()
                    neuron.reset()

                fwd += layers * time_call(forward, device, repeat, warmup) / batch
                train += layers * time_call(train_step, device, repeat, warmup) / batch
                if shape == largest:
                    peak = peak_memory(train_step, device)
            rec.update({"forward_s": fwd, "forward_backward_s": train, "forward_backward_peak_bytes": peak,
                        "layers": len(shapes)})
        except Exception as exc:  # a third-party neuron that does not fit is reported, not fatal
            rec["error"] = f"{type(exc).__name__}: {getattr(exc, 'message', None) or exc}"
        out.append(rec)
    return out
