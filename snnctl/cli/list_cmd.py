"""snnctl list [KIND] [PATTERN]"""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

import snnctl
from snnctl.cli.options import JsonOpt, OptionalKindArg, PatternArg
from snnctl.cli.output import print_json, stdout
from snnctl.registry import PLURALS, resolve_kind


def list_components(kind: OptionalKindArg = None, pattern: PatternArg = "*", json: JsonOpt = False) -> None:
    """List registered components, optionally of one kind and matching a wildcard pattern."""
    canonical = resolve_kind(kind) if kind else None
    reg = snnctl.registry()
    entries = reg.entries(canonical, pattern)
    rows = [
        {
            "kind": e.kind,
            "name": e.name,
            "description": e.description,
            "plugin": e.provider.plugin,
            "distribution": e.provider.distribution,
            "version": e.provider.version,
        }
        for e in entries
    ]
    if json:
        print_json(rows)
        return
    title = PLURALS[canonical] if canonical else "components"
    table = Table(title=escape(f"{len(rows)} {title}" + (f" matching '{pattern}'" if pattern != "*" else "")))
    if canonical is None:
        table.add_column("kind", style="cyan")
    table.add_column("name", style="bold")
    table.add_column("provided by")
    table.add_column("description")
    for r in rows:  # names, providers and descriptions come from plugins: printed as written, never as markup
        provider = r["plugin"] + (f" ({r['distribution']} {r['version']})" if r["distribution"] else "")
        cells = [escape(str(c or "")) for c in (r["name"], provider, r["description"])]
        table.add_row(*([r["kind"]] if canonical is None else []), *cells)
    stdout.print(table)


def install(app: typer.Typer) -> None:
    app.command("list")(list_components)
