"""TensorDataset, Subset, random_split and the train/test index split."""
from __future__ import annotations

import json

import numpy as np
import pytest

from chainrule.data import DatasetSplits, Subset, TensorDataset, iris, kfold_indices, random_split, train_test_indices
from chainrule.errors import ConfigError, DataError


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


def test_kfold_tests_every_example_exactly_once_and_never_trains_on_it():
    folds = kfold_indices(23, 5, seed=1)
    tested = np.concatenate([te for _, te in folds])
    assert sorted(tested.tolist()) == list(range(23))
    for tr, te in folds:
        assert not set(tr) & set(te) and len(tr) + len(te) == 23
    assert {len(te) for _, te in folds} <= {4, 5}  # sizes within one


def test_kfold_stratified_gives_each_fold_its_share_of_every_class():
    labels = np.repeat([0, 1, 2], [50, 30, 20])
    for _, te in kfold_indices(100, 5, seed=0, labels=labels):
        assert np.bincount(labels[te], minlength=3).tolist() == [10, 6, 4]


def test_kfold_is_deterministic_given_seed():
    a, b = kfold_indices(30, 3, seed=4), kfold_indices(30, 3, seed=4)
    assert all(np.array_equal(x[1], y[1]) for x, y in zip(a, b))
    assert not all(np.array_equal(x[1], y[1]) for x, y in zip(a, kfold_indices(30, 3, seed=5)))


@pytest.mark.parametrize("k, n, words", [(1, 10, "k >= 2"), (11, 10, "at least one"), (2.5, 10, "k >= 2")])
def test_kfold_refuses_impossible_fold_counts(k, n, words):
    with pytest.raises(ConfigError, match=words):
        kfold_indices(n, k)


def test_cross_validation_folds_restandardise_with_their_own_training_part():
    ds = iris()
    folds = ds.cross_validation(5, seed=0)
    raw = np.concatenate([ds.train.arrays[0], ds.test.arrays[0]]) * ds.std + ds.mean
    assert sum(len(f.test) for f in folds) == 150
    for f in folds:
        x_tr = f.train.arrays[0]
        np.testing.assert_allclose(x_tr.mean(axis=0), 0, atol=1e-5)
        np.testing.assert_allclose(x_tr.std(axis=0), 1, atol=1e-5)
        back = f.test.arrays[0] * f.std + f.mean  # the same raw flowers, scaled by this fold's statistics
        assert all(np.isclose(raw, row, atol=1e-4).all(axis=1).any() for row in back)


def test_pooled_makes_every_example_training_data():
    p = iris().pooled()
    assert len(p.train) == 150 and len(p.test) == 0
    np.testing.assert_allclose(p.train.arrays[0].mean(axis=0), 0, atol=1e-5)
