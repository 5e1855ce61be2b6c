"""Activations and the softmax family: relu leaky_relu gelu sigmoid tanh softmax log_softmax
logsumexp (via chainrule.nn.functional and as Tensor methods)."""
import math

import numpy as np
import pytest
from conftest import floats64, shapes
from hypothesis import given
from hypothesis import strategies as st

import chainrule as cr
import chainrule.nn.functional as F


def t64(a, requires_grad=True):
    return cr.tensor(a, requires_grad=requires_grad, dtype=np.float64)


_erf = np.vectorize(math.erf)


def _np_softmax(v, axis):
    e = np.exp(v - v.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _np_logsumexp(v, axis=None, keepdims=False):
    m = np.max(v, axis=axis, keepdims=True)
    out = np.log(np.sum(np.exp(v - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


ELEMENTWISE = {
    "relu": (F.relu, lambda v: np.maximum(v, 0), 1e-3),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.1), lambda v: np.where(v > 0, v, 0.1 * v), 1e-3),
    "gelu": (F.gelu, lambda v: v * 0.5 * (1 + _erf(v / math.sqrt(2))), 0.0),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"),
                  lambda v: 0.5 * v * (1 + np.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v**3))),
                  0.0),
    "softplus": (F.softplus, lambda v: np.log1p(np.exp(v)), 0.0),
    "softplus_beta": (lambda x: F.softplus(x, beta=2.0), lambda v: np.log1p(np.exp(2 * v)) / 2, 0.0),
    "sigmoid": (F.sigmoid, lambda v: 1 / (1 + np.exp(-v)), 0.0),
    "tanh": (F.tanh, np.tanh, 0.0),
}


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
@given(data=st.data(), shape=shapes())
def test_elementwise_activation_matches_numpy_and_passes_gradcheck(name, data, shape):
    fn, ref, gap = ELEMENTWISE[name]
    a = data.draw(floats64(shape, lo=-4.0, hi=4.0, gap=gap))
    out = fn(t64(a))
    assert out.shape == a.shape
    np.testing.assert_allclose(out.data, ref(a), rtol=1e-6, atol=1e-6)  # gelu's erf: ~1e-7
    assert cr.gradcheck(fn, [t64(a)])


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_elementwise_activation_keeps_float32(name):
    x = cr.tensor([-1.0, 0.5, 2.0], requires_grad=True)
    y = ELEMENTWISE[name][0](x)
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32


def test_leaky_relu_default_slope_is_one_hundredth():
    np.testing.assert_allclose(F.leaky_relu(t64([-2.0, 3.0])).data, [-0.02, 3.0])


def test_softplus_is_stable_for_large_inputs_and_rejects_a_non_positive_beta():
    x = t64([-1000.0, 0.0, 1000.0])
    out = F.softplus(x)
    np.testing.assert_allclose(out.data, [0.0, np.log(2.0), 1000.0])
    out.sum().backward()
    np.testing.assert_allclose(x.grad, [0.0, 0.5, 1.0])
    with pytest.raises(cr.ConfigError, match="beta must be positive"):
        F.softplus(x, beta=0.0)


def test_softplus_is_linear_above_its_threshold_as_torch():
    # (1/β)·ln(1 + e^(β·x)) above β·x = threshold is x itself, with slope 1 (a small jump at the
    # threshold, as in PyTorch; finite differences must not straddle it)
    f = lambda x: F.softplus(x, beta=2.0, threshold=3.0)  # noqa: E731
    np.testing.assert_allclose(f(t64([2.0, 1.0])).data, [2.0, np.log1p(np.exp(2.0)) / 2])
    assert cr.gradcheck(f, [t64([2.0, 5.0, 1.0, -0.5])])


def test_gelu_with_an_unknown_approximation_raises_config_error():
    with pytest.raises(cr.ConfigError, match="approximate"):
        F.gelu(t64([1.0]), approximate="fast")


# --------------------------------------------------------------- softmax family
@st.composite
def array_and_axis(draw):
    shape = draw(shapes(min_dims=1))
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    return draw(floats64(shape, lo=-5.0, hi=5.0)), axis


@given(aa=array_and_axis())
def test_softmax_matches_numpy_and_passes_gradcheck(aa):
    a, axis = aa
    out = F.softmax(t64(a), axis=axis)
    np.testing.assert_allclose(out.data, _np_softmax(a, axis), rtol=1e-12)
    np.testing.assert_allclose(out.data.sum(axis=axis), 1.0)
    assert cr.gradcheck(lambda x: F.softmax(x, axis=axis), [t64(a)])


@given(aa=array_and_axis())
def test_log_softmax_matches_numpy_and_passes_gradcheck(aa):
    a, axis = aa
    out = F.log_softmax(t64(a), axis=axis)
    np.testing.assert_allclose(out.data, np.log(_np_softmax(a, axis)), rtol=1e-10, atol=1e-12)
    assert cr.gradcheck(lambda x: F.log_softmax(x, axis=axis), [t64(a)])


@pytest.mark.parametrize("keepdims", [False, True])
@given(data=st.data(), shape=shapes(min_dims=1))
def test_logsumexp_matches_numpy_and_passes_gradcheck(keepdims, data, shape):
    a = data.draw(floats64(shape, lo=-5.0, hi=5.0))
    axis = data.draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1)))
    out = F.logsumexp(t64(a), axis=axis, keepdims=keepdims)
    np.testing.assert_allclose(out.data, _np_logsumexp(a, axis, keepdims), rtol=1e-12)
    assert cr.gradcheck(lambda x: F.logsumexp(x, axis=axis, keepdims=keepdims), [t64(a)])


def test_logsumexp_over_a_tuple_of_axes():
    a = np.random.default_rng(0).standard_normal((2, 3, 4))
    out = F.logsumexp(t64(a), axis=(0, 2))
    np.testing.assert_allclose(out.data, _np_logsumexp(a, axis=(0, 2)))
    assert cr.gradcheck(lambda x: F.logsumexp(x, axis=(0, 2)), [t64(a)])


def test_softmax_family_default_axis_is_the_last():
    a = np.random.default_rng(1).standard_normal((3, 4))
    np.testing.assert_allclose(F.softmax(t64(a)).data, _np_softmax(a, -1))
    np.testing.assert_allclose(F.log_softmax(t64(a)).data, np.log(_np_softmax(a, -1)))


def test_softmax_family_as_tensor_methods():
    x = t64(np.random.default_rng(2).standard_normal((3, 4)))
    np.testing.assert_array_equal(x.softmax(axis=0).data, F.softmax(x, axis=0).data)
    np.testing.assert_array_equal(x.log_softmax().data, F.log_softmax(x).data)
    np.testing.assert_array_equal(x.logsumexp(axis=1).data, F.logsumexp(x, axis=1).data)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_family_is_stable_for_logits_of_magnitude_1e3(dtype):
    v = np.array([[1000.0, 999.0, -1000.0], [-1000.0, -1001.0, -1000.0]])
    x = cr.tensor(v, requires_grad=True, dtype=dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        s = F.softmax(x)
        ls = F.log_softmax(x)
        lse = F.logsumexp(x, axis=1)
        (s.sum() + ls.sum() + lse.sum()).backward()
    expected_ls = v - _np_logsumexp(v, axis=1, keepdims=True)
    np.testing.assert_allclose(s.data, np.exp(expected_ls), rtol=1e-5, atol=1e-30)
    np.testing.assert_allclose(ls.data, expected_ls, rtol=1e-5)
    np.testing.assert_allclose(lse.data, _np_logsumexp(v, axis=1), rtol=1e-6)
    assert np.isfinite(x.grad).all()


def test_logsumexp_of_all_minus_infinity_is_minus_infinity_not_nan():
    x = cr.tensor([-np.inf, -np.inf])
    with np.errstate(divide="ignore", invalid="ignore"):
        assert F.logsumexp(x, axis=0).item() == -np.inf


@pytest.mark.parametrize("fn", [F.softmax, F.log_softmax, F.logsumexp],
                         ids=["softmax", "log_softmax", "logsumexp"])
@pytest.mark.parametrize("axis", [2, -3])
def test_softmax_family_axis_out_of_range_raises_shape_error_naming_the_shape(fn, axis):
    with pytest.raises(cr.ShapeError, match=r"axis .*\(2, 3\)"):
        fn(cr.zeros(2, 3), axis=axis)
