"""Gradient clipping by total norm and by value."""
from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import optim
from chainrule.errors import ConfigError


def params_with(*grads):
    out = []
    for g in grads:
        p = cr.tensor(np.zeros_like(g), requires_grad=True)
        p.grad = np.array(g, np.float32)
        out.append(p)
    return out


def test_clip_grad_norm_returns_total_norm_and_scales():
    ps = params_with([3.0, 0.0], [0.0, 4.0])
    total = optim.clip_grad_norm_(ps, 1.0)
    assert total == pytest.approx(5.0)
    assert math.sqrt(sum(float((p.grad ** 2).sum()) for p in ps)) == pytest.approx(1.0, 1e-5)
    np.testing.assert_allclose(ps[0].grad, [0.6, 0.0], rtol=1e-5)


def test_clip_grad_norm_leaves_small_grads_alone():
    ps = params_with([0.3, 0.4])
    assert optim.clip_grad_norm_(ps, 1.0) == pytest.approx(0.5)
    np.testing.assert_array_equal(ps[0].grad, np.array([0.3, 0.4], np.float32))


def test_clip_grad_norm_inf_norm_and_skips_missing_grads():
    ps = params_with([1.0, -6.0]) + [cr.tensor([1.0], requires_grad=True)]
    assert optim.clip_grad_norm_(ps, 3.0, norm_type=math.inf) == pytest.approx(6.0)
    np.testing.assert_allclose(ps[0].grad, [0.5, -3.0], rtol=1e-5)


def test_clip_grad_norm_matches_torch(torch):
    rng = np.random.default_rng(0)
    gs = [rng.standard_normal((3, 4)), rng.standard_normal(5)]
    ours = params_with(*gs)
    theirs = [torch.zeros(g.shape, requires_grad=True) for g in gs]
    for t, g in zip(theirs, gs):
        t.grad = torch.tensor(g, dtype=torch.float32)
    n1 = optim.clip_grad_norm_(ours, 0.7)
    n2 = torch.nn.utils.clip_grad_norm_(theirs, 0.7)
    assert n1 == pytest.approx(float(n2), rel=1e-5)
    for p, t in zip(ours, theirs):
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-5)


def test_clip_grad_value_clamps_in_place():
    ps = params_with([-3.0, 0.5, 2.0])
    g = ps[0].grad
    optim.clip_grad_value_(ps, 1.0)
    assert ps[0].grad is g
    np.testing.assert_array_equal(g, np.array([-1.0, 0.5, 1.0], np.float32))


def test_clip_rejects_negative_limits():
    with pytest.raises(ConfigError, match="max_norm must be >= 0; got -1"):
        optim.clip_grad_norm_(params_with([1.0]), -1)
    with pytest.raises(ConfigError, match="clip_value must be >= 0"):
        optim.clip_grad_value_(params_with([1.0]), -1)
