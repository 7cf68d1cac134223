"""Training callbacks: every method is called when the hook's documentation says, with the state it describes,
and a failing callback is named in one message."""

from __future__ import annotations

import json

RECORDER = '''
import json
import snnctl

class Recorder:
    def __init__(self):
        self.calls = []

    def on_train_start(self, state):
        self.calls.append(["start", state.epoch, state.batch, state.main, state.rank])

    def on_batch_end(self, state):
        self.calls.append(["batch", state.epoch, state.batch])

    def on_epoch_end(self, state):
        self.calls.append(["epoch", state.epoch, len(state.metrics), state.metrics[-1]["epoch"]])

    def on_train_end(self, state):
        self.calls.append(["end", state.epoch])
        (state.run_dir / "calls.json").write_text(json.dumps(self.calls))

@snnctl.hookimpl
def training_callbacks(config):
    return [Recorder()]
'''

BROKEN = '''
import snnctl

class Broken:
    def on_epoch_end(self, state):
        raise RuntimeError("no space for my log")

@snnctl.hookimpl
def training_callbacks(config):
    return [Broken()]
'''

SMALL = ["--model", "vgg5", "--reg", "none", "--epochs", "2", "--batch-size", "8", "--quiet",
         "--set", 'data.args={"train_per_class": 2, "test_per_class": 1, "size": 16}']


def test_callbacks_are_called_in_order_with_the_documented_state(cli, plugin_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("SNNCTL_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    plugin_dir("recorder.py", RECORDER)
    r = cli("--plugins-dir", str(plugin_dir.path), "train", *SMALL, "--name", "cb")
    assert r.code == 0, r.stderr
    calls = json.loads((tmp_path / "runs" / "cb" / "calls.json").read_text())
    # 16 training recordings, batch 8: two steps per epoch; epoch is 0-based inside an epoch and counts
    # the finished epochs at on_epoch_end, where metrics[-1] is that epoch's row (1-based "epoch")
    assert calls == [["start", 0, 0, True, 0], ["batch", 0, 1], ["batch", 0, 2], ["epoch", 1, 1, 1],
                     ["batch", 1, 1], ["batch", 1, 2], ["epoch", 2, 2, 2], ["end", 2]]


def test_a_failing_callback_is_named_and_the_checkpoint_kept(cli, plugin_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("SNNCTL_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    plugin_dir("broken.py", BROKEN)
    r = cli("--plugins-dir", str(plugin_dir.path), "train", *SMALL, "--name", "broken")
    assert r.code == 2
    assert "Broken" in r.stderr and "on_epoch_end" in r.stderr and "no space for my log" in r.stderr
    assert "Traceback" not in r.stderr and "Internal error" not in r.stderr
    assert (tmp_path / "runs" / "broken" / "last" / "model.safetensors").is_file()
