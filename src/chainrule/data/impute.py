"""Filling in missing values of a table's features, fitted on the training rows only.

A CSV table's raw features hold NaN where a value was missing. ``Imputation`` knows the
layout of those features and replaces each NaN by a value learnt from the *training* part of
a split (or of a cross-validation fold), so that no test row shapes what the model sees:

* a numeric column gets the mean of its training values (scikit-learn's
  ``SimpleImputer(strategy="mean")``);
* a text column, one-hot encoded as a block of 0/1 features, gets the one-hot vector of its most
  frequent training category (``strategy="most_frequent"``).

Every column that had gaps also carries a *missing indicator* feature (1 where the value was
missing, 0 elsewhere; ``add_indicator=True``), so the network can learn that "unknown" means
something. The indicator also lets :meth:`Imputation.restore` put the NaNs back, which is how a
new fold re-fits the fill values from its own training part.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np


@dataclass(frozen=True, eq=False)
class Imputation:
    """Where the gaps of a feature matrix ``(N, D)`` are and what fills them.

    Attributes:
        blocks: the feature indices of each one-hot encoded text column (filled by its mode).
        gaps: for every column that had missing values, ``(its feature indices, the index of
            its missing-indicator feature)``.
        fill: ``(D,)`` float64, the value that replaces a NaN in each feature (fitted).
    """

    blocks: tuple[tuple[int, ...], ...]
    gaps: tuple[tuple[tuple[int, ...], int], ...]
    fill: np.ndarray

    def fitted(self, x_train: np.ndarray) -> Imputation:
        """The same layout with ``fill`` estimated from the training rows ``x_train`` ``(N, D)``
        (NaN where missing). A feature never observed in training is filled with 0."""
        x = np.asarray(x_train, np.float64)
        observed = ~np.isnan(x)
        counts = observed.sum(axis=0)
        sums = np.where(observed, x, 0.0).sum(axis=0)
        fill = np.divide(sums, counts, out=np.zeros(x.shape[1]), where=counts > 0)
        for block in self.blocks:
            idx = list(block)
            one_hot = np.zeros(len(idx))
            if counts[idx].any():
                one_hot[int(np.argmax(sums[idx]))] = 1.0  # the most frequent category (first on ties)
            fill[idx] = one_hot
        return replace(self, fill=fill)

    def apply(self, x: np.ndarray) -> np.ndarray:
        """``x`` ``(N, D)`` with every NaN replaced by its feature's fill value (a new array)."""
        x = np.array(x, dtype=np.float64)
        rows, cols = np.nonzero(np.isnan(x))
        x[rows, cols] = self.fill[cols]
        return x

    def restore(self, x: np.ndarray) -> np.ndarray:
        """The inverse of :meth:`apply` on rows prepared with indicators: NaN wherever a
        column's missing indicator is 1 (a new float64 array)."""
        x = np.array(x, dtype=np.float64)
        for features, indicator in self.gaps:
            missing = x[:, indicator] > 0.5
            x[np.ix_(missing, np.asarray(features, np.int64))] = np.nan
        return x

    def to_json(self) -> dict[str, Any]:
        """A JSON-able description, stored beside a model (see :meth:`from_json`)."""
        return {"blocks": [list(b) for b in self.blocks],
                "gaps": [[list(f), i] for f, i in self.gaps],
                "fill": [float(v) for v in self.fill]}

    @classmethod
    def from_json(cls, d: Any, num_features: int) -> Imputation:
        """Rebuild from :meth:`to_json` output, checking every index against ``num_features``
        (the description comes from a file: it is not trusted)."""
        from ..errors import ModelFileError

        def index(v: Any) -> int:
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < num_features:
                raise ModelFileError(f"imputation: feature index {v!r} is not in 0..{num_features - 1}")
            return v

        try:
            blocks = tuple(tuple(index(i) for i in b) for b in d["blocks"])
            gaps = tuple((tuple(index(i) for i in f), index(i)) for f, i in d["gaps"])
            fill = np.asarray([float(v) for v in d["fill"]], np.float64)
        except (KeyError, TypeError, ValueError) as e:
            raise ModelFileError(f"imputation: malformed description ({e})") from None
        if fill.shape != (num_features,) or not np.all(np.isfinite(fill)):
            raise ModelFileError(f"imputation: expected {num_features} finite fill values")
        return cls(blocks=blocks, gaps=gaps, fill=fill)


__all__ = ["Imputation"]
