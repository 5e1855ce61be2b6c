"""History: records, columns, CSV and checkpoint round trip."""
import csv

import pytest

from chainrule.training import History


def _h():
    h = History()
    h.append({"epoch": 1, "loss": 1.0, "accuracy": 0.5, "val_loss": 1.2, "lr": 0.1, "seconds": 0.1,
              "grad_norms": {"0": 2.0, "2": 1.0}})
    h.append({"epoch": 2, "loss": 0.5, "accuracy": 0.8, "val_loss": 0.9, "lr": 0.1, "seconds": 0.1,
              "grad_norms": {"0": 1.5, "2": 0.5}})
    return h


def test_columns_and_best():
    h = _h()
    assert h["loss"] == [1.0, 0.5]
    assert h.best("val_loss")["epoch"] == 2
    assert h.grad_norms == {"0": [2.0, 1.5], "2": [1.0, 0.5]}
    d = h.as_dict()
    assert d["epoch"] == [1, 2] and d["grad_norms"][0] == {"0": 2.0, "2": 1.0}
    with pytest.raises(KeyError):
        h["val_accuracy"]


def test_to_csv_flattens_grad_norms(tmp_path):
    path = tmp_path / "h.csv"
    _h().to_csv(path)
    rows = list(csv.DictReader(open(path)))
    assert len(rows) == 2
    assert float(rows[1]["loss"]) == 0.5 and float(rows[0]["grad_norm/0"]) == 2.0
    assert list(rows[0])[:3] == ["epoch", "loss", "val_loss"]


def test_state_round_trip():
    h = _h()
    h.stop_reason = "early stopping"
    g = History()
    g.load_state_dict(h.state_dict())
    assert g.epochs == h.epochs and g.stop_reason == "early stopping"
