"""F.max_pool2d and F.avg_pool2d: values against a loop reference, gradients by finite
differences over random sizes, kernels, strides and paddings, ties, and PyTorch."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import chainrule as cr
import chainrule.nn.functional as F
from chainrule.errors import ConfigError, ShapeError


def t64(a, requires_grad=True):
    return cr.tensor(a, requires_grad=requires_grad, dtype=np.float64)


def pair(v):
    return tuple(v) if isinstance(v, tuple) else (v, v)


def pool_reference(x, kernel, stride, padding, kind):
    (kh, kw), (ph, pw) = pair(kernel), pair(padding)
    sh, sw = pair(kernel if stride is None else stride)
    fill = -np.inf if kind == "max" else 0.0
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)
    oh, ow = (xp.shape[2] - kh) // sh + 1, (xp.shape[3] - kw) // sw + 1
    out = np.zeros(x.shape[:2] + (oh, ow))
    for i in range(oh):
        for j in range(ow):
            win = xp[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
            out[:, :, i, j] = win.max(axis=(2, 3)) if kind == "max" else win.mean(axis=(2, 3))
    return out


@st.composite
def pool_case(draw):
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride = draw(st.one_of(st.none(), st.integers(1, 3),
                            st.tuples(st.integers(1, 3), st.integers(1, 3))))
    padding = (draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2)))
    h = draw(st.integers(max(1, kh - 2 * padding[0]), 7))
    w = draw(st.integers(max(1, kw - 2 * padding[1]), 7))
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    # distinct values, well apart, so the max is differentiable (no ties)
    x = (rng.permutation(n * c * h * w) * 0.1 + rng.uniform(0, 0.03, n * c * h * w))
    return x.reshape(n, c, h, w) - 2, (kh, kw), stride, padding


@pytest.mark.parametrize("kind", ["max", "avg"])
@given(case=pool_case())
def test_pooling_matches_the_definition_and_passes_gradcheck(kind, case):
    x, kernel, stride, padding = case
    fn = F.max_pool2d if kind == "max" else F.avg_pool2d
    out = fn(t64(x), kernel, stride, padding)
    np.testing.assert_allclose(out.data, pool_reference(x, kernel, stride, padding, kind),
                               rtol=1e-12, atol=1e-12)
    assert cr.gradcheck(lambda a: fn(a, kernel, stride, padding), [t64(x)], eps=1e-4)


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("shape,kernel,stride,padding", [
    ((2, 3, 8, 8), 2, None, 0),
    ((2, 3, 9, 7), 2, None, 0),        # odd sides: the last row/column fills no window
    ((2, 2, 9, 9), 3, 2, 1),           # overlapping windows with padding
    ((1, 2, 7, 8), (3, 2), (1, 2), 1),
    ((2, 2, 6, 6), 2, 1, 0),
    ((1, 1, 5, 5), 5, None, 0),
])
def test_pooling_matches_pytorch_including_ties(torch, kind, shape, kernel, stride, padding):
    rng = np.random.default_rng(0)
    x = np.maximum(rng.standard_normal(shape), 0).astype(np.float32)   # many tied zeros
    x[:, :, :2, :2] = 1.0                                              # a block of equal maxima
    fn = F.max_pool2d if kind == "max" else F.avg_pool2d
    tfn = getattr(torch.nn.functional, f"{kind}_pool2d")
    X = cr.tensor(x, requires_grad=True)
    out = fn(X, kernel, stride, padding)
    g = rng.standard_normal(out.shape).astype(np.float32)
    out.backward(g)
    tx = torch.tensor(x, requires_grad=True)
    tout = tfn(tx, kernel, stride, padding)
    tout.backward(torch.tensor(g))
    assert out.shape == tuple(tout.shape) and out.dtype == np.float32
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(X.grad, tx.grad.numpy(), rtol=1e-6, atol=1e-6)


def test_max_pool_sends_the_gradient_of_a_tie_to_the_first_maximum_only():
    x = t64(np.ones((1, 1, 2, 2)))
    F.max_pool2d(x, 2).sum().backward()
    np.testing.assert_array_equal(x.grad[0, 0], [[1, 0], [0, 0]])


@pytest.mark.parametrize("k", [2, 3])
def test_max_pool_routes_every_pattern_of_tied_maxima_to_the_first_in_row_major_order(k):
    # one sample per non-empty set of positions holding the maximum (1), the rest 0
    masks = (np.arange(1, 2 ** (k * k))[:, None] >> np.arange(k * k)) & 1
    x = t64(masks.reshape(-1, 1, k, k).astype(np.float64))
    F.max_pool2d(x, k).sum().backward()
    first = masks.argmax(axis=1)                         # the first 1 in row-major order
    np.testing.assert_array_equal(x.grad.reshape(len(masks), k * k),
                                  np.eye(k * k)[first])


def test_max_pool_without_a_gradient_gives_the_same_maxima():
    x = np.random.default_rng(1).standard_normal((3, 4, 9, 8)).astype(np.float32)
    with_grad = F.max_pool2d(cr.tensor(x, requires_grad=True), 3, 2, 1)
    with cr.no_grad():
        plain = F.max_pool2d(cr.tensor(x, requires_grad=True), 3, 2, 1)
    np.testing.assert_array_equal(plain.data, with_grad.data)
    assert not plain.requires_grad


def test_overlapping_max_pool_sums_gradients_of_a_shared_maximum():
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 1, 1] = 5.0                      # the max of all four 2x2 windows (stride 1)
    X = t64(x)
    F.max_pool2d(X, 2, 1).sum().backward()
    assert X.grad[0, 0, 1, 1] == 4.0 and X.grad.sum() == 4.0


def test_pooling_keeps_the_channels_last_layout_of_a_conv_output():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 4, 4, 3)).transpose(0, 3, 1, 2)   # NCHW view of NHWC memory
    X = t64(x)
    out = F.max_pool2d(X, 2)
    assert out.data.strides[1] < out.data.strides[3]            # channels still innermost
    np.testing.assert_allclose(out.data, pool_reference(x, 2, None, 0, "max"))
    out.sum().backward()
    assert X.grad.shape == x.shape


def test_max_pool_gradient_does_not_depend_on_the_layout_it_arrives_in():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 4, 6, 3)).transpose(0, 3, 1, 2)   # (2, 3, 4, 6), channels-last
    r = t64(rng.standard_normal((2, 18)), requires_grad=False)
    grads = []
    for data in (x, np.ascontiguousarray(x)):
        X = t64(data)
        (F.max_pool2d(X, 2).flatten(1) * r).sum().backward()      # the gradient arrives NCHW
        grads.append(X.grad)
    np.testing.assert_array_equal(grads[0], grads[1])
    assert np.count_nonzero(grads[0]) == 36                       # one element per window


@pytest.mark.parametrize("fn", [F.max_pool2d, F.avg_pool2d])
@pytest.mark.parametrize("shape,args,error,words", [
    ((2, 5, 5), (2,), ShapeError, "4-D"),
    ((1, 1, 1, 1), (2,), ShapeError, "larger than the padded input"),
    ((1, 1, 4, 4), (0,), ConfigError, "kernel_size"),
    ((1, 1, 4, 4), (2, 0), ConfigError, "stride"),
    ((1, 1, 4, 4), (2, 2, 2), ShapeError, "at most half"),
])
def test_pooling_errors_name_the_problem(fn, shape, args, error, words):
    with pytest.raises(error, match=fn.__name__) as info:
        fn(cr.zeros(*shape), *args)
    assert words in str(info.value)
