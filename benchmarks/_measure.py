"""Shared measurement helpers of the benchmark scripts: child processes, peak memory, timings.

Each implementation runs in a fresh child process so its peak memory is its own. The child takes its
resident memory as a baseline and resets the peak counter (``/proc/self/clear_refs``) before the first
call, so every buffer an implementation holds or leaves cached in the heap counts; the first calls
are warm-up, the rest are timed.
"""

from __future__ import annotations

import json
import os
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


#: glibc malloc settings for ``--malloc tuned``: allocations up to 1 GiB come from the heap and freed memory
#: stays there, so a large tensor reuses pages already faulted in instead of a fresh mmap each time
TUNED_MALLOC = {"MALLOC_MMAP_THRESHOLD_": str(1 << 30), "MALLOC_TRIM_THRESHOLD_": str(1 << 34)}


def add_run_options(parser) -> None:
    """--malloc and --rounds, shared by the side-by-side scripts."""
    parser.add_argument("--rounds", type=int, default=1, help="interleaved rounds of fresh child processes")
    add_malloc_option(parser)


def add_malloc_option(parser) -> None:
    parser.add_argument("--malloc", choices=["default", "tuned"], default="default",
                        help="glibc malloc as it comes, or tuned (MALLOC_MMAP_THRESHOLD_=1 GiB, MALLOC_TRIM_THRESHOLD_="
                             "16 GiB); the same setting for every implementation")


def child_env(malloc: str) -> dict:
    env = dict(os.environ)
    for key in TUNED_MALLOC:
        env.pop(key, None)
    if malloc == "tuned":
        env.update(TUNED_MALLOC)
    return env


def run_children(script: str, impls: list[str], args: list[str], malloc: str = "default",
                 rounds: int = 1) -> list[dict]:
    """Run ``script --child IMPL ARGS`` per implementation, all under the same malloc settings, in
    ``rounds`` interleaved rounds (A B A B ...); each child prints one JSON line last. Per implementation:
    the median over rounds of each child's median, the fastest call of any round, the median peak memory."""
    runs: dict[str, list[dict]] = {impl: [] for impl in impls}
    for _ in range(rounds):
        for impl in impls:
            proc = subprocess.run([sys.executable, script, "--child", impl, *args], capture_output=True, text=True,
                                  env=child_env(malloc))
            if proc.returncode != 0:
                print(f"{impl}: failed\n{proc.stderr}", file=sys.stderr)
                continue
            runs[impl].append(json.loads(proc.stdout.strip().splitlines()[-1]))
    results = []
    for impl, rs in runs.items():
        if not rs:
            continue
        merged = dict(rs[0])
        if "median_ms" in merged:
            merged["median_ms"] = statistics.median(r["median_ms"] for r in rs)
            merged["min_ms"] = min(r["min_ms"] for r in rs)
            merged["peak_extra_mib"] = statistics.median(r["peak_extra_mib"] for r in rs)
        results.append(merged)
    return results
