"""DistributedSampler: every rank's disjoint shard of each global mini-batch.

All ranks draw the same permutation of the examples for epoch k, ``default_rng((seed, k))``
(the very order a one-process ``DataLoader(shuffle=True, seed=seed)`` uses), cut it into
global batches of ``batch_size`` examples, and rank r takes the r-th contiguous slice of
each. So N ranks together see exactly the batches one process would, the union of the
shards is the batch, no example is seen twice, and a run resumed at epoch k (``set_epoch``)
continues with the order an unbroken run would have had.

    sampler = DistributedSampler(len(ds), batch_size=256, seed=0)   # 256 = the global batch
    loader = DataLoader(ds, batch_sampler=sampler)                  # yields this rank's shards
"""
from __future__ import annotations

import numbers
from collections.abc import Iterator
from typing import cast

import numpy as np

from ..errors import ConfigError
from . import comm


class DistributedSampler:
    """Index arrays of this rank's shard of each global batch, one array per batch.

    Args:
        num_examples: size of the data set.
        batch_size: the *global* batch: examples per optimizer step summed over all ranks.
        shuffle: a new order each epoch (``default_rng((seed, epoch))``); else 0..n-1.
        seed: the shuffling seed; it must be the same on every rank (None: rank 0 draws one
            and broadcasts it, so the order is shared but not repeatable).
        rank: this process's rank (default: its place in the MPI job).
        world_size: the number of ranks (default: the MPI job's).
        drop_last: drop the final, smaller global batch.

    A shard may be empty (a last batch smaller than the number of ranks); the rank then still
    takes part in the gradient average with a zero contribution.
    """

    def __init__(self, num_examples: int, batch_size: int, shuffle: bool = True, seed: int | None = None,
                 rank: int | None = None, world_size: int | None = None, drop_last: bool = False) -> None:
        for name, v in (("num_examples", num_examples), ("batch_size", batch_size)):
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < (0 if name == "num_examples" else 1):
                raise ConfigError(f"DistributedSampler: {name} must be a positive integer, got {v!r}")
        self.world_size = comm.world_size() if world_size is None else int(world_size)
        self.rank = comm.rank() if rank is None else int(rank)
        if not 0 <= self.rank < self.world_size:
            raise ConfigError(f"DistributedSampler: rank {self.rank} outside 0..{self.world_size - 1}")
        if shuffle and seed is None:  # one shared order: rank 0's random seed
            drawn = np.array([cast(int, np.random.SeedSequence().entropy) % 2**62], np.int64)
            seed = int(comm.broadcast_(drawn, what="the shuffling seed")[0]) if comm.is_initialized() else int(drawn[0])
        self.num_examples, self.batch_size = int(num_examples), int(batch_size)
        self.seed: int | None = seed
        self.shuffle, self.drop_last = bool(shuffle), bool(drop_last)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Use epoch number ``epoch``'s order next (for resuming)."""
        if isinstance(epoch, bool) or not isinstance(epoch, numbers.Integral) or epoch < 0:
            raise ConfigError(f"DistributedSampler.set_epoch: epoch must be a non-negative integer, got {epoch!r}")
        self.epoch = int(epoch)

    def __len__(self) -> int:
        """Global batches per epoch (the same on every rank)."""
        n, b = self.num_examples, self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def global_size(self, index: int) -> int:
        """Examples in global batch number ``index`` of an epoch, summed over the ranks."""
        return min(self.batch_size, self.num_examples - index * self.batch_size)

    def shard_bounds(self, size: int) -> tuple[int, int]:
        """This rank's slice [lo, hi) of a global batch of ``size`` examples: contiguous,
        sizes differing by at most one."""
        return size * self.rank // self.world_size, size * (self.rank + 1) // self.world_size

    def _order(self) -> np.ndarray:
        if not self.shuffle:
            return np.arange(self.num_examples)
        assert self.seed is not None  # __init__ draws one when shuffling
        return np.random.default_rng((self.seed, self.epoch)).permutation(self.num_examples)

    def __iter__(self) -> Iterator[np.ndarray]:
        order = self._order()
        self.epoch += 1
        b = self.batch_size
        for k in range(len(self)):
            batch = order[k * b:(k + 1) * b]
            lo, hi = self.shard_bounds(batch.size)
            yield batch[lo:hi]

    def __repr__(self) -> str:
        return (f"DistributedSampler({self.num_examples} examples, global batch {self.batch_size}, rank "
                f"{self.rank}/{self.world_size}, shuffle={self.shuffle}, seed={self.seed})")


__all__ = ["DistributedSampler"]
