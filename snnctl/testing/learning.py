"""Does a component learn? A training run short enough for a plugin's test suite (see :func:`check_learning`)."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

#: the recipe the check trains (``snnctl train --recipe learning-check`` runs the same)
RECIPE = "learning-check"
#: label pairs of synthetic-gestures that differ only in the direction of motion (or the sense of rotation)
PAIRS = ((0, 1), (2, 3), (4, 5), (6, 7))


@dataclass
class LearningResult:
    """What the learning check measured on the test split after the last epoch."""

    accuracy: float  # top-1 over the 8 classes
    chance: float  # 1 / 8
    pair_accuracy: float  # the predicted class is in the right pair (chance 1/4): shapes and motion are seen
    order_accuracy: float  # among those, the right member (chance 1/2): the order of time steps is used
    firing_rate: float  # of every spiking layer, on the test split
    seconds: float
    metrics: list[dict[str, Any]] = field(default_factory=list)  # metrics.jsonl, one row per epoch
    run_dir: Optional[Path] = None  # kept only where output_dir was given

    def summary(self) -> str:
        return (f"test accuracy {self.accuracy:.1%} (chance {self.chance:.1%}); classes told apart up to their "
                f"direction {self.pair_accuracy:.1%}, direction given the class pair {self.order_accuracy:.1%}; "
                f"firing rate {self.firing_rate:.3f}; {self.seconds:.0f} s")


def check_learning(neuron: Optional[str] = None, attention: Optional[str] = None,
                   regularizer: Optional[str] = None, model: Optional[str] = None, *,
                   neuron_args: Optional[dict[str, Any]] = None, attention_args: Optional[dict[str, Any]] = None,
                   regularizer_args: Optional[dict[str, Any]] = None, model_args: Optional[dict[str, Any]] = None,
                   min_accuracy: float = 0.375, epochs: Optional[int] = None, seed: int = 0,
                   output_dir: Optional[Path] = None) -> LearningResult:
    """Train a small network built with the given components and check that it learns.

    The ``learning-check`` recipe: ``vgg5`` (or ``model``, which must fit 2 x 16 x 16 event frames,
    T = 8 and 8 classes) on 512 synthetic-gesture recordings, 12 epochs, about 15 seconds on 2 CPU
    cores. Components are given by registry name with their arguments; an attention module is placed
    after the convolutions of blocks 2 and 3, as in ``vgg5-sma``. Working components reach far above
    chance (``lif``, ``plif``, ``if`` and ``lif`` with ``sma`` reach 100 %; chance is 12.5 %); a
    neuron that never fires, passes no gradient, or an attention module that erases its input stays at
    chance. Raises ``AssertionError`` (with what was measured and what it suggests) when the test
    accuracy after the last epoch is below ``min_accuracy``; returns the :class:`LearningResult`.

    The result separates two abilities: ``pair_accuracy`` (which of the four class pairs: shapes and
    motion) and ``order_accuracy`` (which member of the pair: the direction, which only the order of
    the time steps reveals). A component without memory across steps tells the pairs apart but not
    the direction, and stays near 50 % accuracy.
    """
    import time

    from snnctl.config import resolve_config
    from snnctl.engine.train import train

    flags: dict[str, Any] = {"seed": seed, "name": "learning-check"}
    section: dict[str, Any] = {}
    if model is not None:
        section["name"] = model
    if neuron is not None:
        section["neuron"] = neuron
    if neuron_args:
        section["neuron_args"] = dict(neuron_args)
    if attention is not None:
        section["attention"] = attention
    if attention_args:
        section["attention_args"] = dict(attention_args)
    if model_args:
        section["args"] = dict(model_args)
    if section:
        flags["model"] = section
    if regularizer is not None:
        flags["regularizers"] = [{"name": regularizer, "args": dict(regularizer_args or {})}]
    if epochs is not None:
        flags["epochs"] = epochs
    what = ", ".join(f"{k} '{v}'" for k, v in (("model", model), ("neuron", neuron), ("attention", attention),
                                                ("regularizer", regularizer)) if v) or "the learning check's network"
    with tempfile.TemporaryDirectory(prefix="snnctl-learning-") as tmp:
        flags["output_dir"] = str(output_dir if output_dir is not None else tmp)
        cfg = resolve_config(RECIPE, flags=flags)
        start = time.perf_counter()
        run = train(cfg)
        seconds = time.perf_counter() - start
    confusion = run.confusion
    total = sum(map(sum, confusion)) or 1
    pair_of = {c: i for i, pair in enumerate(PAIRS) for c in pair}
    in_pair = sum(confusion[t][p] for t in range(len(confusion)) for p in range(len(confusion))
                  if pair_of.get(t) == pair_of.get(p))
    right = sum(confusion[t][t] for t in range(len(confusion)))
    result = LearningResult(
        accuracy=right / total, chance=1 / max(len(confusion), 1), pair_accuracy=in_pair / total,
        order_accuracy=right / in_pair if in_pair else 0.0, firing_rate=run.firing_rate, seconds=seconds,
        metrics=run.metrics, run_dir=Path(run.run_dir) if output_dir is not None else None)
    if result.accuracy < min_accuracy:
        raise AssertionError(f"{what} did not learn: {result.summary()}; at least {min_accuracy:.1%} was expected. "
                             + _diagnosis(result))
    return result


def _diagnosis(r: LearningResult) -> str:
    if r.firing_rate == 0.0:
        return ("No neuron fired on the test set: check the threshold against the input scale (after BatchNorm, "
                "inputs are about N(0, 1)) and that spikes are 0 or 1 (check_neuron).")
    if r.firing_rate > 0.9:
        return "Nearly every neuron fires at every step: the spikes carry no information; check the reset."
    if r.pair_accuracy > 0.75:
        return ("It tells the class pairs apart but not their direction: the network does not use the order of "
                "time steps (does the component keep its state from one step to the next?).")
    return ("Check that gradients reach the input and every parameter (check_neuron, check_attention) and that "
            "the surrogate gradient is not zero where the membrane is near the threshold.")
