"""The 2-D session behind the page's first tab, tested without any web layer."""
from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from chainrule.errors import ConfigError
from chainrule.playground import protocol
from chainrule.playground.protocol import ProtocolError
from chainrule.playground.toy import AVERAGE_STEPS, BOUNDARY_SIZE, NEURON_SIZE, ToySession


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
    if name in protocol.REGRESSION_PROBLEMS:
        assert d["problem"] == "regression" and f["accuracy_train"] is None
        assert all(len(p) == 3 and -1.5 <= p[2] <= 1.5 for p in d["train"])
    else:
        assert d["problem"] == "classification" and 0 <= f["accuracy_train"] <= 1
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
    s = ToySession({"activation": activation, "optimizer": optimizer, "n_points": 50,
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


def test_two_sessions_from_one_link_with_dropout_reach_the_same_weights_and_loss():
    import chainrule as cr

    link = {"dataset": "spiral", "hidden": [8, 8], "dropout": 0.3, "seed": 4, "init": 2,
            "features": ["x1", "x2", "sin_x1"], "batch_size": 10, "noise": 0.2}
    a = ToySession(link)
    for _ in range(30):
        a.step(2)
    b = ToySession(link)
    other = ToySession({**link, "init": 3})     # another page training meanwhile
    for _ in range(30):
        cr.manual_seed(99)                      # and the global generator reseeded and drawn from
        cr.randn(5)
        other.step(1)
        b.step(2)
    for la, lb in zip(a.linears, b.linears, strict=True):
        np.testing.assert_array_equal(la.weight.data, lb.weight.data)
        np.testing.assert_array_equal(la.bias.data, lb.bias.data)
    assert a.last_loss == b.last_loss and a.losses() == b.losses()
    # the masks really are random: another start (init) gives another run
    assert not np.array_equal(a.linears[0].weight.data, other.linears[0].weight.data)


def test_dropout_switched_on_mid_run_draws_from_the_session_too():
    def run():
        s = ToySession({"n_points": 100})
        s.step(5)
        s.configure(dropout=0.5)
        s.step(10)
        return s
    a, b = run(), run()
    np.testing.assert_array_equal(a.linears[0].weight.data, b.linears[0].weight.data)


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


def test_the_default_start_learns_xor():
    # the page's first XOR: default settings, then the problem switched (a new start)
    s = ToySession()
    s.configure(dataset="xor")
    for _ in range(30):
        s.step(100)
        if s.losses()[1] < 0.1:
            break
    assert s.losses()[1] < 0.1 and s.steps <= 3000


def test_input_features_are_input_nodes():
    s = ToySession({"features": ["x1", "x2", "x1x2", "sin_x1"], "hidden": [3], "n_points": 100})
    assert s.linears[0].weight.shape == (3, 4)
    d = s.data_message()
    assert d["features"] == ["x1", "x2", "x1x2", "sin_x1"]
    assert d["feature_labels"][2] == "x₁x₂" and len(d["feature_maps"]) == 7  # every one offered
    assert all(bytes_of(m).size == NEURON_SIZE ** 2 for m in d["feature_maps"].values())
    # x1x2 is the product of the columns the first two features hold
    np.testing.assert_allclose(s.f_train[:, 2], s.f_train[:, 0] * s.f_train[:, 1], rtol=1e-6)
    assert s.configure(features=["x1x2"]) == "data" and s.linears[0].weight.shape == (3, 1)


def test_xor_needs_no_hidden_layer_given_the_product_feature():
    s = ToySession({"dataset": "xor", "features": ["x1x2"], "hidden": [], "lr": 1.0})
    s.step(1000)
    f = s.frame()
    assert f["accuracy_test"] > 0.95 and f["loss_test"] < 0.25


def test_regression_uses_mse_and_a_linear_output():
    s = ToySession({"dataset": "plane", "hidden": [3], "n_points": 200, "noise": 0.0})
    out = s.model(__import__("chainrule").tensor(s.f_train[:4]))
    expected = np.mean((out.numpy().reshape(-1) - s.y_train[:4]) ** 2)
    assert float(s.loss(out, s.y_train[:4]).item()) == pytest.approx(expected, rel=1e-5)
    s.step(800)
    f = s.frame()
    assert f["problem"] == "regression" and f["loss_test"] < 0.01
    assert f["accuracy_test"] is None


def test_l1_pulls_weights_to_zero():
    a = ToySession({"n_points": 100, "l1": 0.0})
    b = ToySession({"n_points": 100, "l1": 0.01})
    a.step(300)
    b.step(300)
    size = lambda s: sum(float(np.abs(lin.weight.data).sum()) for lin in s.linears)  # noqa: E731
    assert size(b) < 0.8 * size(a)


def test_gradient_views():
    s = ToySession({"n_points": 200, "grad_view": "last"})
    s.step(5)
    np.testing.assert_allclose(s.frame()["grads"][0], s.last_grads[0], atol=1e-6)
    s.configure(grad_view="full")
    full = s.frame()["grads"]
    np.testing.assert_allclose(full[0], s.full_batch_grads()[0], atol=1e-6)
    s.reset()
    s.configure(grad_view="average")
    seen = []
    for _ in range(4):
        s.step(1)
        seen.append(s.last_grads[0].copy())
    # a moving average: the newest step weighs most, the first steps are not biased to zero
    beta = 1 - 1 / AVERAGE_STEPS
    weights = beta ** np.arange(3, -1, -1)
    expected = np.tensordot(weights / weights.sum(), np.array(seen), axes=1)
    np.testing.assert_allclose(s.frame()["grads"][0], expected, atol=1e-6)


def test_averaged_gradients_flicker_less_than_the_last_minibatch():
    def flips(view):
        s = ToySession({"grad_view": view, "seed": 4})
        s.step(200)
        prev, changed = None, []
        for _ in range(15):
            s.step(10)
            sign = np.sign(np.concatenate([np.ravel(g) for g in s.frame()["grads"]]))
            if prev is not None:
                changed.append(np.mean(sign != prev))
            prev = sign
        return float(np.mean(changed))

    last, full, avg = flips("last"), flips("full"), flips("average")
    assert avg < last / 2.5 and full < 0.75 * last


def test_set_a_weight_and_a_bias():
    s = ToySession({"n_points": 100})
    s.set_parameter(0, 1, 0, 2.5)
    s.set_parameter(1, 0, None, -1.25)
    f = s.frame()
    assert f["weights"][0][1][0] == 2.5 and f["biases"][1][0] == -1.25
    with pytest.raises(ConfigError, match="no weight"):
        s.set_parameter(0, 99, 0, 1.0)


def test_a_diverged_network_stops_and_says_so():
    import warnings

    s = ToySession({"activation": "linear", "lr": 10, "optimizer": "momentum"})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no NumPy overflow warnings reach the terminal
        for _ in range(20):
            try:
                s.step(10)
            except ConfigError as exc:
                assert "not numbers" in str(exc) and "reset" in str(exc)
                break
        f = s.frame()
    assert f["diverged"] and f["hints"][0]["kind"] == "nan"
    assert f["loss_train"] is None and f["accuracy_train"] is None
    flat = [v for m in f["weights"] for row in m for v in row]
    assert None in flat  # NaN goes out as null, never as a number
    with pytest.raises(ConfigError, match="reset"):
        s.step(1)
    s.reset()
    s.step(1)


def test_a_learning_rate_of_10_brings_a_hint_within_200_steps():
    s = ToySession({"lr": 10, "optimizer": "momentum", "activation": "tanh"})
    kinds = set()
    while s.steps < 200 and not kinds:
        s.step(10)
        kinds = {h["kind"] for h in s.frame()["hints"]}
    assert kinds & {"rising", "oscillating", "saturated"}


def test_dead_relus_are_named():
    s = ToySession({"activation": "relu", "hidden": [4]})
    for lin in s.linears[:1]:
        lin.bias.data[...] = -50.0  # every neuron negative everywhere: dead
    f = s.frame()
    assert any(h["kind"] == "dead_relu" and "4 of 4" in h["text"] for h in f["hints"])


def test_a_stuck_net_is_called_stuck():
    s = ToySession({"dataset": "xor", "hidden": [2], "activation": "linear"})  # a linear net cannot do XOR
    hints = []
    for _ in range(40):
        s.step(100)
        hints = s.frame()["hints"]
    assert [h["kind"] for h in hints] == ["stuck"] and "reset" in hints[0]["text"]
