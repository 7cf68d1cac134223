"""README, docs/ and --help stay true to the code."""

from __future__ import annotations

import json
import re
from pathlib import Path

from snnctl.cli.reference import render as render_cli

ROOT = Path(__file__).resolve().parents[1]


def quick_start() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", readme, re.S)
    assert block, "README.md must open with a bash block holding the quick start"
    assert readme.index(block.group(0)) < readme.index("\n## "), "the quick start comes first"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_readme_opens_with_exactly_two_commands():
    lines = quick_start()
    assert len(lines) == 2
    assert "pip install" in lines[0] and "snnctl" in lines[0]
    assert "pip install" in lines[1] and "pytest" in lines[1]


def test_ci_runs_the_readmes_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert quick_start()[1] in ci.splitlines()


def test_cli_reference_is_generated_from_the_commands():
    doc = (ROOT / "docs" / "cli.md").read_text()
    assert doc == render_cli(), "docs/cli.md is stale: run `python -m snnctl.cli.reference > docs/cli.md`"


def test_environment_switches_are_documented():
    """Every SNNCTL_* variable the code reads appears in the README's table."""
    import re

    readme = (ROOT / "README.md").read_text()
    used = set()
    for folder in ("snnctl", "plugins"):
        for path in (ROOT / folder).rglob("*.py"):
            used |= set(re.findall(r"SNNCTL_[A-Z_]+", path.read_text()))
    assert {"SNNCTL_LOAD_PLUGINS", "SNNCTL_PLUGINS_DIR", "SNNCTL_TRACE", "SNNCTL_DEBUG", "SNNCTL_CACHE"} <= used
    for var in sorted(used):
        assert re.search(rf"`{var}(=[^`]*)?`", readme), f"{var} is read by the code but not documented in README.md"


def test_plugin_guide_one_file_neuron_works(cli, plugin_dir):
    """The first plugin of docs/plugins.md, copied verbatim, loads and passes the contract."""
    from snnctl import plugins
    from snnctl.testing import check_neuron

    guide = (ROOT / "docs" / "plugins.md").read_text()
    source = re.search(r"```python\n(.*?)```", guide, re.S).group(1)
    assert "register_neurons" in source
    plugin_dir("refractory_lif.py", source)
    r = cli("--plugins-dir", str(plugin_dir.path), "info", "neuron", "refractory-lif", "--json")
    assert r.code == 0, r.stderr
    plugins.configure([str(plugin_dir.path)])
    neuron = check_neuron("refractory-lif")
    # refractory: after a spike the neuron stays silent for 2 steps even under strong drive
    import torch

    neuron.reset()
    assert neuron(torch.full((7, 1), 5.0)).flatten().tolist() == [1, 0, 0, 1, 0, 0, 1]


def test_training_doc_lists_every_config_field():
    from snnctl.config import reference_markdown

    text = (ROOT / "docs" / "training.md").read_text()
    block = text.split("<!-- config-reference: start -->\n")[1].split("<!-- config-reference: end -->")[0]
    assert block == reference_markdown(), "regenerate the table with: python -m snnctl.config"


def _blocks(page: str) -> list[tuple[str, str]]:
    return re.findall(r"```(bash|python)\n(.*?)```", (ROOT / "docs" / page).read_text(), re.S)


def test_export_guide_runs_as_written(cli, plugin_dir, tmp_path, monkeypatch):
    """docs/export.md: the tour's commands, then its Python examples, then its two plugins."""
    import shlex

    import snnctl
    from snnctl import plugins

    monkeypatch.setenv("SNNCTL_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    # the tour trains full runs; here each is one epoch on a few samples (the commands are otherwise verbatim)
    small = ["--epochs", "1", "--batch-size", "8", "--set", 'data.args={"train_per_class": 2, "test_per_class": 1}',
             "--quiet"]
    blocks = _blocks("export.md")
    tour = [code for lang, code in blocks if lang == "bash"][0]
    for line in filter(str.strip, tour.splitlines()):
        command, _, comment = line.partition("#")
        args = shlex.split(command)
        assert args[0] == "snnctl"
        args = args[1:] + (small if args[1] == "train" else [])
        r = cli(*args)
        assert r.code == (2 if "exit 2" in comment else 0), (line, r.stderr[-2000:])
    assert Path("model.safetensors").is_file() and Path("model.onnx").is_file() and Path("graph.nir").is_file()
    assert not Path("model.nir").exists()
    examples = [code for lang, code in blocks if lang == "python" and "hookimpl" not in code]
    assert len(examples) == 2
    for code in examples:
        exec(compile(code, "docs/export.md", "exec"), {})
    exporter, neuron = [code for lang, code in blocks if lang == "python" and "hookimpl" in code]
    plugin_dir("npz_export.py", exporter)
    plugin_dir("gain_if.py", neuron)
    folder = str(plugin_dir.path)
    r = cli("--plugins-dir", folder, "export", "runs/default", "--format", "npz", "--set", "compressed=true")
    assert r.code == 0, r.stderr
    assert Path("runs/default/export/vgg5-sma-best.npz").is_file()
    r = cli("--plugins-dir", folder, "train", "--model", "vgg5", "--neuron", "gain-if", "--reg", "none",
            "--set", "model.args.pool=avg", "--name", "gain", *small)
    assert r.code == 0, r.stderr
    r = cli("--plugins-dir", folder, "export", "runs/gain", "--format", "nir", "--json")
    assert r.code == 0, r.stderr
    assert json.loads(r.stdout)["verification"]["spikes_differ"] == 0
    plugins.configure([folder])
    assert type(snnctl.load("runs/gain/export/vgg5-best.nir").nodes["features_0_neuron"]).__name__ == "NIRIntegrator"


def test_api_reference_is_generated_from_the_docstrings():
    from snnctl.apidoc import render

    doc = (ROOT / "docs" / "api.md").read_text()
    assert doc == render(), "docs/api.md is stale: run `python -m snnctl.apidoc > docs/api.md`"


def test_api_reference_covers_every_public_name_and_its_links_resolve():
    from snnctl.apidoc import API, public_names

    import importlib

    names = public_names()
    for module, listed, _ in API:
        mod = importlib.import_module(module)
        for name in listed if listed is not None else [n for n in mod.__all__ if not n.startswith("__")]:
            assert f"{module}.{name}" in names
    doc = (ROOT / "docs" / "api.md").read_text()
    anchors = set(re.findall(r'<a id="([^"]+)"></a>', doc))
    assert {"snnctl.nn.Neuron", "snnctl.nn.SpikeRecorder", "snnctl.data.Recording", "snnctl.testing.check_learning",
            "snnctl.profile.Monitor", "snnctl.profile.Counts", "snnctl.export.Exporter"} <= anchors
    links = {"api.md": re.findall(r"\]\(#([^)]+)\)", doc)}
    for page in (ROOT / "docs").rglob("*.md"):
        links[page.name] = re.findall(r"\]\((?:\.\./)?api\.md#([^)]+)\)", page.read_text())
    for name, targets in links.items():
        for anchor in targets:
            assert anchor in anchors, f"{name} links to api.md#{anchor}, which does not exist"


def test_author_docs_never_send_the_reader_into_the_source():
    """docs/architecture.md describes the project's own layout; every other page speaks of the public API."""
    pages = [p for p in (ROOT / "docs").rglob("*.md") if p.name != "architecture.md"]
    for page in pages:
        found = re.findall(r"(?<![\w-])plugins/\w+\.py|(?<![\w-])snnctl/[\w/]+\.py|snnctl_plugins\.\w+", page.read_text())
        assert not found, f"{page.relative_to(ROOT)} points into snnctl's source: {found}"


def test_plugin_guide_tests_are_the_example_packages_tests():
    """The test functions docs/plugins.md shows for snnctl-alif are those its test suite runs (comments aside)."""
    def normal(code: str) -> str:
        return "\n".join(line.split("  #")[0].rstrip() for line in code.splitlines() if line.strip())

    suite = normal((ROOT / "examples" / "snnctl-alif" / "tests" / "test_snnctl_alif.py").read_text())
    shown = [code for lang, code in _blocks("plugins.md") if lang == "python" and "def test_alif" in code]
    functions = [f"def test_alif{part}" for code in shown for part in code.split("def test_alif")[1:]]
    assert {"test_alif_learns", "test_alif_passes_the_neuron_contract"} <= {f.split("(")[0][4:] for f in functions}
    for function in functions:
        assert normal(function) in suite, f"docs/plugins.md shows a test the example package does not have:\n{function}"
