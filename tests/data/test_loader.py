"""DataLoader: batching, shuffling that is repeatable and resumable, the one-index fast path."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainrule import rng
from chainrule.data import DataLoader, Dataset, TensorDataset, random_split
from chainrule.errors import ConfigError


def _ds(n: int = 10) -> TensorDataset:
    return TensorDataset(np.arange(n * 2, dtype=np.float32).reshape(n, 2), np.arange(n, dtype=np.int64))


def _order(loader: DataLoader) -> list[int]:
    return [int(i) for _, yb in loader for i in yb]


def test_yields_one_array_per_dataset_array_in_order_without_shuffle():
    batches = list(DataLoader(_ds(10), batch_size=4))
    assert [len(b[1]) for b in batches] == [4, 4, 2]
    xb, yb = batches[0]
    assert xb.shape == (4, 2) and xb.dtype == np.float32 and yb.dtype == np.int64
    assert _order(DataLoader(_ds(10), batch_size=4)) == list(range(10))


def test_len_counts_batches_including_the_short_last_one():
    assert len(DataLoader(_ds(10), batch_size=4)) == 3
    assert len(DataLoader(_ds(8), batch_size=4)) == 2


def test_drop_last_drops_the_short_batch():
    loader = DataLoader(_ds(10), batch_size=4, drop_last=True)
    assert len(loader) == 2 and [len(b[1]) for b in loader] == [4, 4]


def test_batch_larger_than_dataset_gives_one_batch_or_none_with_drop_last():
    assert len(list(DataLoader(_ds(3), batch_size=8))) == 1
    assert list(DataLoader(_ds(3), batch_size=8, drop_last=True)) == []


def test_empty_dataset_gives_no_batches():
    assert list(DataLoader(_ds(0), batch_size=2)) == [] and len(DataLoader(_ds(0))) == 0


def test_seeded_shuffle_is_repeatable_across_loaders():
    a = DataLoader(_ds(50), batch_size=7, shuffle=True, seed=3)
    b = DataLoader(_ds(50), batch_size=7, shuffle=True, seed=3)
    assert _order(a) == _order(b) != list(range(50))
    assert _order(a) == _order(b)  # second epoch too


def test_each_epoch_has_a_different_order():
    loader = DataLoader(_ds(50), batch_size=50, shuffle=True, seed=0)
    assert _order(loader) != _order(loader)


def test_set_epoch_resumes_the_order_of_an_unbroken_run():
    unbroken = DataLoader(_ds(30), batch_size=5, shuffle=True, seed=1)
    orders = [_order(unbroken) for _ in range(4)]
    resumed = DataLoader(_ds(30), batch_size=5, shuffle=True, seed=1)
    resumed.set_epoch(2)
    assert _order(resumed) == orders[2] and _order(resumed) == orders[3]


def test_epoch_order_depends_on_seed():
    assert _order(DataLoader(_ds(40), shuffle=True, seed=1)) != _order(DataLoader(_ds(40), shuffle=True, seed=2))


def test_unseeded_shuffle_follows_the_global_generator():
    rng.manual_seed(123)
    first = _order(DataLoader(_ds(40), shuffle=True))
    rng.manual_seed(123)
    assert _order(DataLoader(_ds(40), shuffle=True)) == first


def test_tensor_dataset_batches_are_gathered_with_one_index_per_batch():
    calls = []

    class Counting(TensorDataset):
        def gather(self, indices):
            calls.append(len(indices))
            return super().gather(indices)

        def __getitem__(self, index):
            raise AssertionError("fast path must not index example by example")

    ds = Counting(np.zeros((10, 3), np.float32), np.zeros(10, np.int64))
    list(DataLoader(ds, batch_size=4, shuffle=True, seed=0))
    assert calls == [4, 4, 2]


def test_generic_dataset_items_are_stacked_position_by_position():
    class Squares(Dataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return np.array([i, i * i], np.float32), i

    xb, yb = next(iter(DataLoader(Squares(), batch_size=3)))
    np.testing.assert_array_equal(xb, [[0, 0], [1, 1], [2, 4]])
    np.testing.assert_array_equal(yb, [0, 1, 2])


def test_generic_dataset_with_single_array_items_yields_one_tuple():
    class Plain(Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return np.full(2, i)

    (xb,) = next(iter(DataLoader(Plain(), batch_size=4)))
    assert xb.shape == (4, 2)


def test_subset_from_random_split_batches_only_its_examples():
    train, val = random_split(_ds(20), [15, 5], seed=0)
    seen = _order(DataLoader(val, batch_size=2))
    assert sorted(seen) == sorted(int(i) for i in val.indices)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "8", None])
def test_batch_size_must_be_a_positive_integer(bad):
    with pytest.raises(ConfigError, match="batch_size"):
        DataLoader(_ds(), batch_size=bad)


def test_batch_size_accepts_numpy_integers():
    assert len(DataLoader(_ds(10), batch_size=np.int64(5))) == 2


def test_negative_seed_or_epoch_is_refused():
    with pytest.raises(ConfigError, match="seed"):
        DataLoader(_ds(), seed=-1)
    with pytest.raises(ConfigError, match="epoch"):
        DataLoader(_ds()).set_epoch(-2)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 60), bs=st.integers(1, 70), shuffle=st.booleans(), drop_last=st.booleans(),
       seed=st.integers(0, 2**31))
def test_every_example_is_seen_at_most_once_per_epoch_and_len_matches(n, bs, shuffle, drop_last, seed):
    loader = DataLoader(_ds(n), batch_size=bs, shuffle=shuffle, drop_last=drop_last, seed=seed)
    batches = list(loader)
    seen = [int(i) for _, yb in batches for i in yb]
    assert len(batches) == len(loader)
    assert len(seen) == len(set(seen)) and set(seen) <= set(range(n))
    if drop_last:
        assert len(seen) == (n // bs) * bs
    else:
        assert sorted(seen) == list(range(n))
    assert all(len(yb) == bs for _, yb in batches[:-1])
