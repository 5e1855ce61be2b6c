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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, TypeVar, cast

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
T = TypeVar("T")


# No IDX file chainrule reads is anywhere near this (MNIST's largest holds 47 MB); a larger
# declared payload is refused from the header alone, before any of it is decompressed.
MAX_IDX_BYTES = 1 << 30


def _fail(path: str, problem: str) -> DataError:
    return DataError(f"{path}: not a valid IDX file: {problem}")


@dataclass(frozen=True)
class IdxHeader:
    """What an IDX file's header declares: the element ``dtype`` (native byte order), the
    ``shape`` and the payload size ``nbytes`` it implies."""

    dtype: np.dtype
    shape: tuple[int, ...]
    nbytes: int


def _parse_header(f: Stream, path: str, budget: int, max_bytes: int) -> IdxHeader:
    """Read and check the header at the start of ``f``; ``budget`` bounds the payload bytes the
    source can physically hold, ``max_bytes`` the payload the caller accepts."""
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
    if nbytes > max_bytes:
        raise _fail(path, f"header declares shape {shape} of {_TYPE_NAMES[type_byte]} ({nbytes} bytes), "
                          f"more than the {max_bytes} bytes allowed")
    # numpy also refuses an empty shape whose non-zero sides multiply past its index range
    span = math.prod(d for d in shape if d) * dtype.itemsize
    if span > np.iinfo(np.intp).max:
        raise _fail(path, f"header declares shape {shape}, too large for an array on this machine")
    return IdxHeader(dtype.newbyteorder("="), shape, nbytes)


def _parse(f: Stream, path: str, budget: int, max_bytes: int = MAX_IDX_BYTES) -> np.ndarray:
    """Parse an IDX stream into one array allocated up front and filled in place.

    The array is sized from the checked header; its pages are touched only as data arrives,
    so a file that declares more than it holds costs no more than it holds.
    """
    header = _parse_header(f, path, budget, max_bytes)
    array = np.empty(header.shape, dtype=header.dtype.newbyteorder(">"))  # as stored
    view = memoryview(cast(Any, array.reshape(-1))).cast("B") if header.nbytes else memoryview(b"")
    reader = cast(io.BufferedIOBase, f)  # open files and GzipFile both read into a buffer
    got = 0
    while got < header.nbytes:
        n = reader.readinto(view[got:got + _CHUNK])
        if not n:
            break
        got += n
    if got < header.nbytes:
        raise _fail(path, f"truncated: shape {header.shape} needs {header.nbytes} bytes of data, found {got}")
    if f.read(1):
        raise _fail(path, f"trailing bytes after the {header.nbytes} bytes of data for shape {header.shape}")
    if array.dtype != header.dtype:  # big-endian multi-byte values: swap in place, no copy
        array.byteswap(inplace=True)
        array = array.view(header.dtype)
    return array


def _open_idx(f: BinaryIO, name: str) -> tuple[Stream, str, int]:
    """``(stream, name, budget)``: the decompressed stream of a gzipped file (detected by its
    magic bytes) or the file itself, and how many payload bytes it can hold at most."""
    size = os.fstat(f.fileno()).st_size
    magic = f.read(2)
    f.seek(0)
    if magic != b"\x1f\x8b":
        return f, name, max(size - 4, 0)
    return _gzip.GzipFile(fileobj=f, mode="rb"), name + " (gzip)", size * _MAX_DEFLATE_RATIO


def _gzip_errors(name: str, run: Callable[[], T]) -> T:
    try:
        return run()
    except DataError:
        raise
    except (OSError, EOFError, zlib.error, ValueError, struct.error) as e:
        raise DataError(f"{name}: corrupt gzip stream: {e}") from None


def read_idx_header(path: str | os.PathLike, max_bytes: int = MAX_IDX_BYTES) -> IdxHeader:
    """The checked header of an IDX file (gzipped or raw), reading no payload: lets a caller
    cross-check several files (image and label counts) before decompressing any of them."""
    p = Path(path)
    with open_for_reading(p, "IDX file", DatasetNotFoundError, DataError) as f:
        stream, name, budget = _open_idx(f, str(p))
        return _gzip_errors(str(p), lambda: _parse_header(stream, name, budget, max_bytes))


def read_idx(path: str | os.PathLike, max_bytes: int = MAX_IDX_BYTES) -> np.ndarray:
    """Read an IDX file (gzipped or raw) into a native-endian, writable ndarray.

    The result has the shape and type declared in the file, e.g. ``(60000, 28, 28)`` uint8
    for MNIST training images and ``(60000,)`` uint8 for their labels. The data is
    decompressed straight into that one array (no intermediate copies).

    Raises ``DatasetNotFoundError`` when the file does not exist and ``DataError`` (naming
    the file and the problem) for anything malformed: empty file, bad magic, unknown type,
    zero or too many dimensions, truncated data, trailing bytes, a size the file cannot
    hold or larger than ``max_bytes`` (1 GiB), or a corrupt gzip stream.
    """
    p = Path(path)
    with open_for_reading(p, "IDX file", DatasetNotFoundError, DataError) as f:
        stream, name, budget = _open_idx(f, str(p))
        return _gzip_errors(str(p), lambda: _parse(stream, name, budget, max_bytes))


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


__all__ = ["read_idx", "read_idx_header", "IdxHeader", "MAX_IDX_BYTES", "write_idx", "encode_idx", "IDX_TYPES"]
