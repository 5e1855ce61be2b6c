"""The safetensors container, written and read with NumPy alone, validated before use.

Layout (https://github.com/huggingface/safetensors)::

    [8 bytes: N, little-endian u64] [N bytes: UTF-8 JSON header] [tensor data]

    header = {"__metadata__": {str: str},                 # optional
              "<name>": {"dtype": "F32", "shape": [out, in], "data_offsets": [begin, end]}, ...}

``data_offsets`` count from the start of the data region. Files written here are readable by
the ``safetensors`` package and vice versa. Reading never unpickles or evaluates anything:
every field is checked (sizes against the actual file size, offsets inside the data region and
not overlapping, shape × itemsize equal to the byte span) before any tensor memory is
allocated, so no allocation exceeds what the file's own size justifies. Every problem raises
:class:`~chainrule.errors.ModelFileError` naming the file.
"""
from __future__ import annotations

import json
import os
import struct
import tempfile
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import ConfigError, ModelFileError, open_for_reading

# JSON parsing multiplies memory (a 96 MB header of empty objects took 2.6 GB), so the header
# is capped: a real model's header (architecture, preprocessing, tensor table) is a few KB to
# a few hundred KB. MAX_JSON_ITEMS bounds the values it may hold (counted, before parsing, as
# the '{', '[' and ',' bytes, nested JSON strings included: an upper bound, cheap to take).
HEADER_CAP = 8 * 1024 * 1024
MAX_JSON_ITEMS = 500_000
MAX_DIMS = 32  # NumPy 1.x allows 32 dimensions (2.x: 64)

DTYPES: dict[str, np.dtype] = {
    "F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "I16": np.dtype("<i2"), "I8": np.dtype("i1"),
    "U64": np.dtype("<u8"), "U32": np.dtype("<u4"), "U16": np.dtype("<u2"), "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
_CODES = {(dt.kind, dt.itemsize): code for code, dt in DTYPES.items()}


# ----------------------------------------------------------------------------- writing
def dtype_code(arr: np.ndarray, name: str) -> str:
    """The safetensors dtype name of ``arr`` (ConfigError for dtypes the format lacks)."""
    code = _CODES.get((arr.dtype.kind, arr.dtype.itemsize))
    if code is None:
        raise ConfigError(f"cannot save tensor {name!r} of dtype {arr.dtype}: safetensors holds "
                          f"only {', '.join(DTYPES)}")
    return code


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def remove_leftover_temporaries(path: str | os.PathLike) -> None:
    """A process killed while :func:`atomic_write` was writing ``path`` (SIGKILL, power loss)
    leaves its temporary file behind (``.<name>.<random>.tmp`` beside ``path``); remove any
    such leftovers before writing ``path`` again."""
    import glob

    directory, name = os.path.split(os.path.abspath(os.fspath(path)))
    for tmp in glob.glob(os.path.join(glob.escape(directory), f".{glob.escape(name)}.*.tmp")):
        try:
            os.unlink(tmp)
        except OSError:
            pass


def atomic_write(path: str | os.PathLike, write: Callable[[Any], None]) -> None:
    """Write a file so that readers see either the old or the complete new version.

    ``write(f)`` fills a temporary file in the same directory; it is flushed and fsynced,
    then moved over ``path`` with ``os.replace`` (atomic on POSIX and Windows). If anything
    fails before the rename, ``path`` is untouched and the temporary file removed.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp",
                               dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError) and exc.filename is None and exc.errno is not None:
            # a failed write or fsync (disk full, quota) names no file: name the one being written
            raise OSError(exc.errno, exc.strerror or str(exc), path) from None
        raise
    try:  # make the rename itself durable
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def write_safetensors(path: str | os.PathLike, tensors: dict[str, np.ndarray],
                      metadata: dict[str, str] | None = None) -> None:
    """Write ``tensors`` (name -> ndarray, dtypes kept) and string ``metadata`` atomically."""
    header: dict[str, Any] = {}
    if metadata:
        for k, v in metadata.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise ConfigError(f"safetensors metadata must map str to str; got {k!r}: "
                                  f"{type(v).__name__}")
        header["__metadata__"] = dict(metadata)
    arrays: list[np.ndarray] = []
    offset = 0
    for name, arr in tensors.items():
        if not isinstance(name, str) or name == "__metadata__":
            raise ConfigError(f"tensor names must be strings other than '__metadata__'; "
                              f"got {name!r}")
        arr = np.asarray(arr)
        code = dtype_code(arr, name)
        arr = np.asarray(arr, dtype=DTYPES[code], order="C")  # little-endian, C order, 0-d kept
        header[name] = {"dtype": code, "shape": list(arr.shape),
                        "data_offsets": [offset, offset + arr.nbytes]}
        offset += arr.nbytes
        arrays.append(arr)
    blob = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    blob += b" " * (-len(blob) % 8)  # pad so the data region starts 8-byte aligned

    def write(f: Any) -> None:
        f.write(struct.pack("<Q", len(blob)))
        f.write(blob)
        for arr in arrays:
            if arr.nbytes:
                f.write(memoryview(arr.reshape(-1)).cast("B"))  # type: ignore[arg-type]  # NumPy stubs: no __buffer__

    atomic_write(path, write)


# ----------------------------------------------------------------------------- reading
class _Entry:
    __slots__ = ("name", "dtype", "shape", "begin", "end")

    def __init__(self, name: str, dtype: np.dtype, shape: tuple, begin: int, end: int) -> None:
        self.name, self.dtype, self.shape, self.begin, self.end = name, dtype, shape, begin, end


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    out: dict = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _header(path: str, f: Any, size: int, head: bytes) -> tuple[dict, int]:
    """The header JSON object and its length N, checked against the file size."""
    def bad(problem: str) -> ModelFileError:
        return ModelFileError(f"{path}: {problem}")

    if size < 8 or len(head) < 8:
        raise bad(f"file has {size} bytes; a safetensors file starts with an 8-byte header "
                  f"length (empty or truncated file)")
    (n,) = struct.unpack("<Q", head)
    if n > size - 8:
        raise bad(f"header length field says {n} bytes but only {size - 8} bytes follow it "
                  f"(truncated, or not a safetensors file)")
    if n > HEADER_CAP:
        raise bad(f"header of {n} bytes exceeds the {HEADER_CAP}-byte limit")
    raw = f.read(n)
    if len(raw) != n:
        raise bad(f"file ended inside the {n}-byte header (truncated)")
    items = raw.count(b",") + raw.count(b"{") + raw.count(b"[")
    if items > MAX_JSON_ITEMS:
        raise bad(f"header holds about {items} JSON values, more than the {MAX_JSON_ITEMS} allowed")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise bad(f"header is not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
    if not text.lstrip().startswith("{"):
        raise bad("header is not a JSON object (does not start with '{')")
    try:
        header = json.loads(text, object_pairs_hook=_no_duplicates)
    except (ValueError, RecursionError) as exc:
        raise bad(f"header is not valid JSON: {str(exc)[:200]}") from None
    if not isinstance(header, dict):
        raise bad("header is not a JSON object")
    return header, n


def _parse(path: str, f: Any) -> tuple[list[_Entry], dict[str, str], int]:
    """Validate the header of the open file ``f``; return its entries, metadata and the
    absolute offset of the data region."""
    def bad(problem: str) -> ModelFileError:
        return ModelFileError(f"{path}: {problem}")

    size = os.fstat(f.fileno()).st_size
    head = f.read(8)
    try:
        header, n = _header(path, f, size, head)
    except ModelFileError:
        # Only now, since a valid header length may also start with 0x80: say what it is.
        if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
            raise bad("this is a Python pickle (e.g. a PyTorch .pt/.pth/.bin file), not a "
                      "safetensors file; chainrule never unpickles files, since unpickling can "
                      "run arbitrary code. Convert it to safetensors first") from None
        if head[:4] == b"PK\x03\x04":
            raise bad("this is a zip archive (e.g. a PyTorch torch.save file), not a "
                      "safetensors file; chainrule never unpickles files. Convert it to "
                      "safetensors first") from None
        raise
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise bad("'__metadata__' must map strings to strings")
    data_start = 8 + n
    data_size = size - data_start
    entries: list[_Entry] = []
    for name, info in header.items():
        where = f"tensor {name[:100]!r}"
        if not isinstance(info, dict) or not {"dtype", "shape", "data_offsets"} <= set(info):
            raise bad(f"{where}: entry must be an object with dtype, shape and data_offsets")
        code, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if not isinstance(code, str) or code not in DTYPES:
            raise bad(f"{where}: unknown or unsupported dtype {str(code)[:40]!r}; expected one "
                      f"of {', '.join(DTYPES)}")
        if (not isinstance(shape, list) or len(shape) > MAX_DIMS
                or not all(_is_int(d) and d >= 0 for d in shape)):
            raise bad(f"{where}: shape must be a list of at most {MAX_DIMS} non-negative "
                      f"integers; got {str(shape)[:100]}")
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(_is_int(o) for o in offsets)):
            raise bad(f"{where}: data_offsets must be two integers; got {str(offsets)[:100]}")
        begin, end = offsets
        if not 0 <= begin <= end <= data_size:
            raise bad(f"{where}: data_offsets [{begin}, {end}] lie outside the data region of "
                      f"{data_size} bytes")
        dtype = DTYPES[code]
        count = 1
        for d in shape:
            count *= d
        if count * dtype.itemsize != end - begin:
            raise bad(f"{where}: shape {shape} of {code} needs {count * dtype.itemsize} bytes "
                      f"but data_offsets span {end - begin}")
        span = 1  # (sizes agree here)
        for d in shape:
            span *= d or 1  # numpy also refuses a zero-size array whose other sides overflow
        if span * dtype.itemsize > np.iinfo(np.intp).max:
            raise bad(f"{where}: shape {str(shape)[:100]} is too large for an array on this machine")
        entries.append(_Entry(name, dtype, tuple(shape), begin, end))
    expected = 0
    for e in sorted(entries, key=lambda e: (e.begin, e.end)):
        if e.begin < expected:
            raise bad(f"tensor {e.name[:100]!r} overlaps the tensor before it")
        if e.begin > expected:
            raise bad(f"{e.begin - expected} unaccounted bytes before tensor {e.name[:100]!r}")
        expected = e.end
    if expected != data_size:
        raise bad(f"{data_size - expected} bytes of data after the last tensor (the header "
                  f"does not describe the whole file)")
    return entries, metadata, data_start


def read_header(path: str | os.PathLike) -> tuple[dict[str, tuple[str, tuple]], dict[str, str]]:
    """Validated ``({name: (dtype_code, shape)}, metadata)`` without reading tensor data."""
    path = os.fspath(path)
    with open_for_reading(path, "model file", ModelFileError, ModelFileError) as f:
        entries, metadata, _ = _parse(path, f)
    codes = {dt: c for c, dt in DTYPES.items()}
    return {e.name: (codes[e.dtype], e.shape) for e in entries}, metadata


def read_safetensors(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Validate and read a safetensors file: ``(name -> ndarray, metadata)``.

    Tensors come back in header order, each in its own writable array of the stored dtype.
    """
    path = os.fspath(path)
    with open_for_reading(path, "model file", ModelFileError, ModelFileError) as f:
        entries, metadata, data_start = _parse(path, f)
        tensors: dict[str, np.ndarray] = {}
        for e in entries:
            arr = np.empty(e.shape, dtype=e.dtype)
            if arr.nbytes:
                f.seek(data_start + e.begin)
                got = f.readinto(memoryview(arr.reshape(-1)).cast("B"))  # type: ignore[attr-defined,arg-type]
                if got != arr.nbytes:
                    raise ModelFileError(f"{path}: file ended inside tensor {e.name[:100]!r} "
                                         f"(changed while reading?)")
            tensors[e.name] = arr
    return tensors, metadata


__all__ = ["DTYPES", "HEADER_CAP", "MAX_JSON_ITEMS", "atomic_write", "write_safetensors", "read_header",
           "read_safetensors", "dtype_code"]
