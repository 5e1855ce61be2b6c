"""DistributedSampler: every rank's disjoint shard of each global mini-batch.

``batch_size`` is the batch of *one rank*, as in PyTorch's DDP and Horovod: N ranks together
take a global batch of ``N * batch_size`` examples per optimizer step. All ranks draw the
same permutation of the examples for epoch k, ``default_rng((seed, k))`` (the very order a
one-process ``DataLoader(shuffle=True, seed=seed)`` uses), cut it into global batches of
``N * batch_size`` examples, and rank r takes the r-th contiguous slice of each. So N ranks
at batch B see exactly the batches one process sees at batch N*B: the union of the shards is
that batch, no example is seen twice, and a run resumed at epoch k (``set_epoch``) continues
with the order an unbroken run would have had. (PyTorch's ``DistributedSampler`` instead
deals the whole epoch out to the ranks; slicing each global batch is what makes the N-rank
run reproduce the one-process run.)

    sampler = DistributedSampler(len(ds), batch_size=128, seed=0)   # 128 per rank
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
        batch_size: examples per optimizer step on *this rank* (every rank must pass the
            same value); the global batch, summed over the ranks, is ``world_size`` times
            it (:attr:`global_batch_size`).
        shuffle: a new order each epoch (``default_rng((seed, epoch))``); else 0..n-1.
        seed: the shuffling seed; it must be the same on every rank (None: rank 0 draws one
            and broadcasts it, so the order is shared but not repeatable).
        rank: this process's rank (default: its place in the MPI job).
        world_size: the number of ranks (default: the MPI job's).
        drop_last: drop the final, smaller global batch.

    The last global batch of an epoch may be smaller (unless ``drop_last``); it is split as
    evenly as possible, so shards of one step differ by at most one example. A shard may be
    empty (a last batch smaller than the number of ranks); the rank then still takes part in
    the gradient average with a zero contribution.
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
        self.global_batch_size = self.batch_size * self.world_size
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
        n, b = self.num_examples, self.global_batch_size
        return n // b if self.drop_last else -(-n // b)

    def global_size(self, index: int) -> int:
        """Examples in global batch number ``index`` of an epoch, summed over the ranks."""
        return min(self.global_batch_size, self.num_examples - index * self.global_batch_size)

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
        b = self.global_batch_size
        for k in range(len(self)):
            batch = order[k * b:(k + 1) * b]
            lo, hi = self.shard_bounds(batch.size)
            yield batch[lo:hi]

    def __repr__(self) -> str:
        return (f"DistributedSampler({self.num_examples} examples, batch {self.batch_size} per rank (global "
                f"{self.global_batch_size}), rank {self.rank}/{self.world_size}, shuffle={self.shuffle}, "
                f"seed={self.seed})")


__all__ = ["DistributedSampler"]
