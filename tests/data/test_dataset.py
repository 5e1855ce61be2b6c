"""TensorDataset, Subset, random_split and the train/test index split."""
from __future__ import annotations

import json

import numpy as np
import pytest

from chainrule.errors import ConfigError, DataError
from chainrule.data import DatasetSplits, Subset, TensorDataset, random_split, train_test_indices
from chainrule.data import iris


def test_tensor_dataset_items_are_tuples_of_rows():
    x = np.arange(6).reshape(3, 2)
    y = np.array([7, 8, 9])
    ds = TensorDataset(x, y)
    assert len(ds) == 3
    xi, yi = ds[1]
    np.testing.assert_array_equal(xi, [2, 3])
    assert yi == 8
    assert ds.arrays[0] is not None and len(ds.arrays) == 2


def test_tensor_dataset_refuses_arrays_of_different_lengths():
    with pytest.raises(DataError, match=r"\(3, 2\).*\(4,\)"):
        TensorDataset(np.zeros((3, 2)), np.zeros(4))


def test_tensor_dataset_refuses_no_arrays_and_scalars():
    with pytest.raises(DataError):
        TensorDataset()
    with pytest.raises(DataError, match="scalar"):
        TensorDataset(np.float32(1.0))


def test_random_split_by_lengths_is_disjoint_and_complete():
    parts = random_split(TensorDataset(np.arange(10)), [7, 3], seed=0)
    idx = np.concatenate([p.indices for p in parts])
    assert [len(p) for p in parts] == [7, 3] and sorted(idx) == list(range(10))


def test_random_split_by_fractions_hands_out_the_remainder():
    parts = random_split(TensorDataset(np.arange(11)), [0.5, 0.5], seed=0)
    assert [len(p) for p in parts] == [6, 5]


def test_random_split_is_deterministic_given_seed():
    a = random_split(TensorDataset(np.arange(20)), [0.8, 0.2], seed=5)
    b = random_split(TensorDataset(np.arange(20)), [0.8, 0.2], seed=5)
    c = random_split(TensorDataset(np.arange(20)), [0.8, 0.2], seed=6)
    np.testing.assert_array_equal(a[1].indices, b[1].indices)
    assert not np.array_equal(a[1].indices, c[1].indices)


@pytest.mark.parametrize("bad", [[5, 4], [0.5, 0.4], [-1, 11], [], ["a"]])
def test_random_split_refuses_lengths_that_do_not_fit(bad):
    with pytest.raises(ConfigError, match="random_split"):
        random_split(TensorDataset(np.arange(10)), bad)


def test_subset_items_and_arrays_come_from_the_parent():
    ds = TensorDataset(np.arange(10) * 10)
    sub = Subset(ds, [3, 1])
    assert sub[0][0] == 30 and len(sub) == 2
    np.testing.assert_array_equal(sub.arrays[0], [30, 10])


def test_train_test_indices_stratified_keeps_class_proportions():
    labels = np.repeat([0, 1, 2], [50, 30, 20])
    tr, te = train_test_indices(100, 0.2, seed=0, labels=labels)
    assert sorted(np.concatenate([tr, te])) == list(range(100))
    assert list(np.bincount(labels[te])) == [10, 6, 4]


def test_train_test_indices_never_leaves_test_empty_for_tiny_data():
    tr, te = train_test_indices(3, 0.1, seed=0, labels=np.array([0, 1, 2]))
    assert len(te) == 1 and len(tr) == 2


@pytest.mark.parametrize("bad", [1.0, -0.1, True, "0.2"])
def test_test_fraction_must_be_in_unit_interval(bad):
    with pytest.raises(ConfigError, match="test_fraction"):
        train_test_indices(10, bad)


def test_dataset_splits_preprocessing_is_json_serialisable():
    ds = iris()
    info = json.loads(json.dumps(ds.preprocessing()))
    assert info["class_names"] == ["setosa", "versicolor", "virginica"] and len(info["mean"]) == 4


def test_dataset_splits_transform_checks_feature_count():
    ds = iris()
    with pytest.raises(DataError, match="expected 4"):
        ds.transform(np.zeros((2, 5)))


def test_output_size_is_classes_or_one():
    ds = iris()
    assert isinstance(ds, DatasetSplits) and ds.output_size == 3
