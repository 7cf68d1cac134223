from __future__ import annotations

import shutil
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from snnctl import plugins

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
