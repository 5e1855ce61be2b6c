"""backward(): the reverse sweep, accumulation, retain_grad, grad modes and anomaly detection."""
import copy
import importlib
import sys
import threading

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule.tensor import make

# the module (``import chainrule.tensor as m`` would give the function cr.tensor)
crt = importlib.import_module("chainrule.tensor")


def t64(a, requires_grad=True):
    return cr.tensor(a, requires_grad=requires_grad, dtype=np.float64)


# --------------------------------------------------------------- seeding the sweep
def test_backward_of_a_scalar_seeds_the_gradient_with_one():
    x = t64([1.0, 2.0, 3.0])
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0, 6.0])


def test_backward_without_grad_works_for_any_one_element_tensor():
    x = t64([[2.0]])
    (x * 3).backward()
    np.testing.assert_array_equal(x.grad, [[3.0]])


def test_backward_with_an_explicit_gradient_of_a_non_scalar():
    x = t64([1.0, 2.0])
    (x * 3).backward(np.array([1.0, 10.0]))
    np.testing.assert_array_equal(x.grad, [3.0, 30.0])
    y = t64([1.0])
    (y * 2).backward(cr.tensor([5.0]))  # a Tensor gradient also works
    np.testing.assert_array_equal(y.grad, [10.0])


def test_backward_of_a_leaf_stores_a_copy_of_the_given_gradient():
    x = t64([1.0, 2.0])
    g = np.array([3.0, 4.0])
    x.backward(g)
    np.testing.assert_array_equal(x.grad, g)
    g[0] = 100.0
    assert x.grad[0] == 3.0


def test_leaf_gradient_does_not_alias_the_given_gradient_through_an_identity_like_op():
    x = t64([1.0, 2.0])
    g = np.array([3.0, 4.0])
    (x + 0).backward(g)   # add's VJP hands the seed itself to x
    g[0] = 100.0
    np.testing.assert_array_equal(x.grad, [3.0, 4.0])


def test_backward_docstring_documents_accumulation():
    doc = cr.Tensor.backward.__doc__
    assert "accumulate" in doc and "zero_grad" in doc


# --------------------------------------------------------------- the sweep itself
def test_a_tensor_used_several_times_receives_the_sum_of_its_gradients():
    x = t64([3.0])
    (x * x + x + x.exp()).backward()
    np.testing.assert_allclose(x.grad, [2 * 3.0 + 1 + np.exp(3.0)])


def test_diamond_graph_reuse_through_intermediates():
    x = t64([2.0])
    h = x * 3          # h used by two branches that meet again
    a, b = h.tanh(), h * h
    (a * b).backward()
    hv = 6.0
    expected = ((1 - np.tanh(hv) ** 2) * hv * hv + np.tanh(hv) * 2 * hv) * 3
    np.testing.assert_allclose(x.grad, [expected])


def test_gradient_reaches_every_leaf_of_a_branching_graph():
    a, b, c = t64([1.0]), t64([2.0]), t64([3.0])
    ab = a * b
    out = ab * c + ab + c
    out.backward()
    np.testing.assert_allclose([a.grad[0], b.grad[0], c.grad[0]], [2 * 3 + 2, 1 * 3 + 1, 2 + 1])


def test_a_graph_100000_ops_deep_backpropagates_without_recursion():
    assert sys.getrecursionlimit() < 100_000
    x = cr.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = -y  # the cheapest op: the test is about depth
    y.backward()
    assert y.item() == 1.0 and x.grad == 1.0
    del y  # freeing the long chain must not overflow the C stack either


def test_deep_chain_of_mixed_ops_has_the_chain_rule_product_gradient():
    x = t64([0.5])
    y = x
    for _ in range(200):
        y = (y * 1.01).tanh() + 0.001
    y.backward()
    assert cr.gradcheck(lambda v: _chain(v, 200), [t64([0.5])])
    assert np.isfinite(x.grad).all()


def _chain(v, n):
    for _ in range(n):
        v = (v * 1.01).tanh() + 0.001
    return v


def test_broadcast_dims_are_summed_away_in_the_leaf_gradient():
    b = t64(np.zeros((1, 3)))
    x = t64(np.ones((4, 3)))
    (x + b).sum().backward()
    assert b.grad.shape == (1, 3)
    np.testing.assert_array_equal(b.grad, [[4.0, 4.0, 4.0]])


def test_leaf_gradient_has_the_leaf_dtype_even_when_the_graph_mixes_dtypes():
    w = cr.tensor([1.0, 2.0], requires_grad=True)       # float32
    x = cr.tensor([3.0, 4.0], dtype=np.float64)
    out = (w * x).sum()
    assert out.dtype == np.float64
    out.backward()
    assert w.grad.dtype == np.float32 and w.grad.shape == w.shape


def _spy(x, seen):
    """An identity op that records the dtype of the gradient it receives."""
    return make(x.data.copy(), "spy", (x, lambda g: (seen.append(g.dtype), g)[1]))


DTYPE_OPS = {
    "exp": lambda x: x.exp(), "abs-log": lambda x: x.abs().log(), "sqrt": lambda x: x.abs().sqrt(),
    "tanh": lambda x: x.tanh(), "sigmoid": lambda x: x.sigmoid(), "relu": lambda x: x.relu(),
    "clip": lambda x: x.clip(-0.5, 0.5), "neg": lambda x: -x, "pow": lambda x: x ** 2,
    "rpow": lambda x: 2 ** x, "rdiv": lambda x: 1 / x, "mul float64 array": lambda x: x * np.ones(4),
    "matmul": lambda x: x @ np.ones((4, 2)), "rmatmul": lambda x: np.ones((2, 3)) @ x,
    "sum": lambda x: x.sum(axis=1), "mean": lambda x: x.mean(axis=0), "var": lambda x: x.var(),
    "max": lambda x: x.max(axis=0), "min": lambda x: x.min(),
    "reshape": lambda x: x.reshape(-1), "T": lambda x: x.T, "getitem": lambda x: x[[0, 0]],
    "concatenate": lambda x: cr.concatenate([x, x]), "stack": lambda x: cr.stack([x, x]),
    "where": lambda x: cr.where(x.data > 0, x, 0.5), "maximum": lambda x: cr.maximum(x, 0.0),
    "minimum": lambda x: cr.minimum(x, x * 2),
    "leaky_relu": lambda x: F.leaky_relu(x, 0.1), "gelu": F.gelu, "softmax": F.softmax,
    "log_softmax": F.log_softmax, "logsumexp": lambda x: F.logsumexp(x, axis=1),
    "linear": lambda x: F.linear(x, cr.ones(2, 4), cr.ones(2)), "dropout": F.dropout,
    "mse": lambda x: F.mse_loss(x, np.zeros((3, 4))), "l1": lambda x: F.l1_loss(x, np.ones((3, 4))),
    "huber": lambda x: F.huber_loss(x, np.zeros((3, 4))),
    "cross_entropy": lambda x: F.cross_entropy(x, np.array([0, 1, 3])),
    "cross_entropy probabilities": lambda x: F.cross_entropy(x, np.full((3, 4), 0.25)),
    "nll": lambda x: F.nll_loss(x, np.array([0, 1, 3])),
    "bce": lambda x: F.binary_cross_entropy(x.sigmoid(), np.ones((3, 4))),
    "bce_with_logits": lambda x: F.binary_cross_entropy_with_logits(x, np.ones((3, 4))),
}


@pytest.mark.parametrize("name", sorted(DTYPE_OPS))
def test_float32_graphs_stay_float32_in_both_passes(name):
    """No op upcasts: values and the gradients flowing through the graph stay float32."""
    x = cr.tensor(np.linspace(-1.5, 1.7, 12).reshape(3, 4), requires_grad=True)
    seen = []
    out = DTYPE_OPS[name](_spy(x, seen))
    assert out.dtype == np.float32
    out.sum().backward()
    assert seen == [np.float32]
    assert x.grad.dtype == np.float32


@pytest.mark.parametrize("name", sorted(DTYPE_OPS))
def test_every_op_backpropagates_the_same_gradient_again_on_a_second_backward(name):
    """No VJP modifies what it captured, nor hands out an array it keeps: repeated backward
    passes over one graph add exactly the same gradient each time."""
    x = t64(np.linspace(-1.5, 1.7, 12).reshape(3, 4))
    out = DTYPE_OPS[name](x).sum()
    out.backward()
    first = x.grad.copy()
    out.backward()
    out.backward()
    np.testing.assert_allclose(x.grad, 3 * first, rtol=1e-12)


# --------------------------------------------------------------- what gets a .grad
def test_leaves_get_grad_but_intermediates_do_not():
    x = t64([1.0])
    h = x * 2
    (h * 3).backward()
    assert x.grad is not None and h.grad is None


def test_retain_grad_keeps_an_intermediate_gradient():
    x = t64([1.0, 2.0])
    h = (x * 2).retain_grad()
    (h * h).sum().backward()
    np.testing.assert_array_equal(h.grad, 2 * h.data)
    np.testing.assert_array_equal(x.grad, 2 * 2 * h.data)


def test_retain_grad_on_a_tensor_without_grad_raises_backward_error():
    with pytest.raises(cr.BackwardError, match="retain_grad"):
        cr.tensor([1.0]).retain_grad()


def test_leaves_without_requires_grad_get_no_gradient():
    x, c = t64([1.0]), t64([2.0], requires_grad=False)
    (x * c).backward()
    assert c.grad is None


def test_requires_grad_propagates_from_any_input():
    a, b = cr.tensor([1.0], requires_grad=True), cr.tensor([2.0])
    assert (a + b).requires_grad and (b + a).requires_grad
    assert not (b * b).requires_grad
    assert (b * b + a).requires_grad


# --------------------------------------------------------------- accumulation
def test_a_second_backward_accumulates_into_grad():
    x = t64([1.0, 2.0])
    loss = (x * x).sum()
    loss.backward()
    loss.backward()  # the graph stays valid
    np.testing.assert_array_equal(x.grad, 2 * 2 * x.data)


def test_backward_of_a_new_graph_accumulates_and_zero_grad_starts_afresh():
    x = t64([1.0])
    (x * 3).backward()
    (x * 4).backward()
    np.testing.assert_array_equal(x.grad, [7.0])
    x.zero_grad()
    (x * 5).backward()
    np.testing.assert_array_equal(x.grad, [5.0])


def test_retained_intermediate_gradients_accumulate_too():
    x = t64([1.0])
    h = (x * 2).retain_grad()
    out = h * 3
    out.backward()
    out.backward()
    np.testing.assert_array_equal(h.grad, [6.0])


# --------------------------------------------------------------- no aliasing
def test_gradients_of_two_leaves_never_alias():
    a, b = t64([1.0, 2.0]), t64([3.0, 4.0])
    (a + b).sum().backward()
    a.grad *= 2
    np.testing.assert_array_equal(b.grad, [1.0, 1.0])


@pytest.mark.parametrize("build", [
    lambda a, b: a + b,
    lambda a, b: a - b,
    lambda a, b: cr.concatenate([a, b]).reshape(2, 2).sum(axis=0),
    lambda a, b: (a.reshape(1, 2) + b.reshape(1, 2)).reshape(2),
    lambda a, b: cr.where(np.array([True, True]), a, 0.0) + b,
], ids=["add", "sub", "concat-reshape", "reshape-add", "where-add"])
def test_no_two_gradient_arrays_share_memory(build):
    a, b = t64([1.0, 2.0]), t64([3.0, 4.0])
    h = build(a, b).retain_grad()
    (h * 1).sum().backward()
    grads = [a.grad, b.grad, h.grad]
    for i in range(3):
        assert grads[i].flags.writeable
        for j in range(i + 1, 3):
            assert not np.shares_memory(grads[i], grads[j])


def test_leaf_gradient_does_not_share_memory_with_the_leaf_data():
    x = t64([1.0, 2.0])
    x.backward(x.data)  # even when the given gradient is the data array itself
    x.grad *= 0
    np.testing.assert_array_equal(x.data, [1.0, 2.0])


@pytest.mark.parametrize("copier", [copy.deepcopy, copy.copy], ids=["deepcopy", "copy"])
def test_a_tensor_and_its_copy_can_be_used_in_one_graph(copier):
    w = t64([1.0, 2.0])
    w2 = copier(w)  # e.g. a target network or an EMA copy made with copy.deepcopy(model)
    (w * w2).sum().backward()
    np.testing.assert_array_equal(w.grad, [1.0, 2.0])
    np.testing.assert_array_equal(w2.grad, [1.0, 2.0])


# --------------------------------------------------------------- a failing sweep leaves no trace
def _failing_op(x):
    def vjp(g):
        raise RuntimeError("boom")
    return make(x.data.copy(), "failing", (x, vjp))


def test_a_backward_that_raises_does_not_corrupt_the_next_one():
    x = t64([1.0])
    h = x * 3
    bad = (_failing_op(x) + h).sum()
    with pytest.raises(RuntimeError, match="boom"):
        bad.backward()
    x.zero_grad()
    h.sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0])


# --------------------------------------------------------------- no_grad and friends
def test_no_grad_records_no_graph():
    x = t64([1.0])
    with cr.no_grad():
        y = x * 2
        assert not cr.is_grad_enabled()
    assert cr.is_grad_enabled()
    assert not y.requires_grad and y.is_leaf and y.parents == ()
    with pytest.raises(cr.BackwardError, match="does not require grad"):
        y.backward()


def test_backward_still_works_inside_no_grad():
    x = t64([2.0])
    y = x * x
    with cr.no_grad():
        y.backward()
    np.testing.assert_array_equal(x.grad, [4.0])


def test_no_grad_works_as_a_decorator():
    x = t64([1.0])

    @cr.no_grad()
    def evaluate(t):
        return t * 2

    assert not evaluate(x).requires_grad
    assert cr.is_grad_enabled()


def test_no_grad_restores_the_mode_after_an_exception():
    with pytest.raises(ValueError):
        with cr.no_grad():
            raise ValueError
    assert cr.is_grad_enabled()


def test_nested_no_grad_and_enable_grad():
    x = t64([1.0])
    with cr.no_grad():
        with cr.no_grad():
            pass
        assert not cr.is_grad_enabled()
        with cr.enable_grad():
            assert (x * 2).requires_grad
        assert not (x * 2).requires_grad
    assert cr.is_grad_enabled()


def test_a_recursive_function_decorated_with_no_grad_restores_grad_mode():
    @cr.no_grad()
    def depth(n):
        return 0 if n == 0 else 1 + depth(n - 1)

    try:
        depth(3)
        assert cr.is_grad_enabled()
    finally:
        crt._mode.grad_enabled = True  # do not leak the bug into other tests


def test_grad_mode_is_per_thread():
    seen = []
    with cr.no_grad():
        t = threading.Thread(target=lambda: seen.append(cr.is_grad_enabled()))
        t.start()
        t.join()
    assert seen == [True]


def test_detach_stops_the_gradient():
    x = t64([2.0])
    y = x * x
    (y.detach() * x).backward()
    np.testing.assert_array_equal(x.grad, [4.0])


def test_backward_on_a_tensor_that_does_not_require_grad_raises_backward_error():
    with pytest.raises(cr.BackwardError, match="does not require grad"):
        cr.tensor([1.0]).sum().backward()


# --------------------------------------------------------------- detect_anomaly
def test_detect_anomaly_names_the_op_that_produced_nan_in_the_forward_pass():
    x = t64([-1.0, 4.0])
    with cr.detect_anomaly(), np.errstate(invalid="ignore"):
        with pytest.raises(cr.AnomalyError, match=r"forward.*'log'.*NaN/Inf"):
            (x * 1).log()


def test_detect_anomaly_names_the_op_whose_gradient_is_infinite_in_the_backward_pass():
    x = t64([0.0, 4.0])
    with cr.detect_anomaly(), np.errstate(divide="ignore"):
        y = x.sqrt().sum()  # finite forward, but d√x/dx = ∞ at 0
        with pytest.raises(cr.AnomalyError, match=r"backward.*'sqrt'.*NaN/Inf"):
            y.backward()


def test_detect_anomaly_reports_the_user_line_that_created_the_op():
    x = t64([1.0])
    with cr.detect_anomaly(), np.errstate(divide="ignore"):
        with pytest.raises(cr.AnomalyError, match=r"test_backward\.py:\d+"):
            x / 0.0


def test_detect_anomaly_works_as_a_decorator_and_is_off_by_default():
    @cr.detect_anomaly()
    def bad(t):
        return t / 0.0

    x = t64([1.0])
    with np.errstate(divide="ignore"):
        with pytest.raises(cr.AnomalyError):
            bad(x)
        assert np.isinf((x / 0.0).data).all()  # outside: no check


def test_detect_anomaly_can_be_switched_off_inside_an_anomaly_block():
    x = t64([1.0])
    with cr.detect_anomaly(), np.errstate(divide="ignore"):
        with cr.detect_anomaly(False):
            y = x / 0.0
        assert np.isinf(y.data).all()


def test_detect_anomaly_says_when_the_nan_came_from_an_input():
    with np.errstate(invalid="ignore"):
        x = t64([np.nan])
        with cr.detect_anomaly():
            with pytest.raises(cr.AnomalyError, match="already held NaN"):
                x * 2


def test_anomaly_error_is_a_chainrule_error_and_a_floating_point_error():
    assert issubclass(cr.AnomalyError, cr.ChainruleError)
    assert issubclass(cr.AnomalyError, FloatingPointError)


# --------------------------------------------------------------- random graphs
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_STEPS = {
    "add": lambda a, b: a + b,
    "mul": lambda a, b: a * b,
    "sub": lambda a, b: a - b,
    "tanh-mul": lambda a, b: (a * 0.5).tanh() * b,
    "sum-back": lambda a, b: a.sum(axis=-1, keepdims=True) * b * 0.1,
    "mean-square": lambda a, b: (a * a).mean(axis=0) + b,
}


@given(program=st.lists(st.tuples(st.sampled_from(sorted(_STEPS)), st.integers(0, 100),
                                  st.integers(0, 100)), min_size=1, max_size=12),
       seed=st.integers(0, 2**16))
def test_random_graphs_with_shared_subexpressions_pass_gradcheck(program, seed):
    """Any DAG of ops (nodes reused by later ones, broadcasting between (3,) and (2, 3))
    backpropagates to the chain-rule gradient."""
    rng = np.random.default_rng(seed)
    a0 = rng.uniform(-1, 1, 3)
    b0 = rng.uniform(-1, 1, (2, 3))

    def run(a, b):
        nodes = [a, b]
        for name, i, j in program:
            # tanh keeps every value in (-1, 1): no blow-up however the steps compose
            nodes.append(_STEPS[name](nodes[i % len(nodes)], nodes[j % len(nodes)]).tanh())
        return sum(n.sum() for n in nodes[2:])

    assert cr.gradcheck(run, [t64(a0), t64(b0)])
