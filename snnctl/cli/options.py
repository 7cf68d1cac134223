"""Option and argument types shared by every command, defined once."""

from __future__ import annotations

from typing import Annotated, Optional

import typer


def complete_kind(incomplete: str) -> list[str]:
    from snnctl.registry import PLURALS

    return [k for k in PLURALS.values() if k.startswith(incomplete)]


def completer(kind: str):
    """Shell completion of the registry names of one kind (``autocompletion=completer("model")``)."""

    def complete(incomplete: str) -> list[str]:
        import snnctl

        try:
            return [n for n in snnctl.list_components(kind) if n.startswith(incomplete)]
        except Exception:
            return []

    return complete


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
        help="Component kind: neurons, surrogates, attention, regularizers, models, datasets, recipes, monitors, exporters.",
        autocompletion=complete_kind,
        show_default=False,
    ),
]
OptionalKindArg = Annotated[
    Optional[str],
    typer.Argument(
        help="Component kind (neurons, surrogates, attention, regularizers, models, datasets, recipes, monitors, exporters); "
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

SetOpt = Annotated[
    Optional[list[str]],
    typer.Option("--set", metavar="KEY=VALUE", help="Set a component setting; VALUE is read as JSON where it parses "
                 "(3, 0.5, true, [1,2]), else as text. Repeatable."),
]


def parse_sets(items: Optional[list[str]], option: str = "--set") -> dict:
    """``["a=1", "b=x"]`` -> ``{"a": 1, "b": "x"}``; a malformed item is a clear error."""
    from snnctl.config import parse_pairs

    return dict(parse_pairs(items, option))
