"""Assembles the root Typer application and maps exceptions to exit codes."""

from __future__ import annotations

import sys
import traceback
from typing import Annotated, Optional

import typer
from rich.markup import escape

import snnctl
from snnctl import plugins
from snnctl.cli import (evaluate_cmd, export_cmd, info_cmd, list_cmd, plugin_cmd, plugins_cmd, preprocess_cmd, profile_cmd,
                        train_cmd)
from snnctl.cli.output import stderr, warn
from snnctl.errors import SnnctlError

HELP = (
    "Train, profile and export spiking neural networks on event-camera data.\n\n"
    "Every neuron, surrogate gradient, attention module, regularizer, model and dataset is a plugin "
    "registered by name: 'snnctl list' shows them and 'snnctl info KIND NAME' describes one."
)


def _version_callback(value: bool) -> None:
    if value:
        print(f"snnctl {snnctl.__version__}")
        raise typer.Exit()


def _root(
    plugins_dir: Annotated[
        Optional[list[str]],
        typer.Option(
            "--plugins-dir",
            help="Load one-file plugins (*.py) from this folder; repeatable. Also SNNCTL_PLUGINS_DIR.",
            metavar="DIR",
        ),
    ] = None,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show full tracebacks on errors (also SNNCTL_DEBUG=1).")
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", help="Print the version and exit.", callback=_version_callback, is_eager=True),
    ] = False,
) -> None:
    # --plugins-dir and --debug are read before parsing (see snnctl.cli.main): plugins may add commands.
    pass


def _report_plugin_failure(info: plugins.PluginInfo) -> None:
    warn(escape(f"plugin '{info.name}' was skipped: {info.error}") + " (see 'snnctl plugins')")


def build_app(plugins_dirs: list[str] | None = None) -> typer.Typer:
    """The root application with the built-in commands and those that plugins add."""
    app = typer.Typer(
        name="snnctl",
        help=HELP,
        no_args_is_help=True,
        add_completion=True,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    app.callback()(_root)
    list_cmd.install(app)
    info_cmd.install(app)
    plugins_cmd.install(app)
    plugin_cmd.install(app)
    preprocess_cmd.install(app)
    profile_cmd.install(app)
    train_cmd.install(app)
    evaluate_cmd.install(app)
    export_cmd.install(app)
    plugins.configure(plugins_dirs or [], report=_report_plugin_failure)
    plugins.get_manager().extend_cli(app)
    return app


def handle_exception(exc: BaseException, debug: bool) -> int:
    """Print one clear message on stderr for a known error and return the exit code."""
    if isinstance(exc, SystemExit):
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    # typer re-exports click's exception types (and newer typer vendors click): use its names,
    # and recognise usage errors by their interface.
    if isinstance(exc, typer.Exit):
        return exc.exit_code
    if isinstance(exc, (typer.Abort, KeyboardInterrupt)):
        stderr.print("Aborted.")
        return 130
    if hasattr(exc, "show") and isinstance(getattr(exc, "exit_code", None), int):
        if debug:
            traceback.print_exc()
        exc.show(file=sys.stderr)
        return exc.exit_code
    if isinstance(exc, SnnctlError):
        if debug:
            traceback.print_exc()
        stderr.print(f"[bold red]Error:[/bold red] {escape(exc.message)}", highlight=False)
        if exc.hint:
            stderr.print(escape(exc.hint), highlight=False)
        return exc.exit_code
    # A bug, not a user error: always show where it happened.
    traceback.print_exc()
    stderr.print(
        "[bold red]Internal error[/bold red]: this is a bug in snnctl or in a plugin; "
        "please report it with the traceback above.",
        highlight=False,
    )
    return 1
