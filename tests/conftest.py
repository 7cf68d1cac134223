from __future__ import annotations

import json
import shutil
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from snnctl import plugins

pytest_plugins = ["pytester"]

#: a few small recordings of the default data, and a training run of a tiny model on them
DATA_ARGS = json.dumps({"train_per_class": 4, "test_per_class": 2, "size": 16})
TINY = ["--model", "test-vgg-sma", "--set", f"data.args={DATA_ARGS}", "-T", "4", "--epochs", "2",
        "--batch-size", "8", "--quiet"]

#: The console script installed beside this interpreter (PATH may hold another one).
SNNCTL = shutil.which("snnctl", path=str(Path(sys.executable).parent)) or "snnctl"


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(capsys, monkeypatch):
    """Run the snnctl command line in-process: cli("list", "neurons", "--json")."""
    from snnctl.cli import main

    monkeypatch.delenv("SNNCTL_DEBUG", raising=False)

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 0
        out, err = capsys.readouterr()
        return CliResult(code, out, err)

    yield run
    plugins.reset()


@pytest.fixture(autouse=True)
def _fresh_plugin_manager(monkeypatch):
    """Each test sees the plugins of its own environment, not those of an earlier test."""
    for var in ("SNNCTL_PLUGINS_DIR", "SNNCTL_LOAD_PLUGINS", "SNNCTL_TRACE"):
        monkeypatch.delenv(var, raising=False)
    plugins.configure([])
    yield
    plugins.configure([])


@pytest.fixture
def env(tmp_path, monkeypatch):
    """A private cache and working folder (runs/ lands in tmp_path)."""
    monkeypatch.setenv("SNNCTL_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def plugin_dir(tmp_path):
    """A --plugins-dir folder; write(name, source) drops a one-file plugin into it."""
    folder = tmp_path / "snnctl-plugins"
    folder.mkdir()

    def write(name: str, source: str) -> Path:
        path = folder / name
        path.write_text(textwrap.dedent(source))
        return path

    write.path = folder  # type: ignore[attr-defined]
    return write


# -- trained runs for the export tests --------------------------------------------------------------
EXPORT_DATA = {"train_per_class": 4, "test_per_class": 2, "size": 16}


@dataclass
class Runs:
    """Tiny trained runs (T=4, 2x16x16 frames, 8 classes) in ``root/runs``, their frame cache in ``root/cache``."""

    root: Path

    def __getitem__(self, name: str) -> Path:
        return self.root / "runs" / name


def train_tiny(name: str, model: str, regularizers: tuple[str, ...] = (), epochs: int = 2, **model_args) -> None:
    """Train a tiny run in the current folder (``runs/NAME``) through the engine, as ``snnctl train`` would."""
    import json

    from snnctl.config import resolve_config
    from snnctl.engine.train import train

    sets = [f"data.args={json.dumps(EXPORT_DATA)}"] + [f"model.args.{k}={json.dumps(v)}" for k, v in model_args.items()]
    flags = {"name": name, "model": {"name": model}, "regularizers": [{"name": r} for r in regularizers],
             "timesteps": 4, "epochs": epochs, "batch_size": 8}
    train(resolve_config(assignments=sets, flags=flags))


@pytest.fixture(scope="session")
def export_runs(tmp_path_factory) -> Runs:
    """``sma``: test-vgg-sma with AZO (max pooling, SMA); ``avg``: test-vgg with average pooling and lif."""
    root = tmp_path_factory.mktemp("export-runs")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SNNCTL_CACHE", str(root / "cache"))
        mp.chdir(root)
        plugins.configure([])
        train_tiny("sma", "test-vgg-sma", ("azo",))
        train_tiny("avg", "test-vgg", pool="avg")
        plugins.configure([])
    return Runs(root)


@pytest.fixture
def runs(export_runs, monkeypatch, tmp_path) -> Runs:
    """The tiny trained runs, with their cache; the test works in its own ``tmp_path``."""
    monkeypatch.setenv("SNNCTL_CACHE", str(export_runs.root / "cache"))
    monkeypatch.chdir(tmp_path)
    return export_runs
