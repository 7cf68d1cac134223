"""snnctl plugin new NAME --kind KIND[,KIND...]"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from snnctl.cli.options import JsonOpt
from snnctl.cli.output import print_json, stdout

KINDS_HELP = ("neuron, surrogate, attention, regularizer, model, dataset, recipe, monitor, exporter, command, "
              "callback, or all")


def _complete_kind(incomplete: str) -> list[str]:
    from snnctl.scaffold import KINDS

    done, _, last = incomplete.rpartition(",")
    return [f"{done},{k}" if done else k for k in (*KINDS, "all") if k.startswith(last)]


def _group() -> None:
    """Start a new plugin package: 'snnctl plugin new NAME --kind KIND'. (The plugins snnctl has loaded: 'snnctl plugins'.)"""


def new(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The plugin's name: snnctl-NAME or NAME (lowercase letters, digits "
                                             "and hyphens). The distribution is snnctl-NAME, the import package "
                                             "snnctl_NAME, and every component is registered as NAME.",
                                        metavar="NAME", show_default=False)],
    kind: Annotated[list[str], typer.Option("--kind", "-k", metavar="KIND[,KIND...]", autocompletion=_complete_kind,
                                            help=f"What the package holds, one working component of each: "
                                                 f"{KINDS_HELP}. Repeatable.", show_default=False)],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", metavar="DIR",
                                                help="Folder to create for the package; it must not exist or be "
                                                     "empty. Default: ./snnctl-NAME.")] = None,
    json: JsonOpt = False,
) -> None:
    """Write a new plugin package: pyproject.toml, README.md, a working component of each --kind and its tests.

    The package installs with 'pip install -e DIR', its tests run with 'python -m pytest' in DIR (snnctl.testing's contract checks), and once installed snnctl finds it through its entry point (group 'snnctl'): 'snnctl plugins' lists it. Every file is written, or none: an existing folder that is not empty is left alone (exit status 2).
    """
    from snnctl.scaffold import new_plugin

    root = ctx.find_root().command
    commands = {cmd_name: getattr(getattr(cmd, "callback", None), "__module__", "") or ""
                for cmd_name, cmd in getattr(root, "commands", {}).items()}
    scaffold = new_plugin(name, kind, out, commands=commands)
    if json:
        print_json(scaffold.as_dict())
        return
    path = scaffold.path
    stdout.print(escape(f"{scaffold.distribution}: {', '.join(scaffold.kinds)} written to {path}"), highlight=False,
                 soft_wrap=True)
    for rel in scaffold.files:
        stdout.print(escape(f"  {rel}"), highlight=False)
    shown = path if not path.is_relative_to(Path.cwd()) else path.relative_to(Path.cwd())
    stdout.print(escape(f"next: pip install -e {shown}   then, in {shown}: python -m pytest   and: snnctl plugins"),
                 highlight=False, soft_wrap=True)


def install(app: typer.Typer) -> None:
    group = typer.Typer(no_args_is_help=True)
    group.callback()(_group)
    group.command("new")(new)
    app.add_typer(group, name="plugin")
