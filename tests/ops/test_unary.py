"""Elementwise ops of one tensor: exp log sqrt abs tanh sigmoid relu clip."""
import numpy as np
import pytest
from conftest import floats64, shapes
from hypothesis import given
from hypothesis import strategies as st

import chainrule as cr


def t64(a, requires_grad=True):
    return cr.tensor(a, requires_grad=requires_grad, dtype=np.float64)


def _sigmoid(v):
    return 1 / (1 + np.exp(-v))


# name -> (method call, NumPy reference, value strategy for a shape)
UNARY = {
    "exp": (lambda x: x.exp(), np.exp, lambda s: floats64(s)),
    "log": (lambda x: x.log(), np.log, lambda s: floats64(s, lo=0.1, hi=5.0)),
    "sqrt": (lambda x: x.sqrt(), np.sqrt, lambda s: floats64(s, lo=0.1, hi=5.0)),
    "abs": (lambda x: x.abs(), np.abs, lambda s: floats64(s, gap=1e-3)),
    "tanh": (lambda x: x.tanh(), np.tanh, lambda s: floats64(s)),
    "sigmoid": (lambda x: x.sigmoid(), _sigmoid, lambda s: floats64(s)),
    "relu": (lambda x: x.relu(), lambda v: np.maximum(v, 0), lambda s: floats64(s, gap=1e-3)),
    "clip": (lambda x: x.clip(-1.0, 1.5), lambda v: np.clip(v, -1.0, 1.5),
             lambda s: floats64(s, gap=1e-3, avoid=(-1.0, 1.5))),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@given(data=st.data(), shape=shapes())
def test_unary_op_matches_numpy_and_passes_gradcheck(name, data, shape):
    fn, ref, values = UNARY[name]
    a = data.draw(values(shape))
    out = fn(t64(a))
    assert out.shape == a.shape
    np.testing.assert_allclose(out.data, ref(a), rtol=1e-12, atol=1e-12)
    assert cr.gradcheck(fn, [t64(a)])


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_op_keeps_float32(name):
    x = cr.tensor([0.5, 1.0, 2.0], requires_grad=True)
    y = UNARY[name][0](x)
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32


def test_abs_builtin_is_the_abs_op():
    x = t64([-2.0, 3.0])
    np.testing.assert_array_equal(abs(x).data, [2.0, 3.0])


@pytest.mark.parametrize("fn", [lambda x: x.relu(), lambda x: x.abs()], ids=["relu", "abs"])
def test_gradient_at_the_kink_zero_is_zero_as_in_pytorch(fn):
    x = t64([0.0])
    fn(x).sum().backward()
    assert x.grad[0] == 0.0


def test_clip_passes_the_gradient_only_inside_the_range_including_its_ends():
    x = t64([-2.0, -1.0, 0.0, 1.0, 2.0])
    y = x.clip(-1.0, 1.0)
    np.testing.assert_array_equal(y.data, [-1.0, -1.0, 0.0, 1.0, 1.0])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 1.0, 1.0, 1.0, 0.0])


def test_clip_with_one_bound_leaves_the_other_side_open():
    x = t64([-5.0, 5.0])
    np.testing.assert_array_equal(x.clip(lo=0.0).data, [0.0, 5.0])
    np.testing.assert_array_equal(x.clip(hi=0.0).data, [-5.0, 0.0])


def test_sigmoid_is_finite_and_saturates_for_huge_inputs_without_overflow():
    x = cr.tensor([-1e4, -50.0, 0.0, 50.0, 1e4], requires_grad=True)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y = x.sigmoid()
        y.sum().backward()
    np.testing.assert_allclose(y.data, [0.0, _sigmoid(-50.0), 0.5, 1.0, 1.0], atol=1e-7)
    assert np.isfinite(x.grad).all()


def test_tanh_is_finite_for_huge_inputs():
    x = t64([-1e4, 1e4])
    y = x.tanh()
    y.sum().backward()
    np.testing.assert_array_equal(y.data, [-1.0, 1.0])
    np.testing.assert_array_equal(x.grad, [0.0, 0.0])


@pytest.mark.parametrize("shape", [(2, 3, 4, 4), (8, 32, 40, 40)])  # small, and large enough to be split
def test_relu_gradient_arriving_nchw_comes_back_in_the_inputs_channels_last_layout(shape):
    rng = np.random.default_rng(4)
    n, c, h, w = shape
    x = rng.standard_normal((n, h, w, c)).transpose(0, 3, 1, 2)    # NCHW view of NHWC memory (a conv output)
    X = t64(x)
    r = rng.standard_normal((n, c * h * w))
    (X.relu().flatten(1) * t64(r, requires_grad=False)).sum().backward()   # Flatten hands back NCHW
    np.testing.assert_array_equal(X.grad, r.reshape(shape) * (x > 0))
    assert X.grad.strides[1] < X.grad.strides[3]                     # channels still innermost


@pytest.mark.parametrize("layout", ["C", "channels_last", "strided"])
def test_relu_equals_numpys_maximum_with_zero_bit_for_bit_in_any_layout(layout):
    """relu runs np.maximum against zero-page zeros (ops/zero_page.py) for speed: the values,
    NaN, infinities and signed zeros included, and the memory layout are NumPy's own."""
    special = np.array([-0.0, 0.0, np.nan, -np.inf, np.inf, 1e-45, -1e-45, 3.0, -3.0], np.float32)
    v = np.resize(special, (2, 3, 4, 6))
    if layout == "channels_last":
        v = np.ascontiguousarray(v.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    elif layout == "strided":
        v = v[:, :, ::2]
    x = cr.from_numpy(v)
    assert x.data.strides == v.strides
    out = x.relu().data
    expected = np.maximum(v, 0)
    assert out.strides == expected.strides
    np.testing.assert_array_equal(out.view(np.int32), expected.view(np.int32))
