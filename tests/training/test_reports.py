"""Honest metrics (balanced accuracy, per-class precision/recall/F1, ROC-AUC, baselines),
checked against scikit-learn's (an optional test oracle)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainrule.training import (
    balanced_accuracy,
    classification_report,
    precision_recall_f1,
    regression_report,
    roc_auc,
)

sklearn_metrics = pytest.importorskip("sklearn.metrics")


def _problem(seed: int, n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, k))
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    targets = rng.integers(0, k, size=n)
    return probs, targets


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 60), st.integers(2, 5))
def test_precision_recall_f1_equal_sklearns(seed, n, k):
    probs, t = _problem(seed, n, k)
    p, r, f, s = precision_recall_f1(probs, t, num_classes=k)
    sp, sr, sf, ss = sklearn_metrics.precision_recall_fscore_support(t, probs.argmax(1), labels=range(k),
                                                                     zero_division=0)
    np.testing.assert_allclose(p, sp)
    np.testing.assert_allclose(r, sr)
    np.testing.assert_allclose(f, sf)
    np.testing.assert_array_equal(s, ss)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 60), st.integers(2, 5))
def test_balanced_accuracy_equals_sklearns(seed, n, k):
    probs, t = _problem(seed, n, k)
    expected = sklearn_metrics.balanced_accuracy_score(t, probs.argmax(1))
    assert balanced_accuracy(probs, t, num_classes=k) == pytest.approx(expected)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 80), st.booleans())
def test_roc_auc_equals_sklearns_ties_included(seed, n, rounded):
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 2, size=n)
    t[:2] = [0, 1]  # both classes present
    scores = rng.random(n)
    if rounded:  # many ties
        scores = np.round(scores, 1)
    assert roc_auc(scores, t) == pytest.approx(sklearn_metrics.roc_auc_score(t, scores))


def test_roc_auc_of_one_class_is_nan():
    assert np.isnan(roc_auc(np.array([0.1, 0.9]), np.array([1, 1])))


def test_classification_report_shows_the_majority_baseline_an_always_majority_model_matches():
    t = np.array([0] * 97 + [1] * 3)
    always_zero = np.tile([0.9, 0.1], (100, 1))
    report = classification_report(always_zero, t, class_names=["no", "yes"])
    assert report["accuracy"] == report["baseline_accuracy"] == 0.97
    assert report["baseline_class"] == "no"
    assert report["balanced_accuracy"] == 0.5
    assert report["per_class"]["yes"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 3}
    assert report["roc_auc"] == 0.5


def test_regression_report_baseline_is_the_rmse_of_predicting_the_mean():
    t = np.array([1.0, 2.0, 3.0, 6.0])
    report = regression_report(np.full(4, t.mean()), t)
    assert report["r2"] == pytest.approx(0.0)
    assert report["rmse"] == pytest.approx(report["baseline_rmse"])
    assert regression_report(t, t, baseline=0.0)["baseline_rmse"] == pytest.approx(np.sqrt(np.mean(t ** 2)))
