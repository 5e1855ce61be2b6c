"""Seed files and format-aware mutations for the loader fuzzers (IDX, MNIST folders, CSV).

Also imported by ``tests/reliability`` to build hypothesis inputs from the same seeds.
"""
from __future__ import annotations

import gzip
import json
import pickle
import random
import struct
import tempfile
from pathlib import Path

import numpy as np

# --------------------------------------------------------------------------- IDX
IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def idx_bytes(array: np.ndarray, code: int | None = None) -> bytes:
    a = np.asarray(array)
    if code is None:
        code = next(k for k, v in IDX_TYPES.items() if np.dtype(v).newbyteorder("=") == a.dtype)
    header = bytes([0, 0, code, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape)
    return header + np.ascontiguousarray(a, dtype=IDX_TYPES[code]).tobytes()


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def idx_seeds() -> list[bytes]:
    rng = np.random.default_rng(0)
    raw = [
        idx_bytes(rng.integers(0, 256, (3, 4, 4), dtype=np.uint8)),
        idx_bytes(rng.integers(0, 10, (7,), dtype=np.uint8)),
        idx_bytes(rng.integers(-128, 128, (2, 3), dtype=np.int8)),
        idx_bytes(rng.integers(-999, 999, (5,), dtype=np.int16)),
        idx_bytes(rng.integers(-99999, 99999, (2, 2), dtype=np.int32)),
        idx_bytes(rng.standard_normal((2, 3)).astype(np.float32)),
        idx_bytes(rng.standard_normal((4,))),
        idx_bytes(np.zeros((0, 5), np.uint8)),
    ]
    return raw + [gz(r) for r in raw[:4]]


def _gunzip(data: bytes) -> bytes | None:
    try:
        return gzip.decompress(data)
    except Exception:  # noqa: BLE001
        return None


def mutate_idx(data: bytes, rng: random.Random, pool: list[bytes] | None = None) -> bytes:
    """Header-aware edits: huge or zero dims, ndim and type bytes, (un)gzip, data length."""
    zipped = data[:2] == b"\x1f\x8b"
    raw = _gunzip(data) if zipped else data
    if raw is None:
        raw, zipped = data, False
    b = bytearray(raw)
    op = rng.randrange(8)
    if len(b) >= 4 and op == 0:  # one dimension huge / zero / odd
        ndim = b[3]
        if ndim:
            i = 4 + 4 * rng.randrange(min(ndim, max((len(b) - 4) // 4, 1)))
            b[i : i + 4] = struct.pack(">I", rng.choice((0, 1, 2, 255, 65535, 2**31 - 1, 2**31, 2**32 - 1, 60000, 784)))
    elif len(b) >= 4 and op == 1:  # ndim byte
        b[3] = rng.choice((0, 1, 2, 3, 4, 31, 32, 33, 64, 255))
    elif len(b) >= 4 and op == 2:  # type byte
        b[2] = rng.choice(list(IDX_TYPES) + [0x00, 0x0A, 0x0F, 0xFF])
    elif op == 3:  # declare the product of dims to be near 2**64 (overflow bait)
        if len(b) >= 4:
            b[3] = 4
            b[4:20] = struct.pack(">4I", 2**32 - 1, 2**32 - 1, 2**32 - 1, 2**32 - 1)
    elif op == 4:  # toggle compression
        zipped = not zipped
    elif op == 5:  # magic
        if len(b) >= 2:
            b[rng.randrange(2)] = rng.choice((1, 0x1F, 0x8B, 0xFF))
    elif op == 6:  # trailing data / short data
        if rng.random() < 0.5:
            b += bytes(rng.randrange(1, 9))
        elif len(b) > 4:
            del b[-rng.randrange(1, min(len(b) - 4, 16) + 1) :]
    else:  # a zero-size dimension elsewhere
        if len(b) >= 8:
            b[4:8] = b"\0\0\0\0"
    out = bytes(b)
    if zipped:
        out = gz(out)
        if rng.random() < 0.2:  # corrupt the gzip trailer / body / declared size
            ob = bytearray(out)
            i = rng.randrange(10, len(ob)) if len(ob) > 10 else 0
            ob[i] ^= 0xFF
            out = bytes(ob)
    return out


# --------------------------------------------------------------------------- MNIST folder
MNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


def pack_mnist(files: list[bytes | None], flags: int = 0) -> bytes:
    """One fuzz input for a whole MNIST folder: a flag byte, then each file as a u32
    length (0xFFFFFFFF = the file is absent) and its bytes. Flag bits: 0-3 the file is
    written without ``.gz`` (named as un-gzipped files are); 4 pass ``limit=``; 5
    ``normalize=False``; 6 put the files in ``root/mnist``."""
    out = bytearray([flags & 0xFF])
    for f in files:
        if f is None:
            out += struct.pack("<I", 0xFFFFFFFF)
        else:
            out += struct.pack("<I", len(f)) + f
    return bytes(out)


def unpack_mnist(data: bytes) -> tuple[int, list[bytes | None]]:
    """Inverse of :func:`pack_mnist`, lenient: short lengths are cut, missing files are empty."""
    if not data:
        return 0, [b""] * 4
    flags, pos, files = data[0], 1, []
    for _ in range(4):
        if pos + 4 > len(data):
            files.append(b"")
            continue
        (n,) = struct.unpack_from("<I", data, pos)
        pos += 4
        if n == 0xFFFFFFFF:
            files.append(None)
            continue
        files.append(data[pos : pos + n])
        pos += n
    return flags, files


def mnist_seeds() -> list[bytes]:
    rng = np.random.default_rng(1)
    seeds = []
    for n_train, n_test, side in ((6, 3, 4), (10, 5, 28), (1, 1, 1)):
        files = [
            idx_bytes(rng.integers(0, 256, (n_train, side, side), dtype=np.uint8)),
            idx_bytes(rng.integers(0, 10, (n_train,), dtype=np.uint8)),
            idx_bytes(rng.integers(0, 256, (n_test, side, side), dtype=np.uint8)),
            idx_bytes(rng.integers(0, 10, (n_test,), dtype=np.uint8)),
        ]
        seeds.append(pack_mnist([gz(f) for f in files], 0))
        seeds.append(pack_mnist(files, 0x0F | 0x10))
    return seeds + hostile_mnist_seeds()


def mutate_mnist(data: bytes, rng: random.Random, pool: list[bytes] | None = None) -> bytes:
    flags, files = unpack_mnist(data)
    op = rng.randrange(10)
    i = rng.randrange(4)
    if op < 6:
        if files[i] is not None:
            files[i] = mutate_idx(files[i], rng)
    elif op == 6:  # swap two files (images where labels belong ...)
        j = rng.randrange(4)
        files[i], files[j] = files[j], files[i]
    elif op == 7:  # a file goes missing, or comes back
        files[i] = None if files[i] is not None else b""
    elif op == 8:
        flags ^= 1 << rng.randrange(7)
    else:  # labels out of range / mismatched counts
        f = files[i]
        if f:
            raw = _gunzip(f) or f
            b = bytearray(raw)
            if len(b) > 8:
                b[rng.randrange(8, len(b))] = rng.choice((10, 11, 255))
            files[i] = gz(bytes(b)) if f[:2] == b"\x1f\x8b" else bytes(b)
    return pack_mnist(files, flags)


# --------------------------------------------------------------------------- CSV
CSV_SEEDS = [
    "sepal_length,sepal_width,species\n5.1,3.5,setosa\n4.9,3.0,setosa\n6.2,2.9,virginica\n5.9,3.0,versicolor\n6.7,3.1,virginica\n5.0,3.4,setosa\n",
    "x1;x2;y\n0.5;1.5;0\n1.0;-2;1\n3;4;0\n-1;2e3;1\n0;0;1\n",
    "a\tb\tc\ttarget\n1\t2\tred\t1.5\n3\t4\tblue\t2.25\n5\t6\tred\t-0.5\n7\t8\tgreen\t10\n",
    'name,"value, with comma",label\n"x ""quoted""",1,a\ny,2,b\nz,3,a\nw,4,b\n',
    "\ufeffh1|h2|h3\n1|2|3\n4|5|6\n7|8|9\n1|1|1\n",
    "f,y\n1,2\n2,NaN\n3,?\n",
    "only\n1\n2\n",
]


def csv_seeds() -> list[bytes]:
    # first byte: options (target choice, task, read_features)
    return [bytes([k]) + s.encode("utf-8") for k in (0, 0x11) for s in CSV_SEEDS]


_CSV_TOKENS = [",", ";", "\t", "|", '"', '""', "\n", "\r\n", "\r", "nan", "inf", "-inf", "1e309", "?", "NA",
               "", " ", "\x00", "\ufeff", "é", "\u2028", "0x10", "1_000", "1e-400", "-0", "True", "9" * 400,
               "a" * 70, ",,,,", "\n\n\n", "y", "x1"]


def mutate_csv(data: bytes, rng: random.Random, pool: list[bytes] | None = None) -> bytes:
    if not data:
        return bytes([rng.randrange(256)]) + rng.choice(CSV_SEEDS).encode()
    opts, body = data[:1], data[1:]
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = body.decode("latin-1")
    op = rng.randrange(8)
    lines = text.split("\n")
    if op == 0:  # options byte
        opts = bytes([rng.randrange(256)])
    elif op in (1, 2, 3) or not text:  # insert a token
        i = rng.randrange(len(text) + 1)
        text = text[:i] + rng.choice(_CSV_TOKENS) + text[i:]
    elif op == 4 and len(lines) > 1:  # duplicate / drop a line
        i = rng.randrange(len(lines))
        if rng.random() < 0.5:
            lines.insert(rng.randrange(len(lines) + 1), lines[i])
        else:
            del lines[i]
        text = "\n".join(lines)
    elif op == 5:  # replace a field
        fields = text.split(",")
        if len(fields) > 1:
            fields[rng.randrange(len(fields))] = rng.choice(_CSV_TOKENS)
            text = ",".join(fields)
    elif op == 6:  # many rows or many columns
        if rng.random() < 0.5 and len(lines) > 1:
            text = text + ("\n" + lines[-1 if lines[-1] else 1]) * rng.randrange(1, 200)
        else:
            text = ",".join(f"c{k}" for k in range(rng.randrange(1, 300))) + "\n" + text
    else:  # delete a span
        if text:
            i = rng.randrange(len(text))
            text = text[:i] + text[i + rng.randrange(1, 20) :]
    enc = "utf-8" if rng.random() < 0.95 else rng.choice(("latin-1", "utf-16"))
    try:
        return opts + text.encode(enc)
    except UnicodeEncodeError:
        return opts + text.encode("utf-8")


# --------------------------------------------------------------------------- safetensors
PICKLE_MARKER = Path(tempfile.gettempdir()) / "chainrule-fuzz-pickle-ran"


class _Touch:
    """Unpickling this creates PICKLE_MARKER: proof that a loader ran code from a file."""

    def __reduce__(self):
        return (Path.touch, (PICKLE_MARKER,))


def hostile_pickle() -> bytes:
    return pickle.dumps({"0.weight": _Touch()}, protocol=4)


def split_safetensors(data: bytes) -> tuple[dict | None, bytes]:
    """(header object, data region), or (None, data) when the header does not parse."""
    if len(data) < 8:
        return None, data
    (n,) = struct.unpack_from("<Q", data)
    if n > len(data) - 8:
        return None, data
    try:
        header = json.loads(data[8 : 8 + n].decode("utf-8"))
    except (ValueError, RecursionError):
        return None, data
    return (header, data[8 + n :]) if isinstance(header, dict) else (None, data)


def join_safetensors(header: dict, body: bytes, pad: int = 0) -> bytes:
    blob = json.dumps(header, separators=(",", ":")).encode("utf-8") + b" " * pad
    return struct.pack("<Q", len(blob)) + blob + body


_JSON_VALUES = [0, 1, -1, 2, 3, 10**9, 2**31, 2**32, 2**63, 2**64, -(2**63), 0.5, -0.0, 1e308, float("inf"),
                float("nan"), True, False, None, "", "x", "F32", "Linear", "Sequential", "ReLU", "Conv2d",
                "BatchNorm2d", "__metadata__", [], [0], [1, 2], [-1, 4], [2**32, 2**32], {}, {"type": "Linear"},
                [[[[]]]]]


def mutate_json(value, rng: random.Random, depth: int = 0):
    """Replace, delete or add one node somewhere inside a JSON value."""
    if isinstance(value, dict) and value and rng.random() < 0.8 and depth < 20:
        key = rng.choice(list(value))
        r = rng.random()
        out = dict(value)
        if r < 0.1:
            del out[key]
        elif r < 0.15:
            out[rng.choice(["type", "layers", "shape", "x", key + "_"])] = rng.choice(_JSON_VALUES)
        else:
            out[key] = mutate_json(value[key], rng, depth + 1)
        return out
    if isinstance(value, list) and value and rng.random() < 0.8 and depth < 20:
        out = list(value)
        i = rng.randrange(len(out))
        r = rng.random()
        if r < 0.1:
            del out[i]
        elif r < 0.2:
            out.insert(i, out[i])
        elif r < 0.25:
            out = out * rng.randrange(2, 50)
        else:
            out[i] = mutate_json(out[i], rng, depth + 1)
        return out
    if isinstance(value, str) and value[:1] in "{[" and rng.random() < 0.8:  # JSON inside a string
        try:
            inner = json.loads(value)
        except ValueError:
            inner = None
        if inner is not None:
            return json.dumps(mutate_json(inner, rng, depth + 1))
    if isinstance(value, bool) or value is None:
        return rng.choice(_JSON_VALUES)
    if isinstance(value, int):
        return rng.choice([value + 1, value - 1, -value, value * 1000, value + 2**32, 0, float(value),
                           str(value), rng.choice(_JSON_VALUES)])
    if isinstance(value, str) and rng.random() < 0.5:
        return rng.choice(["", value + "x", value[:-1], value * 3, "model." + value, "-1", "1e9", "nan", "{",
                           json.dumps(rng.choice(_JSON_VALUES)), "\x00", "F16", "BOOL", "U8"])
    return rng.choice(_JSON_VALUES)


def mutate_safetensors(data: bytes, rng: random.Random, pool: list[bytes] | None = None) -> bytes:
    """Header-aware edits; ``data`` is an option byte then the file (see fuzz_load.py)."""
    opts, body = data[:1] or b"\0", data[1:]
    header, region = split_safetensors(body)
    op = rng.randrange(10)
    if op == 0:
        return bytes([rng.randrange(256)]) + body
    if header is None:  # unparsable: edit the length field or bytes
        if len(body) >= 8 and op < 5:
            b = bytearray(body)
            lengths = INTERESTING_64_LEN + (len(body) - 8, len(body) - 9, len(body) - 7)
            b[:8] = struct.pack("<Q", rng.choice(lengths) % 2**64)
            return opts + bytes(b)
        return opts + body
    names = [k for k in header if k != "__metadata__"]
    if op == 1 and names:  # offsets outside / reversed / overlapping
        e = header.get(rng.choice(names))
        if isinstance(e, dict):
            offs = e.get("data_offsets")
            b, end = (list(offs) + [0, 0])[:2] if isinstance(offs, list) else (0, 0)
            if not (type(b) is int and type(end) is int):
                b, end = 0, 0
            e["data_offsets"] = rng.choice([[end, b], [b, len(region) + rng.randrange(1, 9)], [0, 2**64 - 1],
                                           [-8, end], [b, end + 4], [b - 4 if isinstance(b, int) else 0, end],
                                           [0, 0], [b], [b, end, 0], None])
    elif op == 2 and names:  # shape
        e = header.get(rng.choice(names))
        if isinstance(e, dict):
            e["shape"] = rng.choice([[2**32, 2**32], [2**62, 4], [0, 2**63], [-1], [], [3.0], ["3"],
                                     [1] * 65, [2**64],
                                     list(reversed(e["shape"])) if isinstance(e.get("shape"), list) else []])
    elif op == 3 and names:  # dtype
        e = header.get(rng.choice(names))
        if isinstance(e, dict):
            e["dtype"] = rng.choice(["F64", "F16", "I8", "U8", "BOOL", "BF16", "F8_E4M3", "f32", "", 4, None])
    elif op == 4 and names:  # drop / rename / duplicate a tensor
        k = rng.choice(names)
        r = rng.random()
        if r < 0.3:
            del header[k]
        elif r < 0.7:
            header[rng.choice(["model." + k, k + ".x", k.replace("model.", "optim."), "9.weight", "model.9.weight",
                               "optim.0.exp_avg", "optim.99.momentum_buffer", "__metadata__"])] = header.pop(k)
        else:
            header[k + "_copy"] = header[k]
    elif op in (5, 6, 7):  # anything inside the header, metadata JSON strings included
        header = mutate_json(header, rng)
        if not isinstance(header, dict):
            header = {}
    elif op == 8:  # the data region
        if region and rng.random() < 0.5:
            region = region[: rng.randrange(len(region))]
        else:
            region = region + bytes(rng.randrange(1, 16))
    else:  # the length field disagrees with the header
        out = join_safetensors(header, region)
        b = bytearray(out)
        b[:8] = struct.pack("<Q", rng.choice(INTERESTING_64_LEN + (len(out),)) % 2**64)
        return opts + bytes(b)
    try:
        return opts + join_safetensors(header, region, pad=rng.choice((0, 0, 1, 7)))
    except (TypeError, ValueError):
        return opts + body


INTERESTING_64_LEN = (0, 1, 2, 7, 8, 0x7B, 2**31, 2**32, 2**63, 2**64 - 1, 100 * 1024 * 1024 + 1)


# --------------------------------------------------------------------------- hostile model files (#20)
def _model_file(arch: dict | None, tensors: dict[str, np.ndarray] | None = None, metadata: dict | None = None) -> bytes:
    """A safetensors model file as ``cr.save`` lays it out, with any architecture and metadata."""
    meta: dict = {"chainrule_format": "1", "kind": "model"}
    if arch is not None:
        meta["architecture"] = json.dumps(arch)
    if metadata is not None:
        meta["metadata"] = json.dumps(metadata)
    header: dict = {"__metadata__": meta}
    body = b""
    for name, a in (tensors or {}).items():
        a = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))
        code = {"f4": "F32", "f8": "F64", "u1": "U8"}[a.dtype.str[1:]]
        header[name] = {"dtype": code, "shape": list(a.shape), "data_offsets": [len(body), len(body) + a.nbytes]}
        body += a.tobytes()
    return join_safetensors(header, body)


IRIS_PREP = {"dataset": "iris", "task": "classification", "num_features": 4, "num_classes": 3,
             "class_names": ["a", "b", "c"], "mean": [0.0] * 4, "std": [1.0] * 4, "columns": None}


def hostile_model_seeds() -> list[bytes]:
    """Model files that asked for gigabytes, held NaN weights or named paths (issue #20)."""
    seq = lambda *layers: {"type": "Sequential", "layers": list(layers)}  # noqa: E731
    pad = {"pad": np.zeros(16 * 1024, np.uint8)}
    linear = {"0.weight": np.ones((3, 4), np.float32), "0.bias": np.zeros(3, np.float32)}
    nan = {"0.weight": np.full((3, 4), np.nan, np.float32), "0.bias": np.zeros(3, np.float32)}
    lin = seq({"type": "Linear", "in_features": 4, "out_features": 3})
    return [
        _model_file(seq({"type": "BatchNorm2d", "num_features": 10**9, "affine": False})),
        _model_file(seq({"type": "BatchNorm2d", "num_features": 10**9})),
        _model_file(seq(*[{"type": "Conv2d", "in_channels": 20000, "out_channels": 20000, "kernel_size": 3}] * 2),
                    pad),
        _model_file(seq(*[{"type": "BatchNorm1d", "num_features": 30000, "affine": False}] * 8), pad),
        _model_file(seq({"type": "Linear", "in_features": 10**6, "out_features": 10**6})),
        _model_file(lin, nan, {"preprocessing": IRIS_PREP}),
        _model_file(lin, linear, {"preprocessing": dict(IRIS_PREP, dataset="../../../../etc/passwd"),
                                  "data_dir": "/etc"}),
        _model_file(lin, linear, {"preprocessing": dict(IRIS_PREP, dataset="/proc/self/environ")}),
        _model_file(lin, linear, {"preprocessing": IRIS_PREP, "junk": [{}] * 15000}),
    ]


def hostile_mnist_seeds() -> list[bytes]:
    """MNIST folders whose headers disagree, declare huge sizes or an empty training set."""
    def header(shape: tuple[int, ...]) -> bytes:
        return bytes([0, 0, 0x08, len(shape)]) + struct.pack(f">{len(shape)}I", *shape)

    images = idx_bytes(np.zeros((3, 4, 4), np.uint8))
    labels = idx_bytes(np.zeros(3, np.uint8))
    return [
        pack_mnist([gz(images), gz(header((10**9,)) + bytes(4096)), gz(images), gz(labels)]),
        pack_mnist([gz(header((1_300_000, 28, 28)) + bytes(4096)), gz(header((1_300_000,)) + bytes(64)),
                    gz(images), gz(labels)]),
        pack_mnist([idx_bytes(np.zeros((0, 4, 4), np.uint8)), idx_bytes(np.zeros(0, np.uint8)), images, labels]),
        pack_mnist([images, labels, idx_bytes(np.zeros((3, 5, 5), np.uint8)), labels]),
    ]
