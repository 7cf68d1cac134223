"""The preprocessing benchmark compares like with like: every implementation reads the same recordings,
and snnctl's cache holds, recording by recording, exactly the frames tonic's ToFrame computes."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("h5py")
pytest.importorskip("spikingjelly")
SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_preprocess.py"


def test_bench_preprocess_outputs_agree(tmp_path):
    proc = subprocess.run([sys.executable, str(SCRIPT), "--events", "400", "--users", "1", "--rounds", "1",
                           "--impl", "snnctl-1", "tonic", "spikingjelly-1"], capture_output=True, text=True,
                          cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^(\S+)\s.*\s(\d+ of \d+)$", proc.stdout, re.M)}
    assert rows["snnctl-1"] == "22 of 22"  # 11 training + 11 test recordings, all as to_frames computes them
    assert rows["tonic"] == "22 of 22"  # tonic's cached ToFrame frames: the same, an independent reader
    assert "spikingjelly-1" in rows  # its number split puts bin edges elsewhere: counted, not required equal
    assert "snnctl-1 vs tonic:" in proc.stdout
