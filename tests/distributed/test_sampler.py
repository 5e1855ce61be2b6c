"""DistributedSampler: disjoint shards that together are exactly one process's batches."""
import numpy as np
import pytest

from chainrule.data import DataLoader, TensorDataset
from chainrule.distributed import DistributedSampler
from chainrule.errors import ConfigError


def _shards(n, batch, world, epoch=0, **kw):
    out = []
    for r in range(world):
        s = DistributedSampler(n, batch, seed=3, rank=r, world_size=world, **kw)
        s.set_epoch(epoch)
        out.append(list(s))
    return out


@pytest.mark.parametrize("n,batch,world", [(103, 5, 2), (100, 4, 3), (7, 1, 4), (5, 3, 3)])
def test_shards_are_disjoint_and_their_union_is_the_one_process_batch_of_world_times_batch(n, batch, world):
    shards = _shards(n, batch, world)  # batch: per rank
    x = np.arange(n, dtype=np.float32)[:, None]
    one = [b[0][:, 0].astype(int)
           for b in DataLoader(TensorDataset(x, np.arange(n)), batch * world, shuffle=True, seed=3)]
    assert all(len(s) == len(one) for s in shards)
    for k, batch_idx in enumerate(one):
        parts = [shards[r][k] for r in range(world)]
        assert np.array_equal(np.concatenate(parts), batch_idx)  # rank order = batch order
        sizes = [p.size for p in parts]
        assert max(sizes) - min(sizes) <= 1


def test_every_rank_draws_the_same_epoch_dependent_order():
    a, b = _shards(50, 25, 2, epoch=0), _shards(50, 25, 2, epoch=1)
    assert not np.array_equal(np.concatenate(a[0] + a[1]), np.concatenate(b[0] + b[1]))
    assert sorted(np.concatenate(a[0] + a[1]).tolist()) == list(range(50))


def test_set_epoch_resumes_the_order_of_an_unbroken_run():
    s = DistributedSampler(40, 8, seed=1, rank=1, world_size=2)
    list(s)
    second = list(s)  # epoch 1 of an unbroken run
    resumed = DistributedSampler(40, 8, seed=1, rank=1, world_size=2)
    resumed.set_epoch(1)
    assert all(np.array_equal(p, q) for p, q in zip(second, list(resumed)))


def test_batch_size_is_per_rank_and_the_global_batch_is_world_size_times_it():
    s = DistributedSampler(100, 8, seed=0, rank=0, world_size=4)
    assert s.global_batch_size == 32 and len(s) == 4  # 32 + 32 + 32 + 4 examples
    assert [b.size for b in s] == [8, 8, 8, 1]


def test_global_size_counts_the_last_smaller_batch_and_empty_shards_are_yielded():
    s = DistributedSampler(9, 2, seed=0, rank=0, world_size=2)
    assert [s.global_size(k) for k in range(len(s))] == [4, 4, 1]
    assert [b.size for b in s] == [2, 2, 0]


def test_dataloader_with_the_sampler_yields_this_ranks_rows():
    x = np.arange(12, dtype=np.float32)[:, None]
    s = DistributedSampler(12, 3, shuffle=False, rank=1, world_size=2)
    got = [xb[:, 0].tolist() for xb, _ in DataLoader(TensorDataset(x, np.arange(12)), batch_sampler=s)]
    assert got == [[3.0, 4.0, 5.0], [9.0, 10.0, 11.0]]


def test_bad_rank_is_refused():
    with pytest.raises(ConfigError, match="rank 2 outside 0..1"):
        DistributedSampler(10, 2, seed=0, rank=2, world_size=2)
