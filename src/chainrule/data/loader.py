"""DataLoader: iterate over a dataset in (optionally shuffled) mini-batches of NumPy arrays."""
from __future__ import annotations

import numbers
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..rng import get_rng
from .dataset import Dataset, _stack_items


class DataLoader:
    """Mini-batches of a dataset: each iteration yields a tuple of arrays, one per array.

    ``DataLoader(TensorDataset(X, y), batch_size=32, shuffle=True, seed=0)`` yields
    ``(X_batch, y_batch)`` with X_batch ``(32, D)``; the last batch is smaller unless
    ``drop_last``. A dataset with ``gather`` (TensorDataset, Subset of one) is batched with
    one fancy index per array; any other ``Dataset`` by stacking ``dataset[i]`` items.

    Shuffling: with ``seed`` given, pass number k over the data (the "epoch") is shuffled by
    ``numpy.random.default_rng((seed, k))``, so a run is repeatable, and a resumed run that
    calls ``set_epoch(k)`` sees exactly the order an unbroken run would. Each ``iter()``
    uses the current epoch and then advances it by one. Without ``seed`` the global
    generator ``chainrule.rng.get_rng()`` (seeded by ``cr.manual_seed``) is used.

    ``batch_sampler``: an object yielding one index array per batch (with ``__len__`` and
    ``set_epoch``), e.g. ``chainrule.distributed.DistributedSampler`` for this rank's shard
    of every global batch; it then decides order and batch size (``batch_size`` becomes its).
    """

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int = 32,
        shuffle: bool = False,
        drop_last: bool = False,
        seed: int | None = None,
        batch_sampler: Any = None,
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size <= 0:
            raise ConfigError(f"DataLoader: batch_size must be a positive integer, got {batch_size!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0):
            raise ConfigError(f"DataLoader: seed must be a non-negative integer or None, got {seed!r}")
        if not hasattr(dataset, "__len__") or not hasattr(dataset, "__getitem__"):
            raise ConfigError(f"DataLoader: dataset must have __len__ and __getitem__, got {type(dataset).__name__}")
        self.dataset: Dataset = dataset
        self.batch_size: int = int(batch_size)
        self.shuffle: bool = bool(shuffle)
        self.drop_last: bool = bool(drop_last)
        self.seed: int | None = None if seed is None else int(seed)
        self.epoch: int = 0
        self.batch_sampler: Any = batch_sampler
        if batch_sampler is not None:
            if not (hasattr(batch_sampler, "__iter__") and hasattr(batch_sampler, "__len__")):
                raise ConfigError("DataLoader: batch_sampler must yield index arrays and have a length")
            self.batch_size = int(getattr(batch_sampler, "batch_size", batch_size))

    def set_epoch(self, epoch: int) -> None:
        """Make the next iteration use epoch number ``epoch`` (for resuming a run)."""
        if isinstance(epoch, bool) or not isinstance(epoch, numbers.Integral) or epoch < 0:
            raise ConfigError(f"DataLoader.set_epoch: epoch must be a non-negative integer, got {epoch!r}")
        self.epoch = int(epoch)
        if self.batch_sampler is not None and hasattr(self.batch_sampler, "set_epoch"):
            self.batch_sampler.set_epoch(epoch)

    def __len__(self) -> int:
        """Number of batches per epoch."""
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _order(self) -> np.ndarray:
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n)
        if self.seed is not None:
            rng = np.random.default_rng((self.seed, self.epoch))
        else:
            rng = get_rng()
        return rng.permutation(n)

    def __iter__(self) -> Iterator[tuple[np.ndarray, ...]]:
        if self.batch_sampler is not None:
            self.epoch += 1
            return self._gather_each(iter(self.batch_sampler))
        order = self._order()  # drawn now, so the epoch's order is fixed when iteration starts
        self.epoch += 1
        return self._batches(order)

    def _gather_each(self, batches: Iterator[np.ndarray]) -> Iterator[tuple[np.ndarray, ...]]:
        gather = getattr(self.dataset, "gather", None)
        for idx in batches:
            if gather is not None:
                yield gather(np.asarray(idx, dtype=np.intp))
            else:
                yield _stack_items([self.dataset[int(i)] for i in idx])

    def _batches(self, order: np.ndarray) -> Iterator[tuple[np.ndarray, ...]]:
        bs = self.batch_size
        stop = len(self) * bs
        gather = getattr(self.dataset, "gather", None)
        for start in range(0, min(stop, order.size), bs):
            idx = order[start:start + bs]
            if gather is not None:
                yield gather(idx)
            else:
                yield _stack_items([self.dataset[int(i)] for i in idx])

    def __repr__(self) -> str:
        return (
            f"DataLoader({len(self.dataset)} examples, batch_size={self.batch_size}, "
            f"shuffle={self.shuffle}, drop_last={self.drop_last}, seed={self.seed})"
        )


__all__ = ["DataLoader"]
