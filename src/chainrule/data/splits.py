"""``DatasetSplits``: what every dataset loader returns — train and test data plus metadata.

The metadata is what the rest of the library needs to build and use a model without
looking at the data again: input size, number of classes, class and feature names, the
image shape for CNNs, and the ``mean``/``std`` that turn *raw* inputs (pixels 0–255,
centimetres, CSV numbers) into the model's inputs: ``x = (raw - mean) / std``.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, overload

import numpy as np

from ..errors import DataError
from .dataset import TensorDataset
from .impute import Imputation


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
        fitted_scaling: True when ``mean``/``std`` were estimated from the training split
            (iris, CSV tables), so that a new split must estimate them again from its own
            training part; False for fixed scalings (pixels / 255).
        imputation: for tables with missing values, how a NaN in a raw feature is filled
            (fitted on the training split like ``mean``/``std``); ``None`` when nothing is filled.
        notes: one-line remarks on how the data were prepared (values filled in, rows dropped,
            columns left out), for the CLI to print.
        split: how the rows were split into train/test (``seed``, ``test_fraction``, ``rows``
            and a ``digest`` of the table's rows), so ``evaluate`` can score the held-out rows.
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
    fitted_scaling: bool = False
    imputation: Imputation | None = None
    notes: tuple[str, ...] = ()
    split: dict[str, Any] | None = None

    @property
    def output_size(self) -> int:
        """Width of the model's last layer: num_classes, or 1 for regression."""
        return self.num_classes if self.num_classes is not None else 1

    def cross_validation(self, k: int = 5, seed: int | None = 0) -> Folds:
        """``k`` re-splits of *all* the examples (train and test together) for k-fold
        cross-validation: each example is in exactly one fold's test part. Classification
        folds are stratified. With ``fitted_scaling`` each fold's inputs are standardised
        with statistics of that fold's training part only, so no test example shapes them.

        The folds are index pairs over one shared copy of the examples; a fold's arrays are
        gathered only when it is taken (``folds[i]`` or iteration), so memory does not grow
        with ``k`` (``--cv 20`` on MNIST held 20 copies, 4.9 GB, before fold 1).
        """
        from .dataset import kfold_indices

        raw, y = self._all_examples()
        labels = y if self.task == "classification" else None
        return Folds(self, raw, y, kfold_indices(len(y), k, seed=seed, labels=labels))

    def pooled(self) -> DatasetSplits:
        """Every example (train and test together) as training data, with an empty test
        split: the data for a final model after cross-validation has measured the recipe."""
        raw, y = self._all_examples()
        return self._resplit(raw, y, np.arange(len(y)), np.zeros(0, np.int64))

    def _all_examples(self) -> tuple[np.ndarray, np.ndarray]:
        """(inputs, targets) of train and test together; inputs raw when the scaling was fitted."""
        x = np.concatenate([self.train.arrays[0], self.test.arrays[0]])
        y = np.concatenate([self.train.arrays[1], self.test.arrays[1]])
        if self.fitted_scaling:  # undo (raw - mean) / std, in float64 so the round trip is exact enough
            x = x.astype(np.float64) * self.std + self.mean
            if self.imputation is not None:  # and put back the gaps the fill values covered
                x = self.imputation.restore(x)
        return x, y

    def _resplit(self, x: np.ndarray, y: np.ndarray, tr: np.ndarray, te: np.ndarray) -> DatasetSplits:
        mean, std, imputation = self.mean, self.std, self.imputation
        if self.fitted_scaling:
            if imputation is not None:  # fill values from this split's training rows only
                imputation = imputation.fitted(x[tr])
                x = imputation.apply(x)
            mean, std = standardize_stats(x[tr])
            x = (x - mean) / std
        x = x.astype(np.float32, copy=False)
        return replace(self, train=TensorDataset(x[tr], y[tr]), test=TensorDataset(x[te], y[te]),
                       mean=mean, std=std, imputation=imputation)

    def transform(self, raw: np.ndarray) -> np.ndarray:
        """Apply the dataset's input scaling to raw features of shape ``(N, D)`` or ``(D,)``.

        Image data may also come as ``(N, *image_shape)`` or ``(N, H, W)``; it is flattened.
        Returns float32.
        """
        x = np.asarray(raw, dtype=np.float32)
        if self.imputation is not None and x.ndim == 2 and x.shape[-1] == self.num_features:
            x = self.imputation.apply(x).astype(np.float32)
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
            "imputation": self.imputation.to_json() if self.imputation is not None else None,
            "split": self.split,
        }

    def __repr__(self) -> str:
        what = f"{self.num_classes} classes" if self.num_classes is not None else "regression"
        return (
            f"DatasetSplits({self.name!r}: {len(self.train)} train / {len(self.test)} test, "
            f"{self.num_features} features, {what})"
        )


class Folds(Sequence["DatasetSplits"]):
    """The folds of :meth:`DatasetSplits.cross_validation`: ``len(folds)`` of them, each a
    ``DatasetSplits`` gathered from the shared examples by its index pair when taken."""

    def __init__(self, owner: DatasetSplits, raw: np.ndarray, y: np.ndarray,
                 pairs: list[tuple[np.ndarray, np.ndarray]]) -> None:
        self._owner, self._raw, self._y, self.indices = owner, raw, y, pairs

    def __len__(self) -> int:
        return len(self.indices)

    @overload
    def __getitem__(self, i: int) -> DatasetSplits: ...

    @overload
    def __getitem__(self, i: slice) -> list[DatasetSplits]: ...

    def __getitem__(self, i: int | slice) -> DatasetSplits | list[DatasetSplits]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        tr, te = self.indices[i]
        return self._owner._resplit(self._raw, self._y, tr, te)

    @property
    def examples(self) -> int:
        """How many examples the folds share (each is in exactly one fold's test part)."""
        return len(self._y)


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
