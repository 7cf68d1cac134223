"""snnctl export: the bundle and ONNX formats, the report, bad inputs and third-party exporters.

NIR has its own file (test_nir.py). Runs come from the ``runs`` fixture (tests/conftest.py): tiny
trained models, so every export is verified on real samples of their test split.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
import torch

import snnctl
from snnctl.files import read_safetensors_header, safetensors_bytes
from snnctl.nn import reset_states


def logits(model, x):
    with torch.no_grad():
        out = model(x)
    reset_states(model)
    return out


def sample_batch(run: Path, n: int = 5) -> torch.Tensor:
    from snnctl.engine.samples import load_samples
    from snnctl.export import open_model

    opened = open_model(run)
    return load_samples(opened, n, n).first()


# -- the deterministic safetensors writer ----------------------------------------------------------------
def test_safetensors_writer_is_deterministic_and_read_by_the_safetensors_library(tmp_path):
    from safetensors import safe_open

    tensors = {"b": torch.arange(6, dtype=torch.int64).view(2, 3), "a": torch.randn(3, 4),
               "c": torch.tensor(7, dtype=torch.int64), "h": torch.randn(5).to(torch.bfloat16),
               "m": torch.tensor([True, False]), "e": torch.zeros(0)}
    meta = {"zeta": "1", "alpha": "2", "mid": json.dumps({"x": [1, 2]})}
    blob = safetensors_bytes(tensors, meta)
    assert blob == safetensors_bytes(dict(reversed(tensors.items())), dict(reversed(meta.items())))
    (header_len,) = struct.unpack("<Q", blob[:8])
    assert (8 + header_len) % 8 == 0  # data starts aligned
    header = json.loads(blob[8:8 + header_len])
    assert list(header) == sorted(header) and list(header["__metadata__"]) == ["alpha", "mid", "zeta"]
    path = tmp_path / "t.safetensors"
    path.write_bytes(blob)
    with safe_open(str(path), "pt") as f:
        assert f.metadata() == meta
        for k, v in tensors.items():
            assert f.get_tensor(k).dtype == v.dtype and torch.equal(f.get_tensor(k), v)
    # every tensor starts at a multiple of its element size (as the library lays them out)
    for k, v in tensors.items():
        assert header[k]["data_offsets"][0] % v.element_size() == 0
    assert read_safetensors_header(path)["__metadata__"] == meta
    (tmp_path / "x.bin").write_bytes(b"not a safetensors file at all")
    assert read_safetensors_header(tmp_path / "x.bin") is None


# -- bundle -----------------------------------------------------------------------------------------------
def test_bundle_reloads_to_identical_logits_and_the_same_weights_give_the_same_bytes(cli, runs):
    r = cli("export", str(runs["sma"]), "--out", "a.safetensors", "--samples", "all", "--json")
    assert r.code == 0, r.stderr
    report = json.loads(r.stdout)
    v = report["verification"]
    assert v["passed"] and v["samples"] == 16 and v["argmax_agreement"] == 1.0 and v["max_abs_logit_diff"] == 0.0
    assert v["spikes_differ"] == 0 and v["spikes_compared"] > 0
    assert cli("export", str(runs["sma"]), "--out", "b.safetensors").code == 0
    assert Path("a.safetensors").read_bytes() == Path("b.safetensors").read_bytes()
    assert json.loads(Path("a.safetensors.report.json").read_text())["sha256"] == report["sha256"]

    from snnctl.engine.checkpoint import load_run

    run = load_run(runs["sma"])
    model = snnctl.load("a.safetensors")
    assert not model.training and type(model).__name__ == "VGG"
    x = sample_batch(runs["sma"])
    assert torch.equal(logits(model, x), logits(run.model, x))


def test_bundle_metadata_describes_the_model_completely(cli, runs):
    from safetensors import safe_open

    assert cli("export", str(runs["sma"]), "--out", "m.safetensors").code == 0
    with safe_open("m.safetensors", "pt") as f:
        meta = f.metadata()
        names = set(f.keys())
    assert meta["format"] == "snnctl-bundle-1" and meta["snnctl_version"] == snnctl.__version__
    model = json.loads(meta["model"])
    assert model["name"] == "test-vgg-sma"
    assert {"in_channels": 2, "num_classes": 8, "input_size": [16, 16], "timesteps": 4, "attention": "sma"}.items() \
        <= model["args"].items()
    components = {(c["kind"], c["name"]): c for c in json.loads(meta["components"])}
    for key in (("model", "test-vgg-sma"), ("neuron", "lif"), ("surrogate", "atan"), ("attention", "sma")):
        assert components[key]["use"] == "model"
        assert (components[key]["distribution"], components[key]["version"]) == ("snnctl", snnctl.__version__)
    assert components[("dataset", "synthetic-gestures")]["use"] == "data"
    assert components[("regularizer", "azo")]["use"] == "training"
    assert meta["timesteps"] == "4" and json.loads(meta["input_shape"]) == [2, 16, 16]
    assert json.loads(meta["classes"])[:2] == ["right", "left"]
    assert json.loads(meta["data"]) == {"name": "synthetic-gestures", "args": {"train_per_class": 4, "test_per_class": 2,
                                                                               "size": 16},
                                        "split_by": "number", "downsample": 1}
    assert json.loads(meta["source"])["checkpoint"] == "best" and json.loads(meta["run_config"])["epochs"] == 2
    assert "features.0.conv.layers.weight" in names


def test_evaluate_and_profile_accept_a_bundle(cli, runs):
    assert cli("export", str(runs["sma"]), "--out", "m.safetensors").code == 0
    from_run = json.loads(cli("evaluate", str(runs["sma"]), "--json").stdout)
    r = cli("evaluate", "m.safetensors", "--json")
    assert r.code == 0, r.stderr
    from_bundle = json.loads(r.stdout)
    assert from_bundle["kind"] == "bundle" and from_bundle["epoch"] == from_run["epoch"]
    assert {k: from_bundle[k] for k in ("top1", "loss", "confusion", "firing_rate")} == \
        {k: from_run[k] for k in ("top1", "loss", "confusion", "firing_rate")}
    p = cli("profile", "m.safetensors", "--spikes", "--samples", "4", "--json")
    assert p.code == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["model"]["source"] == "bundle" and out["model"]["timesteps"] == 4
    assert any(layer["layer"] == "features.0.neuron" for layer in out["spikes"]["layers"])
    again = cli("export", "m.safetensors", "--format", "bundle")  # a bundle is a source too: the same bytes again
    assert again.code == 0, again.stderr
    assert Path("m-export.safetensors").read_bytes() == Path("m.safetensors").read_bytes()


def test_a_bundle_whose_plugin_is_missing_names_the_plugin_and_its_version(cli, runs, monkeypatch):
    """A run with the example plugin's `alif` neuron, loaded where third-party plugins are switched off."""
    import importlib.metadata as md

    try:
        version = md.version("snnctl-alif")
    except md.PackageNotFoundError:
        pytest.skip("examples/snnctl-alif is not installed")
    from conftest import train_tiny

    train_tiny("alif", "test-vgg", epochs=1, neuron="alif")
    assert cli("export", "runs/alif", "--out", "alif.safetensors").code == 0
    monkeypatch.setenv("SNNCTL_LOAD_PLUGINS", "")
    r = cli("evaluate", "alif.safetensors")
    assert r.code == 2
    assert "needs neuron 'alif' from plugin 'alif' (snnctl-alif " + version + ")" in r.stderr
    assert f"pip install 'snnctl-alif=={version}'" in r.stderr
    from snnctl import plugins
    from snnctl.errors import SnnctlError

    plugins.reset()
    with pytest.raises(SnnctlError, match="not installed or not loaded"):
        snnctl.load("alif.safetensors")


def _rewrite(path: Path, out: Path, change) -> None:
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        meta, tensors = dict(f.metadata()), {k: f.get_tensor(k) for k in f.keys()}
    change(meta, tensors)
    out.write_bytes(safetensors_bytes(tensors, meta))


@pytest.mark.parametrize("damage, message", [
    ("truncated", "is not a readable safetensors file"),
    ("dtype", "is (4,) float64, the model's (4,) float32"),
    ("missing", "1 tensor(s) missing (e.g. features.0.conv.layers.bias)"),
    ("extra", "1 unexpected (e.g. surplus)"),
    ("shape", "is (3,) float32, the model's (4,) float32"),
    ("not-json", "metadata 'model' is not JSON"),
    ("no-model", "metadata has no 'model'"),
    ("model-type", "metadata 'model' or 'components' is not in the bundle format"),
])
def test_a_damaged_bundle_is_named_with_what_is_wrong(cli, runs, damage, message):
    assert cli("export", str(runs["avg"]), "--out", "good.safetensors").code == 0
    good, bad = Path("good.safetensors"), Path("bad.safetensors")
    bias = "features.0.conv.layers.bias"
    changes = {
        "dtype": lambda m, t: t.__setitem__(bias, t[bias].double()),
        "missing": lambda m, t: t.pop(bias),
        "extra": lambda m, t: t.__setitem__("surplus", torch.zeros(1)),
        "shape": lambda m, t: t.__setitem__(bias, t[bias][:3].clone()),
        "not-json": lambda m, t: m.__setitem__("model", "{not json"),
        "no-model": lambda m, t: m.pop("model"),
        "model-type": lambda m, t: m.__setitem__("model", "[1, 2]"),
    }
    if damage == "truncated":
        bad.write_bytes(good.read_bytes()[:-100])
    else:
        _rewrite(good, bad, changes[damage])
    r = cli("evaluate", str(bad))
    assert r.code == 2, r.stderr
    assert "bad.safetensors" in r.stderr and message in r.stderr, r.stderr
    assert "Internal error" not in r.stderr and "Traceback" not in r.stderr


# -- ONNX ------------------------------------------------------------------------------------------------
def test_onnx_runs_in_onnxruntime_with_a_dynamic_batch_and_matches_pytorch(cli, runs):
    import numpy as np
    import onnx
    import onnxruntime as ort

    r = cli("export", str(runs["sma"]), "--format", "onnx", "--out", "m.onnx", "--samples", "all", "--json")
    assert r.code == 0, r.stderr
    report = json.loads(r.stdout)
    v = report["verification"]
    assert v["passed"] and v["samples"] == 16 and v["argmax_agreement"] == 1.0
    assert v["max_abs_logit_diff_without_flips"] <= v["tolerance"] * (1 + 100)
    layers = v["spikes"]
    assert {"features.0.neuron", "features.1.attention.acts.0", "features.1.neuron", "head.2"} <= set(layers)
    assert v["spikes_differ"] <= 1e-4 * v["spikes_compared"]
    assert report["details"]["opset"] == 18 and report["versions"]["onnxruntime"] == ort.__version__
    graph = onnx.load("m.onnx")
    assert graph.opset_import[0].version == 18 and [o.name for o in graph.graph.output] == ["logits"]
    dims = [d.dim_value or d.dim_param for d in graph.graph.input[0].type.tensor_type.shape.dim]
    assert graph.graph.input[0].name == "events" and dims == [4, "batch", 2, 16, 16]
    assert not any(n.metadata_props for n in graph.graph.node)  # no stack traces of this machine

    model = snnctl.load(str(runs["sma"]))
    session = ort.InferenceSession("m.onnx", providers=["CPUExecutionProvider"])
    for b in (1, 5):  # a batch size the export did not trace with
        x = sample_batch(runs["sma"], b)
        out = session.run(None, {"events": x.numpy()})[0]
        ref = logits(model, x).numpy()
        assert out.shape == (4, b, 8)
        assert np.array_equal(out.mean(0).argmax(-1), ref.mean(0).argmax(-1))


def test_a_failed_verification_leaves_no_file_and_exits_3(cli, runs, monkeypatch):
    """A writer that damages the graph after exporting it: the check catches it and nothing stays behind."""
    import onnx
    from onnx import numpy_helper

    from snnctl_plugins.export_onnx import ONNXExporter

    original = ONNXExporter.write

    damaged = []

    def damaging_write(self, model, path, ctx):
        details = original(self, model, path, ctx)
        g = onnx.load(str(path))
        for init in g.graph.initializer:
            if init.name.endswith("head.4.layers.bias"):  # the last layer's: every spike stays, the logits do not
                init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) + 1.0, init.name))
                damaged.append(init.name)
        onnx.save(g, str(path))
        return details

    monkeypatch.setattr(ONNXExporter, "write", damaging_write)
    r = cli("export", str(runs["sma"]), "--format", "onnx", "--out", "bad.onnx")
    assert len(damaged) == 1
    assert r.code == 3, r.stderr
    assert "does not compute what test-vgg-sma computes" in r.stderr and "nothing was written at bad.onnx" in r.stderr
    assert "FAILED" in r.stdout  # the report is still shown
    assert sorted(p.name for p in Path(".").iterdir()) == []


def test_onnx_reports_spike_flips_without_failing_on_them(runs):
    """Float reassociation can move a membrane that sits on the threshold: flips are counted, and the logit
    tolerance applies to the samples without one."""
    from snnctl.export.verify import compare_runs

    def run(flip: bool):
        def f(x):
            s = torch.zeros(4, x.shape[1], 10, dtype=torch.bool)
            if flip:
                s[0, 0, 0] = True
            return torch.zeros(4, x.shape[1], 3, dtype=torch.float64) + (0.5 if flip else 0.0) * s[..., :3], {"l": s}
        return f

    batches = [torch.zeros(4, 2, 1)]
    check = compare_runs(run(False), run(True), batches, runtime="test", tolerance=1e-4, max_flip_fraction=0.02)
    assert check.passed and check.spikes["l"] == {"compared": 80, "differ": 1}
    assert check.details["samples_with_flipped_spikes"] == 1 and check.max_abs_logit_diff == 0.5
    strict = compare_runs(run(False), run(True), batches, runtime="test", tolerance=1e-4)
    assert not strict.passed and "1 of 80 spikes differ" in strict.failures[0]


# -- the command line: report, bad inputs, plugins --------------------------------------------------------
def test_the_report_is_printed_and_written_beside_the_file(cli, runs):
    r = cli("export", str(runs["avg"]), "--out", "m.safetensors")
    assert r.code == 0, r.stderr
    assert "bundle: test-vgg from" in r.stdout and "verified" in r.stdout and "m.safetensors.report.json" in r.stdout
    report = json.loads(Path("m.safetensors.report.json").read_text())
    assert report["format"] == "bundle" and report["file"] == "m.safetensors"
    assert report["bytes"] == Path("m.safetensors").stat().st_size
    assert report["source"]["model"] == "test-vgg" and report["source"]["checkpoint"] == "best"
    assert report["input"]["shape"] == [4, "batch", 2, 16, 16] and report["output"]["shape"] == [4, "batch", 8]
    assert {"snnctl", "torch", "python"} <= set(report["versions"])
    assert report["verification"]["data"]["dataset"] == "synthetic-gestures"
    assert report["verification"]["samples"] == 16  # default 64, the split has 16
    j = cli("export", str(runs["avg"]), "--out", "n.safetensors", "--json", "--samples", "3")
    assert json.loads(j.stdout)["verification"]["samples"] == 3  # --json: nothing but the report on stdout


def test_default_output_goes_into_the_run_folder(cli, runs, tmp_path):
    import shutil

    run = tmp_path / "copy"
    shutil.copytree(runs["avg"], run)
    r = cli("export", str(run), "--checkpoint", "last")
    assert r.code == 0, r.stderr
    assert (run / "export" / "test-vgg-last.safetensors").is_file()
    assert (run / "export" / "test-vgg-last.safetensors.report.json").is_file()


def test_bad_inputs_get_one_message_each(cli, runs, tmp_path, monkeypatch):
    import shutil

    def fails(*args, code=2):
        r = cli("export", *args)
        assert r.code == code, (args, r.stdout, r.stderr)
        assert "Internal error" not in r.stderr and "Traceback" not in r.stderr
        return r.stderr

    empty = tmp_path / "fresh"
    empty.mkdir()
    shutil.copy(runs["avg"] / "config.yaml", empty / "config.yaml")
    assert "has no 'best' checkpoint yet" in fails(str(empty))
    damaged = tmp_path / "damaged"
    shutil.copytree(runs["avg"], damaged)
    blob = damaged / "best" / "model.safetensors"
    blob.write_bytes(blob.read_bytes()[:50])
    assert "is not a readable safetensors file" in fails(str(damaged))
    err = fails(str(runs["avg"]), "--format", "onx")
    assert "unknown exporter 'onx'" in err and "did you mean 'onnx'" in err
    assert "folder no/such does not exist" in fails(str(runs["avg"]), "--out", "no/such/m.onnx")
    Path("taken.safetensors").write_text("keep me")
    err = fails(str(runs["avg"]), "--out", "taken.safetensors")
    assert "taken.safetensors already exists" in err and "--force" in err
    assert Path("taken.safetensors").read_text() == "keep me"
    assert cli("export", str(runs["avg"]), "--out", "taken.safetensors", "--force").code == 0
    assert Path("taken.safetensors").read_bytes()[:8] != b"keep me"
    assert "expected a positive number or 'all'" in fails(str(runs["avg"]), "--samples", "none")
    assert "checkpoint: expected 'best' or 'last'" in fails(str(runs["avg"]), "--checkpoint", "first")
    assert "is the source itself" in fails("taken.safetensors", "--out", "taken.safetensors", "--force")

    import snnctl.export.base as base

    real = base.importlib.util.find_spec
    monkeypatch.setattr(base.importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    err = fails(str(runs["avg"]), "--format", "onnx", "--out", "x.onnx")
    assert "needs the package(s) onnxruntime" in err and "pip install 'snnctl[export]'" in err
    assert not Path("x.onnx").exists()
    assert not [p for p in Path(".").iterdir() if ".tmp-" in p.name]


EXPORTER_PLUGIN = '''
    import numpy as np
    import torch
    import snnctl
    from snnctl.export import Exporter, Verification


    class NpzExporter(Exporter):
        """Every weight as a numpy array in one .npz file (a test exporter)."""

        suffix = ".npz"

        def __init__(self, compressed: bool = False):
            self.compressed = compressed

        def write(self, model, path, ctx):
            arrays = {k: v.detach().numpy() for k, v in model.state_dict().items()}
            with open(path, "wb") as f:
                (np.savez_compressed if self.compressed else np.savez)(f, **arrays)
            return {"arrays": len(arrays)}

        def verify(self, path, model, ctx):
            with np.load(path) as got:
                same = all(np.array_equal(got[k], v.detach().numpy()) for k, v in model.state_dict().items())
            return Verification("numpy", ctx.sample_count, 0.0, 0.0, 1.0,
                                failures=[] if same else ["arrays differ"])


    @snnctl.hookimpl
    def register_exporters(register):
        register("npz", NpzExporter)
'''


def test_a_third_party_exporter_is_a_registry_component(cli, runs, plugin_dir):
    plugin_dir("npz_export.py", EXPORTER_PLUGIN)
    folder = str(plugin_dir.path)
    listed = json.loads(cli("--plugins-dir", folder, "list", "exporters", "--json").stdout)
    assert [e["name"] for e in listed] == ["bundle", "nir", "npz", "onnx"]
    info = json.loads(cli("--plugins-dir", folder, "info", "exporter", "npz", "--json").stdout)
    assert info["plugin"] == "npz_export.py" and info["parameters_schema"][0]["name"] == "compressed"
    r = cli("--plugins-dir", folder, "export", str(runs["avg"]), "--format", "npz", "--set", "compressed=true",
            "--out", "w.npz", "--json")
    assert r.code == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["exporter"]["plugin"] == "npz_export.py" and report["exporter"]["settings"] == {"compressed": True}
    assert report["details"]["arrays"] > 0 and report["verification"]["passed"]
    import numpy as np

    with np.load("w.npz") as f:
        assert "features.0.conv.layers.weight" in f.files


def test_built_in_exporters_are_listed_with_their_settings(cli):
    rows = {e["name"]: e for e in json.loads(cli("list", "exporters", "--json").stdout)}
    assert set(rows) == {"bundle", "onnx", "nir"} and rows["onnx"]["distribution"] == "snnctl"
    onnx = json.loads(cli("info", "exporter", "onnx", "--json").stdout)
    assert {p["name"]: p["default"] for p in onnx["parameters_schema"]} == \
        {"opset": 18, "tolerance": 1e-4, "max_flip_fraction": 1e-4}
    nir = json.loads(cli("info", "exporter", "nir", "--json").stdout)
    assert {p["name"]: p["default"] for p in nir["parameters_schema"]} == {"dt": 1e-4}
    bad = cli("export", "x", "--format", "onnx", "--set", "opset=9")
    assert bad.code == 2 and "opset" in bad.stderr


def test_onnx_export_on_a_torch_without_the_torch_export_exporter_says_so(cli, runs, monkeypatch):
    def old_export(model, args, f, export_params=True, verbose=False, opset_version=None):  # torch 2.4's signature
        raise AssertionError("not called")

    monkeypatch.setattr(torch.onnx, "export", old_export)
    r = cli("export", str(runs["avg"]), "--format", "onnx", "--out", "m.onnx")
    assert r.code == 2 and "needs torch's torch.export-based ONNX exporter" in r.stderr and "2.6 or newer" in r.stderr
    assert not Path("m.onnx").exists()
