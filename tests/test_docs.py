"""README, docs/ and --help stay true to the code."""

from __future__ import annotations

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
