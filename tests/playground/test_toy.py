"""The 2-D session behind the page's first tab, tested without any web layer."""
from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from chainrule.errors import ConfigError
from chainrule.playground import protocol
from chainrule.playground.protocol import ProtocolError
from chainrule.playground.toy import BOUNDARY_SIZE, NEURON_SIZE, ToySession


def bytes_of(b64: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(b64), dtype=np.uint8)


@pytest.fixture
def session():
    return ToySession({"n_points": 200, "seed": 3})


def test_frame_describes_the_whole_network(session):
    session.configure(hidden=[3, 5])
    session.step(2)
    f = session.frame()
    json.loads(protocol.encode(f))  # JSON-ready as it is
    assert f["type"] == "frame" and f["step"] == 2
    assert bytes_of(f["boundary"]).size == BOUNDARY_SIZE ** 2
    assert [len(layer) for layer in f["neurons"]] == [3, 5]
    assert all(bytes_of(n).size == NEURON_SIZE ** 2 for layer in f["neurons"] for n in layer)
    shapes = [(3, 2), (5, 3), (1, 5)]
    assert [np.shape(w) for w in f["weights"]] == shapes
    assert [np.shape(g) for g in f["grads"]] == shapes
    assert [np.shape(b) for b in f["biases"]] == [(3,), (5,), (1,)]
    assert len(f["grad_norms"]) == 3 and all(g > 0 for g in f["grad_norms"])
    assert 0 < f["loss_train"] < 5 and 0 < f["loss_test"] < 5


def test_frame_gradients_are_those_of_the_last_backward_pass(session):
    session.step(1)
    f = session.frame()
    for lin, g in zip(session.linears, f["grads"], strict=True):
        np.testing.assert_allclose(np.array(g), lin.weight.grad, atol=1e-6)
    norms = [np.linalg.norm(lin.weight.grad) for lin in session.linears]
    np.testing.assert_allclose(f["grad_norms"], norms, rtol=1e-4)


def test_gradients_match_finite_differences_of_the_minibatch_loss():
    import chainrule as cr

    s = ToySession({"n_points": 100, "seed": 5, "hidden": [3], "batch_size": 100,
                           "test_fraction": 0.5})
    idx = np.arange(50)
    s.cursor.order, s.cursor.pos = idx, 0
    w = s.linears[0].weight
    before = w.data.copy()
    s.optimizer.step = lambda: None  # look at the gradient without moving the weights
    s.step(1)

    def loss():
        with cr.no_grad():
            return float(s.loss(s.model(cr.tensor(s.x_train[idx])), s.y_train[idx]).item())

    eps = 1e-2
    w.data[0, 1] = before[0, 1] + eps
    up = loss()
    w.data[0, 1] = before[0, 1] - eps
    down = loss()
    w.data[...] = before
    assert s.last_grads[0][0, 1] == pytest.approx((up - down) / (2 * eps), rel=0.05, abs=1e-4)


def test_training_lowers_the_loss(session):
    before = session.losses()
    session.step(600)
    after = session.losses()
    assert after[0] < before[0] * 0.7
    assert after[1] < before[1] * 0.7
    assert session.history.points == [] or session.history.points[-1][0] <= session.steps


@pytest.mark.parametrize("name", protocol.DATASETS)
def test_every_dataset_trains_a_few_steps(name):
    s = ToySession({"dataset": name, "n_points": 100})
    s.step(5)
    f = s.frame()
    assert f["step"] == 5 and np.isfinite(f["loss_train"])
    d = s.data_message()
    assert len(d["train"]) + len(d["test"]) == 100
    assert all(len(p) == 3 and p[2] in (0.0, 1.0) for p in d["train"])
    assert d["extent"] >= 1.0


def test_no_hidden_layers_is_logistic_regression():
    s = ToySession({"hidden": [], "dataset": "gauss", "n_points": 100})
    s.step(50)
    f = s.frame()
    assert f["neurons"] == [] and np.shape(f["weights"][0]) == (1, 2)
    assert f["loss_train"] < 0.5


@pytest.mark.parametrize("activation", protocol.ACTIVATIONS)
@pytest.mark.parametrize("optimizer", protocol.OPTIMIZERS)
def test_every_activation_and_optimizer_runs(activation, optimizer):
    s = ToySession({"activation": activation, "optimizer": optimizer, "n_points": 60,
                           "hidden": [3], "l2": 0.01, "dropout": 0.2, "lr": 0.05})
    s.step(3)
    assert np.isfinite(s.frame()["loss_train"])


def test_sigmoid_six_layers_shows_vanishing_gradients():
    s = ToySession({"activation": "sigmoid", "hidden": [8] * 6, "n_points": 200, "seed": 2})
    s.step(20)
    norms = s.frame()["grad_norms"]
    assert len(norms) == 7
    assert norms[0] < norms[-1] / 100  # the first layer learns hundreds of times slower


def test_configure_rebuilds_only_what_it_must(session):
    session.step(3)
    w = session.linears[0].weight
    assert session.configure(lr=0.1) == "optimizer"
    assert session.steps == 3 and session.linears[0].weight is w
    assert session.configure(batch_size=20) == "settings" and session.steps == 3
    assert session.configure(dropout=0.3) == "settings"
    assert [m.p for m in session.model if type(m).__name__ == "Dropout"] == [0.3, 0.3]
    assert session.linears[0].weight is w
    assert session.configure(lr=0.1) == ""
    run = session.run_id
    assert session.configure(hidden=[2]) == "network"
    assert session.steps == 0 and session.run_id == run + 1
    version = session.data_version
    assert session.configure(dataset="xor") == "data"
    assert session.data_version == version + 1 and session.steps == 0


def test_configure_refuses_bad_values_and_keeps_going(session):
    with pytest.raises(ProtocolError, match="learning rate"):
        session.configure(lr=-1)
    with pytest.raises(ProtocolError, match="unknown setting"):
        session.configure(momentum=0.9)
    with pytest.raises(ConfigError, match="too few points"):
        session.check({"n_points": 2, "test_fraction": 0.9})
    assert session.config["lr"] == 0.3
    session.step(1)


def test_reset_starts_over(session):
    session.step(10)
    session.frame()
    run = session.run_id
    session.reset()
    assert session.steps == 0 and session.history.points == [] and session.run_id == run + 1
    assert all(not g.any() for g in session.last_grads)
    f = session.frame()
    assert f["step"] == 0 and f["run"] == run + 1


def test_same_seed_same_network():
    a = ToySession({"seed": 11, "n_points": 100})
    b = ToySession({"seed": 11, "n_points": 100})
    np.testing.assert_array_equal(a.x_train, b.x_train)
    for la, lb in zip(a.linears, b.linears, strict=True):
        np.testing.assert_array_equal(la.weight.data, lb.weight.data)


def test_changing_lr_or_l2_keeps_the_optimizer_state():
    s = ToySession({"optimizer": "adam", "lr": 0.01, "n_points": 100})
    s.step(3)
    opt = s.optimizer
    s.configure(lr=0.02, l2=0.001)
    assert s.optimizer is opt and opt.state  # Adam's moments survive
    weights, biases = opt.param_groups
    assert weights["lr"] == biases["lr"] == 0.02
    assert weights["weight_decay"] == 0.001 and biases["weight_decay"] == 0.0  # L2 on weights only
    s.configure(optimizer="momentum")
    assert s.optimizer is not opt and s.steps == 3
