"""Hostile or broken files: every one raises ModelFileError naming the file, nothing runs."""
from __future__ import annotations

import json
import os
import pickle
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule import nn
from chainrule.errors import ModelFileError
from chainrule.io.safetensors_format import read_safetensors


def raw_file(path, header, data=b"", length=None):
    blob = header if isinstance(header, bytes) else json.dumps(header).encode()
    n = len(blob) if length is None else length
    path.write_bytes(struct.pack("<Q", n) + blob + data)
    return path


def rejects(path, match):
    with pytest.raises(ModelFileError, match=match) as info:
        cr.load(path)
    assert str(path) in str(info.value)


class _Boom:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_pickle_renamed_to_safetensors_is_rejected_without_running_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "model.safetensors"
    path.write_bytes(pickle.dumps(_Boom(), protocol=4))
    rejects(path, "Python pickle.*never unpickles")
    assert not (tmp_path / "PWNED").exists()


def test_short_pickle_is_recognised(tmp_path):
    path = tmp_path / "p.safetensors"
    path.write_bytes(pickle.dumps(1, protocol=2))
    rejects(path, "Python pickle")


def test_zip_archive_is_recognised(tmp_path):
    path = tmp_path / "m.safetensors"
    path.write_bytes(b"PK\x03\x04" + b"\0" * 100)
    rejects(path, "zip archive")


def test_valid_header_length_starting_with_0x80_is_not_taken_for_pickle(tmp_path):
    path = tmp_path / "m.safetensors"
    cr.save({"w": np.zeros(3, np.float32)}, path)
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = raw[8:8 + n] + b" " * (0x280 - n)   # length 0x280: first byte 0x80, second 0x02
    path.write_bytes(struct.pack("<Q", 0x280) + header + raw[8 + n:])
    np.testing.assert_array_equal(cr.load(path)["w"], np.zeros(3))


def test_missing_file(tmp_path):
    rejects(tmp_path / "nope.safetensors", "no such file")


def test_directory(tmp_path):
    rejects(tmp_path, "is a directory")


def test_empty_and_tiny_files(tmp_path):
    rejects(raw_file(tmp_path / "e", b"", length=0).with_name("e"), "data after|JSON")
    (tmp_path / "t").write_bytes(b"abc")
    rejects(tmp_path / "t", "file has 3 bytes")


def test_truncated_file(tmp_path):
    path = tmp_path / "m.safetensors"
    cr.save(nn.Linear(10, 10), path)
    raw = path.read_bytes()
    path.write_bytes(raw[:-7])
    rejects(path, "outside the data region")
    path.write_bytes(raw[:20])
    rejects(path, "truncated")


def test_huge_declared_header_length_allocates_nothing(tmp_path):
    path = tmp_path / "m.safetensors"
    path.write_bytes(struct.pack("<Q", 2 ** 63) + b"{}")
    rejects(path, "header length field says 9223372036854775808 bytes")


def test_header_over_the_cap(tmp_path, monkeypatch):
    import chainrule.io.safetensors_format as fmt
    monkeypatch.setattr(fmt, "HEADER_CAP", 16)
    rejects(raw_file(tmp_path / "m", {"__metadata__": {"a": "b" * 40}}), "exceeds the 16-byte")


def test_offsets_outside_the_file(tmp_path):
    hdr = {"w": {"dtype": "F32", "shape": [1000, 1000], "data_offsets": [0, 4_000_000]}}
    rejects(raw_file(tmp_path / "m", hdr, b"\0" * 16), r"data_offsets \[0, 4000000\] lie "
                                                       r"outside the data region of 16 bytes")


def test_wrong_dtype_name(tmp_path):
    hdr = {"w": {"dtype": "F128", "shape": [2], "data_offsets": [0, 8]}}
    rejects(raw_file(tmp_path / "m", hdr, b"\0" * 8), "unknown or unsupported dtype 'F128'")


def test_shape_and_offsets_disagree(tmp_path):
    hdr = {"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}
    rejects(raw_file(tmp_path / "m", hdr, b"\0" * 8), r"needs 12 bytes but data_offsets span 8")


def test_huge_shape_product_is_caught_by_size_check(tmp_path):
    hdr = {"w": {"dtype": "F64", "shape": [2 ** 40, 2 ** 40], "data_offsets": [0, 8]}}
    rejects(raw_file(tmp_path / "m", hdr, b"\0" * 8), "needs .* bytes but data_offsets span 8")


def test_overlapping_tensors(tmp_path):
    hdr = {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
           "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}
    rejects(raw_file(tmp_path / "m", hdr, b"\0" * 12), "overlaps")


def test_trailing_bytes_after_tensors(tmp_path):
    hdr = {"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}
    rejects(raw_file(tmp_path / "m", hdr, b"\0" * 9), "5 bytes of data after the last tensor")


def test_non_json_header(tmp_path):
    rejects(raw_file(tmp_path / "m", b"{not json at all}"), "not valid JSON")
    rejects(raw_file(tmp_path / "m2", b"\xff\xfe{}"), "not valid UTF-8")
    rejects(raw_file(tmp_path / "m3", b"[1, 2]"), "not a JSON object")


def test_duplicate_keys_in_header(tmp_path):
    blob = (b'{"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]},'
            b' "a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}}')
    rejects(raw_file(tmp_path / "m", blob, b"\0"), "duplicate key 'a'")


def test_deeply_nested_header(tmp_path):
    rejects(raw_file(tmp_path / "m", b"{" + b'"a":[' * 100000 + b"]" * 100000 + b"}"),
            "not valid JSON|entry must be")


@pytest.mark.parametrize("entry,match", [
    ("nope", "entry must be an object"),
    ({"dtype": "F32", "shape": [-1], "data_offsets": [0, 0]}, "non-negative integers"),
    ({"dtype": "F32", "shape": [True], "data_offsets": [0, 4]}, "non-negative integers"),
    ({"dtype": "F32", "shape": [1], "data_offsets": [0]}, "two integers"),
    ({"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}, "outside the data region"),
    ({"dtype": 5, "shape": [1], "data_offsets": [0, 4]}, "unsupported dtype"),
])
def test_malformed_tensor_entries(tmp_path, entry, match):
    rejects(raw_file(tmp_path / "m", {"w": entry}, b"\0" * 4), match)


def test_metadata_must_be_strings(tmp_path):
    rejects(raw_file(tmp_path / "m", {"__metadata__": {"a": 1}}), "must map strings")


def test_architecture_naming_unknown_layer(tmp_path):
    meta = {"architecture": json.dumps({"type": "os.system", "command": "rm -rf /"})}
    rejects(raw_file(tmp_path / "m", {"__metadata__": meta}), "unknown layer type 'os.system'")


def test_architecture_with_bad_arguments(tmp_path):
    meta = {"architecture": json.dumps({"type": "Linear", "in_features": "x",
                                        "out_features": 2})}
    rejects(raw_file(tmp_path / "m", {"__metadata__": meta}), "cannot rebuild the architecture")
    meta = {"architecture": json.dumps({"type": "Linear", "evil": 1})}
    rejects(raw_file(tmp_path / "m2", {"__metadata__": meta}), "cannot rebuild")
    rejects(raw_file(tmp_path / "m3", {"__metadata__": {"architecture": "{"}}), "not valid JSON")


def test_architecture_larger_than_the_file_is_refused_before_allocating(tmp_path):
    meta = {"architecture": json.dumps({"type": "Linear", "in_features": 100000,
                                        "out_features": 100000})}
    hdr = {"__metadata__": meta, "weight": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}
    rejects(raw_file(tmp_path / "m", hdr, b"\0" * 4), "more parameter memory than the file holds")


def test_architecture_with_too_many_layers(tmp_path, monkeypatch):
    import chainrule.io.model_file as mf
    monkeypatch.setattr(mf, "MAX_CONFIG_NODES", 50)
    arch = {"type": "Sequential", "layers": [{"type": "ReLU"}] * 60}
    meta = {"architecture": json.dumps(arch)}
    rejects(raw_file(tmp_path / "m", {"__metadata__": meta}), "more than 50 layers")


def test_deeply_nested_architecture(tmp_path):
    text = '{"type": "Residual", "module": ' * 5000 + '{"type": "ReLU"}' + "}" * 5000
    rejects(raw_file(tmp_path / "m", {"__metadata__": {"architecture": text}}),
            "not valid JSON|cannot rebuild")


def test_architecture_and_tensors_disagree(tmp_path):
    path = tmp_path / "m.safetensors"
    cr.save(nn.Sequential(nn.Linear(2, 3)), path)
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    hdr = json.loads(raw[8:8 + n])
    hdr["__metadata__"]["architecture"] = json.dumps(
        {"type": "Sequential", "layers": [{"type": "Linear", "in_features": 3,
                                           "out_features": 2}]})
    raw_file(path, hdr, raw[8 + n:])
    rejects(path, "shape mismatch")


@settings(max_examples=60)
@given(st.binary(max_size=200))
def test_random_bytes_raise_only_model_file_error(tmp_path_factory, blob):
    path = tmp_path_factory.mktemp("fuzz") / "f.safetensors"
    path.write_bytes(blob)
    with pytest.raises(ModelFileError):
        cr.load(path)


@settings(max_examples=60)
@given(st.data())
def test_corrupting_one_byte_of_a_valid_file_never_raises_another_error(tmp_path_factory,
                                                                          data):
    path = tmp_path_factory.mktemp("fuzz") / "m.safetensors"
    cr.save(nn.Sequential(nn.Linear(2, 2), nn.ReLU()), path, metadata={"c": [1]})
    raw = bytearray(path.read_bytes())
    i = data.draw(st.integers(0, len(raw) - 1))
    raw[i] = data.draw(st.integers(0, 255))
    path.write_bytes(bytes(raw))
    try:
        cr.load(path)
        cr.io.read_metadata(path)
    except ModelFileError:
        pass


def test_reader_function_also_validates(tmp_path):
    with pytest.raises(ModelFileError, match="no such file"):
        read_safetensors(tmp_path / "x")


@settings(max_examples=60)
@given(st.data())
def test_corrupting_a_checkpoint_never_raises_another_error(tmp_path_factory, data):
    from chainrule import optim
    from chainrule.optim.lr_scheduler import ReduceLROnPlateau

    def parts():
        model = nn.Sequential(nn.Linear(2, 2))
        opt = optim.Adam(model.parameters())
        return model, opt, ReduceLROnPlateau(opt)

    path = tmp_path_factory.mktemp("fuzz") / "c.safetensors"
    cr.manual_seed(0)  # same file, same length, every example
    model, opt, sched = parts()
    model(np.ones((1, 2))).sum().backward()
    opt.step()
    cr.save_checkpoint(path, model, opt, epoch=1, scheduler=sched, extra={"a": [1, 2]})
    raw = bytearray(path.read_bytes())
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(8, len(raw) - 1))
        raw[i] = data.draw(st.sampled_from(list(b'{}[]",:0123456789-.eE ') + [0, 0x80, 0xff]))
    path.write_bytes(bytes(raw))
    model, opt, sched = parts()
    try:
        cr.load_checkpoint(path, model, opt, scheduler=sched, restore_rng=True)
        cr.load_checkpoint(path)
    except ModelFileError:
        pass


def test_too_many_dimensions(tmp_path):
    hdr = {"w": {"dtype": "F32", "shape": [1] * 40, "data_offsets": [0, 4]}}
    rejects(raw_file(tmp_path / "m", hdr, b"\0" * 4), "at most 32 non-negative integers")
