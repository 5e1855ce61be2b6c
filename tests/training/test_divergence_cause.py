"""A divergence is blamed on its likely cause: a huge weight decay is not a learning-rate problem."""
from __future__ import annotations

import warnings

import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.data import toy2d
from chainrule.training import TrainingDiverged, fit
from chainrule.training.run import divergence_cause


def _diverge(opt_factory):
    cr.manual_seed(0)
    data = toy2d("xor", n=64)
    model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 2))
    with warnings.catch_warnings(), pytest.raises(TrainingDiverged) as info:
        warnings.simplefilter("ignore")
        fit(model, nn.CrossEntropyLoss(), opt_factory(model.parameters()), data.train, epochs=5, batch_size=16,
            progress=False)
    return str(info.value)


@pytest.mark.parametrize("make", [lambda p: optim.SGD(p, lr=0.1, weight_decay=1e308),
                                  lambda p: optim.Adam(p, lr=0.01, weight_decay=1e308)])
def test_a_huge_weight_decay_is_named_not_the_learning_rate(make):
    message = _diverge(make)
    assert "weight decay 1e+308 is far too large" in message
    assert "probably too high" not in message


def test_a_huge_learning_rate_is_still_named():
    message = _diverge(lambda p: optim.SGD(p, lr=1e30))
    assert "learning rate 1e+30 is probably too high" in message


def test_ordinary_settings_have_no_other_cause():
    model = nn.Linear(2, 2)
    assert divergence_cause(optim.SGD(model.parameters(), lr=0.1, weight_decay=1e-4, momentum=0.9)) is None
    assert divergence_cause(optim.Adam(model.parameters(), lr=0.001, weight_decay=0.01)) is None
