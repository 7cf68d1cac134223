"""snnctl info KIND NAME"""

from __future__ import annotations

import json as jsonlib
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

import snnctl
from snnctl.cli.options import JsonOpt, KindArg, NameArg
from snnctl.cli.output import print_json, stdout
from snnctl.registry import resolve_kind


def count_parameters(kind: str, name: str) -> dict[str, int]:
    """Parameters of a model built with its defaults, on the meta device (no memory is allocated)."""
    import torch

    with torch.device("meta"):
        model = snnctl.create(kind, name)
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"parameters": total, "trainable_parameters": trainable}


def describe_dataset(name: str) -> dict[str, Any]:
    """The dataset's own description plus the frame caches found for it (split file included)."""
    from snnctl.data.base import make_dataset
    from snnctl.data.cache import find_caches

    out = make_dataset(name).describe()
    out["caches"] = [
        {"path": m["path"], "frames": m["frames"], "split_by": m["split_by"], "downsample": m["downsample"],
         "frame_shape": m["frame_shape"], "split_file": str(Path(m["path"]) / "split.json"),
         "samples": {k: v["samples"] for k, v in m["splits"].items()}, "skipped": len(m["skipped"])}
        for m in find_caches(name)
    ]
    return out


def info(kind: KindArg, name: NameArg, json: JsonOpt = False) -> None:
    """Describe one component: what it is, which plugin provides it, its parameters and defaults."""
    canonical = resolve_kind(kind)
    data: dict[str, Any] = snnctl.describe(canonical, name)
    if canonical == "model":
        data.update(count_parameters(canonical, name))
    if canonical == "dataset":
        data.update(describe_dataset(name))
    if canonical == "recipe":
        from snnctl.config import recipe_settings

        data["settings"], data["requires"] = recipe_settings(name)
    if json:
        print_json(data)
        return
    stdout.print(f"[bold]{data['name']}[/bold] ({data['kind']})", highlight=False)
    if data["description"]:
        stdout.print(data["description"], highlight=False, markup=False)
    provider = data["plugin"] + (
        f" from {data['distribution']} {data['version']}" if data["distribution"] else f" ({data['source']})"
    )
    stdout.print(f"provided by: {provider}", highlight=False, markup=False)
    if "parameters" in data:
        stdout.print(f"parameters: {data['parameters']:,}", highlight=False)
    if canonical == "dataset":
        _print_dataset(data)
    if canonical == "recipe":
        _print_recipe(name, data)
        return
    table = Table(title="configuration")
    for col in ("field", "type", "default", "description"):
        table.add_column(col)
    for p in data["parameters_schema"]:
        default = "(required)" if p["required"] else jsonlib.dumps(p["default"])
        table.add_row(p["name"], p["type"], default, p["description"])
    stdout.print(table)


def _print_recipe(name: str, data: dict[str, Any]) -> None:
    from snnctl.config import leaf_paths, get_path

    table = Table(title="settings (everything else: the defaults)")
    table.add_column("setting")
    table.add_column("value")
    for path in leaf_paths(data["settings"]):
        table.add_row(path, jsonlib.dumps(get_path(data["settings"], path)))
    for path, reason in data["requires"].items():
        table.add_row(path, f"(required: {reason})")
    stdout.print(table)
    stdout.print(f"The whole config: snnctl train --recipe {name} --print-config", highlight=False, markup=False)


def _print_dataset(data: dict[str, Any]) -> None:
    keys = ("num_classes", "sensor_size", "default_frames", "split_policy") if "sensor_size" in data else \
        ("num_classes", "image_size", "channels", "default_frames", "split_policy", "augmentation")
    for key in keys:
        stdout.print(f"{key.replace('_', ' ')}: {data[key]}", highlight=False, markup=False, soft_wrap=True)
    if "sensor_size" not in data:
        stdout.print("static images: read from their folders and repeated over T (direct encoding); no frame cache",
                     highlight=False, markup=False)
        return
    if not data["caches"]:
        stdout.print("no frame cache yet: run 'snnctl preprocess' for it", highlight=False, markup=False)
        return
    stdout.print("frame caches:", highlight=False)
    for c in data["caches"]:
        samples = ", ".join(f"{k} {v}" for k, v in c["samples"].items())
        stdout.print(f"  T={c['frames']} split by {c['split_by']}, downsample {c['downsample']}: {samples}; "
                     f"split file {c['split_file']}", highlight=False, markup=False, soft_wrap=True)


def install(app: typer.Typer) -> None:
    app.command("info")(info)
