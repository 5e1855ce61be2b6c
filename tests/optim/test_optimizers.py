"""Optimizers: N steps against hand-computed updates and against torch.optim."""
from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.errors import ConfigError, ModelFileError

GRADS = [np.array([0.5, -1.0, 2.0]), np.array([0.1, 0.3, -0.2]), np.array([-1.0, 0.0, 0.4]),
         np.array([0.2, -0.5, 1.5])]


def run(opt_cls, grads=GRADS, start=(1.0, -2.0, 0.5), **kw):
    """Apply ``opt_cls`` to one float64 parameter with the given gradient sequence."""
    p = cr.tensor(np.array(start), requires_grad=True, dtype=np.float64)
    opt = opt_cls([p], **kw)
    for g in grads:
        p.grad = g.copy()
        opt.step()
    return p.data


def test_sgd_plain_by_hand():
    expected = np.array([1.0, -2.0, 0.5]) - 0.1 * sum(GRADS)
    np.testing.assert_allclose(run(optim.SGD, lr=0.1), expected)


def test_sgd_momentum_and_weight_decay_by_hand():
    lr, mu, wd = 0.1, 0.9, 0.01
    p, buf = np.array([1.0, -2.0, 0.5]), None
    for g in GRADS:
        d = g + wd * p
        buf = d.copy() if buf is None else mu * buf + d
        p = p - lr * buf
    np.testing.assert_allclose(run(optim.SGD, lr=lr, momentum=mu, weight_decay=wd), p)


def test_sgd_nesterov_by_hand():
    lr, mu = 0.1, 0.9
    p, buf = np.array([1.0, -2.0, 0.5]), None
    for g in GRADS:
        buf = g.copy() if buf is None else mu * buf + g
        p = p - lr * (g + mu * buf)
    np.testing.assert_allclose(run(optim.SGD, lr=lr, momentum=mu, nesterov=True), p)


def test_adam_by_hand():
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    p, m, v = np.array([1.0, -2.0, 0.5]), 0.0, 0.0
    for t, g in enumerate(GRADS, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        p = p - lr / (1 - b1 ** t) * m / (np.sqrt(v) / math.sqrt(1 - b2 ** t) + eps)
    np.testing.assert_allclose(run(optim.Adam, lr=lr), p, rtol=1e-12)


def test_adamw_decays_weights_before_the_adam_step():
    lr, wd, b1, b2, eps = 0.01, 0.1, 0.9, 0.999, 1e-8
    p, m, v = np.array([1.0, -2.0, 0.5]), 0.0, 0.0
    for t, g in enumerate(GRADS, start=1):
        p = p * (1 - lr * wd)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        p = p - lr / (1 - b1 ** t) * m / (np.sqrt(v) / math.sqrt(1 - b2 ** t) + eps)
    np.testing.assert_allclose(run(optim.AdamW, lr=lr, weight_decay=wd), p, rtol=1e-12)


def test_rmsprop_by_hand():
    lr, a, eps = 0.01, 0.99, 1e-8
    p, v = np.array([1.0, -2.0, 0.5]), 0.0
    for g in GRADS:
        v = a * v + (1 - a) * g * g
        p = p - lr * g / (np.sqrt(v) + eps)
    np.testing.assert_allclose(run(optim.RMSprop, lr=lr), p, rtol=1e-12)


def test_rmsprop_centered_momentum_by_hand():
    lr, a, eps, mu = 0.01, 0.9, 1e-8, 0.5
    p, v, gbar, buf = np.array([1.0, -2.0, 0.5]), 0.0, 0.0, 0.0
    for g in GRADS:
        v = a * v + (1 - a) * g * g
        gbar = a * gbar + (1 - a) * g
        buf = mu * buf + g / (np.sqrt(v - gbar ** 2) + eps)
        p = p - lr * buf
    got = run(optim.RMSprop, lr=lr, alpha=a, momentum=mu, centered=True)
    np.testing.assert_allclose(got, p, rtol=1e-12)


TORCH_CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9, weight_decay=0.01)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.1, momentum=0.8, dampening=0.3)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.1, amsgrad=True)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, weight_decay=0.2, amsgrad=True)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, momentum=0.9, centered=True, weight_decay=0.01)),
]


@pytest.mark.parametrize("name,kw", TORCH_CASES, ids=[f"{n}-{i}" for i, (n, _) in
                                                      enumerate(TORCH_CASES)])
def test_optimizer_matches_torch_over_steps(torch, name, kw):
    rng = np.random.default_rng(0)
    init = rng.standard_normal((4, 3))
    grads = [rng.standard_normal((4, 3)) for _ in range(8)]
    ours = cr.tensor(init, requires_grad=True, dtype=np.float64)
    theirs = torch.tensor(init, requires_grad=True)
    o_ours = getattr(optim, name)([ours], **kw)
    o_theirs = getattr(torch.optim, name)([theirs], **kw)
    for g in grads:
        ours.grad = g.copy()
        theirs.grad = torch.from_numpy(g.copy())
        o_ours.step()
        o_theirs.step()
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_training_a_model_matches_torch_with_float32(torch):
    cr.manual_seed(0)
    ours = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    o1, o2 = optim.Adam(ours.parameters(), lr=0.05), torch.optim.Adam(theirs.parameters(), lr=0.05)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((16, 4)).astype(np.float32)
    y = rng.integers(0, 3, 16)
    for _ in range(10):
        o1.zero_grad()
        nn.CrossEntropyLoss()(ours(x), y).backward()
        o1.step()
        o2.zero_grad()
        torch.nn.CrossEntropyLoss()(theirs(torch.from_numpy(x)), torch.from_numpy(y)).backward()
        o2.step()
    for (k, v), tv in zip(ours.state_dict().items(), theirs.state_dict().values()):
        np.testing.assert_allclose(v, tv.numpy(), rtol=1e-4, atol=1e-5, err_msg=k)


def test_params_without_grad_are_skipped():
    a = cr.tensor([1.0], requires_grad=True)
    b = cr.tensor([1.0], requires_grad=True)
    opt = optim.Adam([a, b], lr=0.1)
    a.grad = np.array([1.0], np.float32)
    opt.step()
    assert b.data[0] == 1.0 and a.data[0] != 1.0
    assert "0.step" in opt.state_dict()["scalars"] and "1.step" not in opt.state_dict()["scalars"]


def test_step_updates_in_place_and_keeps_float32():
    m = nn.Linear(3, 2)
    w = m.weight.data
    opt = optim.Adam(m.parameters())
    (m(np.ones((2, 3))) ** 2).sum().backward()
    opt.step()
    assert m.weight.data is w and w.dtype == np.float32
    assert opt.state[id(m.weight)]["exp_avg"].dtype == np.float32


def test_zero_grad_clears_grads():
    m = nn.Linear(3, 2)
    opt = optim.SGD(m.parameters(), lr=0.1)
    m(np.ones((2, 3))).sum().backward()
    opt.zero_grad()
    assert all(p.grad is None for p in m.parameters())


def test_param_groups_have_their_own_lr_and_lr_is_settable():
    a = cr.tensor([1.0], requires_grad=True)
    b = cr.tensor([1.0], requires_grad=True)
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 1.0}], lr=0.1)
    a.grad = np.ones(1, np.float32)
    b.grad = np.ones(1, np.float32)
    opt.step()
    assert a.data[0] == pytest.approx(0.9) and b.data[0] == pytest.approx(0.0)
    opt.param_groups[0]["lr"] = 0.5
    opt.step()
    assert a.data[0] == pytest.approx(0.4)


def test_optimizer_accepts_a_module():
    m = nn.Linear(2, 2)
    assert optim.SGD(m, lr=0.1).param_groups[0]["params"] == m.parameters()


@pytest.mark.parametrize("make,match", [
    (lambda p: optim.SGD(p, lr=-0.1), "SGD: lr must be a finite number >= 0.0; got -0.1"),
    (lambda p: optim.SGD(p, lr=0.1, momentum=-1), "momentum"),
    (lambda p: optim.SGD(p, lr=0.1, nesterov=True), "nesterov=True needs momentum > 0"),
    (lambda p: optim.Adam(p, betas=(0.9, 1.0)), r"betas\[1\] must be a finite number"),
    (lambda p: optim.Adam(p, eps=-1e-8), "eps"),
    (lambda p: optim.AdamW(p, weight_decay=float("nan")), "weight_decay"),
    (lambda p: optim.RMSprop(p, alpha=1.5), "alpha"),
    (lambda p: optim.Adam(p, lr="fast"), "lr must be a finite number >= 0.0; got 'fast'"),
])
def test_bad_hyperparameters_raise_config_error_naming_the_value(make, match):
    with pytest.raises(ConfigError, match=match):
        make([cr.tensor([1.0], requires_grad=True)])


def test_empty_or_frozen_params_rejected():
    with pytest.raises(ConfigError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(ConfigError, match="does not require grad"):
        optim.SGD([cr.tensor([1.0])], lr=0.1)


@pytest.mark.parametrize("cls", [optim.SGD, optim.Adam, optim.AdamW, optim.RMSprop])
def test_state_dict_round_trip_continues_identically(cls):
    kw = dict(lr=0.05, momentum=0.9) if cls in (optim.SGD, optim.RMSprop) else dict(lr=0.05)
    grads = [np.random.default_rng(i).standard_normal(3).astype(np.float32) for i in range(6)]
    a = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    opt_a = cls([a], **kw)
    for g in grads[:3]:
        a.grad = g.copy()
        opt_a.step()
    sd = opt_a.state_dict()
    b = cr.tensor(a.data.copy(), requires_grad=True)
    opt_b = cls([b], lr=1.0)
    opt_b.load_state_dict(sd)
    assert opt_b.param_groups[0]["lr"] == 0.05
    for g in grads[3:]:
        a.grad, b.grad = g.copy(), g.copy()
        opt_a.step()
        opt_b.step()
    np.testing.assert_array_equal(a.data, b.data)


def test_state_dict_separates_arrays_from_json_scalars():
    import json
    a = cr.tensor([1.0], requires_grad=True)
    opt = optim.Adam([a])
    a.grad = np.ones(1, np.float32)
    opt.step()
    sd = opt.state_dict()
    assert all(isinstance(v, np.ndarray) for v in sd["state"].values())
    json.dumps({k: v for k, v in sd.items() if k != "state"})


def test_load_state_dict_rejects_mismatched_state():
    a = cr.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.Adam([a])
    a.grad = np.ones(2, np.float32)
    opt.step()
    sd = opt.state_dict()
    with pytest.raises(ModelFileError, match="saved by Adam"):
        optim.SGD([a], lr=0.1).load_state_dict(sd)
    other = optim.Adam([cr.tensor([1.0, 2.0, 3.0], requires_grad=True)])
    with pytest.raises(ModelFileError, match=r"'0.exp_avg' has shape \(2,\)"):
        other.load_state_dict(sd)
    sd["param_groups"][0]["lr"] = -1
    with pytest.raises(ModelFileError, match="lr must be"):
        optim.Adam([a]).load_state_dict(sd)


def _hyper(name):
    from hypothesis import strategies as st
    lr = st.floats(1e-4, 0.5)
    wd = st.sampled_from([0.0, 0.01, 0.3])
    if name == "SGD":
        return st.fixed_dictionaries({"lr": lr, "weight_decay": wd,
                                      "momentum": st.sampled_from([0.0, 0.5, 0.9])})
    if name == "RMSprop":
        return st.fixed_dictionaries({"lr": lr, "weight_decay": wd,
                                      "alpha": st.floats(0.5, 0.999),
                                      "momentum": st.sampled_from([0.0, 0.9]),
                                      "centered": st.booleans()})
    return st.fixed_dictionaries({"lr": lr, "weight_decay": wd, "amsgrad": st.booleans(),
                                  "betas": st.tuples(st.floats(0.0, 0.99), st.floats(0.5, 0.9999))})


@pytest.mark.parametrize("name", ["SGD", "RMSprop", "Adam", "AdamW"])
def test_random_hyperparameters_match_torch(torch, name):
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=15, deadline=None)
    @given(kw=_hyper(name), seed=st.integers(0, 2 ** 16))
    def check(kw, seed):
        rng = np.random.default_rng(seed)
        init = rng.standard_normal(5)
        ours = cr.tensor(init, requires_grad=True, dtype=np.float64)
        theirs = torch.tensor(init, requires_grad=True)
        o1 = getattr(optim, name)([ours], **kw)
        o2 = getattr(torch.optim, name)([theirs], **kw)
        for _ in range(5):
            g = rng.standard_normal(5)
            ours.grad, theirs.grad = g.copy(), torch.from_numpy(g.copy())
            o1.step()
            o2.step()
        np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-9, atol=1e-12)

    check()


def test_load_state_dict_rejects_incomplete_per_parameter_state():
    a = cr.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.Adam([a])
    a.grad = np.ones(2, np.float32)
    opt.step()
    sd = opt.state_dict()
    del sd["scalars"]["0.step"]
    with pytest.raises(ModelFileError, match=r"parameter 0 lacks state \['step'\]"):
        optim.Adam([a]).load_state_dict(sd)
    sd["scalars"]["0.step"] = -3
    with pytest.raises(ModelFileError, match="count >= 0; got -3"):
        optim.Adam([a]).load_state_dict(sd)


def test_failed_load_leaves_optimizer_unchanged():
    a, b = cr.tensor([1.0], requires_grad=True), cr.tensor([1.0], requires_grad=True)
    opt = optim.SGD([{"params": [a]}, {"params": [b]}], lr=0.1)
    sd = opt.state_dict()
    sd["param_groups"][0]["lr"] = 0.5
    sd["param_groups"][1]["lr"] = -1.0
    with pytest.raises(ModelFileError):
        opt.load_state_dict(sd)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.1]
