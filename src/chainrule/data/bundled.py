"""Small data sets shipped inside the package: iris and the 8x8 handwritten digits.

Files live in ``chainrule/data/files/`` (sources and licences in ``SOURCES.md`` there).
Both have no official train/test split, so one is drawn, stratified by class and
deterministic given ``seed``.
"""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from ..errors import DataError, DatasetNotFoundError
from .dataset import TensorDataset, train_test_indices
from .splits import DatasetSplits, standardize_stats

FILES_DIR = Path(__file__).resolve().parent / "files"
IRIS_FEATURES = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
IRIS_CLASSES = ["setosa", "versicolor", "virginica"]


def _load_table(filename: str, skiprows: int) -> np.ndarray:
    path = FILES_DIR / filename
    if not path.is_file():
        raise DatasetNotFoundError(f"bundled data file {path} is missing; the chainrule installation is incomplete")
    opener = gzip.open if filename.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="ascii") as f:
            return np.loadtxt(f, delimiter=",", skiprows=skiprows, dtype=np.float64)
    except (OSError, ValueError, EOFError) as e:
        raise DataError(f"bundled data file {path} is corrupt: {e}") from None


def iris(test_fraction: float = 0.2, seed: int | None = 0) -> DatasetSplits:
    """Fisher's iris flowers: 150 examples, 4 measurements (cm), 3 species.

    Split 120/30 by default (stratified). Features are standardised with the training
    split's mean and std (kept as ``.mean``/``.std``). X float32 ``(N, 4)``, y int64 ``(N,)``.
    """
    table = _load_table("iris.csv", skiprows=1)
    if table.shape != (150, 5):
        raise DataError(f"bundled iris.csv has shape {table.shape}, expected (150, 5)")
    x_raw = table[:, :4].astype(np.float32)
    y = table[:, 4].astype(np.int64)
    tr, te = train_test_indices(len(y), test_fraction, seed=seed, labels=y)
    mean, std = standardize_stats(x_raw[tr])
    x = (x_raw - mean) / std
    return DatasetSplits(
        name="iris",
        train=TensorDataset(x[tr], y[tr]),
        test=TensorDataset(x[te], y[te]),
        task="classification",
        num_features=4,
        num_classes=3,
        class_names=list(IRIS_CLASSES),
        feature_names=list(IRIS_FEATURES),
        mean=mean,
        std=std,
        source="Fisher (1936), UCI Machine Learning Repository, CC BY 4.0",
        fitted_scaling=True,
    )


def digits(test_fraction: float = 0.2, seed: int | None = 0) -> DatasetSplits:
    """Handwritten digits as 8x8 images with values 0–16: 1797 examples, 10 classes.

    Pixels are divided by 16 (``mean`` 0, ``std`` 16), flattened to 64 features;
    ``image_shape`` is ``(1, 8, 8)`` for a CNN. Split stratified, deterministic by ``seed``.
    """
    table = _load_table("digits.csv.gz", skiprows=0)
    if table.shape != (1797, 65):
        raise DataError(f"bundled digits.csv.gz has shape {table.shape}, expected (1797, 65)")
    x_raw = table[:, :64].astype(np.float32)
    y = table[:, 64].astype(np.int64)
    tr, te = train_test_indices(len(y), test_fraction, seed=seed, labels=y)
    mean = np.zeros(64, np.float32)
    std = np.full(64, 16.0, np.float32)
    x = x_raw / np.float32(16.0)
    return DatasetSplits(
        name="digits",
        train=TensorDataset(x[tr], y[tr]),
        test=TensorDataset(x[te], y[te]),
        task="classification",
        num_features=64,
        num_classes=10,
        class_names=[str(d) for d in range(10)],
        feature_names=[f"pixel_{r}_{c}" for r in range(8) for c in range(8)],
        mean=mean,
        std=std,
        image_shape=(1, 8, 8),
        source="Alpaydin & Kaynak (1998), UCI Machine Learning Repository, CC BY 4.0",
    )


__all__ = ["iris", "digits"]
