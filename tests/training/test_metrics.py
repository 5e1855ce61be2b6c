"""Metrics against values worked out by hand, and running versions against whole-array ones."""
import numpy as np
import pytest

from chainrule.errors import ConfigError, ShapeError
from chainrule.training import metrics as M


def test_accuracy_from_scores_and_labels():
    scores = np.array([[2.0, 1.0, 0.0], [0.1, 0.2, 0.7], [0.0, 3.0, 1.0], [5.0, 0.0, 0.0]])
    targets = np.array([0, 2, 2, 1])
    assert M.accuracy(scores, targets) == 0.5  # rows 0 and 1 right, rows 2 and 3 wrong
    assert M.accuracy(np.array([0, 2, 1, 1]), targets) == 0.75


def test_accuracy_single_logit_is_binary():
    assert M.accuracy(np.array([[2.0], [-1.0], [0.5]]), np.array([1, 0, 0])) == pytest.approx(2 / 3)


def test_confusion_matrix_rows_true_columns_predicted():
    pred = np.array([0, 1, 1, 2, 2, 2])
    true = np.array([0, 1, 2, 2, 2, 0])
    cm = M.confusion_matrix(pred, true, num_classes=3)
    expected = np.array([[1, 0, 1],
                         [0, 1, 0],
                         [0, 1, 2]])
    np.testing.assert_array_equal(cm, expected)
    assert cm.sum() == 6 and np.trace(cm) == 4


def test_confusion_matrix_width_from_scores():
    cm = M.confusion_matrix(np.eye(4)[[0, 1]], np.array([0, 1]))
    assert cm.shape == (4, 4)


def test_regression_metrics_by_hand():
    y = np.array([3.0, -0.5, 2.0, 7.0])
    p = np.array([2.5, 0.0, 2.0, 8.0])
    assert M.mean_squared_error(p, y) == pytest.approx((0.25 + 0.25 + 0 + 1) / 4)
    assert M.mean_absolute_error(p, y) == pytest.approx((0.5 + 0.5 + 0 + 1) / 4)
    # SS_res = 1.5, mean(y) = 2.875, SS_tot = 0.015625+11.390625+0.765625+17.015625 = 29.1875
    assert M.r2_score(p, y) == pytest.approx(1 - 1.5 / 29.1875)
    assert M.r2_score(y, y) == 1.0
    assert M.r2_score(np.full(4, y.mean()), y) == pytest.approx(0.0)


def test_regression_shapes_n_and_n1_agree():
    y = np.arange(5.0).reshape(-1, 1)
    assert M.mean_squared_error(y.ravel() + 1, y) == 1.0
    with pytest.raises(ShapeError):
        M.mean_squared_error(np.zeros(3), np.zeros(4))


def test_running_metrics_equal_whole_array_metrics():
    rng = np.random.default_rng(0)
    scores, labels = rng.normal(size=(103, 5)), rng.integers(0, 5, 103)
    pred, target = rng.normal(size=(103, 1)) + 1000.0, rng.normal(size=(103, 1)) + 1000.0
    runners = {name: M.get_metric(name) for name in ("accuracy", "mse", "mae", "r2")}
    for r in runners.values():
        r.reset()
    for s in range(0, 103, 10):  # uneven last batch
        runners["accuracy"].update(scores[s:s + 10], labels[s:s + 10])
        for name in ("mse", "mae", "r2"):
            runners[name].update(pred[s:s + 10], target[s:s + 10])
    assert runners["accuracy"].compute() == pytest.approx(M.accuracy(scores, labels))
    assert runners["mse"].compute() == pytest.approx(M.mean_squared_error(pred, target))
    assert runners["mae"].compute() == pytest.approx(M.mean_absolute_error(pred, target))
    assert runners["r2"].compute() == pytest.approx(M.r2_score(pred, target), rel=1e-9)


def test_unknown_metric():
    with pytest.raises(ConfigError, match="unknown metric"):
        M.get_metric("f1")


def test_direction_of_keys():
    assert M.higher_is_better("val_accuracy") and M.higher_is_better("r2")
    assert not M.higher_is_better("val_loss") and not M.higher_is_better("mse")
