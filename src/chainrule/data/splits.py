"""``DatasetSplits``: what every dataset loader returns — train and test data plus metadata.

The metadata is what the rest of the library needs to build and use a model without
looking at the data again: input size, number of classes, class and feature names, the
image shape for CNNs, and the ``mean``/``std`` that turn *raw* inputs (pixels 0–255,
centimetres, CSV numbers) into the model's inputs: ``x = (raw - mean) / std``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import DataError
from .dataset import TensorDataset


@dataclass(frozen=True, eq=False)
class DatasetSplits:
    """A dataset ready for training.

    Attributes:
        name: registry name, e.g. ``"iris"``, ``"mnist"``, ``"circle"``, or the CSV file name.
        train, test: ``TensorDataset(X, y)``; X ``(N, num_features)`` float32, y ``(N,)``
            int64 class indices (classification) or ``(N, 1)`` float32 (regression).
        task: ``"classification"`` or ``"regression"``.
        num_features: D, the width of X.
        num_classes: number of classes, ``None`` for regression.
        class_names: names of the classes in label order, ``None`` for regression.
        feature_names: D column names (``"pixel_r_c"`` for images, ``"col=value"`` for
            one-hot encoded CSV columns).
        image_shape: ``(C, H, W)`` for image data (X rows reshape to it), else ``None``.
        mean, std: ``(D,)`` float32; model input = ``(raw - mean) / std``. See ``transform``.
        columns: for CSV data, how raw table columns become features (JSON-able); else None.
        target_name: the CSV target column (None for built-in data sets).
    """

    name: str
    train: TensorDataset
    test: TensorDataset
    task: str
    num_features: int
    num_classes: int | None
    class_names: list[str] | None
    feature_names: list[str]
    mean: np.ndarray
    std: np.ndarray
    image_shape: tuple[int, ...] | None = None
    columns: list[dict[str, Any]] | None = None
    target_name: str | None = None
    source: str = field(default="")

    @property
    def output_size(self) -> int:
        """Width of the model's last layer: num_classes, or 1 for regression."""
        return self.num_classes if self.num_classes is not None else 1

    def transform(self, raw: np.ndarray) -> np.ndarray:
        """Apply the dataset's input scaling to raw features of shape ``(N, D)`` or ``(D,)``.

        Image data may also come as ``(N, *image_shape)`` or ``(N, H, W)``; it is flattened.
        Returns float32.
        """
        x = np.asarray(raw, dtype=np.float32)
        if x.ndim >= 2 and x.shape[-1] != self.num_features:
            x = x.reshape(x.shape[0], -1)
        if x.shape[-1] != self.num_features:
            raise DataError(
                f"{self.name}: inputs have {x.shape[-1]} features per example, expected {self.num_features}"
            )
        return ((x - self.mean) / self.std).astype(np.float32)

    def preprocessing(self) -> dict[str, Any]:
        """A JSON-serialisable description (scaling, names, shapes) to store beside a model."""
        return {
            "dataset": self.name,
            "task": self.task,
            "num_features": self.num_features,
            "num_classes": self.num_classes,
            "class_names": self.class_names,
            "feature_names": self.feature_names,
            "image_shape": list(self.image_shape) if self.image_shape else None,
            "mean": [float(v) for v in np.broadcast_to(self.mean, (self.num_features,))],
            "std": [float(v) for v in np.broadcast_to(self.std, (self.num_features,))],
            "columns": self.columns,
            "target_name": self.target_name,
        }

    def __repr__(self) -> str:
        what = f"{self.num_classes} classes" if self.num_classes is not None else "regression"
        return (
            f"DatasetSplits({self.name!r}: {len(self.train)} train / {len(self.test)} test, "
            f"{self.num_features} features, {what})"
        )


def standardize_stats(x_train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column mean and std (float32) of the training features; std 0 becomes 1."""
    if x_train.shape[0] == 0:
        d = x_train.shape[1]
        return np.zeros(d, np.float32), np.ones(d, np.float32)
    x64 = x_train.astype(np.float64)
    mean = x64.mean(axis=0)
    std = x64.std(axis=0)
    std[~(std > 1e-12)] = 1.0
    return mean.astype(np.float32), std.astype(np.float32)


__all__ = ["DatasetSplits", "standardize_stats"]
