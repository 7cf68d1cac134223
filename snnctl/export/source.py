"""Opening a trained model from wherever it lives: a run folder, a bundle, or a file another tool wrote.

:func:`open_model` is the one reading path of ``snnctl evaluate``, ``snnctl profile`` and
``snnctl export``: a folder is a run (``config.yaml`` plus checkpoints); a file is offered to every
registered exporter whose format can be loaded (:meth:`snnctl.export.Exporter.can_load`), so a
third-party format becomes loadable the moment its plugin is installed. :func:`load` is the
one-line version for Python: the model alone, in eval mode.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from snnctl.engine.samples import DataSpec
from snnctl.errors import SnnctlError

__all__ = ["OpenedModel", "open_model", "load", "component_record"]


@dataclass
class OpenedModel:
    """A runnable model and what is known about it.

    ``kind`` is ``"run"`` for a run folder, else the format name of the file (``"bundle"``,
    ``"nir"``); ``name`` the model's registry name (a label for graphs from other tools); ``data``
    the dataset it was trained on, where known; ``config`` the training run config, where known;
    ``components`` one record per registry component the model is built from (kind, name, plugin,
    distribution, version); ``provenance`` the checkpoint and epoch it holds; ``model_args`` the
    settings that rebuild it with ``snnctl.create_model(name, **model_args)``, for a registry model.
    """

    model: Any  # snnctl.nn.SpikingModel, eval mode, CPU
    kind: str
    path: Path
    name: str
    classes: Optional[list[str]] = None
    data: Optional[DataSpec] = None
    config: Any = None  # snnctl.config.RunConfig
    components: list[dict[str, Any]] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)
    model_args: Optional[dict[str, Any]] = None  # the registry model's validated settings (None: not a registry model)

    @property
    def timesteps(self) -> int:
        return int(self.model.timesteps)

    def label(self) -> str:
        """How reports name it: ``runs/default (best, epoch 10)``, ``model.nir``."""
        which = self.provenance.get("checkpoint")
        epoch = self.provenance.get("epoch")
        extra = ", ".join(p for p in (which, f"epoch {epoch}" if epoch is not None else None) if p)
        return f"{self.path} ({extra})" if extra else str(self.path)


def component_record(entry: Any) -> dict[str, Any]:
    """The provenance of one registry entry: kind, name and the plugin that registered it."""
    p = entry.provider
    return {"kind": entry.kind, "name": entry.name, "plugin": p.plugin, "distribution": p.distribution,
            "version": p.version}


def open_model(path: str | Path, checkpoint: str = "best", **options: Any) -> OpenedModel:
    """The model at ``path``: a run folder (its ``checkpoint``, best or last) or a loadable file.

    ``options`` go to the format's loader (for NIR graphs: ``dt``, ``timesteps``).
    """
    import snnctl

    path = Path(path).expanduser()
    if path.is_dir():
        return _open_run(path, checkpoint)
    if not path.exists():
        raise SnnctlError(f"{path} does not exist: it is not a run folder, a bundle or a NIR graph",
                          "Give a run folder (it holds config.yaml), a bundle (.safetensors) or a NIR graph (.nir).")
    from snnctl.export.base import Exporter

    reg = snnctl.registry()
    formats = []
    for entry in reg.entries("exporter"):
        try:
            exporter = reg.create("exporter", entry.name)
        except SnnctlError:  # an exporter that needs settings to be built loads nothing by default
            continue
        if type(exporter).can_load is Exporter.can_load:
            continue
        formats.append(f"{entry.name} ({exporter.suffix})" if exporter.suffix else entry.name)
        if exporter.can_load(path):
            opened = exporter.load(path, **options)
            opened.kind = opened.kind or entry.name
            return opened
    raise SnnctlError(f"{path} is not a run folder and not a file of a loadable format",
                      f"Loadable formats: {', '.join(formats) or 'none'}; a run folder holds config.yaml.")


def _open_run(path: Path, checkpoint: str) -> OpenedModel:
    from snnctl.engine.checkpoint import load_run

    if checkpoint not in ("best", "last"):
        raise SnnctlError(f"checkpoint: expected 'best' or 'last', got {checkpoint!r}")
    run = load_run(path, checkpoint)
    meta = run.metadata
    epoch = meta.get("epoch")
    return OpenedModel(
        model=run.model, kind="run", path=path, name=run.config.model.name, classes=list(run.classes),
        data=DataSpec.from_section(run.config.data), config=run.config,
        components=[component_record(e) for e in run.components],
        provenance={"run": path.name, "checkpoint": checkpoint, "epoch": int(epoch) if epoch else None,
                    "config_hash": meta.get("config_hash")},
        model_args=run.model_args,
    )


def load(path: str | Path, **options: Any) -> Any:
    """The model saved at ``path`` (a bundle, a NIR graph, or a run folder's best checkpoint), in eval mode.

    ``options`` go to the format's loader (for NIR graphs: ``dt``, the seconds per step, when the
    file does not record it).
    """
    return open_model(path, **options).model
