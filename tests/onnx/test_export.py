"""ONNX export of the feed-forward layers and of models trained on tables: the exported file
passes onnx.checker and onnxruntime computes what chainrule computes (``roundtrip.close``)."""
from __future__ import annotations

import csv
import subprocess
import sys

import numpy as np
import onnx  # the [onnx] extra, also in [dev]
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.cli import main

from .roundtrip import close, run, x_of


def _roundtrip(model: nn.Module, x: np.ndarray, tmp_path) -> None:
    """Train-mode passes (BatchNorm statistics move), export, compare in eval mode."""
    model.train()
    for _ in range(3):
        model(x)
    path = tmp_path / "model.onnx"
    proto = cr.onnx.export(model, x, path)
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    assert proto.opset_import[0].version == cr.onnx.OPSET == 19
    assert model.training  # the caller's mode is restored
    model.eval()
    ref = model(x).data
    close(run(path, {"input": x})[0], ref)
    x2 = np.concatenate([x, x[:1] * 2])  # the batch axis is dynamic
    close(run(path, {"input": x2})[0], model(x2).data)


def test_mlp_with_every_activation_matches_onnxruntime(tmp_path):
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 32),
                          nn.Sigmoid(), nn.Linear(32, 32), nn.LeakyReLU(0.2), nn.Linear(32, 32), nn.GELU(),
                          nn.Linear(32, 32), nn.GELU("tanh"), nn.Linear(32, 32), nn.Softplus(),
                          nn.Linear(32, 32), nn.Softplus(beta=2.0), nn.Dropout(0.5), nn.Identity(),
                          nn.Linear(32, 4), nn.Softmax())
    _roundtrip(model, x_of(7, 6), tmp_path)


def test_mlp_with_batchnorm_residual_and_no_bias_matches_onnxruntime(tmp_path):
    cr.manual_seed(1)
    model = nn.Sequential(nn.Linear(5, 16, bias=False), nn.BatchNorm1d(16), nn.ReLU(),
                          nn.Residual(nn.Sequential(nn.Linear(16, 16), nn.BatchNorm1d(16, affine=False),
                                                    nn.Tanh())),
                          nn.Linear(16, 2))
    _roundtrip(model, x_of(9, 5), tmp_path)


def test_lenet_cnn_matches_onnxruntime(tmp_path):
    cr.manual_seed(2)
    _roundtrip(nn.lenet(dropout=0.25), x_of(4, 784), tmp_path)


def test_conv_pools_batchnorm2d_flatten_unflatten_match_onnxruntime(tmp_path):
    cr.manual_seed(3)
    model = nn.Sequential(nn.Unflatten(1, (2, 9, 9)), nn.Conv2d(2, 4, 3, stride=2, padding=1),
                          nn.BatchNorm2d(4), nn.ReLU(), nn.AvgPool2d(2, padding=1),
                          nn.Conv2d(4, 3, (2, 1), padding=(1, 0), bias=False),
                          nn.MaxPool2d(3, stride=1, padding=1), nn.Flatten(), nn.Linear(36, 3))
    _roundtrip(model, x_of(3, 162), tmp_path)


def test_flatten_from_a_later_axis_keeps_the_batch_dynamic(tmp_path):
    model = nn.Sequential(nn.Flatten(2), nn.Linear(20, 3))
    _roundtrip(model, x_of(2, 3, 4, 5), tmp_path)


def test_a_custom_module_is_refused_by_name(tmp_path):
    class Twice(nn.Module):
        def forward(self, x):
            return x * 2

    with pytest.raises(cr.ConfigError, match="cannot export Twice to ONNX"):
        cr.onnx.export(nn.Sequential(nn.Linear(2, 2), Twice()), x_of(1, 2), tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def _table(path, rows: int = 90, regression: bool = False) -> None:
    rng = np.random.default_rng(0)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["size", "colour", "weight", "kind"])
        for _ in range(rows):
            size, weight = rng.uniform(1, 10), rng.uniform(100, 500)
            colour = str(rng.choice(["red", "green", "blue"]))
            if regression:
                target = f"{3 * size + 0.01 * weight + (5 if colour == 'red' else 0):.3f}"
            else:
                target = "big" if size + (3 if colour == "red" else 0) > 6 else "small"
            w.writerow([f"{size:.3f}", colour, f"{weight:.1f}", target])


def _columns(path) -> dict:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return {"size": np.array([[float(r["size"])] for r in rows], np.float32),
            "weight": np.array([[float(r["weight"])] for r in rows], np.float32),
            "colour": np.array([[r["colour"]] for r in rows], dtype=object)}


@pytest.mark.parametrize("regression", [False, True])
def test_csv_model_takes_the_raw_columns_predict_reads(tmp_path, regression):
    from chainrule.commands._common import load_model, model_inputs, preprocessing, unscale
    from chainrule.training import predict

    table = tmp_path / "table.csv"
    _table(table, regression=regression)
    assert main(["train", "--csv", str(table), "--epochs", "3", "--out", str(tmp_path / "run")]) == 0
    model_path = tmp_path / "run" / "model.safetensors"
    out = tmp_path / "model.onnx"
    assert main(["export", str(model_path), "--onnx", str(out)]) == 0
    onnx.checker.check_model(onnx.load(str(out)), full_check=True)

    model, meta = load_model(str(model_path))
    prep = preprocessing(meta, str(model_path))
    x = model_inputs(str(table), prep)  # what chainrule predict computes from the file
    got = run(out, _columns(table))
    if regression:
        close(got[0], unscale(predict(model, x, probabilities=False), meta))
    else:
        ref = predict(model, x, probabilities=True)
        close(got[0], ref)
        np.testing.assert_array_equal(got[1], ref.argmax(1))
        props = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
        assert props["class_names"] == '["big", "small"]'


def test_builtin_dataset_model_standardises_raw_values_in_the_graph(tmp_path):
    from chainrule.commands._common import load_model, preprocessing
    from chainrule.training import predict

    assert main(["train", "--dataset", "iris", "--epochs", "2", "--out", str(tmp_path / "run")]) == 0
    model_path = str(tmp_path / "run" / "model.safetensors")
    out = tmp_path / "iris.onnx"
    assert main(["export", model_path, "--onnx", str(out)]) == 0
    model, meta = load_model(model_path)
    prep = preprocessing(meta, model_path)
    raw = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]], np.float32)
    ref = predict(model, ((raw - np.array(prep["mean"])) / np.array(prep["std"])).astype(np.float32))
    close(run(out, {"x": raw})[0], ref)


def test_export_refuses_to_overwrite_without_force(tmp_path, capsys):
    path = tmp_path / "m.safetensors"
    cr.save(nn.Sequential(nn.Linear(3, 2)), path)
    out = tmp_path / "m.onnx"
    out.write_bytes(b"keep")
    assert main(["export", str(path), "--onnx", str(out)]) == 2
    assert "--force" in capsys.readouterr().err and out.read_bytes() == b"keep"
    assert main(["export", str(path), "--onnx", str(out), "--force"]) == 0
    close(run(out, {"input": x_of(2, 3)})[0], cr.load(path)(x_of(2, 3)).data)


def test_cnn_file_without_metadata_needs_an_input_shape(tmp_path, capsys):
    path = tmp_path / "cnn.safetensors"
    model = nn.lenet(flat_input=False)
    cr.save(model, path)
    assert main(["export", str(path), "--onnx", str(tmp_path / "a.onnx")]) == 2
    assert "--input-shape" in capsys.readouterr().err
    assert main(["export", str(path), "--onnx", str(tmp_path / "a.onnx"), "--input-shape", "1,1,28,28"]) == 0
    x = x_of(2, 1, 28, 28)
    close(run(tmp_path / "a.onnx", {"input": x})[0], model.eval()(x).data)


def test_missing_onnx_names_the_extra(tmp_path):
    code = ("import sys; sys.modules['onnx'] = None\n"
            "import chainrule as cr\nfrom chainrule import nn\n"
            "try:\n    cr.onnx.export(nn.Linear(2, 2), [[0.0, 0.0]], 'x.onnx')\n"
            "except cr.ConfigError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert "pip install 'chainrule[onnx]'" in out.stdout


def test_embedding_and_layer_norm_take_integer_ids(tmp_path):
    cr.manual_seed(4)
    model = nn.Sequential(nn.Embedding(20, 8, padding_idx=0), nn.LayerNorm(8), nn.Linear(8, 8), nn.GELU(),
                          nn.LayerNorm((5, 8), elementwise_affine=False), nn.Flatten(), nn.Linear(40, 3))
    ids = np.random.default_rng(0).integers(0, 20, (4, 5))
    path = tmp_path / "ids.onnx"
    proto = cr.onnx.export(model, ids, path)
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.INT64
    close(run(path, {"input": ids.astype(np.int64)})[0], model(ids).data)


def test_a_data_parallel_wrapper_exports_its_model(tmp_path):
    pytest.importorskip("mpi4py")  # DataParallel starts MPI (the [mpi] extra, not in [dev])
    from chainrule.distributed import DataParallel

    cr.manual_seed(5)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh())
    cr.onnx.export(DataParallel(model), x_of(1, 3), tmp_path / "dp.onnx")
    close(run(tmp_path / "dp.onnx", {"input": x_of(2, 3)})[0], model(x_of(2, 3)).data)
