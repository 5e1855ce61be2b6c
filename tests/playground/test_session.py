"""The training sessions behind the page, tested without any web layer."""
from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from chainrule.errors import ConfigError
from chainrule.playground import protocol
from chainrule.playground.protocol import ProtocolError
from chainrule.playground.session import (
    BOUNDARY_SIZE,
    NEURON_SIZE,
    DigitData,
    FrameClock,
    MnistSession,
    PlaygroundSession,
    SessionManager,
    _History,
    load_digits,
    prepare_drawing,
)


def bytes_of(b64: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(b64), dtype=np.uint8)


@pytest.fixture
def session():
    return PlaygroundSession({"n_points": 200, "seed": 3})


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
    for lin, g in zip(session.model.linears, f["grads"]):
        np.testing.assert_allclose(np.array(g), lin.weight.grad, atol=1e-6)
    norms = [np.linalg.norm(lin.weight.grad) for lin in session.model.linears]
    np.testing.assert_allclose(f["grad_norms"], norms, rtol=1e-4)


def test_gradients_match_finite_differences_of_the_minibatch_loss():
    import chainrule as cr

    s = PlaygroundSession({"n_points": 100, "seed": 5, "hidden": [3], "batch_size": 100,
                           "test_fraction": 0.5})
    idx = np.arange(50)
    s._order, s._pos = idx, 0
    w = s.model.linears[0].weight
    before = w.data.copy()
    s.optimizer.step = lambda: None  # look at the gradient without moving the weights
    s.step(1)

    def loss():
        with cr.no_grad():
            return float(s._loss(s.model.forward(cr.tensor(s.x_train[idx])), s.y_train[idx]).item())

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
    s = PlaygroundSession({"dataset": name, "n_points": 100})
    s.step(5)
    f = s.frame()
    assert f["step"] == 5 and np.isfinite(f["loss_train"])
    d = s.data_message()
    assert len(d["train"]) + len(d["test"]) == 100
    assert all(len(p) == 3 and p[2] in (0.0, 1.0) for p in d["train"])
    assert d["extent"] >= 1.0


def test_no_hidden_layers_is_logistic_regression():
    s = PlaygroundSession({"hidden": [], "dataset": "gauss", "n_points": 100})
    s.step(50)
    f = s.frame()
    assert f["neurons"] == [] and np.shape(f["weights"][0]) == (1, 2)
    assert f["loss_train"] < 0.5


@pytest.mark.parametrize("activation", protocol.ACTIVATIONS)
@pytest.mark.parametrize("optimizer", protocol.OPTIMIZERS)
def test_every_activation_and_optimizer_runs(activation, optimizer):
    s = PlaygroundSession({"activation": activation, "optimizer": optimizer, "n_points": 60,
                           "hidden": [3], "l2": 0.01, "dropout": 0.2, "lr": 0.05})
    s.step(3)
    assert np.isfinite(s.frame()["loss_train"])


def test_sigmoid_six_layers_shows_vanishing_gradients():
    s = PlaygroundSession({"activation": "sigmoid", "hidden": [8] * 6, "n_points": 200, "seed": 2})
    s.step(20)
    norms = s.frame()["grad_norms"]
    assert len(norms) == 7
    assert norms[0] < norms[-1] / 100  # the first layer learns hundreds of times slower


def test_configure_rebuilds_only_what_it_must(session):
    session.step(3)
    w = session.model.linears[0].weight
    assert session.configure(lr=0.1) == "optimizer"
    assert session.steps == 3 and session.model.linears[0].weight is w
    assert session.configure(batch_size=20) == "settings" and session.steps == 3
    assert session.configure(dropout=0.3) == "settings" and session.model.dropout == 0.3
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
        session._check_sizes({"n_points": 2, "test_fraction": 0.9})
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
    a = PlaygroundSession({"seed": 11, "n_points": 100})
    b = PlaygroundSession({"seed": 11, "n_points": 100})
    np.testing.assert_array_equal(a.x_train, b.x_train)
    for la, lb in zip(a.model.linears, b.model.linears):
        np.testing.assert_array_equal(la.weight.data, lb.weight.data)


def test_history_thins_instead_of_growing():
    h = _History(limit=10)
    for i in range(1000):
        h.add([i, 0.0, 0.0])
    assert len(h.points) <= 10
    steps = [p[0] for p in h.points]
    assert steps == sorted(steps) and steps[0] == 0 and steps[-1] > 800


# ---- MNIST ---------------------------------------------------------------------------------

def tiny_digits(side: int = 8, n: int = 300) -> DigitData:
    """Ten easy classes: class k lights up row k % side (plus noise)."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, n)
    x = rng.uniform(0, 0.2, (n, side, side)).astype(np.float32)
    for i, k in enumerate(y):
        x[i, k % side, :] = 1.0
        x[i, :, k // side * 2] = 1.0 if k >= side else x[i, :, 0]
    x = x.reshape(n, -1)
    return DigitData(x[:200], y[:200], x[200:], y[200:], side, "tiny test digits")


def test_mnist_session_learns_and_reports_accuracy():
    s = MnistSession(tiny_digits(), {"hidden": [32], "lr": 0.01, "batch_size": 32})
    f0 = s.frame()
    assert f0["step"] == 0 and f0["loss"] is None and f0["test_size"] == 100
    s.step(150)
    f = s.frame()
    assert f["type"] == "mnist_frame" and f["step"] == 150
    assert f["test_accuracy"] > 0.8 and f["train_accuracy"] > 0.8
    assert f["epoch"] == pytest.approx(150 * 32 / 200)
    # without evaluation the frame is cheap and keeps the last test accuracy
    s.step(1)
    assert s.frame(evaluate=False)["test_accuracy"] == f["test_accuracy"]


def test_mnist_configure_and_reset():
    s = MnistSession(tiny_digits(), {"hidden": [16]})
    s.step(2)
    assert s.configure(lr=0.01) == "optimizer" and s.steps == 2
    assert s.configure(hidden=[8, 8]) == "network" and s.steps == 0
    assert [lin.weight.shape for lin in s.model.linears] == [(8, 64), (8, 8), (10, 8)]
    with pytest.raises(ProtocolError):
        s.configure(hidden=[600])


def test_prediction_of_a_drawing():
    s = MnistSession(tiny_digits(), {"hidden": [16]})
    blank = s.predict([0] * 784)
    assert blank["probs"] is None and blank["label"] is None
    pad = np.zeros((28, 28))
    pad[5:23, 12:15] = 255  # a "1"
    p = s.predict(pad.reshape(-1).astype(int).tolist())
    assert len(p["probs"]) == 10 and sum(p["probs"]) == pytest.approx(1, abs=1e-3)
    assert p["label"] == int(np.argmax(p["probs"])) and p["input_side"] == 8
    assert bytes_of(p["input"]).size == 64


def test_prepare_drawing_centres_like_mnist():
    pad = np.zeros((28, 28))
    pad[0:10, 0:4] = 255  # a short stroke in the corner
    x = prepare_drawing(pad.reshape(-1), 28).reshape(28, 28)
    rows, cols = np.nonzero(x > 0.05)
    assert rows.max() - rows.min() + 1 == 20          # scaled so the long side is 20
    cy = (x.sum(axis=1) @ np.arange(28)) / x.sum()
    cx = (x.sum(axis=0) @ np.arange(28)) / x.sum()
    assert abs(cy - 13.5) <= 1 and abs(cx - 13.5) <= 1  # centre of mass in the middle
    assert x.max() == pytest.approx(1.0)
    small = prepare_drawing(pad.reshape(-1), 8)
    assert small.shape == (64,) and small.max() == pytest.approx(1.0)
    assert prepare_drawing(np.zeros(784), 28) is None


def test_load_digits_falls_back_to_the_bundled_digits(tmp_path):
    d = load_digits(str(tmp_path))
    assert d.side == 8 and d.x_train.shape[1] == 64
    assert 0 <= d.x_train.min() and d.x_train.max() <= 1
    assert "bundled digits" in d.source and "--data-dir" in d.source
    assert load_digits(str(tmp_path)) is d  # loaded once, shared


def test_load_digits_reads_mnist_when_present(mnist_dir):
    from chainrule.playground import session as session_module

    try:
        d = load_digits(str(mnist_dir))
        assert d.side == 28 and d.x_train.shape == (60000, 784) and d.x_test.shape == (10000, 784)
        assert 0 <= d.x_train.min() and d.x_train.max() <= 1
        assert "MNIST" in d.source
    finally:  # do not keep 200 MB alive for the rest of the test run
        session_module._DIGIT_CACHE.pop(str(mnist_dir), None)


# ---- pacing and bookkeeping ------------------------------------------------------------------

class FakeClock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def test_frame_clock_keeps_frames_at_or_under_the_rate():
    clock = FakeClock()
    fc = FrameClock(20, clock)
    assert fc.wait_time() == 0
    sent = []
    # a loop that sends whenever allowed, polled every millisecond for 3 simulated seconds
    for _ in range(3000):
        if fc.wait_time() <= 0:
            fc.sent()
            sent.append(clock.t)
        clock.t += 0.001
    gaps = np.diff(sent)
    assert len(sent) <= 3 * 20 + 1
    assert gaps.min() >= 0.05 - 1e-9
    assert len(sent) >= 55  # and it does not dawdle either


def test_frame_clock_does_not_burst_after_a_stall():
    clock = FakeClock()
    fc = FrameClock(20, clock)
    fc.sent()
    clock.t += 2.0  # a slow tick
    assert fc.wait_time() == 0
    fc.sent()
    assert fc.wait_time() == pytest.approx(0.05)


def test_frame_clock_rejects_silly_rates():
    with pytest.raises(ConfigError):
        FrameClock(0)
    with pytest.raises(ConfigError):
        FrameClock(1000)


def test_session_manager_limits_and_idle_timeout():
    clock = FakeClock()
    m = SessionManager(max_sessions=2, idle_timeout=600, clock=clock)
    a, b = m.open(), m.open()
    assert a and b and a != b and len(m) == 2
    assert m.open() is None and m.refused == 1
    clock.t += 599
    m.touch(b)
    assert not m.is_idle(a) and m.time_left(a) == pytest.approx(1)
    clock.t += 1
    assert m.is_idle(a) and not m.is_idle(b)
    m.close(a)
    assert a not in m and len(m) == 1
    c = m.open()
    assert c is not None and m.opened == 3
    m.close("unknown")  # harmless
    with pytest.raises(ConfigError):
        SessionManager(max_sessions=0)
    with pytest.raises(ConfigError):
        SessionManager(idle_timeout=0)


def test_changing_lr_or_l2_keeps_the_optimizer_state():
    s = PlaygroundSession({"optimizer": "adam", "lr": 0.01, "n_points": 100})
    s.step(3)
    opt = s.optimizer
    s.configure(lr=0.02, l2=0.001)
    assert s.optimizer is opt and opt.state  # Adam's moments survive
    weights, biases = opt.param_groups
    assert weights["lr"] == biases["lr"] == 0.02
    assert weights["weight_decay"] == 0.001 and biases["weight_decay"] == 0.0  # L2 on weights only
    s.configure(optimizer="momentum")
    assert s.optimizer is not opt and s.steps == 3
