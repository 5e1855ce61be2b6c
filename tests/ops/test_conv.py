"""F.conv2d: values against a loop-by-definition reference, gradients by finite differences
over random sizes, strides and paddings, and against PyTorch where installed."""
import contextlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import chainrule as cr
import chainrule.nn.functional as F
import chainrule.ops.conv as conv_module
from chainrule.errors import ConfigError, ShapeError

from ..parallel_helpers import split_everything

STRATEGIES = ["one_gemm", "per_offset"]


@contextlib.contextmanager
def input_grad_strategy(name):
    """Force one of conv2d's two ∂L/∂x GEMM strategies, whatever the channel count."""
    chooser = conv_module._input_grad_by_one_gemm
    conv_module._input_grad_by_one_gemm = lambda c: name == "one_gemm"
    try:
        yield
    finally:
        conv_module._input_grad_by_one_gemm = chooser


def t64(a, requires_grad=True):
    return cr.tensor(a, requires_grad=requires_grad, dtype=np.float64)


def pair(v):
    return tuple(v) if isinstance(v, tuple) else (v, v)


def conv_reference(x, w, b, stride, padding):
    """The definition, one output position at a time (test-only loops)."""
    (sh, sw), (ph, pw) = pair(stride), pair(padding)
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    oh, ow = (h + 2 * ph - kh) // sh + 1, (wd + 2 * pw - kw) // sw + 1
    out = np.zeros((n, o, oh, ow))
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]       # (N, C, KH, KW)
            out[:, :, i, j] = np.einsum("ncpq,ocpq->no", patch, w)
    return out + (0 if b is None else b[None, :, None, None])


ints_or_pairs = lambda lo, hi: st.one_of(  # noqa: E731
    st.integers(lo, hi), st.tuples(st.integers(lo, hi), st.integers(lo, hi)))


@st.composite
def conv_case(draw):
    n, c, o = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kh, kw = pair(draw(ints_or_pairs(1, 3)))
    stride, padding = draw(ints_or_pairs(1, 3)), draw(ints_or_pairs(0, 2))
    (ph, pw) = pair(padding)
    h = draw(st.integers(max(1, kh - 2 * ph), 6))
    w = draw(st.integers(max(1, kw - 2 * pw), 6))
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, c, h, w)), rng.standard_normal((o, c, kh, kw)),
            rng.standard_normal(o), stride, padding)


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("bias", [True, False])
@given(case=conv_case())
def test_conv2d_matches_the_definition_and_passes_gradcheck(strategy, bias, case):
    x, w, b, stride, padding = case
    b = b if bias else None
    out = F.conv2d(t64(x), t64(w), None if b is None else t64(b), stride=stride, padding=padding)
    np.testing.assert_allclose(out.data, conv_reference(x, w, b, stride, padding),
                               rtol=1e-10, atol=1e-10)
    args = [t64(x), t64(w)] + ([t64(b)] if bias else [])
    with input_grad_strategy(strategy):
        assert cr.gradcheck(lambda *a: F.conv2d(*a, stride=stride, padding=padding), args)


@given(case=conv_case())
def test_conv2d_split_over_threads_passes_gradcheck(case):
    """The im2col copy, bias add and col2im adds split over the batch give the same maths."""
    x, w, b, stride, padding = case
    with split_everything(), input_grad_strategy("one_gemm"):
        assert cr.gradcheck(lambda *a: F.conv2d(*a, stride=stride, padding=padding),
                            [t64(x), t64(w), t64(b)])


@pytest.mark.parametrize("shape,oc,k,stride,padding", [
    ((3, 20, 9, 8), 6, 3, 1, 0),        # channels enough for per-offset products
    ((2, 17, 10, 11), 5, (3, 2), 2, 1),
    ((4, 2, 12, 12), 7, 5, 1, 2),       # few channels: one GEMM would be chosen
])
def test_both_input_gradient_strategies_agree(shape, oc, k, stride, padding):
    rng = np.random.default_rng(3)
    kh, kw = pair(k)
    x = rng.standard_normal(shape)
    w = rng.standard_normal((oc, shape[1], kh, kw))
    grads = {}
    for strategy in STRATEGIES:
        X = t64(x)
        with input_grad_strategy(strategy):
            F.conv2d(X, t64(w), stride=stride, padding=padding).sum().backward()
        grads[strategy] = X.grad
    np.testing.assert_allclose(grads["one_gemm"], grads["per_offset"], rtol=1e-12, atol=1e-12)


def test_strategy_is_chosen_by_the_number_of_input_channels():
    assert conv_module._input_grad_by_one_gemm(1)
    assert conv_module._input_grad_by_one_gemm(3)
    assert not conv_module._input_grad_by_one_gemm(32)
    assert not conv_module._input_grad_by_one_gemm(256)


@given(case=conv_case())
def test_two_stacked_convs_pass_gradcheck(case):
    """The first conv's output is stored channels-last; the second reads it that way and its
    gradient flows back through that layout."""
    x, w, _, stride, padding = case
    o = w.shape[0]
    w2 = np.random.default_rng(1).standard_normal((2, o, 1, 1))
    assert cr.gradcheck(lambda a, b, c: F.conv2d(F.conv2d(a, b, stride=stride, padding=padding)
                                                 .relu(), c),
                        [t64(x), t64(w), t64(w2)])


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,oc,k,stride,padding", [
    ((2, 32, 12, 12), 8, 5, 1, 0),
    ((2, 3, 9, 8), 4, 3, 1, 0),
    ((3, 2, 11, 10), 5, 3, 2, 1),
    ((1, 4, 7, 9), 3, (3, 2), (2, 1), (0, 2)),
    ((2, 1, 28, 28), 8, 5, 1, 2),
    ((2, 3, 6, 6), 2, 2, 2, 0),
    ((2, 2, 5, 5), 3, 5, 3, 2),
])
def test_conv2d_matches_pytorch(torch, strategy, dtype, shape, oc, k, stride, padding):
    rng = np.random.default_rng(0)
    kh, kw = pair(k)
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal((oc, shape[1], kh, kw)).astype(dtype)
    b = rng.standard_normal(oc).astype(dtype)
    X, W, B = (cr.tensor(a, requires_grad=True, dtype=dtype) for a in (x, w, b))
    out = F.conv2d(X, W, B, stride=stride, padding=padding)
    g = rng.standard_normal(out.shape).astype(dtype)
    with input_grad_strategy(strategy):
        out.backward(g)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    tout = torch.nn.functional.conv2d(tx, tw, tb, stride=stride, padding=padding)
    tout.backward(torch.tensor(g))
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)
    assert out.dtype == dtype and X.grad.dtype == dtype and W.grad.dtype == dtype
    np.testing.assert_allclose(out.data, tout.detach().numpy(), **tol)
    np.testing.assert_allclose(X.grad, tx.grad.numpy(), **tol)
    np.testing.assert_allclose(W.grad, tw.grad.numpy(), **tol)
    np.testing.assert_allclose(B.grad, tb.grad.numpy(), **tol)


def test_conv2d_keeps_float32_and_accepts_an_ndarray_input():
    w = cr.randn(4, 3, 3, 3, requires_grad=True)
    out = F.conv2d(np.ones((2, 3, 5, 5)), w)
    assert out.dtype == np.float32 and out.shape == (2, 4, 3, 3)
    out.sum().backward()
    assert w.grad.dtype == np.float32 and w.grad.shape == (4, 3, 3, 3)
    np.testing.assert_allclose(w.grad, np.full((4, 3, 3, 3), 18.0))


def test_conv2d_of_a_non_contiguous_input_equals_the_contiguous_one():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 6, 6, 3)).transpose(0, 3, 1, 2)   # NCHW view of NHWC memory
    w = rng.standard_normal((4, 3, 3, 3))
    a = F.conv2d(t64(x, False), t64(w, False), padding=1).data
    b = F.conv2d(t64(np.ascontiguousarray(x), False), t64(w, False), padding=1).data
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_one_by_one_convolution_is_a_linear_map_over_channels():
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal((2, 3, 4, 5)), rng.standard_normal((6, 3, 1, 1))
    out = F.conv2d(t64(x, False), t64(w, False)).data
    np.testing.assert_allclose(out, np.einsum("nchw,oc->nohw", x, w[:, :, 0, 0]), rtol=1e-12)


def test_input_gradient_only_when_asked():
    x = t64(np.ones((1, 1, 4, 4)), requires_grad=False)
    w = t64(np.ones((1, 1, 2, 2)))
    F.conv2d(x, w).sum().backward()
    assert x.grad is None and w.grad is not None


@pytest.mark.parametrize("channels", [1, 6])  # colsᵀ stored (few channels) and cols stored
@pytest.mark.parametrize("trainable", ["weight", "bias", "both"])
def test_bias_and_weight_gradients_from_the_shared_product_match_each_alone(channels, trainable):
    """The bias rides in the GEMM as a column of ones; its gradient is the last column of
    G2ᵀ [cols | 1] when the weight's is computed too, else 1ᵀ G2: all the same sums."""
    rng = np.random.default_rng(6)
    x = t64(rng.standard_normal((2, channels, 6, 5)), requires_grad=False)
    w = t64(rng.standard_normal((3, channels, 3, 2)), requires_grad=trainable != "bias")
    b = t64(rng.standard_normal(3), requires_grad=trainable != "weight")
    g = rng.standard_normal((2, 3, 4, 4))
    (F.conv2d(x, w, b) * t64(g, False)).sum().backward()
    if b.requires_grad:
        np.testing.assert_allclose(b.grad, g.sum(axis=(0, 2, 3)), rtol=1e-12)
    if w.requires_grad:
        # ∂L/∂w[o, c, p, q] = Σ g[n, o, i, j] x[n, c, i + p, j + q]
        win = np.lib.stride_tricks.sliding_window_view(x.data, (4, 4), axis=(2, 3))
        want = np.einsum("nohw,ncpqhw->ocpq", g, win)
        np.testing.assert_allclose(w.grad, want, rtol=1e-10)
    assert (w.grad is None) == (trainable == "bias") and (b.grad is None) == (trainable == "weight")


@pytest.mark.parametrize("x_shape,w_shape,kwargs,error,words", [
    ((1, 3, 5, 5), (2, 4, 3, 3), {}, ShapeError, "3 channels"),
    ((3, 5, 5), (2, 3, 3, 3), {}, ShapeError, "4-D"),
    ((1, 3, 5, 5), (2, 3, 3), {}, ShapeError, "weight must be 4-D"),
    ((1, 1, 2, 2), (1, 1, 3, 3), {}, ShapeError, "larger than the padded input"),
    ((1, 1, 5, 5), (1, 1, 3, 3), {"stride": 0}, ConfigError, "stride"),
    ((1, 1, 5, 5), (1, 1, 3, 3), {"stride": 1.5}, ConfigError, "stride"),
    ((1, 1, 5, 5), (1, 1, 3, 3), {"padding": -1}, ConfigError, "padding"),
    ((1, 1, 5, 5), (1, 1, 3, 3), {"padding": (1, 2, 3)}, ConfigError, "pair"),
])
def test_conv2d_errors_name_the_problem(x_shape, w_shape, kwargs, error, words):
    with pytest.raises(error, match="conv2d") as info:
        F.conv2d(cr.zeros(*x_shape), cr.zeros(*w_shape, requires_grad=True), **kwargs)
    assert words in str(info.value)


def test_conv2d_bias_of_wrong_shape():
    with pytest.raises(ShapeError, match=r"bias of shape \(3,\)"):
        F.conv2d(cr.zeros(1, 1, 4, 4), cr.zeros(2, 1, 3, 3), cr.zeros(3))


def _conv_and_grads(x, w, b):
    """conv2d's output and the gradients of Σ out·r for a fixed r: (out, ∂x, ∂w, ∂b)."""
    xt, wt, bt = (cr.tensor(a, requires_grad=True) for a in (x, w, b))
    out = F.conv2d(xt, wt, bt, padding=1)
    r = np.random.default_rng(6).standard_normal(out.shape).astype(np.float32)
    (out * r).sum().backward()
    return out.data, xt.grad, wt.grad, bt.grad


@pytest.mark.parametrize("channels", [1, 6])  # colsᵀ built (few channels) and cols built
def test_conv_in_chunks_of_samples_equals_the_whole_batch_at_once(monkeypatch, channels):
    """im2col is built a few samples at a time (forward and ∂L/∂W): the same output and
    gradients as one matrix for the whole batch, up to the order of float32 sums."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((9, channels, 8, 7)).astype(np.float32)
    w = rng.standard_normal((4, channels, 3, 3)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    monkeypatch.setattr(conv_module, "_CHUNK_BYTES", 1 << 30)  # the whole batch in one chunk
    whole = _conv_and_grads(x, w, b)
    per_sample = 8 * 7 * (9 * channels + 1) * 4
    monkeypatch.setattr(conv_module, "_CHUNK_BYTES", 2 * per_sample)  # 2 samples a chunk
    chunked = _conv_and_grads(x, w, b)
    for got, want in zip(chunked, whole):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
