"""snnctl train / evaluate: config layering, recipes, losses, schedule, run folders, resume, failures, DDP."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from snnctl.config import RunConfig, resolve_config
from snnctl.engine.losses import lr_at, run_loss

from conftest import TINY


def weights(run: Path, which: str = "last") -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(run / which / "model.safetensors"))


def metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def no_timing(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in ("seconds", "samples_per_s")} for r in rows]


# -- config ------------------------------------------------------------------------------------------------
def test_default_config_is_the_default_recipe():
    import snnctl

    recipe = snnctl.registry().create("recipe", "synthetic-gestures-sma-azo")
    assert resolve_config("synthetic-gestures-sma-azo").model_dump(exclude={"recipe"}) == \
        RunConfig().model_dump(exclude={"recipe"})
    assert recipe["model"]["name"] == RunConfig().model.name == "vgg5-sma"


def test_layers_apply_in_order(tmp_path):
    yml = tmp_path / "a.yaml"
    yml.write_text("epochs: 7\noptim:\n  lr: 0.5\n  name: sgd\nseed: 1\n")
    toml = tmp_path / "b.toml"
    toml.write_text("seed = 2\n[optim]\nlr = 0.25\n")
    cfg = resolve_config("cifar10dvs-sma-azo", [yml, toml], ["optim.lr=0.125", "data.flip=0.25"], {"epochs": 9})
    assert cfg.recipe == "cifar10dvs-sma-azo"
    assert cfg.timesteps == 10 and cfg.data.translate == 5  # from the recipe
    assert cfg.optim.name == "sgd"  # file over recipe
    assert cfg.seed == 2  # later file over earlier
    assert cfg.optim.lr == 0.125  # --set over files
    assert cfg.data.flip == 0.25
    assert cfg.epochs == 9  # flags over everything


@pytest.mark.parametrize("assignment, path", [
    ("optim.lr=-1", "optim.lr"),
    ("optim.lrr=1", "optim.lrr: unknown field"),
    ("loss.name=hinge", "loss.name"),
    ("data.downsample=0", "data.downsample"),
    ("regularizers=[{\"nam\": \"azo\"}]", "regularizers.0"),
])
def test_config_errors_name_the_dotted_path(cli, assignment, path):
    r = cli("train", "--set", assignment, "--print-config")
    assert r.code == 2 and r.stdout == ""
    assert path in r.stderr


def test_config_file_errors_name_the_file(cli, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("epochs: [1,\n")
    r = cli("train", "--config", str(bad), "--print-config")
    assert r.code == 2 and str(bad) in r.stderr and "YAML" in r.stderr
    wrong = tmp_path / "wrong.toml"
    wrong.write_text("[optim]\nlr = 'fast'\n")
    r = cli("train", "--config", str(wrong), "--print-config")
    assert r.code == 2 and str(wrong) in r.stderr and "optim.lr" in r.stderr
    r = cli("train", "--config", str(tmp_path / "missing.yaml"), "--print-config")
    assert r.code == 2 and "missing.yaml" in r.stderr


def test_print_config_prints_the_resolved_yaml_and_trains_nothing(cli, env):
    r = cli("train", "--recipe", "dvsgesture-sma-azo", "--set", "optim.lr=0.003", "--epochs", "5", "--reg", "none",
            "--print-config")
    assert r.code == 0, r.stderr
    cfg = yaml.safe_load(r.stdout)
    assert cfg["optim"] == {**cfg["optim"], "name": "adamw", "lr": 0.003, "weight_decay": 0.001}
    assert cfg["epochs"] == 5 and cfg["regularizers"] == [] and cfg["timesteps"] == 16
    assert cfg["recipe"] == "dvsgesture-sma-azo" and cfg["seed"] == 3401
    assert RunConfig.model_validate(cfg).loss.name == "mse"  # the printed config is a valid config file
    assert not (env / "runs").exists()


def test_recipes_are_listed_and_reproduce_the_paper(cli):
    r = cli("list", "recipes", "--json")
    assert r.code == 0
    names = {e["name"] for e in json.loads(r.stdout)} if isinstance(json.loads(r.stdout), list) else set(json.loads(r.stdout))
    assert {"dvsgesture-sma-azo", "cifar10dvs-sma-azo", "ncaltech101-sma-azo", "imagenet-resnet104-sma",
            "imagenet-resnet104-sma-azo", "synthetic-gestures-sma-azo"} <= names
    dvs, c10, ncal = (resolve_config(n) for n in ("dvsgesture-sma-azo", "cifar10dvs-sma-azo", "ncaltech101-sma-azo"))
    # spec §8.1
    assert (dvs.timesteps, dvs.optim.name, dvs.optim.lr, dvs.optim.weight_decay, dvs.loss.name, dvs.batch_size,
            dvs.epochs, dvs.seed) == (16, "adamw", 1e-4, 1e-3, "mse", 36, 200, 3401)
    assert dvs.regularizers[0].args == {"rcr": 10, "rtr": 4}
    assert (c10.timesteps, c10.optim.name, c10.optim.lr, c10.data.flip, c10.data.translate, c10.batch_size,
            c10.seed) == (10, "adam", 1e-3, 0.5, 5, 96, 3404)
    assert (ncal.timesteps, ncal.optim.name, ncal.optim.momentum_decay, ncal.loss.name, ncal.epochs,
            ncal.regularizers[0].args) == (14, "nadam", 1e-3, "tet", 300, {"rcr": 24, "rtr": 4})
    r = cli("info", "recipe", "ncaltech101-sma-azo")
    assert r.code == 0 and "TET" in r.stdout


# -- losses and schedule ------------------------------------------------------------------------------------
def test_losses_equal_hand_computation():
    from snnctl.config import LossSection

    logits = torch.tensor([[[2.0, 0.0, -1.0]], [[0.0, 1.0, 1.0]]])  # T=2, B=1, K=3
    y = torch.tensor([1])
    mean = [1.0, 0.5, 0.0]
    ce = -(mean[1] - math.log(sum(math.exp(v) for v in mean)))
    assert float(run_loss(logits, y, LossSection(name="ce"))) == pytest.approx(ce, rel=1e-6)
    mse = ((1.0 - 0) ** 2 + (0.5 - 1) ** 2 + (0.0 - 0) ** 2) / 3
    assert float(run_loss(logits, y, LossSection(name="mse"))) == pytest.approx(mse, rel=1e-6)
    step_ce = [-(v[1] - math.log(sum(math.exp(a) for a in v))) for v in ([2.0, 0.0, -1.0], [0.0, 1.0, 1.0])]
    assert float(run_loss(logits, y, LossSection(name="tet"))) == pytest.approx(sum(step_ce) / 2, rel=1e-6)
    reg = sum((a - 1.0) ** 2 for a in (2.0, 0.0, -1.0, 0.0, 1.0, 1.0)) / 6
    tet = run_loss(logits, y, LossSection(name="tet", tet_lambda=0.25))
    assert float(tet) == pytest.approx(0.75 * sum(step_ce) / 2 + 0.25 * reg, rel=1e-6)
    smooth = LossSection(name="ce", label_smoothing=0.1)
    logp = [v - math.log(sum(math.exp(a) for a in mean)) for v in mean]
    expected = -(0.9 + 0.1 / 3) * logp[1] - (0.1 / 3) * (logp[0] + logp[2])
    assert float(run_loss(logits, y, smooth)) == pytest.approx(expected, rel=1e-6)


def test_cosine_schedule_matches_torch_stepped_per_epoch():
    from snnctl.config import ScheduleSection

    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.1)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10, eta_min=0.001)
    cfg = ScheduleSection(name="cosine", eta_min=0.001)
    for epoch in range(10):
        assert lr_at(epoch, 10, 0.1, cfg) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-9)
        opt.step()
        sched.step()
    warm = ScheduleSection(name="cosine", warmup_epochs=2, warmup_start=0.1)
    assert [round(lr_at(e, 6, 1.0, warm), 6) for e in range(6)] == [0.1, 0.55, 1.0, 0.853553, 0.5, 0.146447]
    assert lr_at(4, 6, 0.3, ScheduleSection(name="constant")) == 0.3


def test_event_augmentation_is_one_draw_per_sample_shared_over_time():
    from snnctl.engine.data import augment_events

    x = torch.arange(2 * 3 * 2 * 4 * 5, dtype=torch.float32).view(2, 3, 2, 4, 5) + 1  # T, B, P, H, W
    torch.manual_seed(0)
    flipped = augment_events(x, 1.0, 0)
    assert torch.equal(flipped, x.flip(-1))
    torch.manual_seed(1)
    moved = augment_events(x, 0.0, 2)
    for b in range(3):
        # find the shift by brute force; it is the same for both steps and polarities
        hits = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                if torch.equal(moved[:, b], _shift(x[:, b], dy, dx))]
        assert len(hits) == 1


def _shift(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    out = torch.zeros_like(x)
    h, w = x.shape[-2:]
    for i in range(h):
        for j in range(w):
            if 0 <= i + dy < h and 0 <= j + dx < w:
                out[..., i + dy, j + dx] = x[..., i, j]
    return out


def test_direct_encoding_repeats_the_image_over_time():
    from snnctl.engine.build import DataInfo

    info = DataInfo("img", "images", ["a", "b"], 3, (4, 4), 5)
    x = torch.randn(2, 3, 4, 4)
    enc = info.encode(x)
    assert enc.shape == (5, 2, 3, 4, 4) and all(torch.equal(enc[t], x) for t in range(5))
    ev = DataInfo("ev", "events", ["a", "b"], 2, (4, 4), 3).encode(torch.randn(2, 3, 2, 4, 4))
    assert ev.shape == (3, 2, 2, 4, 4)


@pytest.mark.parametrize("name", ["adam", "adamw", "nadam", "sgd"])
def test_optimizer_state_round_trips_without_pickle(name):
    from snnctl.config import OptimSection
    from snnctl.engine.checkpoint import optimizer_state, restore_optimizer
    from snnctl.engine.losses import make_optimizer

    torch.manual_seed(0)
    a = torch.nn.Linear(3, 2)
    b = torch.nn.Linear(3, 2)
    b.load_state_dict(a.state_dict())
    oa, ob = make_optimizer(a.parameters(), OptimSection(name=name)), make_optimizer(b.parameters(), OptimSection(name=name))
    x = torch.randn(4, 3)
    for _ in range(2):
        oa.zero_grad()
        a(x).square().sum().backward()
        oa.step()
    from safetensors.torch import load, save

    tensors, js = optimizer_state(oa)
    b.load_state_dict(a.state_dict())
    restore_optimizer(ob, load(save(tensors)), json.loads(json.dumps(js)))
    for m, o in ((a, oa), (b, ob)):
        o.zero_grad()
        m(x).square().sum().backward()
        o.step()
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_an_interrupted_checkpoint_swap_leaves_a_readable_checkpoint(tmp_path):
    from snnctl.engine.checkpoint import checkpoint_dir, save_checkpoint

    (tmp_path / "config.yaml").write_text("{}")
    save_checkpoint(tmp_path, "last", {"w": torch.ones(2)}, {"epoch": "1"}, {}, {"epoch": 1})
    save_checkpoint(tmp_path, "last", {"w": torch.full((2,), 2.0)}, {"epoch": "2"}, {}, {"epoch": 2})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml", "last"]
    os.replace(tmp_path / "last", tmp_path / "last.old")  # a crash between the two renames
    assert checkpoint_dir(tmp_path, "last") == tmp_path / "last.old"
    with pytest.raises(Exception, match="no 'best' checkpoint"):
        checkpoint_dir(tmp_path, "best")


# -- training end to end ----------------------------------------------------------------------------------
def test_train_writes_a_self_describing_run_folder(cli, env):
    r = cli("train", *TINY, "--name", "a", "--json")
    assert r.code == 0, r.stderr
    out = json.loads(r.stdout)
    run = env / "runs" / "a"
    assert out["run"] == "runs/a" and out["epochs"] == 2
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["model"]["name"] == "test-vgg-sma" and cfg["timesteps"] == 4
    rows = metrics(run)
    assert [r["epoch"] for r in rows] == [1, 2]
    assert set(rows[0]) >= {"train_loss", "train_acc", "test_loss", "test_acc", "lr", "samples_per_s", "firing_rate"}
    assert 0 < rows[-1]["firing_rate"] < 1 and rows[-1]["test_acc"] == out["last_test_acc"]
    assert max(r["test_acc"] for r in rows) == out["best_test_acc"]
    from safetensors import safe_open

    for which in ("best", "last"):
        assert {p.name for p in (run / which).iterdir()} == {"model.safetensors", "state.safetensors", "state.json"}
        with safe_open(str(run / which / "model.safetensors"), "pt") as f:
            meta = f.metadata()
        assert meta["model"] == "test-vgg-sma" and meta["timesteps"] == "4" and len(meta["config_hash"]) == 16
        assert meta["snnctl_version"]
    assert not list(run.glob("*.new")) and not list(run.glob("*.old"))


def test_same_seed_same_metrics_and_weights(cli, env):
    assert cli("train", *TINY, "--name", "a").code == 0
    assert cli("train", *TINY, "--name", "b").code == 0
    assert no_timing(metrics(env / "runs/a")) == no_timing(metrics(env / "runs/b"))
    wa, wb = weights(env / "runs/a"), weights(env / "runs/b")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert cli("train", *TINY, "--name", "c", "--seed", "5").code == 0
    assert not all(torch.equal(wa[k], weights(env / "runs/c")[k]) for k in wa)


@pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None, reason="no C compiler for the kernel")
def test_neuron_kernel_changes_no_result(cli, env, monkeypatch):
    """The neurons' C kernel and their PyTorch path train to the same metrics and weights, bit for bit."""
    from snnctl_plugins import neuron_kernel

    for native, name in (("1", "kernel"), ("0", "torch")):
        monkeypatch.setenv("SNNCTL_NATIVE", native)
        assert cli("train", *TINY, "--name", name).code == 0
    monkeypatch.setenv("SNNCTL_NATIVE", "1")
    assert neuron_kernel.library() is not None
    assert no_timing(metrics(env / "runs/kernel")) == no_timing(metrics(env / "runs/torch"))
    a, b = weights(env / "runs/kernel"), weights(env / "runs/torch")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


STOPPER = """
import os, signal
import snnctl

class Stop:
    def on_batch_end(self, state):
        at = os.environ.get("STOP_AT")
        if at and (state.epoch, state.batch) == tuple(int(v) for v in at.split(",")):
            os.kill(os.getpid(), signal.SIGINT)

@snnctl.hookimpl
def training_callbacks(config):
    return [Stop()]
"""


@pytest.mark.parametrize("stop_at", ["0,4", "1,2"], ids=["end-of-epoch", "mid-epoch"])
def test_ctrl_c_then_resume_equals_an_uninterrupted_run(cli, env, plugin_dir, monkeypatch, stop_at):
    plugin_dir("stopper.py", STOPPER)
    args = [*TINY, "--epochs", "3", "--set", "data.flip=0.5", "--set", "data.translate=2"]
    assert cli("--plugins-dir", str(plugin_dir.path), "train", *args, "--name", "whole").code == 0
    monkeypatch.setenv("STOP_AT", stop_at)
    r = cli("--plugins-dir", str(plugin_dir.path), "train", *args, "--name", "cut")
    assert r.code == 130, r.stderr
    assert "snnctl train --resume" in r.stderr and "interrupted" in r.stderr
    state = json.loads((env / "runs/cut/last/state.json").read_text())
    assert (state["epoch"], state["batch"]) == tuple(int(v) for v in stop_at.split(","))
    monkeypatch.delenv("STOP_AT")
    r = cli("--plugins-dir", str(plugin_dir.path), "train", "--resume", "runs/cut", "--quiet")
    assert r.code == 0, r.stderr
    whole, cut = weights(env / "runs/whole"), weights(env / "runs/cut")
    assert all(torch.equal(whole[k], cut[k]) for k in whole)
    a, b = no_timing(metrics(env / "runs/whole")), no_timing(metrics(env / "runs/cut"))
    assert [r["test_acc"] for r in a] == [r["test_acc"] for r in b] and len(b) == 3
    assert [r["train_loss"] for r in a] == pytest.approx([r["train_loss"] for r in b], rel=1e-9)


def test_resume_refuses_other_settings_and_non_runs(cli, env):
    r = cli("train", "--resume", str(env), "--epochs", "3")
    assert r.code == 2 and "--resume" in r.stderr
    r = cli("train", "--resume", str(env))
    assert r.code == 2 and "not a run folder" in r.stderr


NAN_MODEL = """
import torch
import snnctl
from snnctl.nn import SpikingModel

class Bomb(SpikingModel):
    def __init__(self, in_channels=2, num_classes=3, input_size=(16, 16), timesteps=4, fail_after=6, oom=False):
        super().__init__(timesteps, in_channels, input_size, num_classes)
        self.fc = torch.nn.Linear(in_channels, num_classes)
        self.calls, self.fail_after, self.oom = 0, fail_after, oom

    def forward(self, x):
        self.calls += 1
        if self.oom:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        out = self.fc(x.mean((-1, -2)))
        return out * float("nan") if self.training and self.calls > self.fail_after else out

@snnctl.hookimpl
def register_models(register):
    register("bomb", Bomb)
"""


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(cli, env, plugin_dir):
    plugin_dir("bomb.py", NAN_MODEL)
    # 4 training + 2 test batches per epoch: the 7th forward, epoch 2 batch 1, turns NaN
    r = cli("--plugins-dir", str(plugin_dir.path), "train", *TINY, "--model", "bomb", "--reg", "none", "--name", "n",
            "--epochs", "3")
    assert r.code == 3
    assert "nan" in r.stderr and "epoch 2, batch 1" in r.stderr and "last good checkpoint" in r.stderr
    run = env / "runs/n"
    assert json.loads((run / "last/state.json").read_text())["epoch"] == 1
    assert len(metrics(run)) == 1


def test_out_of_memory_suggests_batch_size_and_t(cli, env, plugin_dir):
    plugin_dir("bomb.py", NAN_MODEL)
    r = cli("--plugins-dir", str(plugin_dir.path), "train", *TINY, "--model", "bomb", "--reg", "none",
            "--set", "model.args.oom=true")
    assert r.code == 3
    assert "out of memory" in r.stderr and "--batch-size 4" in r.stderr and "--timesteps 2" in r.stderr


@pytest.mark.parametrize("option, value, kind", [
    ("--model", "vgg9-sma", "model"), ("--data", "dvsgestures", "dataset"), ("--neuron", "lifx", "neuron"),
    ("--reg", "azoo", "regularizer"), ("--attention", "smaa", "attention"), ("--recipe", "dvsgesture", "recipe"),
])
def test_unknown_names_fail_before_any_work(cli, env, option, value, kind):
    r = cli("train", option, value)
    assert r.code == 2
    assert value in r.stderr and kind in r.stderr and "snnctl list" in r.stderr
    assert not (env / "runs").exists() and not (env / "cache").exists()


def test_bad_model_settings_fail_before_any_work(cli, env):
    r = cli("train", "--set", "model.args.widths=[]")
    assert r.code == 2 and "model.args.widths" in r.stderr
    r = cli("train", "--set", "model.args.num_classes=3")
    assert r.code == 2 and "model.args.num_classes" in r.stderr and "8" in r.stderr
    r = cli("train", "--precision", "fp16", "--device", "cpu")
    assert r.code == 2 and "bf16" in r.stderr
    assert not (env / "runs").exists() and not (env / "cache").exists()


def test_bf16_autocast_trains_on_cpu(cli, env):
    r = cli("train", *TINY, "--epochs", "1", "--precision", "bf16", "--json")
    assert r.code == 0, r.stderr
    assert math.isfinite(json.loads(r.stdout)["last_test_acc"])


def test_init_from_a_run_starts_from_its_weights(cli, env):
    assert cli("train", *TINY, "--epochs", "1", "--name", "a").code == 0
    r = cli("train", *TINY, "--epochs", "1", "--name", "b", "--init", "runs/a", "--set", "optim.lr=1e-12")
    assert r.code == 0, r.stderr
    a, b = weights(env / "runs/a", "best"), weights(env / "runs/b")
    # a 1e-12 learning rate barely moves the weights, BN running statistics aside
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a if "running" not in k and "num_batches" not in k)


# -- evaluate -----------------------------------------------------------------------------------------------
def test_evaluate_reports_accuracy_confusion_and_a_plot(cli, env):
    assert cli("train", *TINY, "--name", "a").code == 0
    r = cli("evaluate", "runs/a", "--json", "--plot", "conf.png")
    assert r.code == 0, r.stderr
    out = json.loads(r.stdout)
    best = max(metrics(env / "runs/a"), key=lambda m: m["test_acc"])
    assert out["top1"] == pytest.approx(best["test_acc"]) and out["epoch"] == best["epoch"]
    conf = torch.tensor(out["confusion"])
    assert conf.shape == (8, 8) and int(conf.sum()) == out["samples"] == 16
    assert out["top1"] == pytest.approx(float(conf.diag().sum()) / 16)
    assert out["top5"] is not None and out["top5"] >= out["top1"]
    assert list(out["per_class"]) == out["classes"]
    assert (env / "conf.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = cli("evaluate", "runs/a", "--checkpoint", "last")
    assert table.code == 0 and "confusion matrix" in table.stdout and "per class" in table.stdout
    assert cli("evaluate", "runs/a", "--checkpoint", "first").code == 2
    missing = cli("evaluate", str(env / "nope"))
    assert missing.code == 2 and "not a run folder" in missing.stderr


# -- distributed ----------------------------------------------------------------------------------------------
def test_two_gloo_processes_train_like_one(env):
    """torchrun with 2 CPU processes: one run folder, one metrics file, accuracy in the 1-process range."""
    data = json.dumps({"train_per_class": 32, "test_per_class": 4, "size": 16})
    args = ["train", "--model", "test-vgg-sma", "--set", f"data.args={data}", "-T", "4", "--epochs", "12",
            "--batch-size", "16", "--lr", "0.02", "--quiet", "--json", "--output-dir", "out"]
    envs = {**os.environ, "OMP_NUM_THREADS": "1"}
    one = subprocess.run([sys.executable, "-m", "snnctl", *args, "--name", "one"], capture_output=True, text=True,
                         env=envs, cwd=env, timeout=300)
    assert one.returncode == 0, one.stderr
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                          "-m", "snnctl", *args, "--name", "two"], capture_output=True, text=True, env=envs, cwd=env,
                         timeout=300)
    assert two.returncode == 0, two.stderr[-3000:]
    assert sorted(p.name for p in (env / "out").iterdir()) == ["one", "two"]
    run = env / "out/two"
    assert sorted(p.name for p in run.iterdir()) == ["best", "config.yaml", "last", "metrics.jsonl"]
    rows_one, rows_two = metrics(env / "out/one"), metrics(run)
    assert [r["epoch"] for r in rows_two] == list(range(1, 13))
    assert json.loads(two.stdout)["epochs"] == 12  # printed once, by rank 0
    acc_one, acc_two = rows_one[-1]["test_acc"], rows_two[-1]["test_acc"]
    assert acc_one > 0.5 and acc_two > 0.5  # chance is 1/8
    assert abs(acc_one - acc_two) <= 0.25


# -- static images ------------------------------------------------------------------------------------------
def test_resnet_sma_with_azo_trains_on_an_imagenet_folder(cli, env):
    """The ImageNet command at toy scale: the ILSVRC2012 layout, direct encoding, AZO in every SMA."""
    from test_images import write_imagenet

    write_imagenet(env / "data", per_class=4, val_per_class=2)
    args = json.dumps({"image_size": 16, "resize": 18, "classes": "folders"})
    r = cli("train", "--model", "test-resnet-sma", "--reg", "azo", "--data", "imagenet", "--root", str(env / "data"),
            "--set", f"data.args={args}", "-T", "2", "--epochs", "1", "--batch-size", "4", "--quiet", "--json",
            "--name", "img")
    assert r.code == 0, r.stderr
    assert json.loads(r.stdout)["epochs"] == 1
    meta = json.loads(__import__("safetensors").safe_open(str(env / "runs/img/last/model.safetensors"), "pt")
                      .metadata()["data"])
    assert meta == {**meta, "kind": "images", "in_channels": 3, "input_size": [16, 16], "timesteps": 2,
                    "classes": ["n01440764", "n01443537", "n02123045"]}
    ev = cli("evaluate", "runs/img", "--json")
    assert ev.code == 0, ev.stderr
    assert json.loads(ev.stdout)["samples"] == 6 and json.loads(ev.stdout)["top5"] is None
    r = cli("train", "--data", "imagenet", "--root", str(env / "empty"), "--model", "test-resnet", "--reg", "none")
    assert r.code == 2 and "empty" in r.stderr
    assert [p.name for p in (env / "runs").iterdir()] == ["img"]  # no run folder for a run that never started


def test_progress_goes_to_stderr_and_the_result_table_to_stdout(cli, env):
    args = [a for a in TINY if a != "--quiet"]
    r = cli("train", *args, "--name", "p")
    assert r.code == 0, r.stderr
    assert "epoch 1/2: train loss" in r.stderr and "epoch 2/2: train loss" in r.stderr
    assert "test-vgg-sma" in r.stderr and "regularizers: azo (1 modules)" in r.stderr
    assert "best" in r.stdout and "last" in r.stdout and "runs/p" in r.stdout
    assert "epoch 1/2" not in r.stdout


def test_profile_reads_a_trained_run(cli, env):
    """snnctl profile RUN_DIR: the trained weights, the run's T and data, per-layer spikes and the figures."""
    assert cli("train", *TINY, "--name", "a").code == 0
    r = cli("profile", "runs/a", "--spikes", "--samples", "8", "--plot", "figs", "--json")
    assert r.code == 0, r.stderr
    out = json.loads(r.stdout)
    layers = out["spikes"]["layers"] if "layers" in out.get("spikes", {}) else out["spikes"]
    assert len(layers) >= 3  # two conv-block neurons, SMA branch neurons and the head's neuron
    assert any("attention" in json.dumps(layer) for layer in layers)  # SMA's branch neurons are listed
    pngs = sorted(p.name for p in (env / "figs").glob("*.png"))
    assert pngs and all((env / "figs" / p).read_bytes()[:4] == b"\x89PNG" for p in pngs)
    table = cli("profile", "runs/a", "--spikes", "--samples", "8")
    assert table.code == 0 and "features.0.neuron" in table.stdout and "runs/a" in table.stdout


def test_the_paper_command_runs_on_a_dvs128_gesture_folder(cli, env):
    """`snnctl train --model vgg8-sma --reg azo --data dvsgesture` on a fixture in the real format, narrowed."""
    import event_fixtures as fx

    fx.write_dvsgesture(env / "data")
    r = cli("train", "--model", "vgg8-sma", "--reg", "azo", "--data", "dvsgesture", "--root", str(env / "data"),
            "--set", "model.args.widths=[4,8,8,8,8]", "--set", "model.args.hidden=[16,16]", "-T", "4",
            "--epochs", "1", "--batch-size", "11", "--quiet", "--json", "--name", "dvs")
    assert r.code == 0, r.stderr
    meta = yaml.safe_load((env / "runs/dvs/config.yaml").read_text())
    assert meta["model"]["name"] == "vgg8-sma" and meta["regularizers"] == [{"name": "azo", "args": {}}]
    ev = json.loads(cli("evaluate", "runs/dvs", "--json").stdout)
    assert ev["samples"] == 11 and len(ev["confusion"]) == 11 and ev["top5"] is not None
