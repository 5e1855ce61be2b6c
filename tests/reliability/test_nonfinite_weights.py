"""A model file whose weights hold NaN or Inf is refused by ``cr.load`` with one line naming the
file and the tensor; ``evaluate`` and ``predict`` exit 2 instead of printing NaN results."""
from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.errors import ModelFileError

from .conftest import run_cli


def _iris_like(path, bad_value: float | None) -> None:
    model = nn.Sequential(nn.Linear(4, 3))
    if bad_value is not None:
        model[0].weight.data[1, 2] = bad_value
    meta = {"preprocessing": {"dataset": "iris", "task": "classification", "num_features": 4, "num_classes": 3,
                              "class_names": ["a", "b", "c"], "mean": [0.0] * 4, "std": [1.0] * 4}}
    cr.save(model, str(path), metadata=meta)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_load_refuses_nonfinite_weights(tmp_path, value):
    path = tmp_path / "m.safetensors"
    _iris_like(path, value)
    with pytest.raises(ModelFileError, match=r"tensor '0\.weight' holds 1 NaN or infinite value"):
        cr.load(path)
    with pytest.raises(ModelFileError, match="NaN or infinite"):
        cr.load(path, model=nn.Sequential(nn.Linear(4, 3)))


@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_evaluate_and_predict_exit_2_on_nonfinite_weights(home, command):
    path = home / "m.safetensors"
    _iris_like(path, np.nan)
    rows = home / "rows.csv"
    rows.write_text("5.1,3.5,1.4,0.2\n")
    r = run_cli([command, str(path)] + ([str(rows)] if command == "predict" else []), home)
    assert r.returncode == 2 and r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("chainrule: error:") and "NaN or infinite" in lines[0]


def test_finite_weights_still_load(tmp_path):
    path = tmp_path / "m.safetensors"
    _iris_like(path, None)
    assert isinstance(cr.load(path), nn.Sequential)
