"""Kilobytes of input never cost gigabytes: hostile files, generated here and small on disk,
are refused with a ChainruleError while the reading process stays under a generous peak
resident memory (measured in a fresh subprocess, so the test process's own memory and
earlier tests do not count)."""
from __future__ import annotations

import json
import struct

import pytest

from .conftest import peak_rss

LIMIT_MB = 300  # python + numpy + chainrule take about 60 MB; the hostile files asked for GBs


def _safetensors(path, header: dict, data: bytes = b"") -> None:
    blob = json.dumps(header).encode()
    blob += b" " * (-len(blob) % 8)
    path.write_bytes(struct.pack("<Q", len(blob)) + blob + data)


def _model_with(path, arch: dict, data_bytes: int = 0) -> None:
    """A model file whose architecture is ``arch`` and whose tensors take ``data_bytes``."""
    header = {"__metadata__": {"chainrule_format": "1", "kind": "model", "architecture": json.dumps(arch)}}
    if data_bytes:
        header["pad"] = {"dtype": "U8", "shape": [data_bytes], "data_offsets": [0, data_bytes]}
    _safetensors(path, header, b"\0" * data_bytes)


def _load(path) -> str:
    return f"import chainrule as cr\ncr.load({str(path)!r})"


@pytest.mark.parametrize("layer", [
    {"type": "BatchNorm2d", "num_features": 10**9},
    {"type": "BatchNorm2d", "num_features": 10**9, "affine": False},
    {"type": "Conv2d", "in_channels": 10**5, "out_channels": 10**5, "kernel_size": 3},
    {"type": "Linear", "in_features": 10**6, "out_features": 10**6},
])
def test_a_few_kilobytes_of_architecture_cannot_declare_gigabytes(home, layer):
    path = home / "model.safetensors"
    _model_with(path, {"type": "Sequential", "layers": [layer]})
    assert path.stat().st_size < 4096
    r = peak_rss(_load(path), home)
    assert r["error"] == "ModelFileError" and "more parameter memory than the file holds" in r["message"]
    assert r["peak_mb"] < LIMIT_MB, r


@pytest.mark.parametrize("layer", [  # every size below the file's bytes: only the product is huge
    {"type": "Conv2d", "in_channels": 20000, "out_channels": 20000, "kernel_size": 3},
    {"type": "BatchNorm1d", "num_features": 60000, "affine": False},
])
def test_parameters_and_buffers_are_charged_before_they_are_allocated(home, layer):
    path = home / "model.safetensors"
    _model_with(path, {"type": "Sequential", "layers": [layer] * 50}, data_bytes=64 * 1024)
    r = peak_rss(_load(path), home)
    assert r["error"] == "ModelFileError" and "more parameter memory than the file holds" in r["message"]
    assert r["peak_mb"] < LIMIT_MB, r


def test_an_oversized_json_header_is_refused_before_it_is_read(home):
    path = home / "model.safetensors"
    with open(path, "wb") as f:  # declares a 96 MB header; sparse, so small on disk
        f.write(struct.pack("<Q", 96 * 1024 * 1024))
        f.truncate(96 * 1024 * 1024 + 8)
    r = peak_rss(_load(path), home)
    assert r["error"] == "ModelFileError" and "limit" in r["message"]
    assert r["peak_mb"] < LIMIT_MB, r


@pytest.mark.parametrize("shape", ["empty tensors", "metadata list"])
def test_a_header_of_a_million_tiny_json_values_is_refused(home, shape):
    path = home / "model.safetensors"
    if shape == "empty tensors":
        header = {f"t{i}": {"dtype": "U8", "shape": [0], "data_offsets": [0, 0]} for i in range(100_000)}
    else:
        header = {"__metadata__": {"metadata": "[" + "{}," * 600_000 + "{}]"}}
    _safetensors(path, header)
    r = peak_rss(_load(path), home)
    assert r["error"] == "ModelFileError" and "JSON values" in r["message"], r
    assert r["peak_mb"] < LIMIT_MB, r
