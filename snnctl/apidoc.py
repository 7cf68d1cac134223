"""Generate the API reference (docs/api.md) from the docstrings of snnctl's public names.

Run ``python -m snnctl.apidoc > docs/api.md`` after changing a public name or its docstring; a test
checks that the file equals this module's output. The public names are those listed in :data:`API`:
what a plugin author or a script may rely on. Each gets an anchor of its dotted name
(``docs/api.md#snnctl.nn.Neuron``).
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import re
from typing import Any, Optional

#: (module, names or None for the module's ``__all__``, what the section is for)
API: list[tuple[str, Optional[list[str]], str]] = [
    ("snnctl", None, "Components by registry name, and loading exported bundles."),
    ("snnctl.nn", None, "The base classes of components and the builders models use."),
    ("snnctl.data", None, "The dataset contract: recordings and event datasets."),
    ("snnctl.data.images", ["ImageDataset", "ImageFiles", "load_image", "is_image_file"],
     "Static-image datasets (ImageNet-style folders)."),
    ("snnctl.testing", None, "Contract checks and the learning check, for a plugin's own tests."),
    ("snnctl.testing.plugin", ["snnctl_registry", "snnctl_plugins_dir"],
     "The pytest plugin installed with snnctl: fixtures for plugin authors."),
    ("snnctl.data.frames", ["check_events", "RecordingError"],
     "Validating a recording's events as preprocessing does."),
    ("snnctl.profile", ["Monitor", "Counts", "Context", "Sparsity", "choose_monitor", "load_monitors",
                        "profile_model", "dense_ops", "ProfileResult", "LayerStats"],
     "The monitor contract (how `snnctl profile` counts a layer type), and profiling from Python."),
    ("snnctl.export", ["Exporter", "ExportContext", "OpenedModel", "Verification", "Problem", "NotExportable",
                       "ExportRefused",
                       "VerificationFailed", "NIRContext", "require_packages", "export", "load"],
     "The exporter contract, and exporting from Python."),
    ("snnctl.engine.train", ["TrainState", "TrainResult", "train"],
     "What training callbacks see, and training from Python."),
    ("snnctl.config", ["RunConfig", "resolve_config", "recipe_settings"],
     "Run configurations: the layers of `snnctl train` (every field: docs/training.md)."),
    ("snnctl.errors", ["SnnctlError", "ConfigError", "PluginError", "UnknownNameError", "SnnctlWarning"],
     "Errors the command line prints as one message with a hint (exit status 2)."),
    ("snnctl.files", ["atomic_write", "write_file", "make_dir", "WriteError"],
     "Writing files so that a failure never leaves a half-written file where a good one was."),
]

#: names whose docstring is not snnctl's own
OVERRIDE = {
    "snnctl.hookimpl": "Marks a function of a plugin module as the implementation of the hook of the same name "
                       "(every hook: [hooks.md](hooks.md)):\n\n```python\n@snnctl.hookimpl\n"
                       "def register_neurons(register):\n    register(\"my-neuron\", MyNeuron)\n```",
}

#: the module whose names are pytest fixtures (requested by name, never called)
FIXTURES = "snnctl.testing.plugin"

_ROLE = re.compile(r":(?:class|func|meth|attr|data|mod|exc):`~?([^`]+)`")


def public_names() -> dict[str, Any]:
    """Every documented dotted name (modules' listed names and their classes' public members) -> object."""
    out: dict[str, Any] = {}
    for module, names, _ in API:
        mod = importlib.import_module(module)
        for name in names if names is not None else list(mod.__all__):
            if name.startswith("__"):
                continue
            obj = getattr(mod, name)
            out[f"{module}.{name}"] = obj
            if inspect.isclass(obj):
                for member, _ in _members(obj):
                    out[f"{module}.{name}.{member}"] = getattr(obj, member)
    return out


def _members(cls: type) -> list[tuple[str, Any]]:
    """Public methods, properties and annotated class attributes defined in ``cls`` itself."""
    fields = {f.name for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else set()
    out = []
    for name, value in list(vars(cls).items()):
        if name.startswith("_") or name in fields:
            continue
        if isinstance(value, (staticmethod, classmethod)):
            value = value.__func__
        if inspect.isfunction(value) or isinstance(value, property):
            out.append((name, value))
        elif name in getattr(cls, "__annotations__", {}) and not callable(value):
            out.append((name, value))
    return out


def _markdown(doc: str, targets: dict[str, str], where: str = "") -> str:
    """A docstring in markdown: roles become links where the name is documented here, ``x`` becomes `x`.

    A name is looked up as written, then relative to ``where`` (the documented name and its parents).
    """

    def link(m: re.Match) -> str:
        name = m.group(1).rstrip("()")
        scopes = where.split(".")
        candidates = [name] + [".".join(scopes[:i] + [name]) for i in range(len(scopes), 0, -1)]
        full = next((targets[c] for c in candidates if c in targets), None)
        if full is None:
            matches = sorted({t for t in targets.values() if t.endswith("." + name)})
            full = matches[0] if len(matches) == 1 else None
        return f"[`{name}`](#{full})" if full else f"`{name}`"

    text = _ROLE.sub(link, doc)
    text = re.sub(r"``([^`]+)``", r"`\1`", text)
    # a paragraph ending in "::" introduces an indented code block
    lines, out, code = text.splitlines(), [], False
    for i, line in enumerate(lines):
        if code and line.strip() and not line.startswith("    "):
            out.append("```")
            code = False
        if line.rstrip().endswith("::"):
            head = line.rstrip()[:-2]
            out.append(head.rstrip() if head.endswith(" ") else head + ":")
            following = next((x.strip() for x in lines[i + 1:] if x.strip()), "")
            out += ["", "```toml" if following.startswith("[") else "```python"]
            code = True
            continue
        out.append(line[4:] if code else line)
    if code:
        out.append("```")
    text = "\n".join(out)
    return re.sub(r"```(python|toml)\n\n+", r"```\1\n", text).replace("\n\n```\n", "\n```\n")


def _signature(obj: Any) -> str:
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return ""
    text = re.sub(r" at 0x[0-9a-f]+", "", str(sig))
    # annotations are strings under `from __future__ import annotations`: show them bare
    text = re.sub(r'(: |-> )"([^"]*)"', lambda m: m.group(1) + m.group(2).replace("'", ""), text)
    return re.sub(r"(: |-> )'([^']*)'", r"\1\2", text)


def _doc(obj: Any) -> str:
    """The object's own docstring (never one inherited from a base class it overrides)."""
    return inspect.cleandoc(getattr(obj, "__doc__", None) or "") if not inspect.isclass(obj) or \
        "__doc__" in vars(obj) else ""


def _base_name(cls: type) -> str:
    if cls.__module__.startswith("torch.nn"):
        return f"torch.nn.{cls.__qualname__}"
    if cls.__module__ == "builtins" or cls.__module__.startswith("snnctl"):
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def _entry(dotted: str, obj: Any, targets: dict[str, str], level: str = "###") -> list[str]:
    short = dotted.rsplit(".", 1)[-1]
    lines = [f'<a id="{dotted}"></a>', ""]
    if inspect.isclass(obj):
        bases = [_base_name(b) for b in obj.__bases__ if b is not object]
        pydantic = hasattr(obj, "model_fields")  # its fields are documented with the config, not as a signature
        init = "" if obj.__init__ is object.__init__ or pydantic else _signature(obj)
        lines += [f"{level} class `{dotted}{init}`", ""]
        if bases:
            lines += [f"Subclass of {', '.join(f'`{b}`' for b in bases)}.", ""]
    elif isinstance(obj, property):
        lines += [f"{level} property `{short}`", ""]
    elif dotted.startswith(FIXTURES + "."):
        lines += [f"{level} fixture `{short}`", ""]
    elif dotted in OVERRIDE:
        lines += [f"{level} `{dotted}`", ""]
    elif callable(obj):
        name = short if level != "###" else dotted
        lines += [f"{level} `{name}{_signature(obj)}`", ""]
    else:
        kind = type(obj).__name__
        lines += [f"{level} `{short}` ({kind}) = `{obj!r}`", ""]
    doc = OVERRIDE.get(dotted) or (_doc(obj) if (callable(obj) or isinstance(obj, property)) else "")
    if doc:
        lines += [_markdown(doc, targets, dotted), ""]
    return lines


def render() -> str:
    names = public_names()
    targets = {k.rsplit(".", 1)[-1]: k for k in names if not inspect.ismodule(names[k])}
    targets.update({k: k for k in names})
    lines = [
        "# API reference",
        "",
        "<!-- Generated by `python -m snnctl.apidoc > docs/api.md` from the docstrings; do not edit. -->",
        "",
        "The names below are snnctl's public Python interface: what plugins and scripts may rely on. "
        "Anything else may change between versions. How to write each kind of plugin: "
        "[guides/](guides/README.md); the hooks: [hooks.md](hooks.md).",
        "",
    ]
    lines += [f"* [`{module}`](#{module}): {what}" for module, _, what in API]
    lines.append("")
    for module, listed, what in API:
        mod = importlib.import_module(module)
        lines += [f'<a id="{module}"></a>', "", f"## `{module}`", "", what, ""]
        doc = inspect.getdoc(mod) or ""
        if doc:
            lines += [_markdown(doc, targets, module), ""]
        for name in listed if listed is not None else list(mod.__all__):
            if name.startswith("__"):
                continue
            obj = getattr(mod, name)
            dotted = f"{module}.{name}"
            lines += _entry(dotted, obj, targets)
            if inspect.isclass(obj):
                for member, value in _members(obj):
                    lines += _entry(f"{dotted}.{member}", value, targets, level="####")
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).rstrip() + "\n"


if __name__ == "__main__":
    print(render(), end="")
