"""The exporter contract: what an exporter plugin implements and what it is handed.

An exporter is registered with ``register_exporters(register)`` under its format name (``bundle``,
``onnx``, ``nir``) and built with its own settings (``snnctl export --set KEY=VALUE``). For one
export, ``snnctl export`` calls, in this order:

1. :meth:`Exporter.preflight` -- every reason the model cannot be written exactly, as
   :class:`Problem` rows; any row stops the export before a byte is written (exit status 2);
2. :meth:`Exporter.write` -- write the file to the temporary path it is given (the final path is
   taken only after verification, by a rename);
3. :meth:`Exporter.verify` -- reload what was written with a reader that did not write it and
   compare its outputs with the PyTorch model on real samples; a failed verification removes the
   temporary file and exits with status 3.

An exporter whose format can be read back as a runnable model also implements
:meth:`Exporter.can_load` and :meth:`Exporter.load`; ``snnctl.load(PATH)`` and every command that
takes a run folder (``evaluate``, ``profile``) then accept such files.

Components declare how they map to NIR with a ``to_nir(ctx)`` method (see :class:`NIRContext`).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional

from snnctl.errors import SnnctlError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    from torch import Tensor

    from snnctl.export.source import OpenedModel

__all__ = ["Exporter", "ExportContext", "Problem", "Verification", "NotExportable", "NIRContext",
           "ExportRefused", "VerificationFailed", "require_packages"]


# -- errors ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Problem:
    """One module a format cannot express exactly: its path in the model, its type and why."""

    path: str
    type: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "type": self.type, "reason": self.reason}

    def __str__(self) -> str:
        return f"{self.path or '(model)'} ({self.type}): {self.reason}"


class ExportRefused(SnnctlError):
    """The pre-flight found modules the format cannot express; nothing was written."""

    def __init__(self, fmt: str, model: str, problems: list[Problem], hint: Optional[str] = None) -> None:
        self.format, self.problems = fmt, list(problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"{model} cannot be exported to {fmt} exactly; nothing was written. "
                         f"{len(self.problems)} module(s) have no exact {fmt} form:\n{lines}", hint)


class VerificationFailed(SnnctlError):
    """What was written does not compute what the model computes; the file was removed."""

    exit_code = 3


class NotExportable(Exception):
    """Raised by a component's ``to_nir(ctx)`` (or an exporter's mapping) with the reason it has no exact form."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def require_packages(exporter: str, modules: tuple[str, ...], extra: str = "export") -> None:
    """Fail with one message naming the extra to install when any of ``modules`` cannot be imported."""
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise SnnctlError(f"the '{exporter}' format needs the package(s) {', '.join(missing)}, which are not installed",
                          f"Install them with: pip install 'snnctl[{extra}]'")


# -- what an exporter is handed --------------------------------------------------------------------------------
@dataclass
class ExportContext:
    """The source model and the samples to verify on, handed to every exporter method.

    ``batches()`` yields the verification samples as model inputs ``[T, B, C, H, W]`` (float32, on
    the CPU), the same ones on every call; ``describe_samples`` says where they came from.
    """

    source: "OpenedModel"
    make_batches: Callable[[], Iterator["Tensor"]]
    sample_count: int
    describe_samples: dict[str, Any] = field(default_factory=dict)
    log: Callable[[str], None] = lambda message: None

    def batches(self) -> Iterator["Tensor"]:
        return self.make_batches()


@dataclass
class Verification:
    """The comparison of what was written with the PyTorch model.

    ``max_abs_logit_diff`` and ``argmax_agreement`` compare the per-step logits and the predictions
    (argmax of the time-mean); ``spikes`` maps layer names to their agreement (``{"compared": n,
    "differ": k}``) where the format exposes spikes; ``failures`` lists the reasons the check failed
    (empty when it passed).
    """

    runtime: str
    samples: int
    max_abs_logit_diff: float
    tolerance: float
    argmax_agreement: float
    spikes: Optional[dict[str, dict[str, Any]]] = None
    details: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    def as_dict(self) -> dict[str, Any]:
        out = {"passed": self.passed, "runtime": self.runtime, "samples": self.samples,
               "max_abs_logit_diff": self.max_abs_logit_diff, "tolerance": self.tolerance,
               "argmax_agreement": self.argmax_agreement, "failures": self.failures}
        if self.spikes is not None:
            out["spikes"] = self.spikes
            out["spikes_compared"] = sum(int(v["compared"]) for v in self.spikes.values())
            out["spikes_differ"] = sum(int(v["differ"]) for v in self.spikes.values())
        out.update(self.details)
        return out


class Exporter:
    """Base class of exporters (see the module docstring for the order of the calls).

    ``suffix`` is the file name suffix of the format (``".onnx"``) and ``packages`` the import names
    of the optional packages it needs (``snnctl export`` checks them before any work and names the
    extra to install).
    """

    suffix: str = ""
    packages: tuple[str, ...] = ()

    def preflight(self, model: Any, ctx: ExportContext) -> list[Problem]:
        """Every module that cannot be written exactly (the default: none)."""
        return []

    def write(self, model: Any, path: Path, ctx: ExportContext) -> dict[str, Any]:
        """Write ``model`` (eval mode, CPU) to ``path``; return report entries (``folded``, ``removed``, details)."""
        raise NotImplementedError

    def verify(self, path: Path, model: Any, ctx: ExportContext) -> Verification:
        """Read ``path`` back with a reader that did not write it and compare it with ``model``."""
        raise NotImplementedError

    def can_load(self, path: Path) -> bool:
        """Whether ``path`` is a file of this format that :meth:`load` can make runnable."""
        return False

    def load(self, path: Path, **options: Any) -> "OpenedModel":
        """The model in ``path`` as an ``snnctl.export.OpenedModel`` (a runnable ``SpikingModel``, eval mode)."""
        raise SnnctlError(f"the {type(self).__name__} format cannot be loaded back as a model")


# -- the NIR mapping contract of components -------------------------------------------------------------------
@dataclass
class NIRContext:
    """What a module's ``to_nir(ctx)`` method is told: where it sits and the shapes it sees at one time step.

    A module (a neuron or attention plugin, or any ``nn.Module``) declares its NIR form with::

        def to_nir(self, ctx: snnctl.export.NIRContext):
            import nir
            return nir.LIF(tau=ctx.full(self.tau * ctx.dt), r=ctx.full(1.0), v_leak=ctx.full(0.0),
                           v_threshold=ctx.full(self.v_threshold), v_reset=ctx.full(0.0))

    It returns one ``nir`` node (a ``nir.NIRGraph`` for a module made of several nodes), ``None``
    when the module is the identity at inference (it is then left out and listed as removed), or
    raises :class:`NotExportable` with the reason it has no exact NIR form. ``dt`` is the time step
    in seconds that one of snnctl's discrete steps stands for (the ``nir`` exporter's ``dt``
    setting); parameters given in steps are multiplied by it (docs/export.md has the formulas).
    """

    path: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    dt: float

    def full(self, value: float, shape: Optional[tuple[int, ...]] = None) -> "np.ndarray":
        """A float64 array of the input's per-step shape (or ``shape``) filled with ``value``.

        Neuron parameters are written in float64: a time constant ``tau * dt`` rounded to float32
        would no longer divide ``dt`` into the step's exact decay.
        """
        import numpy as np

        return np.full(self.input_shape if shape is None else shape, value, dtype=np.float64)
