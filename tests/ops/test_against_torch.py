"""Every op against PyTorch autograd (float64): same values, same gradients for a random
upstream gradient, including at ties and kinks where conventions matter. Skipped when
torch is not installed."""
import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F

RNG = np.random.default_rng(1234)


def _randn(*shape):
    return RNG.standard_normal(shape)


def _pos(*shape):
    return RNG.uniform(0.2, 2.0, shape)


def _prob(*shape):
    return RNG.uniform(0.05, 0.95, shape)


LABELS = np.array([2, 0, 1, 2])
T_PROBS = (lambda r: r / r.sum(axis=1, keepdims=True))(RNG.uniform(0.1, 1.0, (4, 3)))
IDX = np.array([0, 2, 2, 1, 0])
TIES = np.array([[1.0, 3.0, 3.0, -1.0], [2.0, 2.0, 0.0, 2.0]])

# name -> (chainrule fn, torch fn (t is the torch module), input arrays)
CASES = {
    "add broadcast": (lambda a, b: a + b, lambda t, a, b: a + b, [_randn(3, 1, 4), _randn(2, 1)]),
    "sub broadcast": (lambda a, b: a - b, lambda t, a, b: a - b, [_randn(4), _randn(3, 4)]),
    "mul broadcast": (lambda a, b: a * b, lambda t, a, b: a * b, [_randn(2, 3, 1), _randn(3, 5)]),
    "div broadcast": (lambda a, b: a / b, lambda t, a, b: a / b, [_randn(3, 4), _pos(1, 4)]),
    "pow": (lambda a, b: a ** b, lambda t, a, b: a ** b, [_pos(3, 4), _randn(4)]),
    "rsub scalar": (lambda a: 2 - a, lambda t, a: 2 - a, [_randn(3)]),
    "rdiv scalar": (lambda a: 10.0 / a, lambda t, a: 10.0 / a, [_pos(3)]),
    "neg": (lambda a: -a, lambda t, a: -a, [_randn(2, 3)]),
    "matmul 2d": (lambda a, b: a @ b, lambda t, a, b: a @ b, [_randn(3, 4), _randn(4, 2)]),
    "matmul batched broadcast": (lambda a, b: a @ b, lambda t, a, b: a @ b,
                                 [_randn(2, 1, 3, 4), _randn(3, 4, 5)]),
    "matmul vector": (lambda a, b: a @ b, lambda t, a, b: a @ b, [_randn(4), _randn(2, 4, 3)]),
    "exp": (lambda a: a.exp(), lambda t, a: a.exp(), [_randn(3, 4)]),
    "log": (lambda a: a.log(), lambda t, a: a.log(), [_pos(3, 4)]),
    "sqrt": (lambda a: a.sqrt(), lambda t, a: a.sqrt(), [_pos(3, 4)]),
    "abs with zero": (lambda a: a.abs(), lambda t, a: a.abs(), [np.array([-1.0, 0.0, 2.0])]),
    "tanh": (lambda a: a.tanh(), lambda t, a: a.tanh(), [_randn(3, 4)]),
    "sigmoid": (lambda a: a.sigmoid(), lambda t, a: a.sigmoid(), [_randn(3, 4) * 5]),
    "relu with zero": (lambda a: a.relu(), lambda t, a: a.relu(), [np.array([-1.0, 0.0, 2.0])]),
    "clip at the bounds": (lambda a: a.clip(-1.0, 1.0), lambda t, a: a.clamp(-1.0, 1.0),
                           [np.array([-2.0, -1.0, 0.5, 1.0, 3.0])]),
    "sum axis tuple": (lambda a: a.sum(axis=(0, 2)), lambda t, a: a.sum(dim=(0, 2)),
                       [_randn(2, 3, 4)]),
    "sum keepdims": (lambda a: a.sum(axis=1, keepdims=True),
                     lambda t, a: a.sum(dim=1, keepdim=True), [_randn(2, 3)]),
    "mean all": (lambda a: a.mean(), lambda t, a: a.mean(), [_randn(3, 4)]),
    "mean negative axis": (lambda a: a.mean(axis=-1), lambda t, a: a.mean(dim=-1),
                           [_randn(3, 4)]),
    "var": (lambda a: a.var(axis=0), lambda t, a: a.var(dim=0, correction=0), [_randn(5, 3)]),
    "var ddof 1": (lambda a: a.var(axis=1, ddof=1), lambda t, a: a.var(dim=1, correction=1),
                   [_randn(2, 5)]),
    "max axis": (lambda a: a.max(axis=1), lambda t, a: a.amax(dim=1), [_randn(3, 5)]),
    "max with ties": (lambda a: a.max(axis=1), lambda t, a: a.amax(dim=1), [TIES]),
    "min all with ties": (lambda a: a.min(), lambda t, a: a.amin(), [-TIES]),
    "reshape": (lambda a: a.reshape(4, 3), lambda t, a: a.reshape(4, 3), [_randn(2, 6)]),
    "transpose": (lambda a: a.transpose(2, 0, 1), lambda t, a: a.permute(2, 0, 1),
                  [_randn(2, 3, 4)]),
    "T": (lambda a: a.T, lambda t, a: a.T, [_randn(2, 3)]),
    "flatten": (lambda a: a.flatten(1), lambda t, a: a.flatten(1), [_randn(2, 3, 4)]),
    "basic index": (lambda a: a[1:, ::2], lambda t, a: a[1:, ::2], [_randn(3, 5)]),
    "integer index with repeats": (lambda a: a[IDX], lambda t, a: a[t.from_numpy(IDX)],
                                   [_randn(3, 2)]),
    "concatenate": (lambda a, b: cr.concatenate([a, b, a], axis=1),
                    lambda t, a, b: t.cat([a, b, a], dim=1), [_randn(2, 3), _randn(2, 1)]),
    "stack": (lambda a, b: cr.stack([a, b], axis=1), lambda t, a, b: t.stack([a, b], dim=1),
              [_randn(2, 3), _randn(2, 3)]),
    "where": (lambda a, b: cr.where(TIES > 1, a, b),
              lambda t, a, b: t.where(t.from_numpy(TIES > 1), a, b), [_randn(2, 4), _randn(4)]),
    "maximum with ties": (cr.maximum, lambda t, a, b: t.maximum(a, b),
                          [TIES, np.array([1.0, 3.0, 0.0, 2.0])]),
    "minimum with ties": (cr.minimum, lambda t, a, b: t.minimum(a, b),
                          [TIES, np.array([1.0, 3.0, 0.0, 2.0])]),
    "leaky_relu": (lambda a: F.leaky_relu(a, 0.2),
                   lambda t, a: t.nn.functional.leaky_relu(a, 0.2), [_randn(3, 4)]),
    "gelu": (F.gelu, lambda t, a: t.nn.functional.gelu(a), [_randn(3, 4) * 2]),
    "softplus": (F.softplus, lambda t, a: t.nn.functional.softplus(a), [_randn(3, 4) * 8]),
    "softplus beta": (lambda a: F.softplus(a, beta=2.0, threshold=5.0),
                      lambda t, a: t.nn.functional.softplus(a, beta=2.0, threshold=5.0), [_randn(3, 4) * 4]),
    "gelu tanh": (lambda a: F.gelu(a, approximate="tanh"),
                  lambda t, a: t.nn.functional.gelu(a, approximate="tanh"), [_randn(3, 4) * 2]),
    "softmax": (lambda a: F.softmax(a, axis=0), lambda t, a: a.softmax(dim=0), [_randn(3, 4)]),
    "log_softmax": (F.log_softmax, lambda t, a: a.log_softmax(dim=-1), [_randn(3, 4)]),
    "logsumexp": (lambda a: F.logsumexp(a, axis=1), lambda t, a: a.logsumexp(dim=1),
                  [_randn(3, 4) * 10]),
    "linear": (F.linear, lambda t, x, w, b: t.nn.functional.linear(x, w, b),
               [_randn(2, 5, 3), _randn(4, 3), _randn(4)]),
    "linear no bias": (F.linear, lambda t, x, w: t.nn.functional.linear(x, w),
                       [_randn(5, 3), _randn(4, 3)]),
}

LOSSES = {
    "mse_loss": (F.mse_loss, "mse_loss", [_randn(4, 3), _randn(4, 3)]),
    "l1_loss": (F.l1_loss, "l1_loss", [_randn(4, 3), _randn(4, 3)]),
    "huber_loss": (F.huber_loss, "huber_loss", [_randn(4, 3) * 2, _randn(4, 3)]),
    "binary_cross_entropy": (F.binary_cross_entropy, "binary_cross_entropy",
                             [_prob(4, 3), _prob(4, 3)]),
    "binary_cross_entropy_with_logits": (F.binary_cross_entropy_with_logits,
                                         "binary_cross_entropy_with_logits",
                                         [_randn(4, 3) * 3, _prob(4, 3)]),
    "cross_entropy labels": (lambda z, reduction: F.cross_entropy(z, LABELS, reduction),
                             lambda t, z, reduction: t.nn.functional.cross_entropy(
                                 z, t.from_numpy(LABELS), reduction=reduction),
                             [_randn(4, 3) * 3]),
    "cross_entropy probabilities": (F.cross_entropy, "cross_entropy", [_randn(4, 3), T_PROBS]),
    "cross_entropy 1e3 logits": (lambda z, reduction: F.cross_entropy(z, LABELS, reduction),
                                 lambda t, z, reduction: t.nn.functional.cross_entropy(
                                     z, t.from_numpy(LABELS), reduction=reduction),
                                 [_randn(4, 3) * 1e3]),
    "nll_loss": (lambda z, reduction: F.nll_loss(z, LABELS, reduction),
                 lambda t, z, reduction: t.nn.functional.nll_loss(z, t.from_numpy(LABELS),
                                                                  reduction=reduction),
                 [_randn(4, 3)]),
}


# gelu's erf is a Chebyshev fit with relative error < 1.2e-7 (ample for float32 training), so
# in float64 it agrees with PyTorch's exact erf to about 1e-7, not to rounding error.
TOLERANCE = {"gelu": 1e-6}


def _compare(torch, fn, torch_fn, arrays, rtol=1e-7):
    xs = [cr.tensor(a, requires_grad=True, dtype=np.float64) for a in arrays]
    ts = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
    out, tout = fn(*xs), torch_fn(*ts)
    assert out.shape == tuple(tout.shape)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=rtol, atol=1e-9)
    g = np.random.default_rng(0).standard_normal(out.shape)
    out.backward(g)
    tout.backward(torch.from_numpy(np.asarray(g)))
    for i, (x, t) in enumerate(zip(xs, ts)):
        expected = t.grad.numpy() if t.grad is not None else np.zeros(x.shape)
        actual = x.grad if x.grad is not None else np.zeros(x.shape)
        np.testing.assert_allclose(actual, expected, rtol=rtol, atol=1e-9,
                                   err_msg=f"gradient of input #{i}")


@pytest.mark.parametrize("name", list(CASES))
def test_op_matches_pytorch_values_and_gradients(torch, name):
    fn, torch_fn, arrays = CASES[name]
    _compare(torch, fn, lambda *ts: torch_fn(torch, *ts), arrays, TOLERANCE.get(name, 1e-7))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", list(LOSSES))
def test_loss_matches_pytorch_values_and_gradients(torch, name, reduction):
    fn, torch_fn, arrays = LOSSES[name]
    if isinstance(torch_fn, str):
        tf = getattr(torch.nn.functional, torch_fn)
        _compare(torch, lambda *xs: fn(*xs, reduction=reduction),
                 lambda *ts: tf(*ts, reduction=reduction), arrays)
    else:
        _compare(torch, lambda *xs: fn(*xs, reduction=reduction),
                 lambda *ts: torch_fn(torch, *ts, reduction=reduction), arrays)


def test_a_small_network_matches_pytorch_end_to_end(torch):
    """linear -> gelu -> linear -> cross-entropy, with a weight reused (tied) twice."""
    x, w1, b1, w2 = _randn(6, 4), _randn(5, 4), _randn(5), _randn(3, 5)

    def net(F_linear, act, ce, x_, w1_, b1_, w2_):
        h = act(F_linear(x_, w1_, b1_))
        h = h + act(F_linear(x_, w1_, b1_)) * 0.5  # w1 used in two branches
        return ce(F_linear(h, w2_, None), LABELS[[0, 1, 2, 0, 1, 2]])

    fn = lambda *a: net(F.linear, F.gelu, F.cross_entropy, *a)  # noqa: E731
    tf = lambda *a: net(torch.nn.functional.linear, torch.nn.functional.gelu,  # noqa: E731
                        lambda z, y: torch.nn.functional.cross_entropy(z, torch.from_numpy(y)),
                        *a)
    _compare(torch, fn, tf, [x, w1, b1, w2], rtol=TOLERANCE["gelu"])
