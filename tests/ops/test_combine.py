"""Ops combining tensors: concatenate, stack, where, maximum, minimum."""
import numpy as np
import pytest
from conftest import broadcastable_shapes, distinct64, floats64
from hypothesis import given
from hypothesis import strategies as st

import chainrule as cr


def t64(a, requires_grad=True):
    return cr.tensor(a, requires_grad=requires_grad, dtype=np.float64)


@given(data=st.data(), n=st.integers(1, 3), ndim=st.integers(1, 3))
def test_concatenate_matches_numpy_and_passes_gradcheck(data, n, ndim):
    axis = data.draw(st.integers(-ndim, ndim - 1))
    base = data.draw(st.lists(st.integers(1, 3), min_size=ndim, max_size=ndim))
    arrays = []
    for _ in range(n):
        shape = list(base)
        shape[axis] = data.draw(st.integers(1, 3))
        arrays.append(data.draw(floats64(tuple(shape))))
    out = cr.concatenate([t64(a) for a in arrays], axis=axis)
    np.testing.assert_array_equal(out.data, np.concatenate(arrays, axis=axis))
    assert cr.gradcheck(lambda *xs: cr.concatenate(xs, axis=axis) ** 2, [t64(a) for a in arrays])


@given(data=st.data(), n=st.integers(1, 3), ndim=st.integers(0, 2))
def test_stack_matches_numpy_and_passes_gradcheck(data, n, ndim):
    shape = tuple(data.draw(st.lists(st.integers(1, 3), min_size=ndim, max_size=ndim)))
    axis = data.draw(st.integers(-ndim - 1, ndim))
    arrays = [data.draw(floats64(shape)) for _ in range(n)]
    out = cr.stack([t64(a) for a in arrays], axis=axis)
    np.testing.assert_array_equal(out.data, np.stack(arrays, axis=axis))
    assert cr.gradcheck(lambda *xs: cr.stack(xs, axis=axis) ** 2, [t64(a) for a in arrays])


def test_concatenate_sends_each_input_its_own_slice_of_the_gradient():
    a, b = t64(np.zeros((2, 2))), t64(np.zeros((2, 1)))
    cr.concatenate([a, b], axis=1).backward(np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]))
    np.testing.assert_array_equal(a.grad, [[1, 2], [4, 5]])
    np.testing.assert_array_equal(b.grad, [[3], [6]])


def test_concatenate_and_stack_accept_arrays_mixed_with_tensors():
    x = t64([1.0, 2.0])
    y = cr.concatenate([x, np.array([3.0])])
    np.testing.assert_array_equal(y.data, [1, 2, 3])
    z = cr.stack([np.zeros(2), x])
    z.sum().backward()
    np.testing.assert_array_equal(x.grad, [1.0, 1.0])


def test_concatenate_of_many_tensors_gives_each_its_slab_along_a_middle_axis():
    xs = [t64(np.zeros((2, i % 3 + 1, 2))) for i in range(300)]
    out = cr.concatenate(xs, axis=1)
    g = np.arange(out.size, dtype=float).reshape(out.shape)
    out.backward(g)
    start = 0
    for x in xs:
        np.testing.assert_array_equal(x.grad, g[:, start:start + x.shape[1]])
        start += x.shape[1]


def test_concatenate_with_axis_none_flattens_first_as_numpy():
    a, b = t64(np.arange(4.0).reshape(2, 2)), t64([[10.0, 20.0, 30.0]])
    out = cr.concatenate([a, b], axis=None)
    np.testing.assert_array_equal(out.data, np.concatenate([a.data, b.data], axis=None))
    assert cr.gradcheck(lambda x, y: cr.concatenate([x, y], axis=None) ** 2, [a, b])


def test_the_same_tensor_twice_in_concatenate_gets_both_slices():
    x = t64([1.0, 2.0])
    cr.concatenate([x, x]).backward(np.array([1.0, 2.0, 3.0, 4.0]))
    np.testing.assert_array_equal(x.grad, [4.0, 6.0])


@given(data=st.data(), shapes=broadcastable_shapes(num_shapes=3))
def test_where_matches_numpy_and_passes_gradcheck_with_broadcasting(data, shapes):
    cond = data.draw(floats64(shapes[0])) > 0
    a, b = data.draw(floats64(shapes[1])), data.draw(floats64(shapes[2]))
    out = cr.where(cond, t64(a), t64(b))
    np.testing.assert_array_equal(out.data, np.where(cond, a, b))
    assert cr.gradcheck(lambda x, y: cr.where(cond, x, y), [t64(a), t64(b)])


def test_where_sends_the_gradient_to_the_chosen_operand_only():
    a, b = t64([1.0, 2.0, 3.0]), t64([10.0, 20.0, 30.0])
    cr.where(np.array([True, False, True]), a, b).sum().backward()
    np.testing.assert_array_equal(a.grad, [1, 0, 1])
    np.testing.assert_array_equal(b.grad, [0, 1, 0])


def test_where_accepts_scalars_and_a_tensor_condition():
    x = t64([-1.0, 2.0])
    y = cr.where(x > 0, x, 0.0)
    np.testing.assert_array_equal(y.data, [0.0, 2.0])
    z = cr.where(cr.tensor([1.0, 0.0]), 5.0, x)
    np.testing.assert_array_equal(z.data, [5.0, 2.0])
    (y.sum() + z.sum()).backward()
    np.testing.assert_array_equal(x.grad, [0.0, 2.0])


@pytest.mark.parametrize("name, ref", [("maximum", np.maximum), ("minimum", np.minimum)])
@given(data=st.data(), shapes=broadcastable_shapes())
def test_maximum_and_minimum_match_numpy_and_pass_gradcheck(name, ref, data, shapes):
    # values drawn apart from one another so no pair ties (the function has a kink there)
    n0 = int(np.prod(shapes[0])) if shapes[0] else 1
    both = data.draw(distinct64((n0 + (int(np.prod(shapes[1])) if shapes[1] else 1),)))
    a, b = both[:n0].reshape(shapes[0]), both[n0:].reshape(shapes[1])
    fn = getattr(cr, name)
    np.testing.assert_array_equal(fn(t64(a), t64(b)).data, ref(a, b))
    assert cr.gradcheck(fn, [t64(a), t64(b)])


@pytest.mark.parametrize("name", ["maximum", "minimum"])
def test_maximum_and_minimum_split_the_gradient_evenly_at_a_tie(name):
    a, b = t64([1.0, 2.0, 3.0]), t64([1.0, 0.0, 5.0])
    getattr(cr, name)(a, b).sum().backward()
    if name == "maximum":
        np.testing.assert_array_equal(a.grad, [0.5, 1.0, 0.0])
        np.testing.assert_array_equal(b.grad, [0.5, 0.0, 1.0])
    else:
        np.testing.assert_array_equal(a.grad, [0.5, 0.0, 1.0])
        np.testing.assert_array_equal(b.grad, [0.5, 1.0, 0.0])


def test_maximum_with_a_scalar_is_a_relu():
    x = t64([-1.0, 2.0])
    y = cr.maximum(x, 0.0)
    np.testing.assert_array_equal(y.data, [0.0, 2.0])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 1.0])
    z = cr.minimum(1.0, x)  # a Python number on the left
    np.testing.assert_array_equal(z.data, [-1.0, 1.0])


def test_combine_ops_keep_float32():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    for y in (cr.concatenate([x, x]), cr.stack([x, x]), cr.where(x > 1, x, 0.0),
              cr.maximum(x, 1.5), cr.minimum(x, np.float64(1.5))):
        assert y.dtype == np.float32


# --------------------------------------------------------------- errors
def test_concatenate_of_mismatched_shapes_raises_shape_error_listing_them():
    with pytest.raises(cr.ShapeError, match=r"concatenate.*\(2, 3\).*\(2, 4\)"):
        cr.concatenate([cr.zeros(2, 3), cr.zeros(2, 4)], axis=0)


def test_stack_of_mismatched_shapes_raises_shape_error_listing_them():
    with pytest.raises(cr.ShapeError, match=r"stack.*\(2,\).*\(3,\)"):
        cr.stack([cr.zeros(2), cr.zeros(3)])


@pytest.mark.parametrize("fn", [cr.concatenate, cr.stack])
def test_concatenate_and_stack_of_nothing_raise_shape_error(fn):
    with pytest.raises(cr.ShapeError, match="at least one"):
        fn([])


def test_concatenate_along_a_missing_axis_raises_shape_error():
    with pytest.raises(cr.ShapeError, match="axis 2"):
        cr.concatenate([cr.zeros(2, 3), cr.zeros(2, 3)], axis=2)


@pytest.mark.parametrize("fn", [lambda a, b: cr.where(np.ones(3, bool), a, b), cr.maximum,
                                cr.minimum], ids=["where", "maximum", "minimum"])
def test_broadcast_mismatch_in_combine_ops_raises_shape_error_naming_the_shapes(fn):
    with pytest.raises(cr.ShapeError, match=r"\(3,\).*\(4,\)|\(4,\).*\(3,\)"):
        fn(cr.zeros(3), cr.zeros(4))
