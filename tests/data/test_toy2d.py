"""toy2d: the Playground's 2-D problems, in [-1, 1]², labels 0/1, deterministic by seed."""
from __future__ import annotations

import numpy as np
import pytest

from chainrule.data import TOY2D_NAMES, toy2d
from chainrule.data.toy2d import generate
from chainrule.errors import ConfigError


def test_names_are_the_five_playground_style_problems():
    assert set(TOY2D_NAMES) == {"circle", "xor", "gauss", "spiral", "moons"}


@pytest.mark.parametrize("name", TOY2D_NAMES)
def test_shapes_dtypes_and_balanced_binary_labels(name):
    ds = toy2d(name, n=200)
    x, y = ds.train.arrays
    assert x.shape == (100, 2) and x.dtype == np.float32 and y.dtype == np.int64
    assert len(ds.test) == 100  # test_fraction defaults to 0.5
    all_y = np.concatenate([y, ds.test.arrays[1]])
    assert list(np.bincount(all_y)) == [100, 100]
    assert ds.num_features == 2 and ds.num_classes == 2 and ds.task == "classification"


@pytest.mark.parametrize("name", TOY2D_NAMES)
def test_points_lie_roughly_in_the_unit_square(name):
    x, _ = generate(name, n=2000, noise=0.1, seed=0)
    assert np.abs(x).max() < 1.3
    assert np.abs(x).max() > 0.3  # and actually use the space


@pytest.mark.parametrize("name", TOY2D_NAMES)
def test_same_seed_same_points_other_seed_other_points(name):
    a = toy2d(name, n=50, seed=4).train.arrays[0]
    np.testing.assert_array_equal(a, toy2d(name, n=50, seed=4).train.arrays[0])
    assert not np.array_equal(a, toy2d(name, n=50, seed=5).train.arrays[0])


def test_noise_free_circle_separates_classes_by_radius():
    x, y = generate("circle", n=500, noise=0.0)
    r = np.hypot(x[:, 0], x[:, 1])
    assert r[y == 1].max() < r[y == 0].min()


def test_noise_free_xor_labels_follow_the_sign_of_the_product():
    x, y = generate("xor", n=500, noise=0.0)
    np.testing.assert_array_equal(y, (x[:, 0] * x[:, 1] > 0).astype(np.int64))


def test_gauss_blobs_sit_on_the_diagonal_by_class():
    x, y = generate("gauss", n=1000, noise=0.0)
    assert (x[y == 1].mean(axis=0) > 0.2).all() and (x[y == 0].mean(axis=0) < -0.2).all()


def test_more_noise_spreads_the_points():
    calm, _ = generate("gauss", n=2000, noise=0.0)
    wild, _ = generate("gauss", n=2000, noise=0.5)
    assert wild.std() > calm.std()


def test_odd_n_gives_class_one_the_extra_point():
    _, y = generate("moons", n=7)
    assert list(np.bincount(y)) == [3, 4]


def test_unknown_name_raises_config_error_listing_names():
    with pytest.raises(ConfigError) as info:
        toy2d("donut")
    for name in TOY2D_NAMES:
        assert name in str(info.value)


@pytest.mark.parametrize("kwargs", [{"n": 1}, {"n": 10.5}, {"noise": -0.1}, {"noise": "lots"}])
def test_bad_sizes_and_noise_raise_config_error(kwargs):
    with pytest.raises(ConfigError):
        toy2d("circle", **kwargs)


def test_name_is_case_insensitive():
    assert toy2d("Spiral", n=10).name == "spiral"
