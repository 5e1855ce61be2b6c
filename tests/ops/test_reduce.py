"""Reductions: sum mean max min var over axis (int, negative int, tuple, None), keepdims."""
import numpy as np
import pytest
from conftest import distinct64, floats64, shapes
from hypothesis import given
from hypothesis import strategies as st

import chainrule as cr


def t64(a, requires_grad=True):
    return cr.tensor(a, requires_grad=requires_grad, dtype=np.float64)


@st.composite
def shape_and_axis(draw, min_dims=0):
    """A shape and an axis argument for it: None, an int (maybe negative) or a tuple."""
    shape = draw(shapes(min_dims=min_dims))
    nd = len(shape)
    choices = [st.none()]
    if nd:
        choices.append(st.integers(-nd, nd - 1))
        choices.append(st.lists(st.integers(0, nd - 1), min_size=1, max_size=nd, unique=True)
                       .map(tuple))
    return shape, draw(st.one_of(*choices))


REDUCTIONS = {
    "sum": (lambda x, **kw: x.sum(**kw), np.sum),
    "mean": (lambda x, **kw: x.mean(**kw), np.mean),
    "var": (lambda x, **kw: x.var(**kw), np.var),
    "max": (lambda x, **kw: x.max(**kw), np.max),
    "min": (lambda x, **kw: x.min(**kw), np.min),
}


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@pytest.mark.parametrize("keepdims", [False, True])
@given(data=st.data(), sa=shape_and_axis())
def test_reduction_matches_numpy_and_passes_gradcheck(name, keepdims, data, sa):
    shape, axis = sa
    fn, ref = REDUCTIONS[name]
    # distinct values: max and min have a unique winner, so they are differentiable there
    a = data.draw(distinct64(shape) if name in ("max", "min") else floats64(shape))
    out = fn(t64(a), axis=axis, keepdims=keepdims)
    expected = ref(a, axis=axis, keepdims=keepdims)
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-12)
    assert cr.gradcheck(lambda x: fn(x, axis=axis, keepdims=keepdims), [t64(a)])


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_reduction_keeps_float32_and_gives_float32_gradients(name):
    x = cr.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    y = REDUCTIONS[name][0](x, axis=1)
    assert y.dtype == np.float32 and y.shape == (2,)
    y.sum().backward()
    assert x.grad.dtype == np.float32 and x.grad.shape == (2, 3)


@pytest.mark.parametrize("name, expected", [("mean", 1.5), ("var", 0.25), ("sum", 3), ("max", 2)])
def test_reductions_of_integer_tensors_match_numpy_and_are_not_truncated(name, expected):
    x = cr.tensor([1, 2], dtype=np.int64)
    out = REDUCTIONS[name][0](x)
    assert out.item() == expected
    assert out.dtype == REDUCTIONS[name][1](x.data).dtype


def test_sum_gradient_is_ones_spread_over_the_reduced_axes():
    x = t64(np.arange(24.0).reshape(2, 3, 4))
    x.sum(axis=(0, 2)).backward(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(x.grad, np.broadcast_to(np.array([1.0, 2.0, 3.0])[:, None],
                                                          (2, 3, 4)))


def test_mean_gradient_is_one_over_the_count():
    x = t64(np.zeros((4, 5)))
    x.mean(axis=0).sum().backward()
    np.testing.assert_allclose(x.grad, np.full((4, 5), 0.25))


def test_sum_gradient_is_writable_and_owned_by_the_leaf():
    x = t64(np.ones(3))
    x.sum().backward()
    x.grad *= 2  # an optimizer may scale .grad in place
    np.testing.assert_array_equal(x.grad, [2.0, 2.0, 2.0])


@pytest.mark.parametrize("name", ["max", "min"])
def test_max_and_min_share_the_gradient_equally_between_tied_elements(name):
    x = t64([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]] if name == "max" else
            [[3.0, 1.0, 1.0], [2.0, 2.0, 2.0]])
    getattr(x, name)(axis=1).sum().backward()
    np.testing.assert_allclose(x.grad, [[0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]])


def test_var_ddof_one_is_the_unbiased_estimate():
    a = np.array([[1.0, 2.0, 4.0], [0.0, 3.0, 9.0]])
    np.testing.assert_allclose(t64(a).var(axis=1, ddof=1).data, np.var(a, axis=1, ddof=1))
    assert cr.gradcheck(lambda x: x.var(axis=1, ddof=1), [t64(a)])


def test_reductions_of_a_0d_tensor_with_axis_none():
    x = t64(2.5)
    for name in REDUCTIONS:
        y = REDUCTIONS[name][0](x)
        assert y.shape == ()
    x.sum().backward()
    assert x.grad.shape == () and x.grad == 1.0


def test_axis_given_as_a_list_is_treated_like_a_tuple():
    a = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(t64(a).sum(axis=[0, 2]).data, a.sum(axis=(0, 2)))


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@pytest.mark.parametrize("shape, axis", [((2, 3), 2), ((2, 3), -3), ((2, 3), (0, 5)),
                                         ((), 0), ((), -1)])
def test_an_axis_out_of_range_raises_shape_error_naming_axis_and_shape(name, shape, axis):
    x = cr.zeros(*shape)
    with pytest.raises(cr.ShapeError, match=r"axis .* out of range .*shape"):
        REDUCTIONS[name][0](x, axis=axis)


@pytest.mark.parametrize("name", ["max", "min"])
def test_max_and_min_of_an_empty_tensor_raise_shape_error(name):
    with pytest.raises(cr.ShapeError, match=name):
        REDUCTIONS[name][0](cr.zeros(0, 3))
