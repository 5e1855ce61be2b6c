"""read_idx / write_idx: the IDX format, gzip detection, and refusal of malformed files."""
from __future__ import annotations

import gzip
import struct
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chainrule.data import read_idx, write_idx
from chainrule.data.idx import encode_idx
from chainrule.errors import DataError, DatasetNotFoundError

DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]


def _header(type_byte: int, dims: tuple[int, ...]) -> bytes:
    return bytes([0, 0, type_byte, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("compress", [True, False])
def test_round_trip_keeps_values_shape_and_dtype(tmp_path, dtype, compress):
    a = (np.arange(24).reshape(2, 3, 4) - 7).astype(dtype)
    if dtype == np.uint8:
        a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    p = write_idx(tmp_path / "a.idx", a, gzip=compress)
    b = read_idx(p)
    assert b.dtype == np.dtype(dtype) and b.shape == a.shape
    np.testing.assert_array_equal(a, b)


def test_data_is_big_endian_on_disk(tmp_path):
    raw = encode_idx(np.array([1, 2], dtype=np.int16))
    assert raw == b"\x00\x00\x0b\x01" + b"\x00\x00\x00\x02" + b"\x00\x01\x00\x02"


def test_result_is_native_endian_and_writable(tmp_path):
    p = write_idx(tmp_path / "f", np.array([1.5, -2.0], dtype=np.float32))
    a = read_idx(p)
    assert a.dtype.isnative and a.flags.writeable
    a[0] = 3.0  # no error


def test_gzip_is_detected_by_magic_bytes_not_by_name(tmp_path):
    a = np.arange(10, dtype=np.uint8)
    gz_named_raw = write_idx(tmp_path / "labels.raw", a, gzip=True)
    raw_named_gz = write_idx(tmp_path / "labels.gz", a, gzip=False)
    np.testing.assert_array_equal(read_idx(gz_named_raw), a)
    np.testing.assert_array_equal(read_idx(raw_named_gz), a)


def test_zero_length_dimension_gives_empty_array(tmp_path):
    p = write_idx(tmp_path / "e", np.zeros((0, 28, 28), np.uint8))
    assert read_idx(p).shape == (0, 28, 28)


def test_write_is_deterministic(tmp_path):
    a = np.arange(100, dtype=np.uint8)
    assert write_idx(tmp_path / "1", a).read_bytes() == write_idx(tmp_path / "2", a).read_bytes()


def test_write_refuses_dtype_without_idx_type(tmp_path):
    with pytest.raises(DataError, match="int64"):
        write_idx(tmp_path / "x", np.zeros(3, np.int64))


def test_missing_file_raises_dataset_not_found(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="nope.idx"):
        read_idx(tmp_path / "nope.idx")


def test_directory_raises_data_error(tmp_path):
    with pytest.raises(DataError, match="directory"):
        read_idx(tmp_path)


MALFORMED = {
    "empty": (b"", "empty"),
    "short header": (b"\x00\x00\x08", "header"),
    "bad magic": (b"\x01\x02\x08\x01\x00\x00\x00\x01\x05", "magic"),
    "unknown type": (b"\x00\x00\x07\x01\x00\x00\x00\x01\x05", "type"),
    "zero dims": (b"\x00\x00\x08\x00", "dimensions"),
    "too many dims": (b"\x00\x00\x08\xff" + b"\x00\x00\x00\x01" * 255, "dimensions"),
    "dims cut short": (b"\x00\x00\x08\x03\x00\x00\x00\x01", "dimensions"),
    "truncated data": (_header(0x08, (2, 3)) + b"\x01\x02\x03", "truncated|hold"),
    "trailing bytes": (_header(0x08, (2,)) + b"\x01\x02\x03", "trailing"),
    "size beyond file": (_header(0x0E, (0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF)) + b"\x00" * 8, "hold at most"),
}


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_file_raises_data_error_naming_file_and_problem(tmp_path, case, compress):
    data, problem = MALFORMED[case]
    if compress and data:
        data = gzip.compress(data, mtime=0)
    p = tmp_path / "bad-file.idx"
    p.write_bytes(data)
    with pytest.raises(DataError, match=problem) as info:
        read_idx(p)
    assert "bad-file.idx" in str(info.value)


def test_huge_declared_size_in_gzip_is_refused_without_allocating(tmp_path):
    # 16 GB declared, a few dozen bytes of file: must fail before any large allocation
    p = tmp_path / "bomb.gz"
    p.write_bytes(gzip.compress(_header(0x08, (65536, 65536, 4)) + b"\x00" * 100, mtime=0))
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match="hold at most"):
            read_idx(p)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 10 * 1024 * 1024


def test_gzip_stream_that_declares_more_than_it_holds_is_truncated(tmp_path):
    # plausible size for the compressed length, but the stream ends early
    p = tmp_path / "short.gz"
    p.write_bytes(gzip.compress(_header(0x08, (1000, 10)) + bytes(500), mtime=0))
    with pytest.raises(DataError, match="truncated"):
        read_idx(p)


def test_corrupt_gzip_raises_data_error(tmp_path):
    good = gzip.compress(encode_idx(np.arange(5000, dtype=np.int32)), mtime=0)
    bad = bytearray(good)
    for i in range(20, 60):
        bad[i] ^= 0xFF
    p = tmp_path / "corrupt.gz"
    p.write_bytes(bytes(bad))
    with pytest.raises(DataError, match="corrupt.gz"):
        read_idx(p)


def test_truncated_gzip_raises_data_error(tmp_path):
    good = gzip.compress(encode_idx(np.arange(5000, dtype=np.int32)), mtime=0)
    p = tmp_path / "cut.gz"
    p.write_bytes(good[: len(good) // 2])
    with pytest.raises(DataError, match="cut.gz"):
        read_idx(p)


def test_shared_mnist_labels_read_as_60000_ubytes(shared_mnist):
    labels = read_idx(shared_mnist / "train-labels-idx1-ubyte.gz")
    assert labels.shape == (60000,) and labels.dtype == np.uint8 and labels.max() == 9


_FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _read_only_data_error(path: Path) -> None:
    try:
        a = read_idx(path)
    except DataError:
        return
    assert isinstance(a, np.ndarray)


@_FUZZ
@given(data=st.binary(max_size=300))
def test_fuzz_random_bytes_raise_only_data_error(tmp_path, data):
    p = tmp_path / "fuzz.idx"
    p.write_bytes(data)
    _read_only_data_error(p)


@_FUZZ
@given(
    compress=st.booleans(),
    edits=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=6),
    cut=st.one_of(st.none(), st.integers(0, 10_000)),
    extra=st.binary(max_size=8),
)
def test_fuzz_mutated_valid_files_raise_only_data_error(tmp_path, compress, edits, cut, extra):
    raw = encode_idx(np.arange(60, dtype=np.int16).reshape(3, 4, 5))
    data = bytearray(gzip.compress(raw, mtime=0) if compress else raw)
    for pos, value in edits:
        data[pos % len(data)] = value
    if cut is not None:
        data = data[: cut % (len(data) + 1)]
    p = tmp_path / "mutant.idx"
    p.write_bytes(bytes(data) + extra)
    _read_only_data_error(p)
