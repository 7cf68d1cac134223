"""The one registry: every component of every kind, by name.

A component is registered once, by one plugin, under one lowercase hyphenated name. The same string
is used by CLI flags, config files, checkpoint metadata and error messages.

The registry validates a component's arguments against the component's own pydantic model, so a
third-party plugin never needs a change to the core schema.
"""

from __future__ import annotations

import contextlib
import difflib
import fnmatch
import inspect
import re
import typing
from dataclasses import dataclass
from typing import Any, Callable

import pydantic
from pydantic import BaseModel, ConfigDict

from snnctl.errors import ConfigError, DuplicateNameError, UnknownNameError

#: The kinds of component, in the order they are listed.
KINDS: tuple[str, ...] = (
    "neuron",
    "surrogate",
    "attention",
    "regularizer",
    "model",
    "dataset",
    "recipe",
    "monitor",
    "exporter",
)

#: Plural spellings accepted wherever a kind is named (``snnctl list neurons``).
PLURALS: dict[str, str] = {
    "neuron": "neurons",
    "surrogate": "surrogates",
    "attention": "attention",
    "regularizer": "regularizers",
    "model": "models",
    "dataset": "datasets",
    "recipe": "recipes",
    "monitor": "monitors",
    "exporter": "exporters",
}

NAME_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


def natural_key(name: str) -> list:
    """Sort key that orders embedded numbers numerically: resnet18 < resnet34 < resnet104."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def resolve_kind(kind: str) -> str:
    """Map a singular or plural kind name to its canonical singular form."""
    k = kind.strip().lower()
    if k in PLURALS:
        return k
    for singular, plural in PLURALS.items():
        if k == plural:
            return singular
    # Suggest the plural spelling, which is what 'snnctl list' users type.
    close = difflib.get_close_matches(k, list(PLURALS.values()), n=1, cutoff=0.6) or [
        PLURALS[c] for c in difflib.get_close_matches(k, list(PLURALS), n=1, cutoff=0.6)
    ]
    hint = f"did you mean '{close[0]}'? " if close else ""
    raise UnknownNameError(
        f"unknown kind '{kind}'",
        f"{hint}Valid kinds: {', '.join(PLURALS.values())}.",
    )


@dataclass(frozen=True)
class Provider:
    """Where a registration came from: the plugin and the distribution that ships it."""

    plugin: str
    distribution: str | None = None
    version: str | None = None
    source: str = "entry point"

    def __str__(self) -> str:
        if self.distribution:
            release = " ".join(p for p in (self.distribution, self.version) if p)
            return f"plugin '{self.plugin}' ({release})"
        return f"plugin '{self.plugin}' ({self.source})"


@dataclass
class Entry:
    """One registered component."""

    kind: str
    name: str
    factory: Callable[..., Any]
    config: type[BaseModel]
    description: str
    provider: Provider

    def defaults(self) -> dict[str, Any]:
        """The config's default values (fields without a default are omitted)."""
        out = {}
        for fname, finfo in self.config.model_fields.items():
            if not finfo.is_required():
                out[fname] = finfo.get_default(call_default_factory=True)
        return out


def _first_line(doc: str | None) -> str:
    if not doc:
        return ""
    for line in inspect.cleandoc(doc).splitlines():
        if line.strip():
            return line.strip()
    return ""


def config_from_signature(factory: Callable[..., Any], name: str) -> type[BaseModel]:
    """Build a pydantic model from a factory's signature: one field per named parameter (its
    annotation and default); unknown keys are forbidden unless the factory takes ``**kwargs``."""
    target = factory.__init__ if inspect.isclass(factory) else factory
    try:
        sig = inspect.signature(target)
        hints = typing.get_type_hints(target)
    except (TypeError, ValueError, NameError):
        sig, hints = inspect.signature(target), {}
    fields: dict[str, Any] = {}
    # A factory taking **kwargs forwards arguments it does not name: let them through.
    extra = "allow" if any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values()) else "forbid"
    for pname, param in sig.parameters.items():
        if pname == "self" or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        annotation = hints.get(pname, Any)
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[pname] = (annotation, default)
    model_name = "".join(p.capitalize() for p in re.split(r"[-_]", name)) + "Config"
    return pydantic.create_model(
        model_name, __config__=ConfigDict(extra=extra, arbitrary_types_allowed=True), **fields
    )


def format_validation_error(err: pydantic.ValidationError | list[dict[str, Any]], prefix: str) -> str:
    """One line per problem, each naming the dotted path of the field at fault (``err`` may be
    a ``ValidationError`` or a list of its ``errors()``)."""
    lines = []
    for e in (err.errors() if isinstance(err, pydantic.ValidationError) else err):
        loc = ".".join(str(p) for p in e["loc"])
        path = f"{prefix}.{loc}" if prefix and loc else (prefix or loc)
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown field"
        lines.append(f"{path}: {msg}" if path else msg)
    return "; ".join(lines)


class Registry:
    """Components by kind and name, with the plugin that provided each."""

    def __init__(self) -> None:
        self._entries: dict[str, dict[str, Entry]] = {k: {} for k in KINDS}
        self._recorders: list[list[Entry]] = []
        #: (kind, name) registered by several plugins: the name is refused until only one provides it
        self.conflicts: dict[tuple[str, str], list[Provider]] = {}

    # -- registration -------------------------------------------------------------------------
    def register(
        self,
        kind: str,
        name: str,
        factory: Callable[..., Any],
        *,
        config: type[BaseModel] | None = None,
        description: str | None = None,
        provider: Provider | None = None,
    ) -> Entry:
        """Add a component. A second registration of the same name in a kind is an error."""
        kind = resolve_kind(kind)
        provider = provider or Provider(plugin="<direct>", source="python")
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise ConfigError(
                f"{provider} registers invalid {kind} name {name!r}",
                "Names are lowercase letters and digits separated by single hyphens, e.g. 'adaptive-lif'.",
            )
        if not callable(factory):
            raise ConfigError(f"{provider} registers {kind} '{name}' with a factory that is not callable")
        existing = self._entries[kind].get(name)
        if existing is not None:
            raise DuplicateNameError(
                f"{kind} '{name}' is registered twice: by {existing.provider} and by {provider}",
                "Rename one of them, or disable one plugin (snnctl plugins shows where each comes from).",
            )
        if config is None:
            config = config_from_signature(factory, name)
        elif not (isinstance(config, type) and issubclass(config, BaseModel)):
            raise ConfigError(f"{provider}: config of {kind} '{name}' must be a pydantic BaseModel class")
        if description is None:
            description = _first_line(getattr(factory, "__doc__", None))
        entry = Entry(kind, name, factory, config, description, provider)
        self._entries[kind][name] = entry
        return entry

    # -- lookup ---------------------------------------------------------------------------------
    def names(self, kind: str) -> list[str]:
        kind = resolve_kind(kind)
        return sorted((n for n in self._entries[kind] if (kind, n) not in self.conflicts), key=natural_key)

    def mark_conflict(self, kind: str, name: str, provider: Provider) -> None:
        """Record that ``provider`` registers a name another plugin already has: neither is used."""
        kind = resolve_kind(kind)
        first = self._entries[kind][name].provider
        self.conflicts.setdefault((kind, name), [first]).append(provider)

    def remove_provider(self, plugin: str) -> None:
        """Forget every registration a plugin made (it failed part-way through its hooks)."""
        for kind in KINDS:
            for name in [n for n, e in self._entries[kind].items() if e.provider.plugin == plugin]:
                del self._entries[kind][name]

    def list(self, kind: str | None = None, pattern: str = "*") -> list[str]:
        """Names of one kind matching a shell-style wildcard, in natural order."""
        return [n for n in self.names(kind) if fnmatch.fnmatchcase(n, pattern)]

    def entries(self, kind: str | None = None, pattern: str = "*") -> list[Entry]:
        kinds = KINDS if kind is None else (resolve_kind(kind),)
        out: list[Entry] = []
        for k in kinds:
            out.extend(self._entries[k][n] for n in self.list(k, pattern))
        return out

    def __contains__(self, item: tuple[str, str]) -> bool:
        kind, name = item
        return name in self._entries[resolve_kind(kind)]

    def get(self, kind: str, name: str) -> Entry:
        """The entry for a name; an unknown name raises with 'did you mean' and how to list names."""
        kind = resolve_kind(kind)
        if (kind, name) in self.conflicts:
            who = " and by ".join(str(p) for p in self.conflicts[(kind, name)])
            raise DuplicateNameError(
                f"{kind} '{name}' is registered twice: by {who}; it cannot be used until only one plugin provides it",
                "Rename one of them, or disable one plugin (SNNCTL_LOAD_PLUGINS; 'snnctl plugins' shows both).",
            )
        try:
            return self._entries[kind][name]
        except KeyError:
            pass
        names = self.names(kind)
        close = difflib.get_close_matches(str(name), names, n=3, cutoff=0.5)
        hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
        raise UnknownNameError(
            f"unknown {kind} '{name}'",
            f"{hint}Run 'snnctl list {PLURALS[kind]}' to see the {len(names)} registered names.",
        )

    def describe(self, kind: str, name: str) -> dict[str, Any]:
        """A JSON-ready description: name, provider, and the config schema with defaults."""
        e = self.get(kind, name)
        params = []
        for fname, finfo in e.config.model_fields.items():
            required = finfo.is_required()
            default = None if required else finfo.get_default(call_default_factory=True)
            params.append(
                {
                    "name": fname,
                    "type": _type_name(finfo.annotation),
                    "default": _jsonable(default),
                    "required": required,
                    "description": finfo.description or "",
                }
            )
        return {
            "kind": e.kind,
            "name": e.name,
            "description": e.description,
            "plugin": e.provider.plugin,
            "distribution": e.provider.distribution,
            "version": e.provider.version,
            "source": e.provider.source,
            "parameters_schema": params,
        }

    # -- construction ----------------------------------------------------------------------------
    def validate(self, kind: str, name: str, kwargs: dict[str, Any], path: str | None = None) -> BaseModel:
        """Validate arguments against the component's config (None values are dropped).

        ``path`` is the dotted config path of the arguments (``model.args``), prefixed to each field
        named in an error.
        """
        e = self.get(kind, name)
        clean = {k: v for k, v in kwargs.items() if v is not None}
        try:
            return e.config.model_validate(clean)
        except pydantic.ValidationError as err:
            raise ConfigError(
                f"invalid arguments for {e.kind} '{e.name}': {format_validation_error(err, path or '')}",
                f"Run 'snnctl info {e.kind} {e.name}' to see its parameters and defaults.",
            ) from None

    def create(self, kind: str, name: str, /, **kwargs: Any) -> Any:
        """Build a component: validate its arguments, then call its factory with them."""
        e = self.get(kind, name)
        for used in self._recorders:
            if not any(u is e for u in used):
                used.append(e)
        cfg = self.validate(kind, name, kwargs)
        args = {k: getattr(cfg, k) for k in type(cfg).model_fields}
        return e.factory(**args, **(cfg.model_extra or {}))

    @contextlib.contextmanager
    def recording(self):
        """Collect the entry of every component created inside the ``with`` block, nested ones included.

        ``with registry.recording() as used: model = registry.create("model", ...)`` lists the model,
        its neurons, their surrogates and its attention modules, each once, in creation order.
        """
        used: list[Entry] = []
        self._recorders.append(used)
        try:
            yield used
        finally:
            self._recorders = [r for r in self._recorders if r is not used]

    def create_as(self, kind: str, name: str, expected: type, shown_as: str, /, **kwargs: Any) -> Any:
        """:meth:`create`, refusing a factory that does not return an ``expected`` instance.

        ``shown_as`` names the expected type in the error (``"torch.nn.Module"``).
        """
        made = self.create(kind, name, **kwargs)
        if not isinstance(made, expected):
            raise ConfigError(f"{resolve_kind(kind)} '{name}' is not a {shown_as} (got {type(made).__name__})")
        return made


def _type_name(annotation: Any) -> str:
    if annotation is None:
        return "None"
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return repr(value)
