"""Read and write IDX files, the format MNIST and Fashion-MNIST are distributed in.

An IDX file is: two zero bytes, a type byte, a byte giving the number of dimensions,
that many big-endian ``uint32`` sizes, then the data in C order, big-endian. Files are
often gzipped; :func:`read_idx` detects that from the magic bytes, not from the name.

Every way a file can be malformed raises :class:`~chainrule.errors.DataError` naming the
file and the problem. Declared sizes are checked against what the file can actually hold
*before* anything large is allocated, so a hostile 40-byte header cannot ask for 16 GB.
"""
from __future__ import annotations

import gzip as _gzip
import io
import math
import os
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ..errors import DataError, DatasetNotFoundError, open_for_reading

#: what the parser reads from: an open file, or a GzipFile around one
Stream = BinaryIO | io.BufferedIOBase

# type byte -> big-endian dtype as stored in the file
IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_TYPE_NAMES = {0x08: "ubyte", 0x09: "byte", 0x0B: "short", 0x0C: "int", 0x0D: "float", 0x0E: "double"}
MAX_NDIM = 32  # numpy allows 64; no real IDX file has more than a handful
# Deflate cannot expand data by more than about 1032:1, so a gzip file of c bytes cannot
# hold more than this many times c bytes of payload. Used to reject absurd headers early.
_MAX_DEFLATE_RATIO = 1100
_CHUNK = 1 << 20


def _fail(path: str, problem: str) -> DataError:
    return DataError(f"{path}: not a valid IDX file: {problem}")


def _read_exact(f: Stream, n: int) -> bytes:
    """Read n bytes (fewer only at end of stream), chunk by chunk so nothing is preallocated."""
    if n <= _CHUNK:
        return f.read(n)
    parts = []
    remaining = n
    while remaining > 0:
        part = f.read(min(_CHUNK, remaining))
        if not part:
            break
        parts.append(part)
        remaining -= len(part)
    return b"".join(parts)


def _parse(f: Stream, path: str, budget: int) -> np.ndarray:
    """Parse an IDX stream. ``budget`` bounds how many payload bytes the source can hold."""
    head = f.read(4)
    if len(head) == 0:
        raise _fail(path, "the file is empty")
    if len(head) < 4:
        raise _fail(path, f"header is {len(head)} bytes long, expected at least 4")
    if head[0] != 0 or head[1] != 0:
        raise _fail(path, f"bad magic bytes {head[:2].hex()} (expected 0000)")
    type_byte, ndim = head[2], head[3]
    if type_byte not in IDX_TYPES:
        known = ", ".join(f"0x{k:02X} ({v})" for k, v in _TYPE_NAMES.items())
        raise _fail(path, f"unknown data type byte 0x{type_byte:02X} (known: {known})")
    if ndim == 0 or ndim > MAX_NDIM:
        raise _fail(path, f"number of dimensions is {ndim}, expected 1 to {MAX_NDIM}")
    raw_dims = f.read(4 * ndim)
    if len(raw_dims) < 4 * ndim:
        raise _fail(path, f"header declares {ndim} dimensions but ends after {len(raw_dims) // 4}")
    shape = struct.unpack(f">{ndim}I", raw_dims)
    dtype = IDX_TYPES[type_byte]
    nbytes = math.prod(shape) * dtype.itemsize  # Python int: no overflow
    if nbytes > budget:
        raise _fail(
            path,
            f"header declares shape {shape} of {_TYPE_NAMES[type_byte]} ({nbytes} bytes) "
            f"but the file can hold at most {budget} bytes of data",
        )
    # numpy also refuses an empty shape whose non-zero sides multiply past its index range
    span = math.prod(d for d in shape if d) * dtype.itemsize
    if span > np.iinfo(np.intp).max:
        raise _fail(path, f"header declares shape {shape}, too large for an array on this machine")
    data = _read_exact(f, nbytes)
    if len(data) < nbytes:
        raise _fail(path, f"truncated: shape {shape} needs {nbytes} bytes of data, found {len(data)}")
    if f.read(1):
        raise _fail(path, f"trailing bytes after the {nbytes} bytes of data for shape {shape}")
    array = np.frombuffer(data, dtype=dtype).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=True)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (gzipped or raw) into a native-endian, writable ndarray.

    The result has the shape and type declared in the file, e.g. ``(60000, 28, 28)`` uint8
    for MNIST training images and ``(60000,)`` uint8 for their labels.

    Raises ``DatasetNotFoundError`` when the file does not exist and ``DataError`` (naming
    the file and the problem) for anything malformed: empty file, bad magic, unknown type,
    zero or too many dimensions, truncated data, trailing bytes, a size the file cannot
    hold, or a corrupt gzip stream.
    """
    p = Path(path)
    name = str(p)
    with open_for_reading(p, "IDX file", DatasetNotFoundError, DataError) as f:
        size = os.fstat(f.fileno()).st_size
        magic = f.read(2)
        f.seek(0)
        if magic != b"\x1f\x8b":
            return _parse(f, name, budget=max(size - 4, 0))
        try:
            with _gzip.GzipFile(fileobj=f, mode="rb") as gz:
                return _parse(gz, name + " (gzip)", budget=size * _MAX_DEFLATE_RATIO)
        except DataError:
            raise
        except (OSError, EOFError, zlib.error, ValueError, struct.error) as e:
            raise DataError(f"{name}: corrupt gzip stream: {e}") from None


def _idx_type_byte(dtype: np.dtype) -> int:
    for code, t in IDX_TYPES.items():
        if t.kind == dtype.kind and t.itemsize == dtype.itemsize:
            return code
    raise DataError(
        f"write_idx: dtype {dtype} has no IDX type; use uint8, int8, int16, int32, float32 or float64"
    )


def encode_idx(array: np.ndarray) -> bytes:
    """The raw (uncompressed) IDX bytes of ``array``."""
    a = np.asarray(array)
    if a.ndim == 0 or a.ndim > MAX_NDIM:
        raise DataError(f"write_idx: array has {a.ndim} dimensions, IDX needs 1 to {MAX_NDIM}")
    code = _idx_type_byte(a.dtype)
    header = bytes([0, 0, code, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape)
    return header + np.ascontiguousarray(a, dtype=IDX_TYPES[code]).tobytes()


def write_idx(path: str | os.PathLike, array: np.ndarray, gzip: bool = True) -> Path:
    """Write ``array`` as an IDX file (gzipped unless ``gzip=False``); returns the path.

    Used by tests to build tiny MNIST-like files; the gzip header carries no timestamp,
    so the same array always gives the same bytes.
    """
    data = encode_idx(array)
    p = Path(path)
    if gzip:
        buf = io.BytesIO()
        with _gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, filename="") as gz:
            gz.write(data)
        data = buf.getvalue()
    p.write_bytes(data)
    return p


__all__ = ["read_idx", "write_idx", "encode_idx", "IDX_TYPES"]
