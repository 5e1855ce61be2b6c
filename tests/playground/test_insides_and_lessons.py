"""MNIST insides (first-layer pictures, mistakes and confusion, gradient sizes, saliency) and
the "check yourself" presets, each of which must be a valid config that shows its answer."""
from __future__ import annotations

import base64
import json

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn
from chainrule.playground.lessons import LESSONS, lessons_message
from chainrule.playground.mnist_insides import (
    first_layer_images,
    gradient_sizes,
    saliency,
    score_test_set,
)
from chainrule.playground.protocol import CONFIG_FIELDS, validate_config
from chainrule.playground.toy import ToySession


def _net(seed: int = 0) -> list[nn.Linear]:
    cr.manual_seed(seed)
    return [nn.Linear(784, 12), nn.Linear(12, 10)]


def _forward(lins):
    return lambda t: lins[1](lins[0](t).relu())


def test_first_layer_images_are_the_weights_with_zero_at_grey() -> None:
    w = np.zeros((3, 784), dtype=np.float32)
    w[1, 0], w[1, 783] = 2.0, -1.0
    imgs = first_layer_images(w)
    assert [i["unit"] for i in imgs] == [0, 1, 2]
    px = np.frombuffer(base64.b64decode(imgs[1]["image"]), dtype=np.uint8)
    assert px.size == 784 and px[0] == 255 and px[783] == 64 and px[5] == 128
    assert imgs[1]["scale"] == 2.0 and imgs[0]["scale"] == 0.0
    with pytest.raises(cr.ConfigError):
        first_layer_images(np.zeros((3, 100)))


def test_mistakes_and_confusion_agree_with_the_predictions() -> None:
    lins = _net()
    rng = np.random.default_rng(0)
    x = rng.random((300, 784)).astype(np.float32)
    y = rng.integers(0, 10, 300)
    rep = score_test_set(_forward(lins), x, y, limit=5, chunk=64)
    with cr.no_grad():
        pred = _forward(lins)(cr.tensor(x)).numpy().argmax(axis=1)
    assert rep.accuracy == pytest.approx(np.mean(pred == y))
    assert rep.confusion.sum() == 300 and np.trace(rep.confusion) == np.sum(pred == y)
    assert rep.confusion[y[0], pred[0]] >= 1
    assert rep.n_wrong == np.sum(pred != y) and len(rep.wrong) == 5
    for i, p, t, conf in rep.wrong:
        assert pred[i] == p != t == y[i] and 0.1 <= conf <= 1
    confs = [w[3] for w in rep.wrong]
    assert confs == sorted(confs, reverse=True)
    msg = json.loads(json.dumps(rep.to_message(x)))
    assert len(base64.b64decode(msg["wrong"][0]["image"])) == 784


def test_saliency_is_the_input_gradient_of_the_class_score() -> None:
    lins = _net(1)
    x = np.random.default_rng(2).random(784).astype(np.float32)
    for lin in lins:
        lin.weight.grad = np.full(lin.weight.shape, 5.0, dtype=np.float32)
    s = saliency(_forward(lins), x, 7)
    # finite differences on a few pixels, in float64
    w1, b1 = lins[0].weight.data.astype(np.float64), lins[0].bias.data.astype(np.float64)
    w2, b2 = lins[1].weight.data.astype(np.float64), lins[1].bias.data.astype(np.float64)

    def score(v: np.ndarray) -> float:
        return float((np.maximum(v @ w1.T + b1, 0) @ w2.T + b2)[7])

    for k in (0, 300, 555):
        e = np.zeros(784)
        e[k] = 1e-4
        fd = (score(x + e) - score(x - e)) / 2e-4
        assert s.grad[k] == pytest.approx(fd, rel=1e-3, abs=1e-6)
    assert s.score == pytest.approx(score(x.astype(np.float64)), rel=1e-5)
    assert all(np.all(lin.weight.grad == 5.0) for lin in lins)  # left as they were
    assert s.to_message()["class"] == 7
    with pytest.raises(cr.ConfigError):
        saliency(_forward(lins), x, 12)


def test_gradient_sizes_per_layer() -> None:
    lins = _net(2)
    assert gradient_sizes([lin.weight for lin in lins]) == [None, None]
    x = np.random.default_rng(0).random((8, 784)).astype(np.float32)
    F.cross_entropy(_forward(lins)(cr.tensor(x)), np.arange(8)).backward()
    sizes = gradient_sizes([lin.weight for lin in lins])
    assert sizes == pytest.approx([float(np.linalg.norm(lin.weight.grad)) for lin in lins])


def test_every_lesson_preset_is_a_valid_config() -> None:
    assert {lesson.concept for lesson in LESSONS} >= {
        "what a step does", "the sign of the update", "learning rate too high",
        "learning rate too low", "vanishing gradients", "overfitting", "epochs and iterations"}
    for lesson in LESSONS:
        assert validate_config(dict(lesson.settings), CONFIG_FIELDS) == dict(lesson.settings)
        assert lesson.action in ("step", "play", "chain", "landscape")
    json.dumps(lessons_message())


def _lesson(key: str):
    return next(lesson for lesson in LESSONS if lesson.key == key)


def test_vanishing_preset_shows_the_first_layer_gradient_smallest() -> None:
    sess = ToySession(dict(_lesson("vanishing").settings))
    sess.step(5)
    norms = sess.grad_norms()
    assert norms[0] < norms[-1] / 20


def test_epochs_preset_answer_holds() -> None:
    sess = ToySession(dict(_lesson("epochs").settings))
    sess.step(20)
    assert sess.epoch == pytest.approx(1.0)


def test_lr_presets_answer_holds() -> None:
    def loss_after(key: str, steps: int) -> tuple[float, float]:
        sess = ToySession(dict(_lesson(key).settings))
        start = sess.losses()[0]
        sess.step(steps)
        return start, sess.losses()[0]

    start, low = loss_after("lr_low", 100)
    assert abs(low - start) < 0.02          # barely moves
    sess = ToySession(dict(_lesson("lr_high").settings))
    seen = []
    for _ in range(30):
        sess.step(5)
        seen.append(sess.losses()[0])
    assert max(np.diff(seen)) > 0           # the loss goes up at times: overshooting
