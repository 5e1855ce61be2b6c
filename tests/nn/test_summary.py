"""model.summary(): Keras-style layer table, totals, HTML, the CLI and the file view."""
from __future__ import annotations

import json

import numpy as np

import chainrule as cr
from chainrule import nn
from chainrule.cli import main


def _mlp_with_norm() -> nn.Module:
    return nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.BatchNorm1d(16),
                         nn.Residual(nn.Sequential(nn.Linear(16, 16), nn.Tanh())), nn.Linear(16, 3))


def test_summary_lists_every_layer_with_its_output_shape_and_params():
    s = _mlp_with_norm().summary((4,))
    rows = {r.name: r for r in s.rows}
    assert [r.name for r in s.rows] == ["0", "1", "2", "3", "3.module", "3.module.0", "3.module.1", "4"]
    assert rows["0"].output_shape == ("N", 16) and rows["0"].params == 4 * 16 + 16
    assert rows["4"].output_shape == ("N", 3) and rows["4"].params == 16 * 3 + 3
    assert rows["3.module.0"].depth == 2 and rows["3"].kind == "Residual"
    assert rows["2"].params == 32 and rows["2"].non_trainable == 32  # gamma, beta | running mean, var


def test_summary_totals_match_num_parameters_and_bytes():
    model = _mlp_with_norm()
    s = model.summary()
    assert s.trainable == model.num_parameters()
    assert s.non_trainable == 32
    state = model.state_dict()
    assert s.nbytes == sum(a.nbytes for a in state.values())


def test_summary_of_lenet_follows_the_image_through_conv_and_pool():
    s = nn.lenet().summary()  # the Unflatten fixes the input: (784,)
    shapes = [r.output_shape for r in s.rows]
    assert shapes[1] == ("N", 32, 24, 24) and shapes[3] == ("N", 32, 12, 12)
    assert shapes[7] == ("N", 1024) and shapes[-1] == ("N", 10)
    assert s.total == 184_586


def test_summary_text_is_keras_like():
    text = str(nn.lenet().summary())
    assert 'Model: "Sequential"' in text and "Output Shape" in text and "Param #" in text
    assert "Total params: 184,586 (721.04 KB)" in text
    assert "Trainable params: 184,586" in text and "Non-trainable params: 0" in text
    assert "(N, 64, 4, 4)" in text


def test_summary_without_a_known_input_shape_says_so():
    s = nn.lenet(flat_input=False).summary()
    assert all(r.output_shape is None for r in s.rows) and "input_shape" in (s.error or "")
    assert s.total == 184_586


def test_summary_of_a_wrong_input_shape_reports_the_layer_error_and_keeps_the_model_usable():
    model = nn.Sequential(nn.Linear(4, 3), nn.Dropout(0.5))
    model.train()
    s = model.summary((5,))
    assert s.error and "(5,)" in s.error
    assert model.training and model[1].training  # mode restored
    assert "forward" not in model[0].__dict__  # recording wrappers removed
    assert model(np.ones((2, 4), np.float32)).shape == (2, 3)


def test_summary_restores_training_mode_and_leaves_batchnorm_statistics_alone():
    model = _mlp_with_norm()
    before = model.state_dict()
    model.summary()
    assert model.training
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


def test_model_shows_its_summary_as_html():
    html = nn.lenet()._repr_html_()
    assert html.startswith("<div") and "<table>" in html and "Conv2d" in html and "184,586" in html


def test_evaluate_summary_prints_the_table_for_a_trained_model(tmp_path, capsys):
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    path = tmp_path / "m.safetensors"
    cr.save(model, path, metadata={"preprocessing": {"num_features": 4}})
    assert main(["evaluate", str(path), "--summary"]) == 0
    out = capsys.readouterr().out
    assert "(N, 8)" in out and "Total params: 67" in out
    assert main(["evaluate", str(path), "--summary", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["total"] == 67 and data["layers"][2]["output_shape"] == ["N", 3]


def test_describe_counts_values_per_layer_from_the_header(tmp_path):
    path = tmp_path / "m.safetensors"
    cr.save(_mlp_with_norm(), path)
    summary = cr.io.describe(path)["summary"]
    assert summary["layers"]["0"] == 80 and summary["layers"]["3.module.0"] == 272
    assert summary["values"] == sum(a.size for a in _mlp_with_norm().state_dict().values())
