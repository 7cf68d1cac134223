"""Option and argument types shared by every command, defined once."""

from __future__ import annotations

from typing import Annotated, Optional

import typer


def complete_kind(incomplete: str) -> list[str]:
    from snnctl.registry import PLURALS

    return [k for k in PLURALS.values() if k.startswith(incomplete)]


def complete_name(ctx: typer.Context, incomplete: str) -> list[str]:
    """Registry names of the kind given earlier on the command line."""
    import snnctl

    kind = ctx.params.get("kind")
    try:
        return [n for n in snnctl.registry().list(kind) if n.startswith(incomplete)] if kind else []
    except Exception:
        return []


JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON on stdout (and nothing else).")]
KindArg = Annotated[
    str,
    typer.Argument(
        help="Component kind: neurons, surrogates, attention, regularizers, models, datasets, exporters.",
        autocompletion=complete_kind,
        show_default=False,
    ),
]
OptionalKindArg = Annotated[
    Optional[str],
    typer.Argument(
        help="Component kind (neurons, surrogates, attention, regularizers, models, datasets, exporters); "
        "all kinds if omitted.",
        autocompletion=complete_kind,
        show_default=False,
    ),
]
NameArg = Annotated[
    str, typer.Argument(help="Registry name of the component.", autocompletion=complete_name, show_default=False)
]
PatternArg = Annotated[
    str, typer.Argument(help="Shell-style wildcard on names, e.g. 'resnet*' or '*-sma'.")
]
