"""The MNIST session: training, accuracy, reading a drawing (on tiny synthetic digits)."""
from __future__ import annotations

import base64

import numpy as np
import pytest

from chainrule.errors import ConfigError
from chainrule.playground.digits import DigitData
from chainrule.playground.mnist import MnistSession
from chainrule.playground.protocol import ProtocolError


def bytes_of(b64: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(b64), dtype=np.uint8)


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
    assert [lin.weight.shape for lin in s.linears] == [(8, 64), (8, 8), (10, 8)]
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


def test_a_diverging_mnist_model_warns_nobody_in_the_terminal():
    import warnings

    s = MnistSession(tiny_digits(), {"hidden": [16], "lr": 10.0, "optimizer": "sgd", "activation": "linear"})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(30):
            if s.refusal():
                break
            s.step(5)
            f = s.frame()
    assert f["loss"] is None or not np.isfinite(f["loss"]) or f["loss"] > 1  # it diverged, quietly


def test_a_nan_mnist_model_stops_and_says_so():
    s = MnistSession(tiny_digits(), {"hidden": [16], "lr": 10.0, "optimizer": "sgd", "activation": "linear"})
    for _ in range(60):
        if s.refusal():
            break
        s.step(5)
    assert s.diverged
    f = s.frame()
    assert f["diverged"] and [h["kind"] for h in f["hints"]] == ["nan"]
    with pytest.raises(ConfigError, match="diverged"):
        s.step(1)


def test_the_mnist_tab_gets_the_same_hints_as_the_2d_tab():
    from chainrule.playground import diagnose

    s = MnistSession(tiny_digits(), {"hidden": [32], "lr": 10.0})   # adam at lr 10
    assert s.frame()["hints"] == []                                   # nothing trained yet
    assert isinstance(s.watch, diagnose.Watch)
    kinds: set[str] = set()
    while s.steps < 200 and not kinds:
        s.step(5)
        kinds = {h["kind"] for h in s.frame(evaluate=s.steps % 25 == 0)["hints"]}
    assert kinds & {"rising", "oscillating", "saturated", "dead_relu", "nan"}, kinds
    calm = MnistSession(tiny_digits(), {"hidden": [32], "lr": 0.01})
    for _ in range(40):
        calm.step(5)
        assert calm.frame(evaluate=calm.steps % 25 == 0)["hints"] == []


def test_dead_relus_are_named_on_the_mnist_tab_too():
    s = MnistSession(tiny_digits(), {"hidden": [16]})
    s.step(1)
    s.linears[0].bias.data[:8] = -100.0                               # half the units never fire
    kinds = [h["kind"] for h in s.frame()["hints"]]
    assert "dead_relu" in kinds


def test_dropout_masks_come_from_the_session_so_a_seed_repeats_the_run():
    def run():
        s = MnistSession(tiny_digits(), {"hidden": [16], "dropout": 0.5})
        for _ in range(4):
            np.random.default_rng().random(3)     # other randomness in between
            s.step(5)
        return s
    a, b = run(), run()
    for la, lb in zip(a.linears, b.linears, strict=True):
        np.testing.assert_array_equal(la.weight.data, lb.weight.data)
    assert a.last_loss == b.last_loss

def test_training_loss_is_reported_only_while_watched_and_at_most_every_interval():
    d = tiny_digits(n=1200)
    big = DigitData(d.x_train.repeat(3, 0), d.y_train.repeat(3), d.x_test, d.y_test, d.side, "600")
    s = MnistSession(big, {"hidden": [16]})
    x, y = s.training_subset()
    assert len(x) == MnistSession.TRAIN_SUBSET == 500 and len(np.unique(s._train_idx)) == 500
    assert MnistSession(d).training_subset()[0].shape == (200, 64)   # fewer: all of them
    assert "loss_train" not in s.frame()                    # nobody asked: no forward pass
    s.watch_training_loss(1.0, min_interval=0.0)
    s.step(3)
    f = s.frame()
    assert f["loss_train"] == pytest.approx(s.training_loss(), rel=1e-5)
    s.watch_training_loss(1e-9)           # measuring may take a billionth of the time:
    assert "loss_train" in s.frame() and "loss_train" not in s.frame()  # now, then not for long
    assert s._loss_interval is not None and s._loss_interval >= 0.2
    s.reset()                                                # a new network: nobody watches it
    assert "loss_train" not in s.frame()
