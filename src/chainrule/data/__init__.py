"""Data: datasets, mini-batch loading, and the data sets chainrule knows by name.

    from chainrule.data import iris, DataLoader
    ds = iris()                      # DatasetSplits: .train/.test TensorDatasets + metadata
    for xb, yb in DataLoader(ds.train, batch_size=16, shuffle=True, seed=0): ...

Every loader returns a :class:`DatasetSplits` with features ``(N, D)`` float32 and labels
``(N,)`` int64 (regression targets ``(N, 1)`` float32). ``load_dataset(name)`` maps the
names used on the command line to loaders.
"""
from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import catalogue
from ..errors import ChainruleError, ConfigError
from .bundled import digits, iris
from .dataset import Dataset, Subset, TensorDataset, kfold_indices, random_split, train_test_indices
from .idx import read_idx, write_idx
from .loader import DataLoader
from .mnist import fashion_mnist, mnist
from .splits import DatasetSplits
from .tabular import csv, read_features
from .toy2d import TOY2D_NAMES, toy2d

DATASET_NAMES: tuple[str, ...] = catalogue.names(catalogue.DATASETS)
_TABLE_SUFFIXES = (".csv", ".tsv", ".txt")


def _call(loader: Callable[..., DatasetSplits], label: str, *args: Any, **kwargs: Any) -> DatasetSplits:
    """Call ``loader``, turning unknown or missing keyword arguments into a ConfigError."""
    sig = inspect.signature(loader)
    try:
        sig.bind(*args, **kwargs)
    except TypeError as e:
        options = [n for n in sig.parameters if n not in ("name", "root", "download", "path")]
        raise ConfigError(f"dataset {label!r}: {e}; its options are: {', '.join(options)}") from None
    return loader(*args, **kwargs)


def load_dataset(
    name: str, data_dir: str | os.PathLike | None = None, download: bool = False, **kwargs: Any
) -> DatasetSplits:
    """Load a data set by the name used on the command line.

    ``name`` is one of ``iris digits mnist fashion-mnist circle xor gauss spiral moons``
    (case-insensitive; ``fashion_mnist`` also works), or a path to a ``.csv``/``.tsv``/
    ``.txt`` table, which goes to :func:`csv` (pass ``target=`` etc. in ``kwargs``).
    ``data_dir`` and ``download`` matter only for MNIST and Fashion-MNIST. Other keyword
    arguments go to the loader (``seed``, ``test_fraction``, ``n``, ``noise``, ``limit`` ...).
    An unknown name raises ``ConfigError`` listing the valid names.
    """
    if not isinstance(name, (str, os.PathLike)):
        raise ConfigError(f"dataset name must be a string, got {type(name).__name__}")
    text = os.fspath(name)
    try:
        entry = catalogue.lookup(catalogue.DATASETS, text, "dataset")
    except ChainruleError:
        entry = None
    if entry is not None:
        loader = entry.resolve()
        if entry.kind == "download":
            return _call(loader, entry.name, data_dir, download, **kwargs)
        if entry.kind in ("toy2d", "toy2d_regression"):
            return _call(loader, entry.name, entry.name, **kwargs)
        return _call(loader, entry.name, **kwargs)
    if text.lower().endswith(_TABLE_SUFFIXES) or Path(text).is_file():
        return _call(csv, text, text, **kwargs)
    raise ConfigError(
        f"unknown dataset {text!r}; choose one of: {', '.join(DATASET_NAMES)}, or give the path of a CSV file"
    )


__all__ = [
    "Dataset", "TensorDataset", "Subset", "DataLoader", "random_split", "train_test_indices",
    "kfold_indices",
    "DatasetSplits", "iris", "digits", "mnist", "fashion_mnist", "toy2d", "csv", "read_features",
    "read_idx", "write_idx", "load_dataset", "TOY2D_NAMES", "DATASET_NAMES",
]
