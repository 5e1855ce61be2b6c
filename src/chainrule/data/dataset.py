"""Datasets: anything with a length and an item per index, plus in-memory arrays.

``TensorDataset`` wraps NumPy arrays that share their first dimension; it (and a
``Subset`` of it) offers ``gather(indices)`` so a ``DataLoader`` can fetch a whole batch
with one fancy index per array instead of one Python call per example.
"""
from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError, DataError


class Dataset:
    """Base class: subclasses define ``__len__`` and ``__getitem__(i)`` -> tuple of arrays.

    ``__getitem__`` should return a tuple (features, target, ...) for one example; the
    DataLoader stacks such items position by position into batches.
    """

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must define __len__")

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")


class TensorDataset(Dataset):
    """Arrays of equal length N seen as N examples: ``ds[i] == (a[i], b[i], ...)``.

    ``TensorDataset(X, y)`` with X ``(N, D)`` float32 and y ``(N,)`` int64 is what every
    loader in ``chainrule.data`` returns as ``.train`` and ``.test``.
    """

    def __init__(self, *arrays: Any) -> None:
        if not arrays:
            raise DataError("TensorDataset needs at least one array")
        arrs = tuple(np.asarray(a) for a in arrays)
        for i, a in enumerate(arrs):
            if a.ndim == 0:
                raise DataError(f"TensorDataset: array {i} is a scalar; arrays need a first (example) axis")
        lengths = [a.shape[0] for a in arrs]
        if len(set(lengths)) != 1:
            shapes = ", ".join(str(a.shape) for a in arrs)
            raise DataError(f"TensorDataset: arrays differ in their first dimension: shapes {shapes}")
        self.arrays: tuple[np.ndarray, ...] = arrs

    def __len__(self) -> int:
        return self.arrays[0].shape[0]

    def __getitem__(self, index: Any) -> tuple[np.ndarray, ...]:
        return tuple(a[index] for a in self.arrays)

    def gather(self, indices: np.ndarray) -> tuple[np.ndarray, ...]:
        """A batch: one fancy index per array with an integer index array."""
        return tuple(a[indices] for a in self.arrays)

    def __repr__(self) -> str:
        shapes = ", ".join(f"{a.shape} {a.dtype}" for a in self.arrays)
        return f"TensorDataset({shapes})"


class Subset(Dataset):
    """The examples of ``dataset`` at ``indices`` (a view, no copy), as returned by random_split."""

    def __init__(self, dataset: Dataset, indices: Sequence[int] | np.ndarray) -> None:
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64)

    def __len__(self) -> int:
        return int(self.indices.shape[0])

    def __getitem__(self, index: int) -> Any:
        return self.dataset[int(self.indices[index])]

    def gather(self, indices: np.ndarray) -> tuple[np.ndarray, ...]:
        """A batch via the parent's fast path when it has one."""
        inner = self.indices[indices]
        if hasattr(self.dataset, "gather"):
            return self.dataset.gather(inner)
        return _stack_items([self.dataset[int(i)] for i in inner])

    @property
    def arrays(self) -> tuple[np.ndarray, ...]:
        """The subset's arrays, materialised (a copy)."""
        return self.gather(np.arange(len(self)))

    def __repr__(self) -> str:
        return f"Subset({len(self)} of {self.dataset!r})"


def _stack_items(items: list[Any]) -> tuple[np.ndarray, ...]:
    """Stack per-example items (tuples or single arrays) position by position."""
    if not items:
        return ()
    if isinstance(items[0], tuple | list):
        return tuple(np.stack([np.asarray(item[k]) for item in items]) for k in range(len(items[0])))
    return (np.stack([np.asarray(item) for item in items]),)


def _split_lengths(n: int, lengths_or_fractions: Sequence[float]) -> list[int]:
    spec = list(lengths_or_fractions)
    if not spec:
        raise ConfigError("random_split: lengths_or_fractions is empty")
    if any(isinstance(v, bool) or not isinstance(v, numbers.Real) or v < 0 for v in spec):
        raise ConfigError(f"random_split: lengths or fractions must be non-negative numbers, got {spec}")
    if all(isinstance(v, numbers.Integral) for v in spec):
        if sum(spec) != n:
            raise ConfigError(f"random_split: lengths {spec} sum to {sum(spec)}, but the dataset has {n} examples")
        return [int(v) for v in spec]
    if abs(sum(spec) - 1.0) > 1e-6:
        raise ConfigError(f"random_split: fractions {spec} sum to {sum(spec)}, expected 1")
    lengths = [int(np.floor(f * n)) for f in spec]
    for i in range(n - sum(lengths)):  # hand out the remainder round-robin, as PyTorch does
        lengths[i % len(lengths)] += 1
    return lengths


def random_split(
    dataset: Dataset, lengths_or_fractions: Sequence[float], seed: int | None = 0
) -> list[Subset]:
    """Split ``dataset`` into non-overlapping random ``Subset``s.

    ``lengths_or_fractions`` is either integer lengths summing to ``len(dataset)`` or
    fractions summing to 1 (e.g. ``[0.9, 0.1]``; leftovers go round-robin to the first
    parts). The permutation comes from ``numpy.random.default_rng(seed)``, so the same
    seed gives the same split on every machine.
    """
    n = len(dataset)
    lengths = _split_lengths(n, lengths_or_fractions)
    perm = np.random.default_rng(seed).permutation(n)
    out, start = [], 0
    for length in lengths:
        out.append(Subset(dataset, perm[start:start + length]))
        start += length
    return out


def train_test_indices(
    n: int, test_fraction: float, seed: int | None = 0, labels: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic (train, test) index arrays; stratified by ``labels`` when given.

    Stratified: each class contributes round(test_fraction * class_size) examples to the
    test set (a class with a single example stays in train). With ``test_fraction > 0``
    and at least 2 examples the test part is never empty. Each part comes back shuffled,
    so no blocks of one class remain.
    """
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, numbers.Real) or not 0 <= test_fraction < 1:
        raise ConfigError(f"test_fraction must be a number in [0, 1), got {test_fraction!r}")
    rng = np.random.default_rng(seed)
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    if labels is None:
        perm = rng.permutation(n)
        n_test = int(np.floor(test_fraction * n + 0.5))
        if test_fraction > 0 and n >= 2:
            n_test = min(max(n_test, 1), n - 1)
        return perm[n_test:], perm[:n_test]
    labels = np.asarray(labels)
    test_parts, train_parts = [], []
    for cls in np.unique(labels):
        members = np.flatnonzero(labels == cls)
        members = members[rng.permutation(members.size)]
        k = int(np.floor(test_fraction * members.size + 0.5)) if members.size > 1 else 0
        test_parts.append(members[:k])
        train_parts.append(members[k:])
    train = np.concatenate(train_parts)
    test = np.concatenate(test_parts)
    if test.size == 0 and test_fraction > 0 and n >= 2:  # tiny data: still test on one example
        test, train = train[-1:], train[:-1]
    return rng.permutation(train), rng.permutation(test)


def kfold_indices(
    n: int, k: int, seed: int | None = 0, labels: np.ndarray | None = None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``k`` (train, test) index pairs for k-fold cross-validation of ``n`` examples.

    The test parts are disjoint and together hold every example exactly once, so each
    example is predicted once by a model that never saw it. Fold sizes differ by at most
    one. With ``labels`` the folds are stratified: each class is dealt round the folds in
    turn, so every fold holds about ``1/k`` of each class. Deterministic by ``seed``.
    """
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 2:
        raise ConfigError(f"k-fold cross-validation needs k >= 2 folds; got {k!r}")
    if k > n:
        raise ConfigError(f"cannot make {k} folds of {n} examples: every fold needs at least one "
                          f"(use k <= {n})")
    rng = np.random.default_rng(seed)
    fold_of = np.empty(n, np.int64)
    if labels is None:
        fold_of[rng.permutation(n)] = np.arange(n) % k
    else:
        labels = np.asarray(labels)
        if labels.shape[0] != n:
            raise DataError(f"kfold_indices: {labels.shape[0]} labels for {n} examples")
        dealt = 0  # continue the deal across classes, so fold sizes stay within one
        for cls in np.unique(labels):
            members = np.flatnonzero(labels == cls)
            fold_of[members[rng.permutation(members.size)]] = (dealt + np.arange(members.size)) % k
            dealt += members.size
    everything = np.arange(n)
    return [(rng.permutation(everything[fold_of != i]), rng.permutation(everything[fold_of == i]))
            for i in range(k)]


__all__ = ["Dataset", "TensorDataset", "Subset", "random_split", "train_test_indices", "kfold_indices"]
