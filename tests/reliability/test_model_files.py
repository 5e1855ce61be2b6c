"""Hostile and broken model files, through every public reader. The io tests
(tests/io/test_malformed.py) check each validation rule; these check the promise from the
outside: whatever the bytes, every reader raises ModelFileError naming the file, and no code
from the file runs (pickles of every protocol, under any name, through every entry point)."""
from __future__ import annotations

import json
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.errors import ModelFileError
from chainrule.io import describe, read_metadata

MARKER = Path("/tmp") / "chainrule-test-model-files-pickle-ran"


class _Touch:
    def __reduce__(self):
        return (Path.touch, (MARKER,))


def _readers(path):
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    return {
        "cr.load": lambda: cr.load(path),
        "cr.load(model=)": lambda: cr.load(path, model=model),
        "load_checkpoint": lambda: cr.load_checkpoint(path),
        "load_checkpoint(model, optimizer)": lambda: cr.load_checkpoint(
            path, model, optim.Adam(model.parameters()), restore_rng=True),
        "read_metadata": lambda: read_metadata(path),
        "describe": lambda: describe(path),
    }


def _all_reject(path, match=None):
    for name, read in _readers(path).items():
        with pytest.raises(ModelFileError) as info:
            read()
        assert str(path) in str(info.value), (name, str(info.value))
        if match:
            assert match in str(info.value), (name, str(info.value))


@pytest.fixture(autouse=True)
def no_marker():
    MARKER.unlink(missing_ok=True)
    yield
    assert not MARKER.exists(), "a reader unpickled the file and ran its code"


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
@pytest.mark.parametrize("name", ["model.safetensors", "checkpoint.safetensors", "model.pt"])
def test_pickle_of_any_protocol_is_rejected_by_every_reader_without_running(tmp_path, protocol, name):
    path = tmp_path / name
    payload = pickle.dumps({"0.weight": _Touch()}, protocol=protocol)
    pickle.loads(payload)  # the payload really would create the marker ...
    assert MARKER.exists()
    MARKER.unlink()
    path.write_bytes(payload)  # ... but no reader may run it
    _all_reject(path)


def _valid_model_file(tmp_path) -> Path:
    cr.manual_seed(0)
    path = tmp_path / "m.safetensors"
    cr.save(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)), path, metadata={"classes": ["a", "b"]})
    return path


def _split(raw: bytes):
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8:8 + n]), raw[8 + n:]


def _join(header: dict, body: bytes) -> bytes:
    blob = json.dumps(header).encode()
    return struct.pack("<Q", len(blob)) + blob + body


def test_every_truncation_of_a_valid_file_is_rejected(tmp_path):
    raw = _valid_model_file(tmp_path).read_bytes()
    cut = tmp_path / "cut.safetensors"
    for n in [*range(200), *range(200, len(raw), 7)]:  # every header byte, then a stride
        cut.write_bytes(raw[:n])
        with pytest.raises(ModelFileError, match="cut.safetensors"):
            cr.load(cut)


@pytest.mark.parametrize("offsets", [[0, 10**12], [2**63, 2**63 + 48], [48, 0], [-48, 0], [0, 2**64 + 48]])
def test_offsets_outside_the_file_are_rejected(tmp_path, offsets):
    header, body = _split(_valid_model_file(tmp_path).read_bytes())
    header["0.weight"]["data_offsets"] = offsets
    path = tmp_path / "bad.safetensors"
    path.write_bytes(_join(header, body))
    _all_reject(path)


@pytest.mark.parametrize("length", [2**64 - 1, 2**63, 2**40, 10**9])
def test_huge_header_length_is_rejected_before_reading(tmp_path, length):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(struct.pack("<Q", length) + b'{"__metadata__":{}}')
    _all_reject(path)


@pytest.mark.parametrize("arch", [
    {"type": "Sequential", "layers": [{"type": "Linear", "in_features": 10**6, "out_features": 10**6}]},
    {"type": "Sequential", "layers": [{"type": "Conv2d", "in_channels": 10**4, "out_channels": 10**4,
                                       "kernel_size": 99}]},
    {"type": "Sequential", "layers": [{"type": "ReLU"}] * 20000},
    {"type": "Sequential", "layers": [{"type": "Linear", "in_features": -3, "out_features": 4}]},
    {"type": "os.system", "command": "touch /tmp/x"},
    {"type": "__import__", "name": "os"},
], ids=["huge-linear", "huge-conv", "many-layers", "negative-size", "os.system", "__import__"])
def test_hostile_architecture_is_a_model_file_error(tmp_path, arch):
    header, body = _split(_valid_model_file(tmp_path).read_bytes())
    header["__metadata__"]["architecture"] = json.dumps(arch)
    path = tmp_path / "arch.safetensors"
    path.write_bytes(_join(header, body))
    with pytest.raises(ModelFileError, match="arch.safetensors"):
        cr.load(path)


def test_deeply_nested_architecture_is_a_model_file_error(tmp_path):
    header, body = _split(_valid_model_file(tmp_path).read_bytes())
    depth = 5000  # built as text: json.dumps itself cannot nest this deep
    leaf = '{"type": "Linear", "in_features": 3, "out_features": 2}'
    header["__metadata__"]["architecture"] = '{"type": "Sequential", "layers": [' * depth + leaf + "]}" * depth
    path = tmp_path / "deep.safetensors"
    path.write_bytes(_join(header, body))
    with pytest.raises(ModelFileError, match="deep.safetensors"):
        cr.load(path)


def test_a_valid_file_still_loads(tmp_path):
    path = _valid_model_file(tmp_path)
    model = cr.load(path)
    assert np.isfinite(model(cr.tensor(np.ones((1, 3), np.float32))).data).all()
    assert read_metadata(path) == {"classes": ["a", "b"]}
