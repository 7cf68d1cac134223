"""Shared measurement helpers of the benchmark scripts: child processes, peak memory, timings.

Each implementation runs in a fresh child process so its peak memory is its own. The child takes its
resident memory as a baseline and resets the peak counter (``/proc/self/clear_refs``) before the first
call, so every buffer an implementation holds or leaves cached in the heap counts; the first calls
are warm-up, the rest are timed.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from typing import Callable


def rss_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def timings(step: Callable[[], object], repeats: int, warmup: int = 1) -> list[float]:
    """Seconds of each of ``repeats`` timed calls of ``step``, after ``warmup`` untimed ones."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return times


def measure(step: Callable[[], None], repeats: int, warmup: int = 2) -> dict:
    """Run ``step`` warm-up + timed times; median/min milliseconds and peak extra resident MiB."""
    base = rss_kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak resident set (VmHWM) to the current one
    times = timings(step, repeats, warmup)
    peak = rss_kib("VmHWM")
    return {"median_ms": 1e3 * statistics.median(times), "min_ms": 1e3 * min(times),
            "peak_extra_mib": (peak - base) / 1024}


def run_children(script: str, impls: list[str], args: list[str]) -> list[dict]:
    """Run ``script --child IMPL ARGS`` per implementation; each prints one JSON line last."""
    results = []
    for impl in impls:
        proc = subprocess.run([sys.executable, script, "--child", impl, *args], capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"{impl}: failed\n{proc.stderr}", file=sys.stderr)
            continue
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return results
