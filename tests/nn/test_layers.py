"""Layers, activations and loss modules against their functional definitions and PyTorch."""
from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn
from chainrule.errors import ConfigError


def test_linear_shapes_and_formula():
    m = nn.Linear(3, 2)
    assert m.weight.shape == (2, 3) and m.bias.shape == (2,)
    x = np.random.randn(4, 3).astype(np.float32)
    np.testing.assert_allclose(m(x).data, x @ m.weight.data.T + m.bias.data, rtol=1e-5)


def test_linear_stores_its_weight_column_major_so_the_forward_operand_is_row_major():
    m = nn.Linear(5, 3)
    assert m.weight.shape == (3, 5) and m.weight.data.flags.f_contiguous
    assert m.weight.data.T.flags.c_contiguous


def test_linear_weight_gradient_and_momentum_share_the_weights_layout():
    m = nn.Linear(5, 3)
    opt = cr.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
    F.cross_entropy(m(np.ones((4, 5), dtype=np.float32)), np.array([0, 1, 2, 0])).backward()
    opt.step()
    assert m.weight.grad.flags.f_contiguous
    assert opt.state[id(m.weight)]["momentum_buffer"].flags.f_contiguous


def test_linear_keeps_its_layout_through_load_state_dict_and_deepcopy():
    import copy
    a, b = nn.Linear(5, 3), nn.Linear(5, 3)
    b.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    assert b.weight.data.flags.f_contiguous
    assert copy.deepcopy(a).weight.data.flags.f_contiguous


def test_linear_without_bias_has_one_parameter():
    assert [n for n, _ in nn.Linear(3, 2, bias=False).named_parameters()] == ["weight"]


def test_linear_init_is_uniform_within_inverse_sqrt_fan_in():
    cr.manual_seed(0)
    m = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)
    for p in (m.weight.data, m.bias.data):
        assert p.dtype == np.float32 and np.abs(p).max() <= bound
    w = m.weight.data
    assert abs(w.mean()) < 0.02 * bound and abs(w.std() - bound / math.sqrt(3)) < 0.02 * bound
    assert np.abs(m.bias.data).max() > 0.9 * bound


def test_linear_init_is_repeatable_with_manual_seed():
    cr.manual_seed(5)
    a = nn.Linear(5, 5).weight.data.copy()
    cr.manual_seed(5)
    np.testing.assert_array_equal(a, nn.Linear(5, 5).weight.data)


def test_linear_rejects_bad_sizes():
    with pytest.raises(ConfigError, match="in_features must be a positive integer; got 0"):
        nn.Linear(0, 3)


def test_dropout_rejects_p_out_of_range():
    with pytest.raises(ConfigError, match=r"p must be in \[0, 1\); got 1.5"):
        nn.Dropout(1.5)


def test_flatten_merges_trailing_axes():
    assert nn.Flatten()(np.zeros((2, 3, 4, 5))).shape == (2, 60)


@pytest.mark.parametrize("layer,fn", [
    (nn.ReLU(), F.relu), (nn.Sigmoid(), F.sigmoid), (nn.Tanh(), F.tanh),
    (nn.GELU(), F.gelu), (nn.Softmax(), F.softmax), (nn.Softplus(), F.softplus),
    (nn.LeakyReLU(0.1), lambda x: F.leaky_relu(x, 0.1)),
])
def test_activation_module_matches_functional(layer, fn):
    x = cr.tensor(np.random.randn(3, 4))
    np.testing.assert_array_equal(layer(x).data, fn(x).data)


def test_activations_match_torch(torch):
    x = np.random.randn(5, 6).astype(np.float32)
    tx = torch.from_numpy(x)
    pairs = [(nn.ReLU(), torch.nn.ReLU()), (nn.LeakyReLU(0.1), torch.nn.LeakyReLU(0.1)),
             (nn.Sigmoid(), torch.nn.Sigmoid()), (nn.Tanh(), torch.nn.Tanh()),
             (nn.GELU(), torch.nn.GELU()), (nn.Softmax(axis=1), torch.nn.Softmax(dim=1)),
             (nn.Softplus(), torch.nn.Softplus()), (nn.Softplus(2.0, 1.0), torch.nn.Softplus(2.0, 1.0))]
    for ours, theirs in pairs:
        np.testing.assert_allclose(ours(x).data, theirs(tx).numpy(), rtol=1e-5, atol=1e-6)


def test_loss_modules_match_torch(torch):
    rng = np.random.default_rng(0)
    z = rng.standard_normal((6, 4)).astype(np.float32)
    t = rng.standard_normal((6, 4)).astype(np.float32)
    p = 1 / (1 + np.exp(-z))
    b = (rng.random((6, 4)) > 0.5).astype(np.float32)
    y = rng.integers(0, 4, 6)
    T = torch.from_numpy
    cases = [
        (nn.MSELoss(), torch.nn.MSELoss(), z, t),
        (nn.L1Loss(reduction="sum"), torch.nn.L1Loss(reduction="sum"), z, t),
        (nn.HuberLoss(delta=0.5), torch.nn.HuberLoss(delta=0.5), z, t),
        (nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss(), z, y),
        (nn.NLLLoss(), torch.nn.NLLLoss(), np.log(p / p.sum(1, keepdims=True)), y),
        (nn.BCELoss(), torch.nn.BCELoss(), p, b),
        (nn.BCEWithLogitsLoss(), torch.nn.BCEWithLogitsLoss(), z, b),
    ]
    for ours, theirs, a, c in cases:
        expected = theirs(T(np.ascontiguousarray(a)), T(c)).item()
        assert ours(a, c).item() == pytest.approx(expected, rel=1e-5, abs=1e-6), type(ours)


def test_loss_module_rejects_unknown_reduction():
    with pytest.raises(ConfigError, match="reduction must be one of"):
        nn.MSELoss(reduction="avg")


def test_linear_gradients_match_torch(torch):
    m = nn.Linear(3, 2)
    tm = torch.nn.Linear(3, 2)
    with torch.no_grad():
        tm.weight.copy_(torch.from_numpy(m.weight.data))
        tm.bias.copy_(torch.from_numpy(m.bias.data))
    x = np.random.randn(5, 3).astype(np.float32)
    (m(x) ** 2).sum().backward()
    (tm(torch.from_numpy(x)) ** 2).sum().backward()
    np.testing.assert_allclose(m.weight.grad, tm.weight.grad.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(m.bias.grad, tm.bias.grad.numpy(), rtol=1e-4, atol=1e-5)
