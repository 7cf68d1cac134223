"""Contract checks for plugin authors.

A third-party neuron or surrogate is tested exactly like the built-ins::

    from snnctl.testing import check_neuron, check_surrogate

    def test_my_neuron():
        check_neuron("my-neuron")           # by registry name, or pass a factory/class

    def test_my_surrogate():
        check_surrogate("my-surrogate", alpha=3.0)

Each check raises ``AssertionError`` with a message naming the broken rule. The pytest plugin
(:mod:`snnctl.testing.plugin`, installed with snnctl) adds fixtures such as ``snnctl_registry``.
"""

from __future__ import annotations

from snnctl.testing.contracts import check_neuron, check_surrogate

__all__ = ["check_neuron", "check_surrogate"]
