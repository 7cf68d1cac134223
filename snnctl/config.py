"""The run configuration of ``snnctl train``, and how its layers combine.

A run is described by one :class:`RunConfig`: plain data, validated by pydantic with unknown keys
forbidden, saved as ``config.yaml`` in the run directory and printable with ``--print-config``.

Layers, lowest first::

    built-in defaults  <  recipe (--recipe)  <  --config FILE (YAML or TOML, repeatable)
                       <  --set a.b=c        <  explicit flags (--model, --epochs, ...)

Every layer is a nested dict merged key by key; lists and component ``args`` given by a higher layer
replace the lower one's wholesale only where they are set. Errors name the dotted path of the field
at fault (``optim.lr: Input should be greater than 0``).
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any, Literal, Optional

import pydantic
from pydantic import BaseModel, ConfigDict, Field, field_validator

from snnctl.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "RunConfig",
    "ModelSection",
    "DataSection",
    "OptimSection",
    "ScheduleSection",
    "LossSection",
    "ComponentRef",
    "resolve_config",
    "load_config_file",
    "parse_assignments",
    "parse_pairs",
    "parse_component",
    "deep_merge",
    "config_hash",
    "dump_yaml",
]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ComponentRef(_Section):
    """A registered component by name, with its own settings."""

    name: str = Field(description="registry name")
    args: dict[str, Any] = Field(default_factory=dict, description="settings of the component (see 'snnctl info')")


class ModelSection(_Section):
    name: str = Field("vgg5-sma", description="model (registry name; 'snnctl list models')")
    neuron: Optional[str] = Field(None, description="neuron of every spiking layer, overriding the model's default")
    neuron_args: dict[str, Any] = Field(default_factory=dict, description="settings of that neuron")
    attention: Optional[str] = Field(None, description="attention module, overriding the model's default ('none' removes it)")
    attention_args: dict[str, Any] = Field(default_factory=dict, description="settings of that attention module")
    args: dict[str, Any] = Field(default_factory=dict, description="other model settings ('snnctl info model NAME')")


class DataSection(_Section):
    name: str = Field("synthetic-gestures", description="dataset (registry name; 'snnctl list datasets')")
    args: dict[str, Any] = Field(default_factory=dict, description="dataset settings ('snnctl info dataset NAME')")
    root: Optional[str] = Field(None, description="folder of the raw data (default: SNNCTL_DATA or ~/.local/share/snnctl)")
    cache_dir: Optional[str] = Field(None, description="frame cache root (default: SNNCTL_CACHE or ~/.cache/snnctl)")
    download: bool = Field(True, description="download missing raw data where the dataset allows it")
    split_by: Literal["number", "time"] = Field("number", description="event frames: equal event counts or equal durations")
    downsample: int = Field(1, ge=1, description="event frames: sum FxF pixel blocks")
    flip: float = Field(0.0, ge=0.0, le=1.0, description="event frames: probability of a horizontal flip (one draw per sample, all steps)")
    translate: int = Field(0, ge=0, description="event frames: random shift of up to this many pixels in x and y (zero fill)")
    workers: int = Field(0, ge=0, description="DataLoader worker processes (0: load in the training process)")
    in_memory: Optional[bool] = Field(None, description="hold the cached frames in memory (default: when they fit in 2 GiB)")


class OptimSection(_Section):
    name: Literal["adam", "adamw", "nadam", "sgd"] = Field("adamw", description="optimizer")
    lr: float = Field(1e-3, gt=0, description="peak learning rate")
    weight_decay: float = Field(0.0, ge=0, description="weight decay")
    momentum: float = Field(0.9, ge=0, lt=1, description="SGD momentum")
    nesterov: bool = Field(False, description="SGD Nesterov momentum")
    betas: tuple[float, float] = Field((0.9, 0.999), description="Adam-family betas")
    momentum_decay: float = Field(4e-3, ge=0, description="NAdam momentum decay")


class ScheduleSection(_Section):
    name: Literal["cosine", "constant"] = Field("cosine", description="learning-rate schedule, stepped once per epoch")
    warmup_epochs: int = Field(0, ge=0, description="linear warm-up epochs before the schedule")
    warmup_start: float = Field(0.1, gt=0, le=1, description="warm-up starts at this fraction of the peak lr")
    eta_min: float = Field(0.0, ge=0, description="cosine: the final learning rate")


class LossSection(_Section):
    name: Literal["ce", "mse", "tet"] = Field(
        "ce", description="ce: cross-entropy on the time-mean logits; mse: MSE of the time-mean logits against "
                          "one-hot; tet: mean over steps of the per-step cross-entropy")
    label_smoothing: float = Field(0.0, ge=0, lt=1, description="ce and tet: label smoothing")
    tet_lambda: float = Field(0.0, ge=0, le=1, description="tet: weight of the MSE term pulling per-step logits to tet_phi")
    tet_phi: float = Field(1.0, description="tet: target of that MSE term")


class RunConfig(_Section):
    """Everything that defines a training run."""

    name: Optional[str] = Field(None, description="run name: the folder under output_dir (default: model-data-date-time)")
    output_dir: str = Field("runs", description="where run folders are created")
    recipe: Optional[str] = Field(None, description="the recipe this config was layered on (recorded, set by --recipe)")
    model: ModelSection = Field(default_factory=ModelSection)
    regularizers: list[ComponentRef] = Field(default_factory=lambda: [ComponentRef(name="azo")],
                                             description="regularizers attached to the model")
    data: DataSection = Field(default_factory=DataSection)
    timesteps: Optional[int] = Field(None, gt=0, description="time steps T (default: the dataset's)")
    epochs: int = Field(12, gt=0, description="training epochs")
    batch_size: int = Field(32, gt=0, description="global batch size (split evenly over distributed processes)")
    eval_batch_size: Optional[int] = Field(None, gt=0, description="batch size for evaluation (default: batch_size)")
    optim: OptimSection = Field(default_factory=OptimSection)
    schedule: ScheduleSection = Field(default_factory=ScheduleSection)
    loss: LossSection = Field(default_factory=LossSection)
    grad_clip: Optional[float] = Field(None, gt=0, description="clip the gradient norm to this value")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "fp32", description="fp32; bf16 (autocast, CPU or GPU); fp16 (autocast + gradient scaling, GPU); "
                            "auto: fp16 on GPU, fp32 on CPU")
    device: str = Field("auto", description="auto (GPU when available), cpu, cuda, cuda:N")
    seed: int = Field(0, ge=0, lt=2**63, description="seed of weights, data order, dropout and augmentation")
    deterministic: bool = Field(True, description="deterministic cuDNN kernels (cudnn.deterministic, no benchmark)")
    sync_bn: bool = Field(False, description="distributed runs: synchronise BatchNorm statistics across processes")
    init: Optional[str] = Field(None, description="start from these weights: a run folder or a model.safetensors")
    eval_every: int = Field(1, ge=1, description="evaluate on the test split every N epochs (and after the last)")

    @field_validator("name")
    @classmethod
    def _plain_name(cls, v: Optional[str]) -> Optional[str]:
        if v is not None and (not v.strip() or "/" in v or "\\" in v or v in (".", "..")):
            raise ValueError("a run name is one folder name (no slashes)")
        return v


# -- layering -----------------------------------------------------------------------------------------
def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` merged into a copy of ``base``: nested dicts key by key, everything else replaced."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def set_path(tree: dict[str, Any], dotted: str, value: Any, option: str = "--set") -> None:
    """``set_path(d, "optim.lr", 0.1)``: set one value by dotted path, creating sections on the way.

    A numeric part indexes a list already in the tree (``regularizers.0.args.target``); the index
    one past the end appends a new item. A part that would descend into a plain value, or an index
    outside the list, is a :class:`ConfigError` naming the path.
    """
    parts = dotted.split(".")
    if any(not p for p in parts):
        raise ConfigError(f"{option} {dotted}=...: empty part in the key", "Write keys like optim.lr or model.args.widths.")
    node: Any = tree
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        here = ".".join(parts[:i]) or "the config"
        if isinstance(node, list):
            if not re.fullmatch(r"\d+", part):
                raise ConfigError(f"{option} {dotted}=...: {here} is a list; '{part}' is not an index",
                                  f"Index its items from 0: {'.'.join(parts[:i])}.0 ...")
            index = int(part)
            if index > len(node):
                raise ConfigError(f"{option} {dotted}=...: {here} has {len(node)} item{'s' * (len(node) != 1)} "
                                  f"(indices 0 to {len(node) - 1}); there is no item {index}",
                                  f"Index an item that exists, {len(node)} to add one, or set the whole list: "
                                  f"{option} {'.'.join(parts[:i])}=[...]")
            if last:
                node[index:index + 1] = [value]
                return
            if index == len(node):
                node.append({})
            if not isinstance(node[index], (dict, list)):
                node[index] = {}
            node = node[index]
        elif isinstance(node, dict):
            if last:
                node[part] = value
                return
            nxt = node.get(part)
            if not isinstance(nxt, (dict, list)):
                if nxt is not None and not isinstance(nxt, dict):
                    raise ConfigError(f"{option} {dotted}=...: {'.'.join(parts[:i + 1])} is {nxt!r}, a value, "
                                      f"not a section with settings",
                                      f"Set it directly: {option} {'.'.join(parts[:i + 1])}=...")
                if re.fullmatch(r"\d+", parts[i + 1]):
                    raise ConfigError(f"{option} {dotted}=...: {'.'.join(parts[:i + 1])} is not set, so it has "
                                      f"no item {parts[i + 1]}",
                                      f"Set the whole list: {option} {'.'.join(parts[:i + 1])}=[...]")
                nxt = {}
                node[part] = nxt
            node = nxt


def parse_pairs(items: list[str] | None, option: str = "--set", example: str = "seed=3") -> list[tuple[str, Any]]:
    """``["a=1", "b=x"]`` -> ``[("a", 1), ("b", "x")]``: values parse as JSON where they can, else stay text.

    A malformed item is a :class:`ConfigError` naming the option, with ``example`` as the hint.
    """
    out: list[tuple[str, Any]] = []
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{option} {item!r}: expected KEY=VALUE", f"For example: {option} {example}")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        except RecursionError:
            raise ConfigError(f"{option} {key.strip()}=...: the value nests too deeply",
                              f"A setting nests at most {MAX_DEPTH} levels.") from None
        check_size(value, f"{option} {key.strip()}")
        out.append((key.strip(), value))
    return out


def split_top_level(text: str, sep: str = ",") -> list[str]:
    """Split at ``sep`` outside brackets, braces and quotes: ``a=[1,2],b=3`` -> ``["a=[1,2]", "b=3"]``."""
    parts, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            if ch == quote and text[i - 1] != "\\":
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def parse_component(spec: str, option: str) -> tuple[str, dict[str, Any]]:
    """``"azo:rtr=4,rcr=10"`` -> ``("azo", {"rtr": 4, "rcr": 10})``: a registry name with its arguments.

    Values are read as JSON where they parse (``widths=[8,16]``, ``chained=true``), else as text.
    """
    name, sep, rest = spec.partition(":")
    name = name.strip()
    if not name:
        raise ConfigError(f"{option} {spec!r}: expected NAME or NAME:KEY=VALUE,KEY=VALUE",
                          f"For example: {option} azo:rtr=4,rcr=10")
    if not sep:
        return name, {}
    items = [item for item in split_top_level(rest) if item.strip()]
    if not items:
        raise ConfigError(f"{option} {spec!r}: no arguments after ':'", f"For example: {option} {name}:KEY=VALUE")
    for item in items:
        if "=" not in item or not item.partition("=")[0].strip():
            raise ConfigError(f"{option} {spec}: {item.strip()!r} is not KEY=VALUE",
                              f"Give the arguments as {option} {name}:KEY=VALUE,KEY=VALUE "
                              f"('snnctl info' lists a component's arguments).")
    args: dict[str, Any] = {}
    for key, value in parse_pairs(items, option=f"{option} {name}:"):
        if key in args:
            raise ConfigError(f"{option} {spec!r}: {key} is given twice", "Give each argument once.")
        set_path(args, key, value, option=f"{option} {name}:")
    return name, args


def parse_assignments(items: list[str] | None) -> dict[str, Any]:
    """``["optim.lr=0.1", "model.args.widths=[8,16]"]`` -> nested dict (see :func:`parse_pairs`)."""
    out: dict[str, Any] = {}
    for key, value in parse_pairs(items, example="optim.lr=0.001"):
        set_path(out, key, value)
    return out


def leaf_paths(tree: dict[str, Any], prefix: str = "") -> list[str]:
    """The dotted paths of every value in a nested dict (a list is one value)."""
    out: list[str] = []
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.extend(leaf_paths(value, path + "."))
        else:
            out.append(path)
    return out


def _overlap(a: str, b: str) -> bool:
    """Whether setting path ``a`` and path ``b`` touch the same value (equal, or one inside the other)."""
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


#: limits on a config file: how deep its settings nest, and how many values YAML aliases may expand to
MAX_DEPTH = 64
MAX_VALUES = 100_000


def load_config_file(path: Path) -> dict[str, Any]:
    """A YAML (.yaml, .yml) or TOML (.toml) run config as a dict; a bad file is named in the error.

    The file must be UTF-8 text, nest at most ``MAX_DEPTH`` levels deep and (through YAML aliases)
    expand to at most ``MAX_VALUES`` values.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        utf16 = raw[:2] in (b"\xff\xfe", b"\xfe\xff")
        raise ConfigError(f"config file {path} is not UTF-8 text ({'it looks like UTF-16' if utf16 else exc.reason} "
                          f"at byte {exc.start})", "Save it as UTF-8.") from None
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            try:
                data = tomllib.loads(text)
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"{path}: not valid TOML ({exc})") from None
        elif suffix in (".yaml", ".yml"):
            data = _load_yaml(path, text)
        else:
            raise ConfigError(f"config file {path}: unknown format '{suffix}'", "Use a .yaml, .yml or .toml file.")
    except RecursionError:
        raise ConfigError(f"{path}: its settings nest too deeply to read", f"A config nests at most {MAX_DEPTH} levels.") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level, got {type(data).__name__}")
    check_size(data, str(path))
    return data


def _load_yaml(path: Path, text: str) -> Any:
    """Parse YAML, refusing a document whose aliases expand beyond ``MAX_VALUES`` values before building it."""
    import yaml

    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        sizes: dict[int, int] = {}

        def expanded(n: Any, depth: int) -> int:
            if depth > MAX_DEPTH:
                raise ConfigError(f"{path}: its settings nest more than {MAX_DEPTH} levels deep")
            if id(n) in sizes:
                return sizes[id(n)]
            sizes[id(n)] = 1  # a node that contains itself counts once
            children = [c for pair in n.value for c in pair] if isinstance(n, yaml.MappingNode) else \
                list(n.value) if isinstance(n, yaml.SequenceNode) else []
            total = 1 + sum(expanded(c, depth + 1) for c in children)
            if total > MAX_VALUES:
                raise ConfigError(f"{path}: its YAML aliases expand to more than {MAX_VALUES:,} values",
                                  "Write the settings out, or use fewer nested aliases.")
            sizes[id(n)] = total
            return total

        expanded(node, 0)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    finally:
        loader.dispose()


def check_size(tree: Any, source: str, depth: int = 0) -> None:
    """Refuse settings nested deeper than ``MAX_DEPTH`` levels (they would exhaust the stack later)."""
    if depth > MAX_DEPTH:
        raise ConfigError(f"{source}: its settings nest more than {MAX_DEPTH} levels deep")
    if isinstance(tree, dict):
        for v in tree.values():
            check_size(v, source, depth + 1)
    elif isinstance(tree, (list, tuple)):
        for v in tree:
            check_size(v, source, depth + 1)


def validate_config(tree: dict[str, Any], source: str = "config") -> RunConfig:
    try:
        return RunConfig.model_validate(tree)
    except pydantic.ValidationError as err:
        from snnctl.registry import format_validation_error

        raise ConfigError(f"invalid {source}: {format_validation_error(err, '')}",
                          "Run 'snnctl train --print-config' to see every setting and its value.") from None


def recipe_settings(name: str) -> tuple[dict[str, Any], dict[str, str]]:
    """A registered recipe's settings and what it requires (see the ``register_recipes`` hook).

    A recipe may name settings the user must give under ``requires``, each with the reason:
    ``{"init": "it fine-tunes the stage-1 weights: ..."}``; they are not settings themselves.
    """
    import snnctl

    made = snnctl.registry().create("recipe", name)
    if not isinstance(made, dict):
        raise ConfigError(f"recipe '{name}' did not return a dict of settings (got {type(made).__name__})")
    made = dict(made)
    requires = made.pop("requires", None) or {}
    if not isinstance(requires, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in requires.items()):
        raise ConfigError(f"recipe '{name}': 'requires' must map setting paths to the reason each is needed")
    validate_config(made, f"recipe '{name}'")  # a broken recipe is named as such
    return made, requires


def get_path(tree: dict[str, Any], dotted: str) -> Any:
    """The value at a dotted path (numbers index lists), or None where there is none."""
    node: Any = tree
    for part in dotted.split("."):
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def resolve_config(
    recipe: Optional[str] = None,
    files: list[Path] | None = None,
    assignments: list[str] | None = None,
    flags: dict[str, Any] | None = None,
    options: dict[str, str] | None = None,
) -> RunConfig:
    """The run config from its layers: defaults < recipe < files < ``--set`` < flags.

    The layers merge onto the complete default config, so ``--set`` can index into lists that a
    lower layer or the defaults hold (``regularizers.0.args.rtr=2``). ``flags`` is a nested dict of
    the explicit command-line options (unset options left out); ``options`` maps a flag's dotted
    path to the option that set it (``{"epochs": "--epochs"}``), for messages. A ``--set`` that
    touches what a flag also sets, or the same key given twice to ``--set``, is an error rather
    than one value silently winning.
    """
    tree: dict[str, Any] = RunConfig().model_dump(mode="json")
    requires: dict[str, str] = {}
    if recipe:
        settings, requires = recipe_settings(recipe)
        tree = deep_merge(tree, {**settings, "recipe": recipe})
    for f in files or []:
        layer = load_config_file(f)
        validate_config(deep_merge(tree, layer), f"config file {f}")
        tree = deep_merge(tree, layer)
    pairs = parse_pairs(assignments, example="optim.lr=0.001")
    flag_paths = leaf_paths(flags or {})
    seen: dict[str, str] = {}
    for key, value in pairs:
        if key in seen:
            raise ConfigError(f"--set {key} is given twice ({seen[key]} and {key}={json.dumps(value)})",
                              "Give each setting once.")
        seen[key] = f"{key}={json.dumps(value)}"
        for path in flag_paths:
            if _overlap(key, path):
                option = next((options[p] for p in sorted(options or {}, key=len, reverse=True)
                               if path == p or path.startswith(p + ".")), path)
                hint = "Give it once." if key == path else f"Give {key if len(key) >= len(path) else path} in one place."
                if path == "regularizers":
                    hint = ("Give each regularizer's arguments with the option: --reg NAME:KEY=VALUE,KEY=VALUE "
                            "(for example --reg azo:rtr=4,rcr=10), or set the list with --set only.")
                raise ConfigError(f"--set {key}=... and {option} both set {key if len(key) >= len(path) else path}",
                                  hint)
        set_path(tree, key, value)
    tree = deep_merge(tree, flags or {})
    for path, reason in requires.items():
        if get_path(tree, path) in (None, "", [], {}):
            option = {"init": "--init RUN_DIR"}.get(path, f"--set {path}=...")
            raise ConfigError(f"recipe '{recipe}' needs {path}: {reason}", f"Give it with {option}.")
    return validate_config(tree)


def config_dict(cfg: RunConfig) -> dict[str, Any]:
    return cfg.model_dump(mode="json")


def config_hash(cfg: RunConfig) -> str:
    """A short hash of what the run computes (the name, output folder and eval cadence left out)."""
    d = config_dict(cfg)
    for key in ("name", "output_dir", "eval_every"):
        d.pop(key, None)
    blob = json.dumps(d, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def dump_yaml(cfg: RunConfig) -> str:
    import yaml

    return yaml.safe_dump(config_dict(cfg), sort_keys=False, default_flow_style=None)


def read_run_config(path: Path) -> RunConfig:
    """The ``config.yaml`` of a run folder."""
    return validate_config(load_config_file(path), f"run config {path}")


def reference_markdown() -> str:
    """The table of every run-config field (docs/training.md embeds it; a test keeps them equal)."""
    rows = ["| field | type | default | description |", "| --- | --- | --- | --- |"]

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, f in model.model_fields.items():
            ann = f.annotation
            if isinstance(ann, type) and issubclass(ann, BaseModel) and ann is not ComponentRef:
                walk(ann, f"{prefix}{name}.")
                continue
            default = f.default_factory() if f.default_factory is not None else f.default
            if isinstance(default, list):
                default = [d.model_dump() if isinstance(d, BaseModel) else d for d in default]
            shown = json.dumps(default) if not isinstance(default, tuple) else json.dumps(list(default))
            type_name = str(ann).replace("typing.", "").replace("<class '", "").replace("'>", "")
            type_name = re.sub(r"\b[a-z_]+(\.[a-z_]+)*\.(?=[A-Z])", "", type_name)  # module prefixes
            rows.append(f"| `{prefix}{name}` | {type_name} | `{shown}` | {f.description or ''} |".replace("\n", " "))

    walk(RunConfig, "")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":  # python -m snnctl.config prints the reference table
    print(reference_markdown(), end="")
