"""F.batch_norm: training statistics, running-statistics updates (PyTorch's momentum and
unbiased variance), evaluation mode, gradients by finite differences and against PyTorch."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import chainrule as cr
import chainrule.nn.functional as F
from chainrule.errors import ConfigError, ShapeError


def t64(a, requires_grad=True):
    return cr.tensor(a, requires_grad=requires_grad, dtype=np.float64)


@st.composite
def bn_case(draw):
    ndim = draw(st.integers(2, 4))
    n = draw(st.integers(2, 3))
    c = draw(st.integers(1, 3))
    rest = tuple(draw(st.integers(1, 3)) for _ in range(ndim - 2))
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    x = rng.standard_normal((n, c) + rest) * rng.uniform(0.5, 3) + rng.uniform(-2, 2)
    return x, rng.standard_normal(c), rng.standard_normal(c)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [True, False])
@given(case=bn_case())
def test_batch_norm_passes_gradcheck(training, affine, case):
    x, w, b = case
    c = x.shape[1]
    rm, rv = np.linspace(-1, 1, c), np.linspace(0.5, 2, c)

    def fn(*args):
        # fresh copies: gradcheck evaluates many times and training updates them in place
        return F.batch_norm(args[0], rm.copy(), rv.copy(), *args[1:], training=training)

    args = [t64(x)] + ([t64(w), t64(b)] if affine else [])
    assert cr.gradcheck(fn, args)


@given(case=bn_case())
def test_training_output_has_zero_mean_and_unit_variance_per_channel(case):
    x, _, _ = case
    axes = (0,) + tuple(range(2, x.ndim))
    out = F.batch_norm(t64(x, False), training=True, eps=1e-12).data
    np.testing.assert_allclose(out.mean(axis=axes), 0, atol=1e-9)
    np.testing.assert_allclose(out.var(axis=axes), 1, atol=1e-6)


def test_running_statistics_follow_pytorchs_momentum_rule():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 2, 3)) * 2 + 1
    rm, rv = np.zeros(2), np.ones(2)
    F.batch_norm(t64(x, False), rm, rv, training=True, momentum=0.25)
    mean = x.mean(axis=(0, 2))
    unbiased = x.var(axis=(0, 2), ddof=1)
    np.testing.assert_allclose(rm, 0.25 * mean)
    np.testing.assert_allclose(rv, 0.75 + 0.25 * unbiased)


def test_eval_mode_uses_the_running_statistics_and_leaves_them_alone():
    x = np.arange(12.0).reshape(3, 4)
    rm, rv = np.full(4, 2.0), np.full(4, 4.0)
    out = F.batch_norm(t64(x, False), rm, rv, training=False, eps=0.0 + 1e-12)
    np.testing.assert_allclose(out.data, (x - 2) / 2)
    np.testing.assert_array_equal(rm, 2.0)
    np.testing.assert_array_equal(rv, 4.0)


def test_running_buffers_given_as_tensors_are_updated_in_place():
    rm, rv = cr.zeros(3), cr.ones(3)
    F.batch_norm(cr.randn(5, 3), rm, rv, training=True)
    assert np.any(rm.data != 0) and np.any(rv.data != 1)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5), (3, 2, 4, 5)])
def test_batch_norm_matches_pytorch(torch, training, shape):
    rng = np.random.default_rng(1)
    x = (rng.standard_normal(shape) * 3 + 1).astype(np.float32)
    w, b = rng.standard_normal(shape[1]).astype(np.float32), rng.standard_normal(shape[1]).astype(np.float32)
    rm = rng.standard_normal(shape[1]).astype(np.float32)
    rv = (rng.random(shape[1]) + 0.5).astype(np.float32)
    X, W, B = (cr.tensor(a, requires_grad=True) for a in (x, w, b))
    rm1, rv1 = rm.copy(), rv.copy()
    out = F.batch_norm(X, rm1, rv1, W, B, training=training, momentum=0.1, eps=1e-5)
    g = rng.standard_normal(shape).astype(np.float32)
    out.backward(g)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    trm, trv = torch.tensor(rm), torch.tensor(rv)
    tout = torch.nn.functional.batch_norm(tx, trm, trv, tw, tb, training=training,
                                          momentum=0.1, eps=1e-5)
    tout.backward(torch.tensor(g))
    tol = dict(rtol=1e-4, atol=1e-4)
    assert out.dtype == np.float32 and X.grad.dtype == np.float32
    np.testing.assert_allclose(out.data, tout.detach().numpy(), **tol)
    np.testing.assert_allclose(X.grad, tx.grad.numpy(), **tol)
    np.testing.assert_allclose(W.grad, tw.grad.numpy(), **tol)
    np.testing.assert_allclose(B.grad, tb.grad.numpy(), **tol)
    np.testing.assert_allclose(rm1, trm.numpy(), **tol)
    np.testing.assert_allclose(rv1, trv.numpy(), **tol)


def test_batch_norm_errors():
    with pytest.raises(ConfigError, match="running_mean and running_var"):
        F.batch_norm(cr.zeros(4, 3), training=False)
    with pytest.raises(ShapeError, match=r"running_mean of shape \(2,\)"):
        F.batch_norm(cr.zeros(4, 3), np.zeros(2), np.ones(3), training=True)
    with pytest.raises(ShapeError, match="more than one value per channel"):
        F.batch_norm(cr.zeros(1, 3), training=True)
    with pytest.raises(ShapeError, match="at least 2 dimensions"):
        F.batch_norm(cr.zeros(3), training=True)
    with pytest.raises(ShapeError, match=r"weight of shape \(2,\)"):
        F.batch_norm(cr.zeros(4, 3), weight=cr.ones(2), training=True)


@st.composite
def ln_case(draw):
    ndim = draw(st.integers(1, 4))
    shape = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    k = draw(st.integers(1, ndim))
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    x = rng.standard_normal(shape) * rng.uniform(0.5, 3) + rng.uniform(-2, 2)
    norm = shape[ndim - k:]
    return x, norm, rng.standard_normal(norm), rng.standard_normal(norm)


@pytest.mark.parametrize("affine", [True, False])
@given(case=ln_case())
def test_layer_norm_passes_gradcheck(affine, case):
    x, norm, w, b = case
    if int(np.prod(norm)) == 1:
        x = x + np.random.default_rng(0).standard_normal(x.shape)  # a constant has no spread
    args = [t64(x)] + ([t64(w), t64(b)] if affine else [])
    assert cr.gradcheck(lambda *a: F.layer_norm(a[0], norm, *a[1:]), args)


@pytest.mark.parametrize("shape,norm", [((4, 6), (6,)), ((2, 5, 8), (8,)), ((2, 3, 4), (3, 4))])
def test_layer_norm_matches_pytorch(torch, shape, norm):
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal(shape), rng.standard_normal(norm), rng.standard_normal(norm)
    g = rng.standard_normal(shape)
    cx, cw, cb = t64(x), t64(w), t64(b)
    out = F.layer_norm(cx, norm, cw, cb)
    out.backward(g)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    tout = torch.nn.functional.layer_norm(tx, norm, tw, tb)
    tout.backward(torch.tensor(g))
    np.testing.assert_allclose(out.data, tout.detach().numpy(), atol=1e-12)
    for c, t in ((cx, tx), (cw, tw), (cb, tb)):
        np.testing.assert_allclose(c.grad, t.grad.numpy(), atol=1e-10)


def test_layer_norm_refuses_a_shape_that_is_not_the_inputs_tail():
    with pytest.raises(ShapeError, match="last dimensions"):
        F.layer_norm(t64(np.zeros((2, 3)), False), (2,))
    with pytest.raises(ShapeError, match="weight"):
        F.layer_norm(t64(np.zeros((2, 3)), False), 3, t64(np.ones(2)))
