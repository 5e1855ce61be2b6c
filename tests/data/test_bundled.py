"""iris() and digits(), shipped in the package, and the load_dataset name registry."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from chainrule.data import DATASET_NAMES, TOY2D_NAMES, digits, iris, load_dataset
from chainrule.data.bundled import FILES_DIR
from chainrule.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def test_iris_has_150_flowers_4_features_3_balanced_classes():
    ds = iris()
    y = np.concatenate([ds.train.arrays[1], ds.test.arrays[1]])
    assert len(ds.train) == 120 and len(ds.test) == 30
    assert list(np.bincount(y)) == [50, 50, 50]
    assert list(np.bincount(ds.test.arrays[1])) == [10, 10, 10]  # stratified
    assert ds.num_features == 4 and ds.num_classes == 3 and ds.image_shape is None
    assert ds.class_names == ["setosa", "versicolor", "virginica"]
    assert ds.feature_names[2] == "petal length (cm)"


def test_iris_features_are_standardised_with_train_statistics():
    ds = iris()
    x = ds.train.arrays[0]
    assert x.dtype == np.float32
    np.testing.assert_allclose(x.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(x.std(axis=0), 1, atol=1e-4)
    assert 5.5 < ds.mean[0] < 6.2  # sepal length in cm


def test_iris_transform_maps_centimetres_to_model_inputs():
    ds = iris()
    raw = ds.train.arrays[0] * ds.std + ds.mean
    np.testing.assert_allclose(ds.transform(raw), ds.train.arrays[0], atol=1e-5)


def test_iris_split_depends_only_on_seed():
    np.testing.assert_array_equal(iris(seed=1).test.arrays[0], iris(seed=1).test.arrays[0])
    assert not np.array_equal(iris(seed=1).test.arrays[0], iris(seed=2).test.arrays[0])
    assert len(iris(test_fraction=0.5).test) == 75


def test_digits_are_1797_images_of_8x8_scaled_to_unit_interval():
    ds = digits()
    x, y = ds.train.arrays
    assert len(ds.train) + len(ds.test) == 1797
    assert x.shape[1] == 64 and ds.image_shape == (1, 8, 8) and x.dtype == np.float32
    assert x.min() == 0.0 and x.max() == 1.0
    assert ds.num_classes == 10 and set(y) == set(range(10)) and y.dtype == np.int64


def test_digits_rows_reshape_to_recognisable_images():
    ds = digits()
    x, y = ds.train.arrays
    ones = x[y == 1].reshape(-1, *ds.image_shape)
    zeros = x[y == 0].reshape(-1, *ds.image_shape)
    # a zero has an empty centre and ink around it; a one has ink down the middle
    assert zeros[:, 0, 3:5, 3:5].mean() < zeros[:, 0, 1:7, 1:3].mean()
    assert ones[:, 0, 2:6, 3:5].mean() > zeros[:, 0, 2:6, 3:5].mean()


def test_bundled_files_and_their_sources_are_in_the_package():
    for name in ("iris.csv", "digits.csv.gz", "SOURCES.md"):
        assert (FILES_DIR / name).is_file()


def test_pyproject_ships_the_bundled_files_as_package_data():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    pyproject = REPO / "pyproject.toml"
    if not pyproject.is_file():
        pytest.skip("not running from a checkout")
    data = tomllib.loads(pyproject.read_text())["tool"]["setuptools"]["package-data"]["chainrule"]
    assert "data/files/*" in data


@pytest.mark.parametrize("name", ["iris", "digits", *TOY2D_NAMES])
def test_load_dataset_knows_every_bundled_and_toy_name(name):
    ds = load_dataset(name)
    assert len(ds.train) > 0 and ds.name == name


def test_load_dataset_passes_options_to_the_loader():
    assert len(load_dataset("xor", n=40, noise=0.0, test_fraction=0.25).test) == 10


def test_load_dataset_unknown_name_lists_valid_names():
    with pytest.raises(ConfigError) as info:
        load_dataset("cifar10")
    for name in DATASET_NAMES:
        assert name in str(info.value)


def test_load_dataset_unknown_option_raises_config_error_listing_options():
    with pytest.raises(ConfigError, match="noise.*test_fraction, seed"):
        load_dataset("iris", noise=0.3)


def test_load_dataset_mnist_uses_data_dir(tmp_path):
    from .conftest import make_tiny_mnist

    make_tiny_mnist(tmp_path)
    assert load_dataset("MNIST", data_dir=tmp_path).name == "mnist"
    make_tiny_mnist(tmp_path / "fashion-mnist")
    assert load_dataset("fashion_mnist", data_dir=tmp_path).name == "fashion-mnist"


def test_load_dataset_accepts_a_csv_path(tmp_path):
    p = tmp_path / "mine.csv"
    p.write_text("a,b\n" + "".join(f"{i},{i % 2}\n" for i in range(10)))
    assert load_dataset(str(p), target="b").num_classes == 2
