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


# --------------------------------------------------------------------------- IDX / MNIST
def _gzip_idx(path, type_byte: int, shape: tuple[int, ...], payload_bytes: int) -> None:
    """A gzipped IDX file of ``shape`` holding ``payload_bytes`` zero bytes: a gzip member for
    the header, then one 16 MiB member of zeros repeated (gzip readers join members into one
    stream), so a gigabyte of payload is about a megabyte on disk and quick to write."""
    import gzip

    block = 1 << 24
    zeros = gzip.compress(bytes(block), compresslevel=9, mtime=0)
    with open(path, "wb") as f:
        f.write(gzip.compress(bytes([0, 0, type_byte, len(shape)]) + struct.pack(f">{len(shape)}I", *shape),
                              mtime=0))
        full, rest = divmod(payload_bytes, block)
        for _ in range(full):
            f.write(zeros)
        if rest:
            f.write(gzip.compress(bytes(rest), mtime=0))


def _mnist_folder(root, n_train_images: int, n_train_labels: int) -> None:
    root.mkdir()
    _gzip_idx(root / "train-images-idx3-ubyte.gz", 0x08, (n_train_images, 28, 28), n_train_images * 784)
    _gzip_idx(root / "train-labels-idx1-ubyte.gz", 0x08, (n_train_labels,), n_train_labels)
    _gzip_idx(root / "t10k-images-idx3-ubyte.gz", 0x08, (10, 28, 28), 7840)
    _gzip_idx(root / "t10k-labels-idx1-ubyte.gz", 0x08, (10,), 10)


def _load_mnist(root) -> str:
    return f"from chainrule.data import mnist\nmnist({str(root)!r})"


def test_a_megabyte_of_gzip_declaring_a_billion_labels_is_refused_from_the_headers(home):
    root = home / "mnist"
    _mnist_folder(root, n_train_images=60, n_train_labels=10**9)
    assert (root / "train-labels-idx1-ubyte.gz").stat().st_size < 1_100_000
    r = peak_rss(_load_mnist(root), home)
    assert r["error"] == "DataError" and "60 images" in r["message"] and "1000000000 labels" in r["message"], r
    assert r["peak_mb"] < LIMIT_MB, r


def test_a_consistent_but_huge_mnist_is_refused_before_decompressing(home):
    root = home / "mnist"
    _mnist_folder(root, n_train_images=1_300_000, n_train_labels=1_300_000)  # 1 GB of pixels
    r = peak_rss(_load_mnist(root), home)
    assert r["error"] == "DataError" and "more than the" in r["message"] and "allowed" in r["message"], r
    assert r["peak_mb"] < LIMIT_MB, r


def test_an_idx_file_is_decompressed_into_one_array(home):
    path = home / "labels.gz"
    _gzip_idx(path, 0x08, (100_000_000,), 100_000_000)  # 100 MB of labels, 100 KB on disk
    code = f"from chainrule.data import read_idx\na = read_idx({str(path)!r})\nassert a.shape == (100_000_000,)"
    r = peak_rss(code, home)
    assert r["error"] is None, r
    assert r["peak_mb"] < 100 + 100, r  # the array itself plus the interpreter, not two or three copies


# --------------------------------------------------------------------------- cross-validation
CV_CASE = """
import numpy as np
from chainrule.data.dataset import TensorDataset
from chainrule.data.splits import DatasetSplits

n, d = 25_000, 400  # 40 MB of float32 inputs
x = np.random.default_rng(0).standard_normal((n, d), dtype=np.float32)
y = np.arange(n) % 2
ds = DatasetSplits("big", TensorDataset(x[:20_000], y[:20_000]), TensorDataset(x[20_000:], y[20_000:]),
                   "classification", d, 2, ["a", "b"], [f"f{i}" for i in range(d)],
                   np.zeros(d, np.float32), np.ones(d, np.float32))
del x
folds = ds.cross_validation(20)
seen = 0
for fold in folds:
    seen += len(fold.test)
    assert len(fold.train) + len(fold.test) == n
del fold
assert seen == n == folds.examples
"""


def test_cross_validation_folds_do_not_copy_the_data_k_times(home):
    r = peak_rss(CV_CASE, home)
    assert r["error"] is None, r
    assert r["peak_mb"] < LIMIT_MB, r  # 20 copies would be 800 MB
