"""Metrics: how good a model's outputs are, as plain functions on NumPy arrays.

Two forms of each metric:

* functions on whole arrays, for a user with predictions in hand —
  ``accuracy(outputs, targets)``, ``confusion_matrix``, ``mean_squared_error``,
  ``mean_absolute_error``, ``r2_score``;
* running (streaming) versions used by :func:`chainrule.training.fit` and ``evaluate``:
  ``update(outputs, targets)`` once per batch, ``compute()`` at the end of the epoch. They
  keep only sums, so an epoch over MNIST never holds all 60 000 outputs at once, and the
  result equals the function applied to the concatenated batches.

Shapes. Classification: ``outputs`` are scores ``(N, C)`` (logits or probabilities; the
predicted class is the arg-max) or already predicted labels ``(N,)``; ``targets`` are class
indices ``(N,)``. Regression: ``outputs`` and ``targets`` are ``(N,)`` or ``(N, K)``.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError, ShapeError


def _np(x: Any) -> np.ndarray:
    """A NumPy view of an ndarray, a list, or a chainrule Tensor (its ``.data``)."""
    return np.asarray(getattr(x, "data", x))


def predicted_labels(outputs: Any) -> np.ndarray:
    """Class indices ``(N,)`` from scores ``(N, C)`` (arg-max), ``(N, 1)`` single logits
    (positive means class 1), or labels ``(N,)`` passed through."""
    out = _np(outputs)
    if out.ndim == 2 and out.shape[1] > 1:
        return out.argmax(axis=1)
    if out.ndim == 2 and out.shape[1] == 1:
        return (out[:, 0] > 0).astype(np.int64)
    if out.ndim == 1:
        return out.astype(np.int64) if out.dtype.kind != "f" else np.rint(out).astype(np.int64)
    raise ShapeError(f"accuracy: outputs must be scores (N, C) or labels (N,), got shape {out.shape}")


def _check_len(name: str, a: np.ndarray, b: np.ndarray) -> None:
    if a.shape[0] != b.shape[0]:
        raise ShapeError(f"{name}: {a.shape[0]} predictions but {b.shape[0]} targets "
                         f"(shapes {a.shape} and {b.shape})")


def accuracy(outputs: Any, targets: Any) -> float:
    """Fraction of examples whose predicted class equals the target class, in [0, 1]."""
    pred, t = predicted_labels(outputs), _np(targets).reshape(-1)
    _check_len("accuracy", pred, t)
    return float((pred == t).mean()) if t.size else float("nan")


def confusion_matrix(outputs: Any, targets: Any, num_classes: int | None = None) -> np.ndarray:
    """``(C, C)`` int64 counts: row = true class, column = predicted class.

    The diagonal holds the correct predictions; ``cm.sum(axis=1)`` is the class sizes.
    ``num_classes`` defaults to ``1 + max(label seen)`` (and the score width ``C``).
    """
    out = _np(outputs)
    pred, t = predicted_labels(out), _np(targets).reshape(-1).astype(np.int64)
    _check_len("confusion_matrix", pred, t)
    if num_classes is None:
        num_classes = max(int(pred.max(initial=-1)), int(t.max(initial=-1))) + 1
        if out.ndim == 2 and out.shape[1] > 1:
            num_classes = max(num_classes, out.shape[1])
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (t, pred), 1)
    return cm


def precision_recall_f1(outputs: Any, targets: Any, num_classes: int | None = None
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-class ``(precision, recall, f1, support)``, each ``(C,)``, from the confusion matrix.

    precision = TP / predicted as the class, recall = TP / members of the class, F1 their
    harmonic mean; a ratio whose denominator is 0 is 0 (as scikit-learn's ``zero_division=0``).
    """
    cm = confusion_matrix(outputs, targets, num_classes).astype(np.float64)
    tp = np.diag(cm)
    predicted, support = cm.sum(axis=0), cm.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denominator = precision + recall
    f1 = np.divide(2 * precision * recall, denominator, out=np.zeros_like(tp), where=denominator > 0)
    return precision, recall, f1, support.astype(np.int64)


def balanced_accuracy(outputs: Any, targets: Any, num_classes: int | None = None) -> float:
    """The mean of the per-class recalls over the classes present in ``targets``: 1/C for a
    model that always answers one class, however imbalanced the classes are."""
    _, recall, _, support = precision_recall_f1(outputs, targets, num_classes)
    present = support > 0
    return float(recall[present].mean()) if present.any() else float("nan")


def roc_auc(scores: Any, targets: Any) -> float:
    """Area under the ROC curve of a binary problem: the probability that a random positive
    example (target 1) scores higher than a random negative one, ties counting one half.

    ``scores`` ``(N,)`` are the positive class's scores (or ``(N, 2)`` probabilities, whose
    second column is used). Computed from ranks (the Mann-Whitney U statistic) in O(N log N).
    """
    s = _np(scores).astype(np.float64)
    if s.ndim == 2 and s.shape[1] == 2:
        s = s[:, 1]
    t = _np(targets).reshape(-1)
    _check_len("roc_auc", s.reshape(-1, 1), t)
    positive = t == 1
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s))
    ranks[order] = np.arange(1, len(s) + 1)
    sorted_s = s[order]  # average ranks over ties
    _, first, counts = np.unique(sorted_s, return_index=True, return_counts=True)
    for start, count in zip(first[counts > 1], counts[counts > 1]):
        ranks[order[start:start + count]] = start + (count + 1) / 2
    u = ranks[positive].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))


def classification_report(probabilities: Any, targets: Any, class_names: list[str] | None = None,
                          majority_class: int | None = None) -> dict[str, Any]:
    """The honest summary of a classifier on ``(N, C)`` probabilities and ``(N,)`` targets.

    ``accuracy`` beside ``baseline_accuracy`` (always answering ``majority_class``, by default
    the most frequent class of ``targets``; pass the training set's to mirror scikit-learn's
    ``DummyClassifier``), ``balanced_accuracy``, per-class ``precision``/``recall``/``f1``/
    ``support``, the ``confusion_matrix``, and for two classes ``roc_auc``.
    """
    p = _np(probabilities)
    t = _np(targets).reshape(-1).astype(np.int64)
    k = p.shape[1]
    names = [str(n) for n in (class_names or range(k))]
    cm = confusion_matrix(p, t, num_classes=k)
    precision, recall, f1, support = precision_recall_f1(p, t, num_classes=k)
    if majority_class is None:
        majority_class = int(np.argmax(np.bincount(t, minlength=k)))
    report: dict[str, Any] = {
        "accuracy": float(np.trace(cm) / max(cm.sum(), 1)),
        "baseline_accuracy": float(np.mean(t == majority_class)) if t.size else float("nan"),
        "baseline_class": names[majority_class],
        "balanced_accuracy": balanced_accuracy(p, t, num_classes=k),
        "per_class": {n: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                          "support": int(support[i])} for i, n in enumerate(names)},
        "confusion_matrix": cm.tolist(),
    }
    if k == 2:
        report["roc_auc"] = roc_auc(p[:, 1], t)
    return report


def regression_report(predictions: Any, targets: Any, baseline: float | None = None) -> dict[str, float]:
    """``mse``, ``rmse``, ``mae``, ``r2`` and ``baseline_rmse``: the error of always predicting
    ``baseline`` (by default the mean of ``targets``, whose R² is 0; pass the training mean to
    mirror ``DummyRegressor``)."""
    pred, t = _regression_pair("regression_report", predictions, targets)
    err = pred.astype(np.float64) - t
    mse = float(np.mean(err ** 2))
    centre = float(np.mean(t)) if baseline is None else float(baseline)
    return {"mse": mse, "rmse": mse ** 0.5, "mae": float(np.mean(np.abs(err))), "r2": r2_score(pred, t),
            "baseline_rmse": float(np.sqrt(np.mean((t - centre) ** 2)))}


def _regression_pair(name: str, outputs: Any, targets: Any) -> tuple[np.ndarray, np.ndarray]:
    p = _np(outputs).astype(np.float64)
    t = _np(targets).astype(np.float64)
    if p.shape != t.shape:
        if p.size == t.size:  # (N,) against (N, 1): the same numbers
            p = p.reshape(t.shape)
        else:
            raise ShapeError(f"{name}: predictions of shape {p.shape} and targets of shape {t.shape} differ")
    return p, t


def mean_squared_error(outputs: Any, targets: Any) -> float:
    """Mean of ``(prediction - target)²`` over all elements."""
    p, t = _regression_pair("mean_squared_error", outputs, targets)
    return float(np.mean((p - t) ** 2))


def mean_absolute_error(outputs: Any, targets: Any) -> float:
    """Mean of ``|prediction - target|`` over all elements."""
    p, t = _regression_pair("mean_absolute_error", outputs, targets)
    return float(np.mean(np.abs(p - t)))


def r2_score(outputs: Any, targets: Any) -> float:
    """Coefficient of determination ``1 - SS_res / SS_tot`` (all elements pooled).

    1 is a perfect fit, 0 is no better than predicting the targets' mean, negative is worse.
    Constant targets (SS_tot = 0) give 1.0 for a perfect fit and 0.0 otherwise.
    """
    p, t = _regression_pair("r2_score", outputs, targets)
    ss_res = float(np.sum((t - p) ** 2))
    ss_tot = float(np.sum((t - t.mean()) ** 2))
    if ss_tot == 0.0:
        return 1.0 if ss_res == 0.0 else 0.0
    return 1.0 - ss_res / ss_tot


# ----------------------------------------------------------------------------- running metrics
class RunningMetric:
    """A metric accumulated batch by batch: ``reset()``, ``update(outputs, targets)``, ``compute()``."""

    name = "metric"
    #: whether a larger value is better (EarlyStopping uses it when monitoring this metric)
    higher_is_better = True

    def reset(self) -> None:
        raise NotImplementedError

    def update(self, outputs: Any, targets: Any) -> None:
        raise NotImplementedError

    def compute(self) -> float:
        raise NotImplementedError


class Accuracy(RunningMetric):
    name = "accuracy"

    def reset(self) -> None:
        self.correct, self.count = 0, 0

    def update(self, outputs: Any, targets: Any) -> None:
        pred, t = predicted_labels(outputs), _np(targets).reshape(-1)
        _check_len("accuracy", pred, t)
        self.correct += int((pred == t).sum())
        self.count += t.size

    def compute(self) -> float:
        return self.correct / self.count if self.count else float("nan")


class _Regression(RunningMetric):
    higher_is_better = False

    def reset(self) -> None:
        self.n = 0
        self.sq = self.ab = 0.0
        self.mean_t = self.m2_t = 0.0  # running mean and Σ(t - mean)² of the targets

    def update(self, outputs: Any, targets: Any) -> None:
        p, t = _regression_pair(self.name, outputs, targets)
        d = p - t
        self.sq += float(np.sum(d * d))
        self.ab += float(np.sum(np.abs(d)))
        if t.size:  # merge the batch's mean and M2 (Chan et al.), stable for large offsets
            nb, mb = t.size, float(t.mean())
            m2b = float(np.sum((t - mb) ** 2))
            n = self.n + nb
            delta = mb - self.mean_t
            self.m2_t += m2b + delta * delta * self.n * nb / n
            self.mean_t += delta * nb / n
            self.n = n


class MSE(_Regression):
    name = "mse"

    def compute(self) -> float:
        return self.sq / self.n if self.n else float("nan")


class MAE(_Regression):
    name = "mae"

    def compute(self) -> float:
        return self.ab / self.n if self.n else float("nan")


class R2(_Regression):
    name = "r2"
    higher_is_better = True

    def compute(self) -> float:
        if not self.n:
            return float("nan")
        if self.m2_t == 0.0:
            return 1.0 if self.sq == 0.0 else 0.0
        return 1.0 - self.sq / self.m2_t


METRICS: dict[str, type[RunningMetric]] = {
    "accuracy": Accuracy, "acc": Accuracy,
    "mse": MSE, "mean_squared_error": MSE,
    "mae": MAE, "mean_absolute_error": MAE,
    "r2": R2, "r2_score": R2,
}


def get_metric(metric: str | RunningMetric) -> RunningMetric:
    """A fresh running metric by name (``accuracy mse mae r2``) or the instance given."""
    if isinstance(metric, RunningMetric):
        return metric
    if isinstance(metric, str) and metric.lower() in METRICS:
        return METRICS[metric.lower()]()
    raise ConfigError(f"unknown metric {metric!r}; choose from: accuracy, mse, mae, r2")


def higher_is_better(key: str) -> bool:
    """Whether a History key (``val_accuracy``, ``loss`` ...) improves upward."""
    base = key[4:] if key.startswith("val_") else key
    if base in METRICS:
        return METRICS[base].higher_is_better
    return False  # losses and unknown keys: lower is better


__all__ = [
    "accuracy", "confusion_matrix", "mean_squared_error", "mean_absolute_error", "r2_score",
    "precision_recall_f1", "balanced_accuracy", "roc_auc", "classification_report", "regression_report",
    "predicted_labels", "RunningMetric", "Accuracy", "MSE", "MAE", "R2", "METRICS", "get_metric",
    "higher_is_better",
]
