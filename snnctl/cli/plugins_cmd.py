"""snnctl plugins"""

from __future__ import annotations

import typer
from rich.table import Table

from snnctl import plugins
from snnctl.cli.options import JsonOpt
from snnctl.cli.output import print_json, stdout


def list_plugins(json: JsonOpt = False) -> None:
    """List loaded plugins: name, where they come from, version, hooks, and any load error."""
    manager = plugins.get_manager()
    _ = manager.registry  # registration hooks run here; a plugin may fail in one
    rows = [p.as_dict() for p in manager.plugins.values()]
    if json:
        print_json(rows)
        return
    table = Table(title=f"{len(rows)} plugins")
    for col in ("name", "source", "version", "hooks", "status"):
        table.add_column(col)
    for r in rows:
        version = f"{r['distribution']} {r['version']}" if r["distribution"] else (r["location"] or "")
        status = "[green]ok[/green]" if r["status"] == "ok" else f"[red]failed[/red]: {_escape(r['error'])}"
        if r["conflicts"]:
            status += f"; [yellow]registers names another plugin has[/yellow]: {_escape(', '.join(r['conflicts']))}"
        table.add_row(r["name"], r["source"], _escape(version), ", ".join(r["hooks"]), status)
    stdout.print(table)
    for (kind, name), providers in sorted(manager.registry.conflicts.items()):
        who = " and ".join(str(p) for p in providers)
        stdout.print(_escape(f"{kind} '{name}' is registered by {who}: it cannot be used until one is removed"),
                     highlight=False, soft_wrap=True)


def _escape(text: str | None) -> str:
    from rich.markup import escape

    return escape(text or "")


def install(app: typer.Typer) -> None:
    app.command("plugins")(list_plugins)
