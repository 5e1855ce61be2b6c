"""Arithmetic ops: + - * / ** @ and unary minus, with broadcasting and mixed operands."""
import numpy as np
import pytest
from conftest import broadcastable_shapes, floats64
from hypothesis import given
from hypothesis import strategies as st

import chainrule as cr


def t64(a, requires_grad=True):
    return cr.tensor(a, requires_grad=requires_grad, dtype=np.float64)


BINARY = {
    "add": (lambda a, b: a + b, np.add),
    "sub": (lambda a, b: a - b, np.subtract),
    "mul": (lambda a, b: a * b, np.multiply),
}


@pytest.mark.parametrize("name", sorted(BINARY))
@given(data=st.data(), shapes=broadcastable_shapes())
def test_binary_op_matches_numpy_and_passes_gradcheck_with_broadcasting(name, data, shapes):
    fn, ref = BINARY[name]
    a = data.draw(floats64(shapes[0]))
    b = data.draw(floats64(shapes[1]))
    out = fn(t64(a), t64(b))
    np.testing.assert_allclose(out.data, ref(a, b))
    assert cr.gradcheck(fn, [t64(a), t64(b)])


@given(data=st.data(), shapes=broadcastable_shapes())
def test_div_matches_numpy_and_passes_gradcheck_with_broadcasting(data, shapes):
    a = data.draw(floats64(shapes[0]))
    b = data.draw(floats64(shapes[1], gap=0.5))  # keep the divisor away from 0
    np.testing.assert_allclose((t64(a) / t64(b)).data, a / b)
    assert cr.gradcheck(lambda x, y: x / y, [t64(a), t64(b)])


@given(data=st.data(), shapes=broadcastable_shapes())
def test_pow_matches_numpy_and_passes_gradcheck_for_base_and_exponent(data, shapes):
    a = data.draw(floats64(shapes[0], lo=0.2, hi=3.0))  # positive base: a^b is smooth in both
    b = data.draw(floats64(shapes[1], lo=-2.0, hi=2.0))
    np.testing.assert_allclose((t64(a) ** t64(b)).data, a ** b)
    assert cr.gradcheck(lambda x, y: x ** y, [t64(a), t64(b)])


@given(a=floats64((3, 2)))
def test_neg_matches_numpy_and_passes_gradcheck(a):
    np.testing.assert_allclose((-t64(a)).data, -a)
    assert cr.gradcheck(lambda x: -x, [t64(a)])


def test_unary_plus_returns_the_same_values():
    x = cr.tensor([1.0, -2.0])
    np.testing.assert_array_equal((+x).data, x.data)


def test_pow_with_integer_exponent_works_for_negative_bases():
    x = t64([-2.0, -0.5, 0.0, 1.5])
    y = x ** 3
    np.testing.assert_allclose(y.data, [-8.0, -0.125, 0.0, 3.375])
    y.sum().backward()
    np.testing.assert_allclose(x.grad, 3 * x.data ** 2)


@pytest.mark.parametrize("exponent", [0, 0.0, np.zeros(3)], ids=["int", "float", "array"])
def test_pow_with_exponent_zero_has_zero_gradient_even_at_base_zero(exponent):
    x = t64([0.0, 2.0, -1.0])
    y = x ** exponent
    np.testing.assert_array_equal(y.data, [1.0, 1.0, 1.0])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 0.0])  # as PyTorch: not NaN at 0


def test_polynomial_features_including_x_to_the_zero_have_finite_gradients():
    x = t64([0.0, 0.5, 1.0])
    c = t64([1.0, 2.0, 3.0])
    sum(c[k] * x ** k for k in range(3)).sum().backward()
    np.testing.assert_allclose(x.grad, 2.0 + 2 * 3.0 * x.data)
    np.testing.assert_allclose(c.grad, [3.0, 1.5, 1.25])


def test_pow_gradient_for_the_exponent_is_zero_not_nan_where_the_base_is_zero():
    base = t64([0.0, 2.0], requires_grad=False)
    e = t64([2.0, 3.0])
    (base ** e).sum().backward()
    np.testing.assert_allclose(e.grad, [0.0, 8.0 * np.log(2.0)])


# --------------------------------------------------------------- Python and NumPy operands
@pytest.mark.parametrize("expr, expected, grad", [
    (lambda x: 2 - x, lambda v: 2 - v, lambda v: -np.ones_like(v)),
    (lambda x: x - 2, lambda v: v - 2, lambda v: np.ones_like(v)),
    (lambda x: 3 + x, lambda v: 3 + v, lambda v: np.ones_like(v)),
    (lambda x: x * 0.5, lambda v: v * 0.5, lambda v: np.full_like(v, 0.5)),
    (lambda x: 4 * x, lambda v: 4 * v, lambda v: np.full_like(v, 4.0)),
    (lambda x: 10.0 / x, lambda v: 10.0 / v, lambda v: -10.0 / v ** 2),
    (lambda x: x / 4, lambda v: v / 4, lambda v: np.full_like(v, 0.25)),
    (lambda x: x ** 2, lambda v: v ** 2, lambda v: 2 * v),
    (lambda x: 2 ** x, lambda v: 2 ** v, lambda v: 2 ** v * np.log(2)),
    (lambda x: np.array([1.0, 2.0, 3.0]) * x, lambda v: np.array([1.0, 2.0, 3.0]) * v,
     lambda v: np.array([1.0, 2.0, 3.0])),
    (lambda x: np.array([1.0, 2.0, 3.0]) - x, lambda v: np.array([1.0, 2.0, 3.0]) - v,
     lambda v: -np.ones_like(v)),
    (lambda x: np.array([6.0, 6.0, 6.0]) / x, lambda v: 6.0 / v, lambda v: -6.0 / v ** 2),
    (lambda x: np.array(2.0) ** x, lambda v: 2.0 ** v, lambda v: 2.0 ** v * np.log(2)),
], ids=["2-x", "x-2", "3+x", "x*0.5", "4*x", "10.0/x", "x/4", "x**2", "2**x", "ndarray*x",
        "ndarray-x", "ndarray/x", "ndarray**x"])
def test_python_and_numpy_operands_work_on_either_side(expr, expected, grad):
    v = np.array([0.5, 1.0, 2.0])
    x = t64(v)
    y = expr(x)
    assert isinstance(y, cr.Tensor)
    np.testing.assert_allclose(y.data, expected(v))
    y.sum().backward()
    np.testing.assert_allclose(x.grad, grad(v))


def test_ndarray_on_the_left_broadcasts_against_the_tensor():
    x = cr.tensor(np.ones((2, 3)), requires_grad=True)
    y = np.arange(3.0) + x
    assert isinstance(y, cr.Tensor) and y.shape == (2, 3)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, np.ones((2, 3)))


def test_python_and_float64_operands_keep_a_float32_tensor_float32():
    x = cr.tensor([1.0, 2.0])
    for y in (x + 1, 2.5 * x, x / 3.0, 1 - x, x ** 2, np.ones(2) * x, x * np.float64(2),
              np.float64(2) * x, np.int64(3) / x):
        assert isinstance(y, cr.Tensor) and y.dtype == np.float32


def test_float64_tensors_stay_float64():
    x = t64([1.0, 2.0])
    for y in (x + 1, x * x, x / 2, x ** 2, -x, x @ x):
        assert y.dtype == np.float64


# --------------------------------------------------------------- broadcasting gradients
def test_gradient_of_a_broadcast_operand_is_summed_over_the_broadcast_dims():
    a = t64(np.ones((3, 1)))
    b = t64(np.arange(4.0))
    (a * b).sum().backward()
    assert a.grad.shape == (3, 1) and b.grad.shape == (4,)
    np.testing.assert_allclose(a.grad, np.full((3, 1), 6.0))  # Σ b over the stretched axis
    np.testing.assert_allclose(b.grad, np.full(4, 3.0))       # Σ a over the added axis


def test_scalar_tensor_broadcast_against_a_matrix_gets_the_total_gradient():
    s = t64(2.0)
    m = t64(np.ones((2, 3)))
    (s * m).sum().backward()
    assert s.grad.shape == ()
    assert s.grad == pytest.approx(6.0)


# --------------------------------------------------------------- matmul
MATMUL_SHAPES = [
    ((3, 4), (4, 2)),          # matrix @ matrix
    ((4,), (4, 2)),            # vector @ matrix
    ((3, 4), (4,)),            # matrix @ vector
    ((4,), (4,)),              # vector @ vector -> scalar
    ((2, 3, 4), (4, 5)),       # batched @ matrix
    ((3, 4), (2, 4, 5)),       # matrix @ batched
    ((2, 3, 4), (2, 4, 5)),    # batched @ batched
    ((1, 3, 4), (2, 4, 5)),    # size-1 batch dim broadcast
    ((2, 1, 3, 4), (3, 4, 2)), # batch dims broadcast both ways
    ((4,), (2, 4, 3)),         # vector @ batched
    ((2, 3, 4), (4,)),         # batched @ vector
]


@pytest.mark.parametrize("sa, sb", MATMUL_SHAPES, ids=[f"{a}@{b}" for a, b in MATMUL_SHAPES])
def test_matmul_matches_numpy_and_passes_gradcheck(sa, sb):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(sa), rng.standard_normal(sb)
    out = t64(a) @ t64(b)
    assert out.shape == np.matmul(a, b).shape
    np.testing.assert_allclose(out.data, a @ b)
    assert cr.gradcheck(lambda x, y: x @ y, [t64(a), t64(b)])


def test_ndarray_at_tensor_and_tensor_at_ndarray_give_tensors_with_gradients():
    w = t64(np.eye(2) * 3)
    m = np.array([[1.0, 2.0], [3.0, 4.0]])
    left, right = m @ w, w @ m
    assert isinstance(left, cr.Tensor) and isinstance(right, cr.Tensor)
    (left.sum() + right.sum()).backward()
    np.testing.assert_allclose(w.grad, m.T @ np.ones((2, 2)) + np.ones((2, 2)) @ m.T)


def test_matmul_method_is_the_operator():
    a, b = cr.randn(2, 3), cr.randn(3, 2)
    np.testing.assert_array_equal(a.matmul(b).data, (a @ b).data)
