"""Small C kernels compiled at run time, with the plain PyTorch path as the fallback.

snnctl installs without a compiler. Where a C compiler is on the machine (``cc``, or ``$CC``), a kernel's
source is compiled once into a shared library under :func:`kernel_dir` (``<name>-<digest>.so``,
the digest covering the source, the flags, the compiler's version and the CPU's instruction sets) and
loaded with :mod:`ctypes`; every later process loads the cached library. Where there is no compiler,
the compile fails, or ``SNNCTL_NATIVE=0`` is set, :func:`load` returns ``None`` and the caller runs its
PyTorch path, which computes the same results.

Kernels are compiled without floating-point contraction (``-ffp-contract=off``) and without fast-math,
so each operation rounds as the PyTorch operation it mirrors does. ctypes releases the GIL during a
call, so a caller may split its work over threads (:func:`parallel_ranges`).
"""

from __future__ import annotations

import atexit
import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Optional

FLAGS = ["-O3", "-march=native", "-ffp-contract=off", "-fno-math-errno", "-fPIC", "-shared", "-std=c99"]

_lock = threading.Lock()
_loaded: dict[str, Optional[ctypes.CDLL]] = {}
_reasons: dict[str, str] = {}
_pool: Optional[ThreadPoolExecutor] = None


def _forget_pool() -> None:  # a forked child has none of its parent's threads
    global _pool
    _pool = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def enabled() -> bool:
    """False where ``SNNCTL_NATIVE`` is 0/false/no/off."""
    return os.environ.get("SNNCTL_NATIVE", "1").strip().lower() not in ("0", "false", "no", "off")


def _cpu_flags() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _compiler() -> Optional[str]:
    cc = os.environ.get("CC") or "cc"
    return shutil.which(cc) or shutil.which("gcc") or shutil.which("clang")


def kernel_dir() -> Path:
    """``$SNNCTL_KERNELS``, else ``$XDG_CACHE_HOME/snnctl/kernels`` or ``~/.cache/snnctl/kernels``."""
    if os.environ.get("SNNCTL_KERNELS"):
        return Path(os.environ["SNNCTL_KERNELS"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "snnctl" / "kernels"


def load(name: str, source: str) -> Optional[ctypes.CDLL]:
    """The compiled library of ``source`` (cached per process and on disk), or None (see :func:`why_not`)."""
    if not enabled():
        _reasons[name] = "SNNCTL_NATIVE is off"
        return None
    with _lock:
        if name in _loaded:
            return _loaded[name]
        lib = None
        try:
            lib = _build(name, source)
        except Exception as exc:  # no compiler, a failed compile, an unwritable cache: the torch path runs
            _reasons[name] = f"{type(exc).__name__}: {exc}"
        _loaded[name] = lib
        return lib


def why_not(name: str) -> Optional[str]:
    """Why :func:`load` returned None for ``name`` (None if it loaded or was not asked for)."""
    return _reasons.get(name)


def _build(name: str, source: str) -> ctypes.CDLL:
    cc = _compiler()
    if cc is None:
        raise FileNotFoundError("no C compiler (cc, gcc or clang) on PATH")
    version = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=30).stdout
    digest = hashlib.sha256("\0".join([source, " ".join(FLAGS), version, _cpu_flags(), platform.machine()])
                            .encode()).hexdigest()[:20]
    target = kernel_dir() / f"{name}-{digest}.so"
    if target.exists():
        try:
            return ctypes.CDLL(str(target))
        except OSError:  # a damaged library: build it again
            target.unlink(missing_ok=True)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        return ctypes.CDLL(str(_compile(cc, name, source, target)))
    except OSError:  # an unwritable cache folder: compile into a folder of this process's own
        own = Path(tempfile.mkdtemp(prefix="snnctl-kernels-"))
        atexit.register(shutil.rmtree, own, True)
        return ctypes.CDLL(str(_compile(cc, name, source, own / target.name)))


def _compile(cc: str, name: str, source: str, target: Path) -> Path:
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        src = Path(tmp) / f"{name}.c"
        src.write_text(source)
        out = Path(tmp) / f"{name}.so"
        proc = subprocess.run([cc, *FLAGS, str(src), "-o", str(out), "-lm"], capture_output=True, text=True,
                              timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"{cc} failed: {proc.stderr.strip()[-500:]}")
        os.replace(out, target)  # atomic: a concurrent process finds no library or the whole of it
    return target


def parallel_ranges(n: int, threads: int, align: int = 64, min_chunk: int = 1 << 16) -> list[tuple[int, int]]:
    """Split ``range(n)`` into at most ``threads`` chunks of ``align``-multiples, none under ``min_chunk``."""
    parts = max(1, min(threads, n // min_chunk))
    step = -(-n // parts)
    step = -(-step // align) * align
    return [(s, min(n, s + step)) for s in range(0, n, step)]


def run_parallel(call: Callable[[int, int], None], n: int, threads: int) -> None:
    """``call(start, end)`` over chunks of ``range(n)``, on up to ``threads`` threads (the first inline)."""
    global _pool
    ranges = parallel_ranges(n, threads)
    if len(ranges) == 1:
        call(*ranges[0])
        return
    if _pool is None or _pool._max_workers < len(ranges) - 1:  # noqa: SLF001 - grow the shared pool
        _pool = ThreadPoolExecutor(max_workers=len(ranges) - 1, thread_name_prefix="snnctl-native")
    futures = [_pool.submit(call, s, e) for s, e in ranges[1:]]
    call(*ranges[0])
    for f in futures:
        f.result()
