"""Shape ops: reshape, transpose/.T, flatten and indexing (basic and integer-array)."""
import numpy as np
import pytest
from conftest import floats64, shapes
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import chainrule as cr


def t64(a, requires_grad=True):
    return cr.tensor(a, requires_grad=requires_grad, dtype=np.float64)


A = np.arange(24.0).reshape(2, 3, 4)


@pytest.mark.parametrize("args, expected", [
    (((6, 4),), (6, 4)), ((6, 4), (6, 4)), ((-1,), (24,)), ((4, -1), (4, 6)),
    (((2, 12),), (2, 12)), ((1, 24, 1), (1, 24, 1)),
])
def test_reshape_accepts_a_tuple_or_varargs_and_minus_one(args, expected):
    y = t64(A).reshape(*args)
    assert y.shape == expected
    np.testing.assert_array_equal(y.data, A.reshape(expected))


@given(data=st.data(), shape=shapes(min_dims=1))
def test_reshape_passes_gradcheck(data, shape):
    a = data.draw(floats64(shape))
    assert cr.gradcheck(lambda x: x.reshape(-1) * np.arange(a.size), [t64(a)])


@pytest.mark.parametrize("axes, np_axes", [((), None), ((2, 0, 1), (2, 0, 1)),
                                           ((0, 2, 1), (0, 2, 1)), ((-1, 0, -2), (2, 0, 1)),
                                           (((1, 0, 2),), (1, 0, 2))])
def test_transpose_matches_numpy_and_passes_gradcheck(axes, np_axes):
    expected = np.transpose(A, np_axes)
    np.testing.assert_array_equal(t64(A).transpose(*axes).data, expected)
    w = np.arange(24.0).reshape(expected.shape)
    assert cr.gradcheck(lambda x: x.transpose(*axes) * w, [t64(A)])


def test_T_reverses_the_axes():
    m = t64(np.arange(6.0).reshape(2, 3))
    assert m.T.shape == (3, 2)
    np.testing.assert_array_equal(m.T.data, m.data.T)
    (m.T * np.arange(6.0).reshape(3, 2)).sum().backward()
    np.testing.assert_array_equal(m.grad, np.arange(6.0).reshape(3, 2).T)


@pytest.mark.parametrize("start, expected", [(0, (24,)), (1, (2, 12)), (2, (2, 3, 4)),
                                             (-1, (2, 3, 4)), (-2, (2, 12))])
def test_flatten_merges_the_axes_from_start_axis_on(start, expected):
    y = t64(A).flatten(start)
    assert y.shape == expected
    np.testing.assert_array_equal(y.data.ravel(), A.ravel())


def test_flatten_of_an_empty_batch_keeps_the_feature_size():
    x = cr.zeros(0, 3, 4, requires_grad=True)
    y = x.flatten(1)
    assert y.shape == (0, 12)
    y.sum().backward()
    assert x.grad.shape == (0, 3, 4)


def test_flatten_of_a_0d_tensor_gives_one_element():
    assert cr.tensor(2.0).flatten().shape == (1,)


def test_flatten_passes_gradcheck():
    assert cr.gradcheck(lambda x: x.flatten(1) * np.arange(12.0), [t64(A)])


# --------------------------------------------------------------- indexing
BASIC_KEYS = {
    "int": 1,
    "negative int": -1,
    "slice": slice(1, None),
    "step slice": (slice(None), slice(None, None, 2)),
    "negative step": (slice(None), slice(None, None, -1)),
    "int and slice": (0, slice(0, 2)),
    "ellipsis": (Ellipsis, 1),
    "newaxis": (None, 0),
    "scalar element": (1, 2, 3),
    "boolean mask": A > 10.0,
    "boolean rows": np.array([True, False]),
}


@pytest.mark.parametrize("key", list(BASIC_KEYS.values()), ids=list(BASIC_KEYS))
def test_basic_indexing_matches_numpy_and_passes_gradcheck(key):
    y = t64(A)[key]
    np.testing.assert_array_equal(y.data, A[key])
    w = np.arange(A[key].size, dtype=float).reshape(A[key].shape)
    assert cr.gradcheck(lambda x: x[key] * w, [t64(A)])


INT_ARRAY_KEYS = {
    "repeated rows": np.array([0, 1, 0, 0]),
    "list": [1, 1, 0],
    "2-d index array": np.array([[0, 1], [1, 1]]),
    "pairs with repeats": (np.array([0, 0, 1, 0]), np.array([2, 2, 1, 2])),
    "slice then array": (slice(None), np.array([2, 0, 2])),
    "array, slice, array": (np.array([1, 1]), slice(None), np.array([3, 3])),
    "negative indices": np.array([-1, -1, 0]),
}


@pytest.mark.parametrize("key", list(INT_ARRAY_KEYS.values()), ids=list(INT_ARRAY_KEYS))
def test_integer_array_indexing_matches_numpy_and_passes_gradcheck(key):
    y = t64(A)[key]
    np.testing.assert_array_equal(y.data, A[key])
    w = np.arange(A[key].size, dtype=float).reshape(A[key].shape)
    assert cr.gradcheck(lambda x: x[key] * w, [t64(A)])


@given(data=st.data(), shape=shapes(min_dims=1))
def test_random_basic_indices_match_numpy_and_pass_gradcheck(data, shape):
    a = data.draw(floats64(shape))
    key = data.draw(hnp.basic_indices(shape, allow_newaxis=True))
    expected = a[key]
    np.testing.assert_array_equal(t64(a)[key].data, expected)
    w = np.arange(1.0, expected.size + 1).reshape(np.shape(expected))
    assert cr.gradcheck(lambda x: x[key] * w, [t64(a)])


@given(data=st.data(), shape=shapes(min_dims=1))
def test_random_integer_array_indices_match_numpy_and_pass_gradcheck(data, shape):
    a = data.draw(floats64(shape))
    key = data.draw(hnp.integer_array_indices(shape, result_shape=shapes(max_dims=2)))
    expected = a[key]
    np.testing.assert_array_equal(t64(a)[key].data, expected)
    w = np.arange(1.0, expected.size + 1).reshape(np.shape(expected))
    assert cr.gradcheck(lambda x: x[key] * w, [t64(a)])


def test_repeated_indices_accumulate_their_gradients_like_np_add_at():
    x = t64(np.zeros(4))
    x[np.array([1, 1, 1, 3])].sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 3.0, 0.0, 1.0])


def test_a_tensor_of_indices_can_index():
    x = t64(np.arange(5.0))
    idx = cr.tensor([4, 4, 0])  # float32 by default: whole numbers used as indices
    y = x[idx]
    np.testing.assert_array_equal(y.data, [4.0, 4.0, 0.0])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [1.0, 0.0, 0.0, 0.0, 2.0])


def test_indexing_gradient_has_the_dtype_of_the_source():
    x = cr.tensor(np.ones((3, 2)), requires_grad=True)
    x[np.array([0, 0])].sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad, [[2, 2], [0, 0], [0, 0]])


# --------------------------------------------------------------- errors
def test_reshape_to_a_wrong_size_raises_shape_error_naming_both_shapes():
    with pytest.raises(cr.ShapeError, match=r"\(2, 3, 4\).*\(5, 5\)"):
        t64(A).reshape(5, 5)


def test_transpose_with_a_non_permutation_raises_shape_error():
    with pytest.raises(cr.ShapeError, match="permutation"):
        t64(A).transpose(0, 0, 1)


@pytest.mark.parametrize("axes", [(0, 1, 5), (0, 1, -4), (3, 1, 2)])
def test_transpose_with_an_axis_out_of_range_raises_shape_error(axes):
    with pytest.raises(cr.ShapeError, match=r"transpose.*\(2, 3, 4\)"):
        t64(A).transpose(*axes)


def test_transpose_with_too_few_axes_raises_shape_error():
    with pytest.raises(cr.ShapeError, match="permutation"):
        t64(A).transpose(1, 0)


@pytest.mark.parametrize("key", [5, (0, 3), np.array([0, 7]), (0, 0, 4)])
def test_an_index_out_of_range_raises_shape_error_naming_the_shape(key):
    with pytest.raises(cr.ShapeError, match=r"\(2, 3, 4\)"):
        t64(A)[key]


def test_flatten_start_axis_out_of_range_raises_shape_error():
    with pytest.raises(cr.ShapeError, match="start_axis"):
        t64(A).flatten(3)


# --------------------------------------------------------------- iteration
def test_iterating_over_a_tensor_yields_its_rows_with_gradients():
    x = t64(np.arange(6.0).reshape(3, 2))
    rows = list(x)
    assert len(rows) == 3 and all(isinstance(r, cr.Tensor) for r in rows)
    np.testing.assert_array_equal(rows[2].data, [4.0, 5.0])
    (rows[0] * 1 + rows[2] * 3).sum().backward()
    np.testing.assert_array_equal(x.grad, [[1, 1], [0, 0], [3, 3]])


def test_a_tensor_unpacks_along_its_first_axis():
    a, b = cr.tensor([[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_array_equal(b.data, [3.0, 4.0])


def test_iterating_over_a_0d_tensor_raises_type_error():
    with pytest.raises(TypeError, match="0-d"):
        iter(cr.tensor(1.0))
