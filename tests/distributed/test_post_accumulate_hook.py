"""Tensor.register_post_accumulate_grad_hook: called once per leaf when its gradient is final."""
import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.errors import BackwardError


def test_hook_sees_the_final_gradient_once_last_layer_first():
    model = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2))
    seen = []
    for name, p in model.named_parameters():
        p.register_post_accumulate_grad_hook(lambda t, name=name: seen.append((name, t.grad.copy())))
    x = cr.tensor(np.random.default_rng(0).standard_normal((5, 4)))
    (model(x) ** 2).sum().backward()
    names = [n for n, _ in seen]
    assert sorted(names) == sorted(n for n, _ in model.named_parameters())  # each exactly once
    assert names.index("2.weight") < names.index("0.weight")  # the last layer is final first
    for name, g in seen:
        assert np.array_equal(g, dict(model.named_parameters())[name].grad)


def test_a_weight_used_twice_is_reported_after_both_uses():
    w = cr.tensor([2.0], requires_grad=True)
    got = []
    w.register_post_accumulate_grad_hook(lambda t: got.append(t.grad.copy()))
    (w * 3 + w * w).sum().backward()
    assert [g.tolist() for g in got] == [[7.0]]


def test_removed_hook_is_not_called_and_non_leaves_are_refused():
    w = cr.tensor([1.0], requires_grad=True)
    calls = []
    handle = w.register_post_accumulate_grad_hook(calls.append)
    handle.remove()
    (w * 2).sum().backward()
    assert calls == []
    with pytest.raises(BackwardError, match="only a leaf"):
        (w * 2).register_post_accumulate_grad_hook(calls.append)


def test_a_layers_hook_runs_before_backward_reaches_the_layers_below_it():
    # what lets data parallelism start sending the last layers' bucket during backward
    from chainrule.tensor import make

    events = []
    w1 = cr.tensor(np.ones((3, 3)), requires_grad=True)
    w2 = cr.tensor(np.ones((3, 2)), requires_grad=True)
    w1.register_post_accumulate_grad_hook(lambda t: events.append("w1 final"))
    w2.register_post_accumulate_grad_hook(lambda t: events.append("w2 final"))
    h = cr.tensor(np.ones((4, 3))) @ w1

    def vjp(g):
        events.append("backward below w2")
        return g

    marked = make(h.data.copy(), "mark", (h, vjp))
    (marked @ w2).sum().backward()
    assert events == ["w2 final", "backward below w2", "w1 final"]
    assert np.array_equal(w1.grad, np.full((3, 3), 8.0)) and np.array_equal(w2.grad, np.full((3, 2), 12.0))
