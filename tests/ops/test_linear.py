"""Layer ops: F.linear (w shaped (out, in) as in PyTorch) and F.dropout."""
import numpy as np
import pytest
from conftest import floats64
from hypothesis import given
from hypothesis import strategies as st

import chainrule as cr
import chainrule.nn.functional as F


def t64(a, requires_grad=True):
    return cr.tensor(a, requires_grad=requires_grad, dtype=np.float64)


@pytest.mark.parametrize("bias", [True, False])
@given(data=st.data(), lead=st.lists(st.integers(1, 3), max_size=2),
       n_in=st.integers(1, 4), n_out=st.integers(1, 3))
def test_linear_matches_numpy_and_passes_gradcheck(bias, data, lead, n_in, n_out):
    x = data.draw(floats64(tuple(lead) + (n_in,)))
    w = data.draw(floats64((n_out, n_in)))
    b = data.draw(floats64((n_out,)))
    args = [t64(x), t64(w)] + ([t64(b)] if bias else [])
    out = F.linear(*args)
    np.testing.assert_allclose(out.data, x @ w.T + (b if bias else 0), rtol=1e-12, atol=1e-12)
    assert out.shape == tuple(lead) + (n_out,)
    assert cr.gradcheck(F.linear, args)


@pytest.mark.parametrize("order", ["C", "F"])
@given(data=st.data(), lead=st.lists(st.integers(1, 3), max_size=2),
       n_in=st.integers(1, 4), n_out=st.integers(1, 3))
def test_linear_weight_gradient_is_right_in_either_memory_layout(order, data, lead, n_in, n_out):
    x = t64(data.draw(floats64(tuple(lead) + (n_in,))))
    w = cr.from_numpy(np.array(data.draw(floats64((n_out, n_in))), order=order), requires_grad=True)
    assert cr.gradcheck(F.linear, [x, w])


@pytest.mark.parametrize("order", ["C", "F"])
def test_linear_weight_gradient_comes_in_the_weights_own_layout(order):
    w = cr.from_numpy(np.ones((3, 4), dtype=np.float32, order=order), requires_grad=True)
    F.linear(np.ones((5, 4), dtype=np.float32), w).sum().backward()
    assert w.grad.flags.f_contiguous == w.data.flags.f_contiguous
    assert w.grad.flags.c_contiguous == w.data.flags.c_contiguous
    np.testing.assert_array_equal(w.grad, np.full((3, 4), 5.0))


def test_linear_accepts_an_ndarray_input_and_keeps_float32():
    w, b = cr.randn(3, 4, requires_grad=True), cr.zeros(3, requires_grad=True)
    out = F.linear(np.ones((2, 4)), w, b)
    assert out.dtype == np.float32 and out.shape == (2, 3)
    out.sum().backward()
    assert w.grad.dtype == np.float32
    np.testing.assert_allclose(w.grad, np.full((3, 4), 2.0))
    np.testing.assert_allclose(b.grad, [2.0, 2.0, 2.0])


def test_linear_accepts_an_ndarray_bias():
    w = t64(np.eye(2))
    out = F.linear(t64([[1.0, 2.0]]), w, np.array([10.0, 20.0]))
    np.testing.assert_allclose(out.data, [[11.0, 22.0]])
    out.sum().backward()
    np.testing.assert_allclose(w.grad, [[1.0, 2.0], [1.0, 2.0]])


def test_linear_accepts_an_ndarray_weight():
    x = t64([[1.0, 2.0]])
    out = F.linear(x, np.array([[1.0, 1.0], [0.0, 3.0]]))
    np.testing.assert_allclose(out.data, [[3.0, 6.0]])
    out.sum().backward()
    np.testing.assert_allclose(x.grad, [[1.0, 4.0]])


def test_linear_equals_matmul_with_transposed_weight_plus_bias():
    rng = np.random.default_rng(0)
    x, w, b = (t64(rng.standard_normal(s)) for s in [(5, 3), (2, 3), (2,)])
    np.testing.assert_allclose(F.linear(x, w, b).data, (x @ w.T + b).data)


def test_linear_input_not_fitting_the_weight_raises_shape_error_naming_both_shapes():
    with pytest.raises(cr.ShapeError, match=r"\(2, 5\).*\(3, 4\)"):
        F.linear(cr.zeros(2, 5), cr.zeros(3, 4))


def test_linear_weight_that_is_not_2d_raises_shape_error():
    with pytest.raises(cr.ShapeError, match="2-D"):
        F.linear(cr.zeros(2, 4), cr.zeros(4))


def test_linear_bias_of_the_wrong_shape_raises_shape_error():
    with pytest.raises(cr.ShapeError, match=r"bias of shape \(4,\)"):
        F.linear(cr.zeros(2, 4), cr.zeros(3, 4), cr.zeros(4))


# --------------------------------------------------------------- dropout
def test_dropout_in_eval_mode_is_the_identity():
    x = cr.randn(4, 5, requires_grad=True)
    y = F.dropout(x, 0.5, training=False)
    np.testing.assert_array_equal(y.data, x.data)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, np.ones((4, 5)))


def test_dropout_with_p_zero_is_the_identity():
    x = cr.randn(3, 3)
    np.testing.assert_array_equal(F.dropout(x, 0.0, training=True).data, x.data)


def test_dropout_zeroes_about_p_and_scales_the_rest_by_one_over_one_minus_p():
    cr.manual_seed(0)
    x = cr.ones(200, 100)
    y = F.dropout(x, 0.3, training=True).data
    kept = y != 0
    assert abs(1 - kept.mean() - 0.3) < 0.01
    np.testing.assert_allclose(y[kept], 1 / 0.7, rtol=1e-6)


def test_dropout_preserves_the_expectation():
    cr.manual_seed(1)
    x = cr.tensor(np.full((400, 250), 2.0))
    assert F.dropout(x, 0.5, training=True).data.mean() == pytest.approx(2.0, rel=0.01)


def test_dropout_draws_its_mask_from_a_given_generator_not_the_global_one():
    x = cr.ones(30, 20)
    first = F.dropout(x, 0.4, generator=np.random.default_rng(5)).data
    cr.manual_seed(123)                              # the global stream moves on ...
    cr.randn(7)
    again = F.dropout(x, 0.4, generator=np.random.default_rng(5)).data
    np.testing.assert_array_equal(first, again)      # ... the generator's masks do not
    state = cr.rng.get_state()
    F.dropout(x, 0.4, generator=np.random.default_rng(6))
    assert cr.rng.get_state() == state               # and the global one was not drawn from


def test_dropout_refuses_a_generator_that_is_not_one():
    with pytest.raises(cr.ConfigError, match="numpy.random.Generator"):
        F.dropout(cr.ones(2, 2), 0.5, generator=7)


def test_dropout_gradient_uses_the_same_mask_and_scale():
    cr.manual_seed(2)
    x = cr.ones(50, 40, requires_grad=True)
    y = F.dropout(x, 0.25, training=True)
    y.sum().backward()
    np.testing.assert_allclose(x.grad, y.data)  # x = 1, so y is the mask times 1/(1-p)


def test_dropout_is_reproducible_with_manual_seed():
    x = cr.ones(10, 10)
    cr.manual_seed(42)
    a = F.dropout(x, 0.5).data
    cr.manual_seed(42)
    b = F.dropout(x, 0.5).data
    c = F.dropout(x, 0.5).data
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(b, c)


def test_dropout_keeps_the_dtype():
    x = cr.ones(4, 4, dtype=np.float64)
    assert F.dropout(x, 0.5).dtype == np.float64
    assert F.dropout(cr.ones(4, 4), 0.5).dtype == np.float32


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5])
def test_dropout_probability_outside_0_1_raises_config_error(p):
    with pytest.raises(cr.ConfigError, match=r"p must be in \[0, 1\)"):
        F.dropout(cr.ones(2), p)
