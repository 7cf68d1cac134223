"""snnctl info KIND NAME"""

from __future__ import annotations

import json as jsonlib
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


def info(kind: KindArg, name: NameArg, json: JsonOpt = False) -> None:
    """Describe one component: what it is, which plugin provides it, its parameters and defaults."""
    canonical = resolve_kind(kind)
    data: dict[str, Any] = snnctl.describe(canonical, name)
    if canonical == "model":
        data.update(count_parameters(canonical, name))
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
    table = Table(title="configuration")
    for col in ("field", "type", "default", "description"):
        table.add_column(col)
    for p in data["parameters_schema"]:
        default = "(required)" if p["required"] else jsonlib.dumps(p["default"])
        table.add_row(p["name"], p["type"], default, p["description"])
    stdout.print(table)


def install(app: typer.Typer) -> None:
    app.command("info")(info)
