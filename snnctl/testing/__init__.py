"""Contract checks for plugin authors.

A third-party neuron, surrogate, attention module, model or dataset is tested exactly like the built-ins::

    from snnctl.testing import check_neuron, check_surrogate

    def test_my_neuron():
        check_neuron("my-neuron")           # by registry name, or pass a factory/class

    def test_my_surrogate():
        check_surrogate("my-surrogate", alpha=3.0)

    def test_my_attention():
        check_attention("my-attention", channels=8, timesteps=4)

    def test_my_model():
        check_model("my-model", timesteps=4)

    def test_my_dataset(tmp_path):
        write_tiny_recordings(tmp_path)     # your fixture, in the dataset's real format
        check_dataset("my-dataset", root=tmp_path)

Whether a network built with a component learns at all (far above chance, in about 15 seconds)::

    def test_my_neuron_learns():
        check_learning(neuron="my-neuron")

Each check raises ``AssertionError`` with a message naming the broken rule. The pytest plugin
(:mod:`snnctl.testing.plugin`, installed with snnctl) adds fixtures such as ``snnctl_registry``.
"""

from __future__ import annotations

from snnctl.testing.contracts import check_attention, check_dataset, check_model, check_neuron, check_surrogate
from snnctl.testing.learning import LearningResult, check_learning

__all__ = ["check_attention", "check_dataset", "check_learning", "check_model", "check_neuron", "check_surrogate",
           "LearningResult"]
