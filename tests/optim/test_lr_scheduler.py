"""Learning-rate schedulers: closed forms, and torch's sequences."""
from __future__ import annotations

import math

import pytest

import chainrule as cr
from chainrule import optim
from chainrule.errors import ConfigError
from chainrule.optim.lr_scheduler import CosineAnnealingLR, ReduceLROnPlateau, StepLR


def sgd(lr=0.1):
    return optim.SGD([cr.tensor([1.0], requires_grad=True)], lr=lr)


def lrs(sched, n):
    out = [sched.get_last_lr()[0]]
    for _ in range(n):
        sched.step()
        out.append(sched.get_last_lr()[0])
    return out


def test_step_lr_closed_form():
    opt = sgd()
    got = lrs(StepLR(opt, step_size=3, gamma=0.5), 9)
    assert got == pytest.approx([0.1 * 0.5 ** (e // 3) for e in range(10)])
    assert opt.param_groups[0]["lr"] == pytest.approx(got[-1])


def test_cosine_closed_form_within_first_cycle():
    got = lrs(CosineAnnealingLR(sgd(), T_max=10, eta_min=0.01), 10)
    want = [0.01 + 0.09 * (1 + math.cos(math.pi * e / 10)) / 2 for e in range(11)]
    assert got == pytest.approx(want)


def test_plateau_reduces_after_patience_and_respects_min_lr():
    opt = sgd(1.0)
    s = ReduceLROnPlateau(opt, factor=0.5, patience=2, min_lr=0.3)
    seen = []
    for metric in [1.0, 0.9, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95]:
        s.step(metric)
        seen.append(opt.param_groups[0]["lr"])
    assert seen == [1, 1, 1, 1, 0.5, 0.5, 0.5, 0.3, 0.3, 0.3]


@pytest.mark.parametrize("name,kw", [
    ("StepLR", dict(step_size=2, gamma=0.3)),
    ("CosineAnnealingLR", dict(T_max=4, eta_min=0.001)),
])
def test_scheduler_matches_torch(torch, name, kw):
    ours = getattr(optim.lr_scheduler, name)(sgd(), **kw)
    p = torch.zeros(1, requires_grad=True)
    topt = torch.optim.SGD([p], lr=0.1)
    theirs = getattr(torch.optim.lr_scheduler, name)(topt, **kw)
    want = [theirs.get_last_lr()[0]]
    for _ in range(12):
        topt.step()
        theirs.step()
        want.append(theirs.get_last_lr()[0])
    assert lrs(ours, 12) == pytest.approx(want, rel=1e-9, abs=1e-12)


def test_plateau_matches_torch(torch):
    metrics = [1.0, 0.8, 0.8, 0.79999, 0.81, 0.7, 0.7, 0.7, 0.7, 0.71, 0.72, 0.69, 0.69, 0.7]
    opt = sgd()
    ours = ReduceLROnPlateau(opt, mode="min", factor=0.5, patience=1, threshold=1e-3,
                             cooldown=1, min_lr=0.01)
    p = torch.zeros(1, requires_grad=True)
    topt = torch.optim.SGD([p], lr=0.1)
    theirs = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, mode="min", factor=0.5, patience=1,
                                                        threshold=1e-3, cooldown=1, min_lr=0.01)
    for m in metrics:
        ours.step(m)
        theirs.step(m)
        assert opt.param_groups[0]["lr"] == pytest.approx(topt.param_groups[0]["lr"])


def test_plateau_max_mode_counts_rises_as_improvement():
    opt = sgd(1.0)
    s = ReduceLROnPlateau(opt, mode="max", patience=0, factor=0.1)
    s.step(0.5)
    s.step(0.6)
    assert opt.param_groups[0]["lr"] == 1.0
    s.step(0.6)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1)


def test_scheduler_state_dict_round_trip():
    import json
    s1 = CosineAnnealingLR(sgd(), T_max=5)
    lrs(s1, 3)
    opt2 = sgd()
    s2 = CosineAnnealingLR(opt2, T_max=5)
    s2.load_state_dict(json.loads(json.dumps(s1.state_dict())))
    opt2.param_groups[0]["lr"] = s1.get_last_lr()[0]
    assert lrs(s2, 2)[1:] == pytest.approx(lrs(s1, 2)[1:])


@pytest.mark.parametrize("make", [
    lambda o: StepLR(o, step_size=0),
    lambda o: CosineAnnealingLR(o, T_max=0),
    lambda o: ReduceLROnPlateau(o, mode="lowest"),
    lambda o: ReduceLROnPlateau(o, factor=1.0),
])
def test_scheduler_bad_arguments(make):
    with pytest.raises(ConfigError):
        make(sgd())


def test_scheduler_load_state_dict_rejects_wrong_types_and_keys():
    from chainrule.errors import ModelFileError
    s = StepLR(sgd(), step_size=2)
    with pytest.raises(ModelFileError, match="last_epoch = 'x' does not fit"):
        s.load_state_dict({"last_epoch": "x"})
    with pytest.raises(ModelFileError, match=r"unexpected keys \['evil'\]"):
        s.load_state_dict({"evil": 1})
    with pytest.raises(ModelFileError, match="base_lrs"):
        s.load_state_dict({"base_lrs": [0.1, 0.2]})
    p = ReduceLROnPlateau(sgd())
    p.load_state_dict({"best": 0.5, "num_bad_epochs": 2})
    assert p.best == 0.5 and p.num_bad_epochs == 2
