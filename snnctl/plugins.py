"""The plugin manager: finds plugins, calls their registration hooks, builds the registry.

Plugins come from

* the entry-point group ``snnctl`` of every installed distribution, snnctl's own built-ins included;
* one-file plugins (``*.py``) in folders given with ``--plugins-dir`` or ``SNNCTL_PLUGINS_DIR``
  (several folders separated by ``os.pathsep``).

Environment switches:

``SNNCTL_LOAD_PLUGINS``
    Unset: load every entry point. A comma-separated list: load snnctl's built-ins and only the
    listed third-party plugins (by entry-point or distribution name). Empty: built-ins only.
``SNNCTL_TRACE``
    Set to 1 to print every hook call, and which plugin answered, on stderr.

A plugin that fails to import (``sys.exit`` included), misspells a hook name, registers an invalid
name or raises inside a hook is skipped and reported by name with the reason (``snnctl plugins``
lists it); it never takes the command line down. A name two plugins register in one kind is refused
wherever it is used, with an error that names both; the rest of the registry is unaffected.
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import importlib.util
import os
import sys
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import pluggy

from snnctl import hookspecs
from snnctl.errors import DuplicateNameError, PluginError, SnnctlError
from snnctl.registry import KINDS, Provider, Registry, resolve_kind

ENTRY_POINT_GROUP = "snnctl"
ENV_LOAD = "SNNCTL_LOAD_PLUGINS"
ENV_DIRS = "SNNCTL_PLUGINS_DIR"
ENV_TRACE = "SNNCTL_TRACE"
BUILTIN_DISTRIBUTION = "snnctl"

#: registration hook name for each kind
REGISTRATION_HOOKS: dict[str, str] = {
    "neuron": "register_neurons",
    "surrogate": "register_surrogates",
    "attention": "register_attention",
    "regularizer": "register_regularizers",
    "model": "register_models",
    "dataset": "register_datasets",
    "recipe": "register_recipes",
    "monitor": "register_monitors",
    "exporter": "register_exporters",
}

hookimpl = pluggy.HookimplMarker("snnctl")


@dataclass
class PluginInfo:
    """What ``snnctl plugins`` shows about one plugin."""

    name: str
    source: str  # "builtin", "entry point" or "plugins-dir"
    distribution: str | None = None
    version: str | None = None
    location: str | None = None
    hooks: list[str] = field(default_factory=list)
    error: str | None = None
    conflicts: list[str] = field(default_factory=list)  # names it registers that another plugin has too

    @property
    def ok(self) -> bool:
        return self.error is None

    def provider(self) -> Provider:
        return Provider(self.name, self.distribution, self.version, self.source)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.source,
            "distribution": self.distribution,
            "version": self.version,
            "location": self.location,
            "hooks": sorted(self.hooks),
            "status": "ok" if self.ok else "failed",
            "error": self.error,
            "conflicts": list(self.conflicts),
        }


def _describe_exception(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".strip()


class PluginManager:
    """Loads plugins and builds the one registry from their registration hooks."""

    def __init__(
        self,
        plugins_dirs: Iterable[str | os.PathLike] = (),
        *,
        entry_points: bool = True,
        report: Callable[[PluginInfo], None] | None = None,
    ) -> None:
        self.pm = pluggy.PluginManager("snnctl")
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        self._objects: dict[str, Any] = {}
        self._order: list[str] = []
        self._report = report or _warn
        self._trace = os.environ.get(ENV_TRACE, "") not in ("", "0")
        if entry_points:
            self._load_entry_points()
        for d in plugins_dirs:
            self.load_dir(d)
        self._registry: Registry | None = None

    # -- discovery ----------------------------------------------------------------------------
    def _load_entry_points(self) -> None:
        allowed = os.environ.get(ENV_LOAD)
        allow = None if allowed is None else {a.strip() for a in allowed.split(",") if a.strip()}
        def order(ep):  # snnctl's built-ins first, so they keep their plain names and go first
            dist = ep.dist.name if ep.dist is not None else ""
            return (_canonical(dist) != BUILTIN_DISTRIBUTION, dist, ep.name)

        eps = sorted(md.entry_points(group=ENTRY_POINT_GROUP), key=order)
        seen_dists: set[tuple[str, str]] = set()
        for ep in eps:
            dist = ep.dist.name if ep.dist is not None else None
            version = ep.dist.version if ep.dist is not None else None
            # The same distribution can be visible twice (e.g. an editable install plus a build folder).
            if (dist or "", ep.name) in seen_dists:
                continue
            seen_dists.add((dist or "", ep.name))
            builtin = _canonical(dist) == BUILTIN_DISTRIBUTION
            if not builtin and allow is not None and ep.name not in allow and (dist or "") not in allow:
                continue
            name = ep.name if builtin or ep.name not in self.plugins else f"{dist}:{ep.name}"
            info = PluginInfo(name, "builtin" if builtin else "entry point", dist, version, ep.value)
            try:
                obj = ep.load()
            except (Exception, SystemExit) as exc:  # a broken plugin must not take the CLI down, nor end it
                self._fail(info, f"failed to import {ep.value}: {_describe_exception(exc)}")
                continue
            self._add(info, obj)

    def load_dir(self, directory: str | os.PathLike) -> None:
        """Load every ``*.py`` file in a folder as a one-file plugin."""
        path = Path(directory).expanduser()
        if not path.is_dir():
            raise PluginError(
                f"plugins folder '{path}' does not exist or is not a folder",
                "Pass --plugins-dir an existing folder that holds one-file plugins (*.py).",
            )
        for file in sorted(path.glob("*.py")):
            if file.name.startswith("_"):
                continue
            info = PluginInfo(file.name, "plugins-dir", location=str(file))
            mod_name = f"snnctl_dir_plugin_{abs(hash(str(file.resolve())))}_{file.stem}"
            try:
                spec = importlib.util.spec_from_file_location(mod_name, file)
                assert spec is not None and spec.loader is not None
                module = importlib.util.module_from_spec(spec)
                sys.modules[mod_name] = module
                spec.loader.exec_module(module)
            except (Exception, SystemExit) as exc:
                sys.modules.pop(mod_name, None)
                self._fail(info, f"failed to import {file}: {_describe_exception(exc)}")
                continue
            self._add(info, module)

    def register_object(self, obj: Any, name: str, *, source: str = "python") -> None:
        """Register a plugin object directly (used by tests and embedding applications)."""
        self._add(PluginInfo(name, source, location=repr(obj)), obj)

    def _add(self, info: PluginInfo, obj: Any) -> None:
        if info.name in self.plugins:
            info.name = f"{info.name}#{len(self.plugins)}"
        try:
            self.pm.register(obj, name=info.name)
        except Exception as exc:
            self._fail(info, f"rejected by the plugin manager: {_describe_exception(exc)}")
            return
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            self.pm.unregister(obj)
            self._fail(info, f"implements no hook named {_unknown_hooks(obj, self.pm)} ({exc}); "
                             "see docs/hooks.md for the hook names")
            return
        info.hooks = sorted(impl for impl in _hook_names(self.pm, obj))
        self.plugins[info.name] = info
        self._objects[info.name] = obj
        self._order.append(info.name)
        self._registry = None

    def _fail(self, info: PluginInfo, reason: str) -> None:
        info.error = reason
        self.plugins[info.name] = info
        self._report(info)

    # -- the registry ----------------------------------------------------------------------------
    @property
    def registry(self) -> Registry:
        if self._registry is None:
            self._registry = self._build_registry()
        return self._registry

    def _build_registry(self) -> Registry:
        reg = Registry()
        for kind in KINDS:
            for info, impl in self._impls(REGISTRATION_HOOKS[kind]):

                def register(name, factory, *, config=None, description=None, _kind=kind, _info=info):
                    try:
                        return reg.register(
                            _kind, name, factory, config=config, description=description, provider=_info.provider()
                        )
                    except DuplicateNameError:  # the name is refused where it is used; the rest goes on
                        reg.mark_conflict(_kind, name, _info.provider())
                        _info.conflicts.append(f"{_kind} '{name}'")
                        self._report_conflict(_info, _kind, name, reg)
                        return None
                    except SnnctlError as exc:  # an invalid registration: the plugin is skipped
                        raise _BadRegistration(exc.message) from None

                if self._call(info, impl, register=register) is _FAILED:
                    reg.remove_provider(info.name)
        for info, impl in self._impls("startup"):
            self._call(info, impl, registry=reg)
        return reg

    def _report_conflict(self, info: PluginInfo, kind: str, name: str, reg: Registry) -> None:
        first = reg.conflicts[(resolve_kind(kind), name)][0]
        self._report(PluginInfo(info.name, info.source, info.distribution, info.version, info.location,
                                error=f"registers {kind} '{name}', which {first} registers too: the name is not "
                                      "usable until one of them is removed"))

    def _impls(self, hook_name: str):
        """(plugin info, hookimpl) for one hook, in load order; failed plugins are skipped."""
        caller = getattr(self.pm.hook, hook_name)
        impls = {impl.plugin_name: impl for impl in caller.get_hookimpls()}
        for name in self._order:
            info = self.plugins[name]
            if name in impls and info.ok:
                yield info, impls[name]

    def _call(self, info: PluginInfo, impl: Any, **kwargs: Any) -> Any:
        if self._trace:
            print(f"snnctl: hook {impl.function.__name__} -> plugin '{info.name}'", file=sys.stderr)
        try:
            return impl.function(**{a: kwargs[a] for a in impl.argnames if a in kwargs})
        except _BadRegistration as exc:
            self._fail(info, f"{impl.function.__name__}: {exc}")
            return _FAILED
        except SnnctlError as exc:
            if impl.function.__name__ in REGISTRATION_HOOKS.values():  # registering is no time to stop the CLI
                self._fail(info, f"{impl.function.__name__}: {exc.message}")
                return _FAILED
            raise PluginError(f"plugin '{info.name}': {exc.message}", exc.hint) from exc
        except (Exception, SystemExit) as exc:
            detail = traceback.format_exc(limit=-1).strip().splitlines()[-1]
            self._fail(info, f"{impl.function.__name__} raised {_describe_exception(exc)} ({detail})")
            return _FAILED

    def call_collect(self, hook_name: str, **kwargs: Any) -> list[Any]:
        """Call a lifecycle hook on every loaded plugin and flatten the list results."""
        out: list[Any] = []
        for info, impl in self._impls(hook_name):
            result = self._call(info, impl, **kwargs)
            if result is None or result is _FAILED:
                continue
            out.extend(result if isinstance(result, (list, tuple)) else [result])
        return out

    def extend_cli(self, cli: Any) -> None:
        """Let plugins add subcommands to the root Typer application.

        A command name is taken once: a plugin adding a name snnctl or an earlier plugin already has is
        skipped as a whole (its commands removed, the reason in ``snnctl plugins``), as is one whose
        ``register_commands`` raises, even an :class:`SnnctlError`; every other command keeps working.
        """
        _ = self.registry  # components first: commands may look them up
        owners = {name: "snnctl" for name in _command_names(cli.registered_commands, cli.registered_groups)}
        for info, impl in self._impls("register_commands"):
            commands, groups = len(cli.registered_commands), len(cli.registered_groups)
            try:
                result = self._call(info, impl, cli=cli)
            except PluginError as exc:
                cause = exc.__cause__ if isinstance(exc.__cause__, SnnctlError) else exc
                self._fail(info, f"register_commands: {cause.message}")
                result = _FAILED
            added = _command_names(cli.registered_commands[commands:], cli.registered_groups[groups:])
            clash = next((n for n in added if n in owners), None) or next(
                (n for i, n in enumerate(added) if n in added[:i]), None)
            if result is _FAILED or clash is not None:
                del cli.registered_commands[commands:]
                del cli.registered_groups[groups:]
                if clash is not None:
                    owner = owners.get(clash, f"plugin '{info.name}' itself")
                    what = "snnctl's own" if owner == "snnctl" else f"already added by {owner}"
                    self._fail(info, f"register_commands: the command '{clash}' is {what}; a plugin's commands "
                                     f"need names of their own")
                continue
            owners.update({name: f"plugin '{info.name}'" for name in added})

    def failures(self) -> list[PluginInfo]:
        return [p for p in self.plugins.values() if not p.ok]


def _command_names(commands: list[Any], groups: list[Any]) -> list[str]:
    """The names Typer gives registered commands (default: the function's name, '_' as '-') and groups."""
    names = [c.name or (c.callback.__name__.replace("_", "-") if c.callback else "") for c in commands]
    for g in groups:
        names.append(g.name or getattr(getattr(g.typer_instance, "info", None), "name", None) or "")
    return [n for n in names if n]


class _BadRegistration(Exception):
    """A plugin's registration the registry refused (an invalid name, a factory that is not callable)."""


_FAILED = object()  # what _call returns when the plugin failed


def _canonical(dist: str | None) -> str:
    return (dist or "").lower().replace("_", "-")


def _hook_names(pm: pluggy.PluginManager, obj: Any) -> list[str]:
    return [caller.name for caller in (pm.get_hookcallers(obj) or [])]


def _unknown_hooks(obj: Any, pm: pluggy.PluginManager) -> str:
    names = []
    for attr in dir(obj):
        fn = getattr(obj, attr, None)
        if callable(fn) and pm.parse_hookimpl_opts(obj, attr) is not None and not hasattr(hookspecs, attr):
            names.append(repr(attr))
    return ", ".join(names) or "(unknown)"


def _warn(info: PluginInfo) -> None:
    warnings.warn(f"snnctl plugin '{info.name}' was skipped: {info.error}", RuntimeWarning, stacklevel=3)


# -- the process-wide manager --------------------------------------------------------------------
_manager: PluginManager | None = None
_dirs: list[str] = []
_reporter: Callable[[PluginInfo], None] | None = None


def configure(plugins_dirs: Iterable[str] = (), report: Callable[[PluginInfo], None] | None = None) -> None:
    """Set plugin folders and the failure reporter before the first use; resets the manager."""
    global _manager, _dirs, _reporter
    _dirs = [str(d) for d in plugins_dirs]
    _reporter = report
    _manager = None


def get_manager() -> PluginManager:
    global _manager
    if _manager is None:
        env_dirs = [d for d in os.environ.get(ENV_DIRS, "").split(os.pathsep) if d]
        _manager = PluginManager([*env_dirs, *_dirs], report=_reporter)
    return _manager


def reset() -> None:
    """Forget the loaded plugins (the next use loads them again)."""
    global _manager
    _manager = None
