"""nn.init: bounds and spreads as PyTorch's, fans from dims >= 2, in-place filling."""
from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.errors import ConfigError
from chainrule.nn import init


def test_calculate_gain_table_matches_torch(torch):
    for name in ("linear", "conv2d", "sigmoid", "tanh", "relu", "selu"):
        assert init.calculate_gain(name) == pytest.approx(torch.nn.init.calculate_gain(name))
    assert init.calculate_gain("leaky_relu", 0.2) == pytest.approx(
        torch.nn.init.calculate_gain("leaky_relu", 0.2))


def test_fans_of_conv_weight_include_receptive_field():
    assert init.calculate_fan_in_and_fan_out(np.empty((8, 3, 5, 5))) == (75, 200)


def test_fans_need_two_dims():
    with pytest.raises(ConfigError, match="at least 2 dims; got shape \\(5,\\)"):
        init.xavier_uniform_(np.empty(5))


def test_xavier_uniform_bound_and_spread():
    w = cr.zeros(200, 300)
    out = init.xavier_uniform_(w, gain=2.0)
    bound = 2.0 * math.sqrt(6 / 500)
    assert out is w and np.abs(w.data).max() <= bound
    assert w.data.std() == pytest.approx(bound / math.sqrt(3), rel=0.03)


def test_xavier_normal_std():
    w = cr.zeros(200, 300)
    init.xavier_normal_(w)
    assert w.data.std() == pytest.approx(math.sqrt(2 / 500), rel=0.03)


def test_kaiming_uniform_relu_bound_on_conv_weight():
    w = cr.zeros(64, 16, 3, 3)
    init.kaiming_uniform_(w, nonlinearity="relu")
    bound = math.sqrt(2) * math.sqrt(3 / (16 * 9))
    assert np.abs(w.data).max() <= bound and np.abs(w.data).max() > 0.95 * bound


def test_kaiming_normal_fan_out_std():
    w = cr.zeros(300, 100)
    init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu")
    assert w.data.std() == pytest.approx(math.sqrt(2 / 300), rel=0.03)


def test_kaiming_rejects_unknown_mode():
    with pytest.raises(ConfigError, match="mode must be 'fan_in' or 'fan_out'; got 'fan'"):
        init.kaiming_uniform_(cr.zeros(3, 3), mode="fan")


def test_init_keeps_dtype_and_fills_in_place():
    w = nn.Parameter(np.zeros((3, 4)))
    arr = w.data
    init.ones_(w)
    assert w.data is arr and arr.dtype == np.float32 and (arr == 1).all()
    init.zeros_(w)
    assert not arr.any()
    init.constant_(w, 0.5)
    assert (arr == 0.5).all()


def test_uniform_and_normal_use_global_seed():
    cr.manual_seed(3)
    a = init.normal_(np.zeros(5)).copy()
    cr.manual_seed(3)
    np.testing.assert_array_equal(a, init.normal_(np.zeros(5)))


def test_linear_default_init_bound_matches_torch(torch):
    tw = torch.nn.Linear(50, 20).weight.detach().numpy()
    ours = nn.Linear(50, 20).weight.data
    assert np.abs(ours).max() <= 1 / math.sqrt(50) and np.abs(tw).max() <= 1 / math.sqrt(50)


@pytest.mark.parametrize("fill", [lambda t, g: init.uniform_(t, -1, 1, generator=g),
                                  lambda t, g: init.normal_(t, 0, 1, generator=g),
                                  lambda t, g: init.xavier_uniform_(t, generator=g),
                                  lambda t, g: init.kaiming_normal_(t, generator=g)])
def test_a_given_generator_makes_init_repeatable_without_the_global_one(fill):
    a, b = np.zeros((4, 3), np.float32), np.zeros((4, 3), np.float32)
    fill(a, np.random.default_rng(3))
    state = cr.rng.get_state()
    fill(b, np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    assert cr.rng.get_state() == state
