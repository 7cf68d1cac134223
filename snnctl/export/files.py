"""File helpers shared by exporters: a deterministic safetensors writer and a header reader.

The safetensors library writes its metadata in a different order in every process, so two exports of
the same weights would differ byte for byte. :func:`safetensors_bytes` writes the same format
(an 8-byte little-endian header length, a JSON header, the raw little-endian tensor data) with
sorted keys and a fixed tensor order, so the same tensors and metadata always give the same bytes;
the safetensors library reads the result like any other file.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any, Optional

import torch

from snnctl.errors import SnnctlError

__all__ = ["safetensors_bytes", "read_safetensors_header"]

_DTYPES = {
    torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
    torch.bool: "BOOL",
}


def safetensors_bytes(tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> bytes:
    """The safetensors encoding of ``tensors`` with ``metadata``, identical for identical inputs.

    Tensors are laid out by decreasing element size, then by name (as the safetensors library does,
    so every tensor starts at an offset aligned to its element size); the header's keys are sorted
    and it is padded with spaces to a multiple of 8 bytes.
    """
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise TypeError("safetensors metadata must map str to str")
    order = sorted(tensors, key=lambda k: (-tensors[k].element_size(), k))
    header: dict[str, Any] = {"__metadata__": dict(sorted(metadata.items()))} if metadata else {}
    blobs: list[bytes] = []
    offset = 0
    for name in order:
        t = tensors[name].detach().to("cpu").contiguous()
        if t.dtype not in _DTYPES:
            raise TypeError(f"tensor {name}: dtype {t.dtype} has no safetensors code")
        blob = t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
        header[name] = {"dtype": _DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(blob)]}
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
                          "The file was cut short or changed; export it again.") from None
    return header if isinstance(header, dict) else None
