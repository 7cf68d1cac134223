"""The one writing path of snnctl: files written whole or not at all, disk errors named, faults injectable.

Everything snnctl writes into a run folder, the frame cache or an export goes through
:func:`write_file` (a new file: write, flush, fsync) or :func:`atomic_write` (a file that replaces
another: written under a temporary name beside it, then renamed). A full disk, a missing permission
or a read-only file system becomes one :class:`WriteError` naming the folder, what was being
written and how much room it needs; the temporary file is removed and the file it would have
replaced is untouched.

Also here: a deterministic safetensors writer (:func:`safetensors_bytes`) and a header reader.

**Fault injection** (for the reliability tests; off unless ``SNNCTL_FAULT`` is set). Each write
passes named steps (:func:`step`: ``write``, ``fsync``, ``rename``, ``link``, ``mkdir``, ``remove``
with the file's name). ``SNNCTL_FAULT`` is ``ACTION@N`` or ``ACTION@N:PREFIX``: at the N-th step (of
those whose name starts with PREFIX) the process does ACTION: ``kill`` (SIGKILL itself),
``enospc``, ``eacces`` or ``erofs`` (raise that error). ``SNNCTL_FAULT_LOG=FILE`` appends every
step's name to FILE.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import struct
from pathlib import Path
from typing import Any, Callable, Optional, Union

from snnctl.errors import SnnctlError

__all__ = ["WriteError", "human_bytes", "step", "reset_faults", "write_file", "atomic_write", "make_dir", "fsync_file", "fsync_dir",
           "replace", "link_or_copy", "remove_tree", "disk_error", "safetensors_bytes", "read_safetensors_header"]

ENV_FAULT = "SNNCTL_FAULT"
ENV_FAULT_LOG = "SNNCTL_FAULT_LOG"


class WriteError(SnnctlError):
    """A file could not be written (disk full, no permission, read-only file system)."""


# -- fault injection ---------------------------------------------------------------------------------------
_steps: dict[str, Any] = {"count": 0, "spec": None}
_FAULTS = {"enospc": errno.ENOSPC, "eacces": errno.EACCES, "erofs": errno.EROFS}


def reset_faults() -> None:
    """Count steps from zero again (each command counts its own; the command line calls this first)."""
    _steps.update(count=0, spec=None)


def step(name: str) -> None:
    """One step of a write (see the module docstring); does nothing unless a fault is injected."""
    log = os.environ.get(ENV_FAULT_LOG)
    if log:
        with open(log, "a") as f:
            f.write(name + "\n")
    spec = os.environ.get(ENV_FAULT)
    if not spec:
        return
    if spec != _steps["spec"]:  # a new fault counts from its own first step
        _steps.update(count=0, spec=spec)
    action, _, rest = spec.partition("@")
    at, _, prefix = rest.partition(":")
    if prefix and not name.startswith(prefix):
        return
    _steps["count"] += 1
    if _steps["count"] != int(at):
        return
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    code = _FAULTS.get(action)
    if code is None:
        raise ValueError(f"{ENV_FAULT}={spec}: unknown fault '{action}'")
    raise OSError(code, os.strerror(code), name.partition(" ")[2] or None)


# -- disk errors -----------------------------------------------------------------------------------------
def human_bytes(n: Optional[float]) -> str:
    """``1536`` -> ``"1.5 KiB"``; None -> ``"-"``."""
    if n is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def _free(folder: Path) -> Optional[int]:
    for candidate in (folder, *folder.parents):
        try:
            return shutil.disk_usage(candidate).free
        except OSError:
            continue
    return None


def disk_error(exc: OSError, path: Path, what: str, size: Optional[int] = None) -> SnnctlError:
    """The message for an OSError met while writing ``what`` to ``path`` (``size`` bytes)."""
    folder = Path(path).parent
    code = exc.errno
    if code in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        return WriteError(f"no space left in {folder} for {what} ({human_bytes(size)} needed, "
                          f"{human_bytes(_free(folder))} free)",
                          "Free space on that disk or write elsewhere; the files written before are intact.")
    if code in (errno.EACCES, errno.EPERM):
        return WriteError(f"no permission to write {what} in {folder}",
                          "Make the folder writable, or choose another one; nothing there was changed.")
    if code == errno.EROFS:
        return WriteError(f"{folder} is on a read-only file system: cannot write {what}",
                          "Choose a writable folder; nothing there was changed.")
    if code == errno.ENOENT:
        return WriteError(f"folder {folder} does not exist (writing {what})", "Create it, or choose another folder.")
    return WriteError(f"could not write {what} to {path}: {exc.strerror or exc}",
                      "Check the folder and the disk; the files written before are intact.")


# -- writing -----------------------------------------------------------------------------------------------
Data = Union[bytes, Callable[[Any], None]]


def fsync_file(path: Path) -> None:
    """Flush a written file to the disk (before it is renamed into place)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(folder: Path) -> None:
    """Make the renames inside ``folder`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_file(path: Path, data: Data, what: str, size: Optional[int] = None) -> int:
    """Write a new file whole (``data`` bytes, or a function given the open binary file) and fsync it.

    ``size`` is the room the whole write needs, for the message of a full disk (default: the data's
    length). Returns the file's size. On any error the partial file is removed and a disk error becomes a
    :class:`WriteError` naming ``what`` and the folder.
    """
    path = Path(path)
    size = size if size is not None else len(data) if isinstance(data, (bytes, bytearray)) else None
    try:
        step(f"write {path.name}")
        with open(path, "wb") as f:
            if isinstance(data, (bytes, bytearray)):
                f.write(data)
            else:
                data(f)
            f.flush()
            step(f"fsync {path.name}")
            os.fsync(f.fileno())
            written = f.tell()
    except OSError as exc:
        path.unlink(missing_ok=True)
        raise disk_error(exc, path, what, size) from None
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return written


def replace(src: Path, dst: Path, what: str) -> None:
    """Rename ``src`` over ``dst`` (a step; disk errors named)."""
    try:
        step(f"rename {Path(dst).name}")
        os.replace(src, dst)
    except OSError as exc:
        raise disk_error(exc, Path(dst), what) from None


def atomic_write(path: Path, data: Data, what: Optional[str] = None) -> int:
    """Write ``path`` through a temporary file beside it and a rename: never a half-written file."""
    path = Path(path)
    what = what or path.name
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        n = write_file(tmp, data, what)
        replace(tmp, path, what)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return n


def make_dir(path: Path, what: str, exist_ok: bool = True) -> None:
    """Create a folder and its parents (a step; disk errors named)."""
    try:
        step(f"mkdir {Path(path).name}")
        Path(path).mkdir(parents=True, exist_ok=exist_ok)
    except FileExistsError:
        raise
    except OSError as exc:
        raise disk_error(exc, Path(path) / ".", what) from None


def link_or_copy(src: Path, dst: Path, what: str) -> None:
    """Hard-link ``src`` to ``dst``, copying (and fsyncing) where links are not possible."""
    try:
        step(f"link {Path(dst).name}")
        try:
            os.link(src, dst)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EROFS, errno.EACCES):
                raise
            shutil.copy2(src, dst)
            fsync_file(dst)
    except OSError as exc:
        Path(dst).unlink(missing_ok=True)
        raise disk_error(exc, Path(dst), what, Path(src).stat().st_size if Path(src).exists() else None) from None


def remove_tree(path: Path) -> None:
    """Remove a folder that may not exist (a step)."""
    if Path(path).exists():
        step(f"remove {Path(path).name}")
        shutil.rmtree(path, ignore_errors=True)


# -- safetensors -------------------------------------------------------------------------------------------
def _dtype_codes() -> dict[Any, str]:
    import torch

    return {torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
            torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
            torch.bool: "BOOL"}


def safetensors_bytes(tensors: dict[str, Any], metadata: dict[str, str]) -> bytes:
    """The safetensors encoding of ``tensors`` with ``metadata``, identical for identical inputs.

    The safetensors library writes its metadata in another order in every process; this writes the
    same format (an 8-byte little-endian header length, a JSON header, the raw little-endian data)
    with sorted keys, tensors laid out by decreasing element size then name (as the library does, so
    each is aligned to its element size), and the header padded with spaces to a multiple of 8 bytes.
    The safetensors library reads the result like any other file.
    """
    codes = _dtype_codes()
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise TypeError("safetensors metadata must map str to str")
    order = sorted(tensors, key=lambda k: (-tensors[k].element_size(), k))
    header: dict[str, Any] = {"__metadata__": dict(sorted(metadata.items()))} if metadata else {}
    blobs: list[bytes] = []
    offset = 0
    for name in order:
        t = tensors[name].detach().to("cpu").contiguous()
        if t.dtype not in codes:
            raise TypeError(f"tensor {name}: dtype {t.dtype} has no safetensors code")
        import torch

        blob = t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
        header[name] = {"dtype": codes[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(dict(sorted(header.items())), separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-(8 + len(text)) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def read_safetensors_header(path: Path, limit: int = 100 << 20) -> Optional[dict[str, Any]]:
    """The JSON header of a safetensors file (tensors and ``__metadata__``), or None if ``path`` is not one.

    Reads only the header. A file that starts like safetensors but whose header is cut or not JSON
    is an error naming the file.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                return None
            (size,) = struct.unpack("<Q", head)
            if size < 2 or size > limit:
                return None
            text = f.read(size)
    except OSError as exc:
        raise SnnctlError(f"{path} cannot be read ({exc.strerror or exc})") from None
    if not text.lstrip().startswith(b"{"):
        return None
    try:
        header = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise SnnctlError(f"{path} has a damaged safetensors header",
                          "The file was cut short or changed; write it again.") from None
    return header if isinstance(header, dict) else None
