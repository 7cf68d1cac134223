"""Comparing a written model with the PyTorch model it came from, batch by batch.

A *run* of a model on one batch gives its per-step logits ``[T, B, K]`` and, where the runtime
exposes them, the spikes of every spiking layer by name. :func:`compare_runs` runs the reference and
the candidate on the same batches and accumulates what an export report states:

* the largest absolute logit difference, over every sample, step and class;
* the share of samples whose prediction (argmax of the time-mean logits) agrees;
* per layer, how many spikes were compared and how many differ;
* the largest logit difference among the samples whose spikes all agree.

A spike can legitimately flip where the membrane sits within rounding of the threshold, and one flip
moves the logits by a weight; so the logit tolerance applies to samples without a flipped spike,
and the flip count is held to its own bound. Spikes are compared as booleans and dropped after each
batch, so memory does not grow with the number of samples.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterable, Iterator, Optional

import torch
from torch import Tensor, nn

from snnctl.export.base import Verification

__all__ = ["Run", "torch_run", "compare_runs", "record_spikes"]

#: one batch in, (logits [T, B, K], {layer: spikes [T, B, ...]}) out
Run = Callable[[Tensor], tuple[Tensor, dict[str, Tensor]]]


@contextlib.contextmanager
def record_spikes(model: nn.Module, names: Optional[dict[str, str]] = None) -> Iterator[dict[str, Tensor]]:
    """Collect the output of every ``snnctl.nn.Neuron`` of ``model`` during the block, by module path.

    ``names`` renames module paths (only those listed are recorded when it is given).
    """
    from snnctl.nn import Neuron

    got: dict[str, Tensor] = {}
    handles = []
    for path, module in model.named_modules():
        if not isinstance(module, Neuron) or (names is not None and path not in names):
            continue
        key = names[path] if names is not None else path

        def hook(_m: nn.Module, _i: Any, out: Tensor, key: str = key) -> None:
            got[key] = out.detach() != 0

        handles.append(module.register_forward_hook(hook))
    try:
        yield got
    finally:
        for h in handles:
            h.remove()


def torch_run(model: nn.Module, dtype: torch.dtype = torch.float32, names: Optional[dict[str, str]] = None) -> Run:
    """A :data:`Run` of a PyTorch model (eval mode, no gradients, state reset after every batch)."""
    from snnctl.nn import reset_states

    def run(x: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        with torch.no_grad(), record_spikes(model, names) as spikes:
            try:
                logits = model(x.to(dtype))
            finally:
                reset_states(model)
        return logits.detach().double(), dict(spikes)

    return run


def compare_runs(reference: Run, candidate: Run, batches: Iterable[Tensor], *, runtime: str, tolerance: float,
                 relative: bool = False, max_flip_fraction: float = 0.0, require_spikes: bool = False) -> Verification:
    """Compare two runs on the same batches (see the module docstring); failures name what went wrong.

    ``tolerance`` bounds the logit difference of samples whose spikes all agree, as an absolute
    value, or with ``relative`` as ``tolerance * (1 + max |logit|)`` of each sample;
    ``max_flip_fraction`` bounds the share of compared spikes that may differ. With
    ``require_spikes`` every layer the reference records must be recorded by the candidate too.
    """
    samples = agree = 0
    max_diff = max_clean = worst_excess = 0.0
    flipped_samples = 0
    layers: dict[str, dict[str, int]] = {}
    missing: set[str] = set()
    for x in batches:
        ref_logits, ref_spikes = reference(x)
        cand_logits, cand_spikes = candidate(x)
        if ref_logits.shape != cand_logits.shape:
            return Verification(runtime, samples, float("inf"), tolerance, 0.0,
                                failures=[f"logits have shape {list(cand_logits.shape)}, the model's {list(ref_logits.shape)}"])
        b = ref_logits.shape[1]
        flips_per_sample = torch.zeros(b, dtype=torch.long)
        for name, ref in ref_spikes.items():
            cand = cand_spikes.get(name)
            if cand is None:
                missing.add(name)
                continue
            row = layers.setdefault(name, {"compared": 0, "differ": 0})
            if cand.shape != ref.shape:
                row["compared"] += ref.numel()
                row["differ"] += ref.numel()
                flips_per_sample += 1
                continue
            diff = ref != cand
            row["compared"] += ref.numel()
            row["differ"] += int(diff.sum())
            flips_per_sample += diff.transpose(0, 1).reshape(b, -1).sum(1)
        per_sample = (ref_logits - cand_logits).abs().transpose(0, 1).reshape(b, -1).amax(1)
        bound = tolerance * (1.0 + ref_logits.abs().transpose(0, 1).reshape(b, -1).amax(1)) if relative \
            else torch.full_like(per_sample, tolerance)
        max_diff = max(max_diff, float(per_sample.max()))
        clean = flips_per_sample == 0
        if bool(clean.any()):
            max_clean = max(max_clean, float(per_sample[clean].max()))
            worst_excess = max(worst_excess, float((per_sample - bound)[clean].max()))
        flipped_samples += int((~clean).sum())
        agree += int((ref_logits.mean(0).argmax(-1) == cand_logits.mean(0).argmax(-1)).sum())
        samples += b
    compared = sum(r["compared"] for r in layers.values())
    differ = sum(r["differ"] for r in layers.values())
    failures = []
    if samples == 0:
        failures.append("no samples were compared")
    if worst_excess > 0:
        allowed = f"{tolerance:.3g} x (1 + |logit|)" if relative else f"{tolerance:.3g}"
        failures.append(f"logits differ by up to {max_clean:.3g} on samples whose spikes all agree "
                        f"(tolerance {allowed})")
    if compared and differ > max_flip_fraction * compared:
        worst = max(layers, key=lambda k: layers[k]["differ"])
        failures.append(f"{differ:,} of {compared:,} spikes differ (allowed: {max_flip_fraction:.3g} of them); "
                        f"most in {worst} ({layers[worst]['differ']:,})")
    if require_spikes and missing:
        failures.append(f"no spikes recorded for {len(missing)} layer(s), e.g. {sorted(missing)[0]}")
    details = {"max_abs_logit_diff_without_flips": max_clean, "samples_with_flipped_spikes": flipped_samples,
               "tolerance_rule": "tolerance x (1 + max |logit| of the sample)" if relative else "absolute"}
    return Verification(runtime, samples, max_diff, tolerance, agree / samples if samples else 0.0,
                        spikes=layers if layers else None, details=details, failures=failures)
