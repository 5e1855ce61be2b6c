"""F.embedding: row lookup, scatter-added gradients (finite differences, PyTorch), errors."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
import chainrule.nn.functional as F
from chainrule.errors import DataError, ShapeError


def t64(a, requires_grad=True):
    return cr.tensor(a, requires_grad=requires_grad, dtype=np.float64)


@st.composite
def lookup(draw):
    v = draw(st.integers(1, 6))
    d = draw(st.integers(1, 4))
    shape = tuple(draw(st.lists(st.integers(0, 4), min_size=1, max_size=3)))
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    return rng.standard_normal((v, d)), rng.integers(0, v, shape)


@settings(deadline=None, max_examples=30)
@given(case=lookup())
def test_embedding_passes_gradcheck_with_repeated_indices(case):
    w, idx = case
    assert cr.gradcheck(lambda w_: F.embedding(idx, w_), [t64(w)])


@given(case=lookup())
def test_embedding_output_is_the_weight_rows_at_the_indices(case):
    w, idx = case
    out = F.embedding(idx, t64(w, False))
    assert out.shape == idx.shape + (w.shape[1],)
    np.testing.assert_array_equal(out.data, w[idx])


def test_large_and_small_tables_scatter_the_same_gradient():
    rng = np.random.default_rng(0)
    idx = rng.integers(0, 3, 50)          # many lookups, few rows: the sorted path
    few = rng.integers(0, 400, 5)          # few lookups, many rows: the add.at path
    for v, ids in ((3, idx), (400, few)):
        w = t64(rng.standard_normal((v, 2)))
        g = rng.standard_normal(ids.shape + (2,))
        F.embedding(ids, w).backward(g)
        expected = np.zeros((v, 2))
        np.add.at(expected, ids, g)
        np.testing.assert_allclose(w.grad, expected)


def test_padding_row_gets_no_gradient():
    w = t64(np.ones((4, 2)))
    F.embedding(np.array([0, 1, 1, 3]), w, padding_idx=1).sum().backward()
    np.testing.assert_array_equal(w.grad[1], 0)
    np.testing.assert_array_equal(w.grad[0], 1)


def test_embedding_matches_pytorch(torch):
    rng = np.random.default_rng(1)
    w, idx = rng.standard_normal((7, 3)), rng.integers(0, 7, (4, 5))
    g = rng.standard_normal((4, 5, 3))
    cw = t64(w)
    F.embedding(idx, cw).backward(g)
    tw = torch.tensor(w, requires_grad=True)
    torch.nn.functional.embedding(torch.tensor(idx), tw).backward(torch.tensor(g))
    np.testing.assert_allclose(cw.grad, tw.grad.numpy(), atol=1e-12)


@pytest.mark.parametrize("bad", [np.array([0, 5]), np.array([-1, 0])])
def test_out_of_range_index_names_the_valid_range(bad):
    with pytest.raises(DataError, match=r"\[0, 4\]"):
        F.embedding(bad, t64(np.zeros((5, 2))))


def test_non_integer_indices_and_non_matrix_weight_are_refused():
    with pytest.raises(DataError, match="whole numbers"):
        F.embedding(np.array([0.5]), t64(np.zeros((5, 2))))
    with pytest.raises(ShapeError, match="2-D"):
        F.embedding(np.array([0]), t64(np.zeros(5)))
