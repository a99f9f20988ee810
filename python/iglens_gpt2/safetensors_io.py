"""Read and write the safetensors format with plain Python and torch.

Layout of a file: an unsigned 64-bit little-endian header length N, N bytes of
JSON header, then the raw tensor data. The header maps each tensor name to
``{"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}`` (offsets
relative to the start of the data section); the optional ``__metadata__`` key
holds a str -> str map. Tensors are stored C-contiguous and little-endian.

Named ``safetensors_io`` so that it never shadows the ``safetensors`` package.
"""

import json
import os
import struct
import sys
from typing import Dict, Optional, Tuple

import torch

DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}
DTYPE_NAMES = {v: k for k, v in DTYPES.items()}
_MAX_HEADER = 100 * 1024 * 1024


class SafetensorsError(ValueError):
    pass


def _check_host():
    if sys.byteorder != "little":
        raise SafetensorsError("safetensors_io supports little-endian hosts only")


def _element_size(dtype: torch.dtype) -> int:
    return torch.empty((), dtype=dtype).element_size()


def load_file(path: str) -> Tuple[Dict[str, torch.Tensor], Dict[str, str]]:
    """Return (tensors, metadata) read from a .safetensors file.

    The tensors share one buffer holding the whole file (they are read-only in
    spirit; copy before modifying in place if the file contents matter).
    """
    _check_host()
    with open(path, "rb") as f:
        blob = bytearray(f.read())
    return loads(blob, name=str(path))


def loads(blob: bytearray, name: str = "<buffer>") -> Tuple[Dict[str, torch.Tensor], Dict[str, str]]:
    if len(blob) < 8:
        raise SafetensorsError(f"{name}: too short for a safetensors file")
    (n,) = struct.unpack("<Q", bytes(blob[:8]))
    if n > _MAX_HEADER or 8 + n > len(blob):
        raise SafetensorsError(f"{name}: header length {n} does not fit the file ({len(blob)} bytes)")
    try:
        header = json.loads(bytes(blob[8:8 + n]).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SafetensorsError(f"{name}: header is not valid JSON: {e}") from None
    if not isinstance(header, dict):
        raise SafetensorsError(f"{name}: header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    base = 8 + n
    data_len = len(blob) - base
    tensors: Dict[str, torch.Tensor] = {}
    for key, info in header.items():
        try:
            dtype_name, shape, (begin, end) = info["dtype"], info["shape"], info["data_offsets"]
        except (KeyError, TypeError, ValueError):
            raise SafetensorsError(f"{name}: malformed entry for {key!r}: {info!r}") from None
        if dtype_name not in DTYPES:
            raise SafetensorsError(f"{name}: tensor {key!r} has unsupported dtype {dtype_name}")
        dtype = DTYPES[dtype_name]
        numel = 1
        for s in shape:
            if not isinstance(s, int) or s < 0:
                raise SafetensorsError(f"{name}: tensor {key!r} has a bad shape {shape}")
            numel *= s
        nbytes = numel * _element_size(dtype)
        if not (0 <= begin <= end <= data_len) or end - begin != nbytes:
            raise SafetensorsError(
                f"{name}: tensor {key!r} offsets [{begin}, {end}) do not match "
                f"{dtype_name}{shape} ({nbytes} bytes) in a data section of {data_len} bytes")
        if numel == 0:
            t = torch.empty(shape, dtype=dtype)
        else:
            t = torch.frombuffer(blob, dtype=dtype, count=numel, offset=base + begin).reshape(shape)
        tensors[key] = t
    return tensors, metadata


def dumps(tensors: Dict[str, torch.Tensor], metadata: Optional[Dict[str, str]] = None) -> bytes:
    _check_host()
    header: Dict[str, object] = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    chunks = []
    offset = 0
    for key in sorted(tensors):
        t = tensors[key].detach().cpu().contiguous()
        if t.dtype not in DTYPE_NAMES:
            raise SafetensorsError(f"tensor {key!r}: unsupported dtype {t.dtype}")
        raw = t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
        header[key] = {"dtype": DTYPE_NAMES[t.dtype], "shape": list(t.shape),
                       "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * (-len(hjson) % 8)  # pad so that the data section is 8-byte aligned
    return struct.pack("<Q", len(hjson)) + hjson + b"".join(chunks)


def save_file(tensors: Dict[str, torch.Tensor], path: str, metadata: Optional[Dict[str, str]] = None) -> None:
    """Write tensors to path (atomically: a temporary file is renamed)."""
    data = dumps(tensors, metadata)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
