"""cr.save / cr.load: round trips, architecture without code, metadata, interoperability."""
from __future__ import annotations

import json
import struct

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.errors import ConfigError, ModelFileError


def mlp():
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.1),
                         nn.Residual(nn.Sequential(nn.Linear(8, 8), nn.Tanh())),
                         nn.Linear(8, 3), nn.Softmax())


def header_of(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8:8 + n])


def test_saved_sequential_loads_back_without_the_code(tmp_path):
    m = mlp().eval()
    cr.save(m, tmp_path / "m.safetensors")
    loaded = cr.load(tmp_path / "m.safetensors")
    assert isinstance(loaded, nn.Sequential) and repr(loaded) == repr(m)
    x = np.random.randn(5, 4).astype(np.float32)
    np.testing.assert_array_equal(loaded.eval()(x).data, m(x).data)


def test_header_holds_format_version_and_architecture_json(tmp_path):
    cr.save(nn.Sequential(nn.Linear(2, 3)), tmp_path / "m.safetensors")
    meta = header_of(tmp_path / "m.safetensors")["__metadata__"]
    assert meta["chainrule_format"] == "1"
    assert json.loads(meta["architecture"]) == {
        "type": "Sequential",
        "layers": [{"type": "Linear", "in_features": 2, "out_features": 3, "bias": True}]}


def test_float32_stays_float32_and_float64_stays_float64(tmp_path):
    state = {"a": np.ones(3, np.float32), "b": np.arange(4.0), "c": np.arange(3, dtype=np.int64),
             "scalar": np.array(7, np.int64), "t": np.ones((2, 3, 4), np.float32).transpose(),
             "empty": np.zeros((0, 5), np.float32)}
    cr.save(state, tmp_path / "s.safetensors")
    back = cr.load(tmp_path / "s.safetensors")
    assert {k: v.dtype for k, v in back.items()} == {k: v.dtype for k, v in state.items()}
    assert {k: v.shape for k, v in back.items()} == {k: v.shape for k, v in state.items()}
    for k in state:
        np.testing.assert_array_equal(back[k], state[k])


def test_custom_module_saves_state_only_and_loads_into_a_model(tmp_path):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(3, 2)

        def forward(self, x):
            return self.a(x)

    src, dst = Net(), Net()
    cr.save(src, tmp_path / "n.safetensors")
    state = cr.load(tmp_path / "n.safetensors")
    assert isinstance(state, dict) and set(state) == {"a.weight", "a.bias"}
    dst.load_state_dict(state)
    np.testing.assert_array_equal(dst.a.weight.data, src.a.weight.data)
    other = Net()
    assert cr.load(tmp_path / "n.safetensors", model=other) is other
    np.testing.assert_array_equal(other.a.bias.data, src.a.bias.data)


def test_cnn_with_batchnorm_buffers_round_trips(tmp_path):
    m = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                      nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 3))
    x = np.random.randn(2, 1, 8, 8).astype(np.float32)
    m(x)  # updates the running statistics
    cr.save(m.eval(), tmp_path / "cnn.safetensors")
    loaded = cr.load(tmp_path / "cnn.safetensors").eval()
    np.testing.assert_array_equal(loaded(x).data, m(x).data)
    np.testing.assert_array_equal(loaded[1].running_mean, m[1].running_mean)


def test_load_into_mismatching_model_names_file_and_keys(tmp_path):
    cr.save(nn.Sequential(nn.Linear(2, 3)), tmp_path / "m.safetensors")
    with pytest.raises(ModelFileError, match=r"m.safetensors: .*'0.weight': file \(3, 2\)"):
        cr.load(tmp_path / "m.safetensors", model=nn.Sequential(nn.Linear(2, 4)))


def test_user_metadata_round_trips_with_arrays_as_lists(tmp_path):
    meta = {"classes": ["setosa", "versicolor"], "mean": np.array([1.5, 2.0]),
            "n": np.int64(3)}
    cr.save(nn.Linear(2, 2), tmp_path / "m.safetensors", metadata=meta)
    assert cr.io.read_metadata(tmp_path / "m.safetensors") == {
        "classes": ["setosa", "versicolor"], "mean": [1.5, 2.0], "n": 3}


def test_read_metadata_is_empty_when_none_saved(tmp_path):
    cr.save(nn.Linear(2, 2), tmp_path / "m.safetensors")
    assert cr.io.read_metadata(tmp_path / "m.safetensors") == {}


def test_unserialisable_metadata_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="metadata"):
        cr.save(nn.Linear(2, 2), tmp_path / "m.safetensors", metadata={"f": object()})


def test_describe_lists_tensors_without_loading(tmp_path):
    cr.save(nn.Linear(2, 3), tmp_path / "m.safetensors")
    info = cr.io.describe(tmp_path / "m.safetensors")
    assert info["kind"] == "model" and info["tensors"]["weight"] == ("F32", (3, 2))
    assert info["architecture"]["type"] == "Linear"


def test_files_are_readable_by_the_safetensors_package(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    m = nn.Sequential(nn.Linear(3, 2))
    cr.save(m, tmp_path / "m.safetensors")
    back = st.load_file(str(tmp_path / "m.safetensors"))
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(back[k], v)


def test_files_from_the_safetensors_package_load(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    tensors = {"w": np.random.randn(3, 2).astype(np.float32), "i": np.arange(5, dtype=np.int32),
               "empty": np.zeros((0, 3), np.float32), "scalar": np.array(2.5)}
    st.save_file(tensors, str(tmp_path / "x.safetensors"), metadata={"k": "v"})
    back = cr.load(tmp_path / "x.safetensors")
    assert set(back) == set(tensors)
    for k, v in tensors.items():
        assert back[k].dtype == v.dtype and back[k].shape == v.shape
        np.testing.assert_array_equal(back[k], v)


def test_loaded_module_trains(tmp_path):
    cr.save(nn.Sequential(nn.Linear(2, 1)), tmp_path / "m.safetensors")
    m = cr.load(tmp_path / "m.safetensors")
    m(np.ones((3, 2))).sum().backward()
    assert m[0].weight.grad.shape == (1, 2)


def test_save_rejects_non_modules():
    with pytest.raises(ConfigError, match="expects a Module or a dict"):
        cr.save([1, 2], "x.safetensors")


def test_io_needs_only_numpy_and_never_imports_pickle_loaders():
    import subprocess
    import sys
    code = ("import sys, chainrule as cr, chainrule.io, chainrule.nn, chainrule.optim; "
            "print(sorted(m for m in ('safetensors', 'torch', 'tqdm') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
