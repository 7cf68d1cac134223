"""Recipes say what they do (snnctl info recipe), the ImageNet ones match the reference, and the learning check
tells a working component from a broken one."""

from __future__ import annotations

import json

import pytest

from snnctl.config import resolve_config
from snnctl.errors import ConfigError


def test_info_recipe_shows_every_setting(cli):
    r = cli("info", "recipe", "dvsgesture-sma-azo", "--json")
    assert r.code == 0, r.stderr
    data = json.loads(r.stdout)
    settings = data["settings"]
    assert settings["timesteps"] == 16 and settings["optim"]["lr"] == 1e-4
    assert settings["regularizers"][0]["args"] == {"rcr": 10, "rtr": 4}
    assert data["requires"] == {}
    r = cli("info", "recipe", "dvsgesture-sma-azo")
    assert r.code == 0
    for row in ("timesteps", "16", "optim.lr", "0.0001", "regularizers", "\"rcr\": 10", "--print-config"):
        assert row in r.stdout, row


def test_imagenet_recipes_use_syncbatchnorm_and_azo_fine_tunes_named_weights(cli, tmp_path):
    for name in ("imagenet-resnet18-sma", "imagenet-resnet34-sma", "imagenet-resnet104-sma"):
        assert resolve_config(name).sync_bn is True
    # stage 2 starts from stage 1: without --init it refuses, naming the option
    with pytest.raises(ConfigError) as err:
        resolve_config("imagenet-resnet104-sma-azo")
    assert "--init" in str(err.value) + (err.value.hint or "")
    cfg = resolve_config("imagenet-resnet104-sma-azo", flags={"init": str(tmp_path)})
    assert [(r.name, r.args) for r in cfg.regularizers] == [("azo", {"rtr": 4, "rcr": 4})]
    assert cfg.epochs == 50 and cfg.optim.lr == 1e-3 and cfg.sync_bn
    r = cli("info", "recipe", "imagenet-resnet104-sma-azo", "--json")
    data = json.loads(r.stdout)
    assert "init" in data["requires"] and "RTR 4, RCR 4" in data["description"]
    r = cli("train", "--recipe", "imagenet-resnet104-sma-azo", "--print-config")
    assert r.code == 2 and "--init" in r.stderr and "Traceback" not in r.stderr


def test_learning_check_passes_a_working_neuron_and_fails_a_dead_one(tmp_path, monkeypatch):
    from snnctl.testing import check_learning

    monkeypatch.setenv("SNNCTL_CACHE", str(tmp_path / "cache"))
    result = check_learning("lif", output_dir=tmp_path / "runs")
    assert result.accuracy >= 0.9 and result.chance == 0.125
    assert result.pair_accuracy >= result.accuracy and 0 < result.firing_rate < 0.5
    assert len(result.metrics) == 12 and (result.run_dir / "metrics.jsonl").is_file()
    with pytest.raises(AssertionError) as err:
        check_learning("lif", neuron_args={"v_threshold": 1e9}, epochs=2)  # never fires
    message = str(err.value)
    assert "did not learn" in message and "No neuron fired" in message and "12.5%" in message
