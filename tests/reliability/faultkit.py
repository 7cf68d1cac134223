"""The fault-injection suite's helpers: snnctl in a child process, with a fault planted (``SNNCTL_FAULT``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass
class Proc:
    code: int
    stdout: str
    stderr: str


class Snnctl:
    """Runs ``python -m snnctl`` in ``cwd`` with a private frame cache; ``fault`` plants SNNCTL_FAULT."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self.env = {**os.environ, "SNNCTL_CACHE": str(cwd / "cache"), "OMP_NUM_THREADS": "1"}
        for var in ("SNNCTL_FAULT", "SNNCTL_FAULT_LOG", "SNNCTL_PLUGINS_DIR", "SNNCTL_LOAD_PLUGINS"):
            self.env.pop(var, None)

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "snnctl", *args]

    def environ(self, fault: str | None = None, log: Path | None = None, **extra: str) -> dict[str, str]:
        env = dict(self.env, **extra)
        if fault:
            env["SNNCTL_FAULT"] = fault
        if log:
            env["SNNCTL_FAULT_LOG"] = str(log)
        return env

    def __call__(self, *args: str, fault: str | None = None, log: Path | None = None, timeout: float = 300,
                 **extra: str) -> Proc:
        p = subprocess.run(self.command(*args), cwd=self.cwd, env=self.environ(fault, log, **extra),
                           capture_output=True, text=True, timeout=timeout)
        return Proc(p.returncode, p.stdout, p.stderr)

    def start(self, *args: str, fault: str | None = None, **extra: str) -> subprocess.Popen:
        return subprocess.Popen(self.command(*args), cwd=self.cwd, env=self.environ(fault, **extra),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture
def snnctl_proc(tmp_path) -> Snnctl:
    return Snnctl(tmp_path)


def metrics_without_timing(run: Path) -> list[dict]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in ("seconds", "samples_per_s")} for r in rows]
