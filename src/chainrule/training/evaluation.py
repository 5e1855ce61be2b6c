"""Evaluating and using a trained model: ``evaluate`` (loss and metrics) and ``predict``
(outputs), both in eval mode under ``no_grad``, and the batching of a data argument that
they share with :func:`~chainrule.training.fit`.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..tensor import Tensor, no_grad, tensor
from .metrics import RunningMetric, get_metric


# ----------------------------------------------------------------------------- data handling
def _as_loader(data: Any, batch_size: int, shuffle: bool, seed: int | None, what: str) -> Any:
    """A DataLoader for a DataLoader (returned as is), a Dataset, or a tuple ``(X, y)``."""
    from ..data import DataLoader, TensorDataset

    if data is None:
        return None
    if hasattr(data, "__iter__") and hasattr(data, "batch_size") and hasattr(data, "dataset"):
        return data  # already a DataLoader
    if isinstance(data, (tuple, list)) and len(data) == 2:
        data = TensorDataset(np.asarray(getattr(data[0], "data", data[0])),
                             np.asarray(getattr(data[1], "data", data[1])))
    if hasattr(data, "train") and hasattr(data, "test") and not hasattr(data, "__getitem__"):
        raise ConfigError(f"fit: {what} is a whole DatasetSplits; pass its .train (or .test) part")
    if not (hasattr(data, "__len__") and hasattr(data, "__getitem__")):
        raise ConfigError(f"fit: {what} must be a DataLoader, a Dataset or a tuple (X, y); "
                          f"got {type(data).__name__}")
    return DataLoader(data, batch_size=batch_size, shuffle=shuffle, seed=seed)


def _split_batch(batch: Any) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(batch, (tuple, list)) or len(batch) < 2:
        raise ConfigError("fit: each batch must be a tuple (inputs, targets); the dataset gives "
                          f"{type(batch).__name__} of length {len(batch) if hasattr(batch, '__len__') else '?'}")
    return batch[0], batch[1]


def _as_input(xb: Any) -> Tensor:
    return xb if isinstance(xb, Tensor) else tensor(xb)


# ----------------------------------------------------------------------------- evaluate / predict
def _evaluate_loader(model: Any, loader: Any, loss_fn: Any, metric_objs: list[RunningMetric]) -> dict[str, float]:
    for m in metric_objs:
        m.reset()
    was_training = getattr(model, "training", True)
    model.eval()
    loss_sum, seen = 0.0, 0
    try:
        with no_grad():
            for batch in loader:
                xb, yb = _split_batch(batch)
                out = model(_as_input(xb))
                if loss_fn is not None:
                    loss_sum += float(loss_fn(out, yb).item()) * len(yb)
                seen += len(yb)
                for m in metric_objs:
                    m.update(out.data, yb)
    finally:
        if was_training:
            model.train()
    result: dict[str, float] = {}
    if loss_fn is not None:
        result["loss"] = loss_sum / max(seen, 1)
    for m in metric_objs:
        result[m.name] = m.compute()
    return result


def evaluate(model: Any, data: Any, loss_fn: Any = None, metrics: Sequence[str | RunningMetric] = ("accuracy",),
             batch_size: int = 256) -> dict[str, float]:
    """Loss (when ``loss_fn`` is given) and metrics of ``model`` on ``data``, in eval mode.

    ``data`` is a DataLoader, Dataset or tuple ``(X, y)``. Returns e.g.
    ``{"loss": 0.08, "accuracy": 0.975}``.
    """
    loader = _as_loader(data, batch_size, False, None, "data")
    return _evaluate_loader(model, loader, loss_fn, [get_metric(m) for m in metrics])


def predict(model: Any, X: Any, batch_size: int = 256, probabilities: bool | None = None) -> np.ndarray:
    """The model's outputs for inputs ``X`` (``(N, ...)``), computed in eval mode in batches.

    ``probabilities``: apply a softmax over the last axis. ``None`` (default) decides from
    the output: outputs with 2 or more columns are treated as class scores and become
    probabilities ``(N, C)`` summing to 1; a single column (regression) is returned as is.
    """
    from ..ops.activation import softmax

    x = np.asarray(getattr(X, "data", X))
    if x.ndim == 0:
        raise ConfigError("predict: X must have a first (example) axis, got a scalar")
    was_training = getattr(model, "training", True)
    model.eval()
    outs = []
    try:
        with no_grad():
            for start in range(0, x.shape[0], batch_size):
                out = model(tensor(x[start:start + batch_size]))
                use_softmax = probabilities if probabilities is not None else (out.ndim == 2 and out.shape[1] >= 2)
                outs.append((softmax(out, axis=-1) if use_softmax else out).data)
    finally:
        if was_training:
            model.train()
    if not outs:
        return np.zeros((0,), np.float32)
    return np.concatenate(outs, axis=0)


__all__ = ["evaluate", "predict"]
