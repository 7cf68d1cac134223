"""The one registry: names, lookup, listing, description and validated construction."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict, Field

import snnctl
from snnctl.errors import ConfigError, DuplicateNameError, UnknownNameError
from snnctl.registry import Provider, Registry, natural_key, resolve_kind


class Widget:
    """A widget with a size."""

    def __init__(self, size: int = 3, gain: float = 1.0, label: str | None = None):
        self.size, self.gain, self.label = size, gain, label


class WidgetConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    size: int = Field(3, description="how big")
    gain: float = 1.0


P1 = Provider("first", "dist-one", "1.0")
P2 = Provider("second", None, None, "plugins-dir")


@pytest.fixture
def reg():
    r = Registry()
    for name in ["resnet104", "resnet18", "resnet34", "vgg8", "vgg8-sma", "test-10", "test-2"]:
        r.register("model", name, Widget, provider=P1)
    return r


def test_list_is_natural_order_and_takes_wildcards(reg):
    assert reg.list("model") == ["resnet18", "resnet34", "resnet104", "test-2", "test-10", "vgg8", "vgg8-sma"]
    assert reg.list("models", "resnet*") == ["resnet18", "resnet34", "resnet104"]
    assert reg.list("model", "*-sma") == ["vgg8-sma"]
    assert reg.list("model", "nothing*") == []
    assert reg.list("neuron") == []


def test_natural_key_orders_numbers_numerically():
    assert sorted(["a10", "a9", "a100", "b1"], key=natural_key) == ["a9", "a10", "a100", "b1"]


@pytest.mark.parametrize("bad", ["LIF", "my_lif", "-lif", "lif-", "a--b", "", "lif neuron", 3])
def test_names_must_be_lowercase_hyphenated(bad):
    with pytest.raises(ConfigError, match="invalid neuron name"):
        Registry().register("neuron", bad, Widget, provider=P1)


def test_duplicate_name_names_both_plugins():
    r = Registry()
    r.register("neuron", "lif", Widget, provider=P1)
    with pytest.raises(DuplicateNameError) as err:
        r.register("neuron", "lif", Widget, provider=P2)
    msg = str(err.value)
    assert "plugin 'first' (dist-one 1.0)" in msg and "plugin 'second' (plugins-dir)" in msg
    # The same name in another kind is fine.
    r.register("model", "lif", Widget, provider=P2)


def test_unknown_name_suggests_and_points_to_the_listing_command(reg):
    with pytest.raises(UnknownNameError) as err:
        reg.get("model", "resnet1O4")
    assert "unknown model 'resnet1O4'" in str(err.value)
    assert "did you mean 'resnet104'" in str(err.value)
    assert "snnctl list models" in str(err.value)
    with pytest.raises(UnknownNameError) as err:
        reg.get("model", "zzzz")
    assert "did you mean" not in str(err.value)


def test_resolve_kind_accepts_singular_and_plural():
    assert resolve_kind("neurons") == "neuron"
    assert resolve_kind("Neuron") == "neuron"
    assert resolve_kind("attention") == "attention"
    with pytest.raises(UnknownNameError, match="did you mean 'models'"):
        resolve_kind("modelz")


def test_create_validates_against_the_components_own_config():
    r = Registry()
    r.register("neuron", "widget", Widget, config=WidgetConfig, provider=P1)
    w = r.create("neuron", "widget", size=5, gain=None)  # None means "use the default"
    assert (w.size, w.gain) == (5, 1.0)
    with pytest.raises(ConfigError) as err:
        r.create("neuron", "widget", sise=5)
    assert "sise: unknown field" in str(err.value)
    assert "snnctl info neuron widget" in str(err.value)
    with pytest.raises(ConfigError, match="size: Input should be a valid integer"):
        r.create("neuron", "widget", size="big")


def test_config_is_derived_from_the_signature_when_not_given():
    r = Registry()
    r.register("neuron", "widget", Widget, provider=P1)
    w = r.create("neuron", "widget", size="7", label="x")
    assert (w.size, w.label) == (7, "x")  # pydantic coerced "7" -> 7 from the annotation
    with pytest.raises(ConfigError, match="colour: unknown field"):
        r.create("neuron", "widget", colour="red")


def test_describe_reports_provider_and_schema_with_defaults():
    r = Registry()
    r.register("neuron", "widget", Widget, config=WidgetConfig, provider=P1)
    d = r.describe("neurons", "widget")
    assert d["name"] == "widget" and d["kind"] == "neuron"
    assert d["description"] == "A widget with a size."  # first docstring line
    assert (d["plugin"], d["distribution"], d["version"]) == ("first", "dist-one", "1.0")
    schema = {p["name"]: p for p in d["parameters_schema"]}
    assert schema["size"]["default"] == 3 and schema["size"]["type"] == "int"
    assert schema["size"]["description"] == "how big"
    assert schema["gain"]["default"] == 1.0 and not schema["gain"]["required"]


def test_required_fields_are_reported_and_enforced():
    def build(channels: int, timesteps: int = 4):
        return channels, timesteps

    r = Registry()
    r.register("attention", "needs-channels", build, provider=P1, description="x")
    schema = {p["name"]: p for p in r.describe("attention", "needs-channels")["parameters_schema"]}
    assert schema["channels"]["required"] and schema["timesteps"]["default"] == 4
    with pytest.raises(ConfigError, match="channels: Field required"):
        r.create("attention", "needs-channels")
    assert r.create("attention", "needs-channels", channels=8) == (8, 4)


def test_validation_errors_name_the_dotted_path():
    r = Registry()
    r.register("neuron", "widget", Widget, config=WidgetConfig, provider=P1)
    with pytest.raises(ConfigError, match=r"model\.neuron_args\.size: Input should be a valid integer"):
        r.validate("neuron", "widget", {"size": "big"}, path="model.neuron_args")


def test_a_factory_taking_kwargs_receives_unnamed_arguments():
    def wrapper(gain: float = 1.0, **rest):
        return gain, rest

    r = Registry()
    r.register("neuron", "wrapped", wrapper, provider=P1, description="x")
    assert r.create("neuron", "wrapped", gain="2", tau=3.0) == (2.0, {"tau": 3.0})


def test_the_registry_records_the_components_a_model_is_built_from():
    reg = snnctl.registry()
    with reg.recording() as outer:
        with reg.recording() as inner:
            snnctl.create_model("test-vgg-sma", neuron="plif")
        snnctl.create("neuron", "if")
    assert [(e.kind, e.name) for e in inner] == [("model", "test-vgg-sma"), ("neuron", "plif"), ("surrogate", "atan"),
                                                 ("attention", "sma")]
    assert [(e.kind, e.name) for e in outer][-1] == ("neuron", "if")
