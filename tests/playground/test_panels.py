"""The teaching panels on a live toy session: the chain panel explains the minibatch the next
step uses, a step shows w ← w − α·∂L/∂w, the error mountain's path follows the frames."""
from __future__ import annotations

import json

import numpy as np
import pytest

from chainrule.errors import ConfigError
from chainrule.playground.panels import Panels
from chainrule.playground.toy import ToySession


def _session(**cfg) -> ToySession:
    return ToySession({"dataset": "xor", "hidden": [3, 2], "batch_size": 8, "lr": 0.3,
                       "optimizer": "sgd", **cfg})


def test_step_uses_the_explained_minibatch_and_the_update_line_holds() -> None:
    sess = _session()
    panels = Panels(sess)
    msg = panels.open_chain(0, "weight", [1, 0])
    ex = msg["explanation"]
    assert msg["scope"] == "batch" and len(msg["examples"]) == 8
    assert ex["path_sum"] == pytest.approx(ex["grad"], rel=1e-6)
    old = panels.value()
    sess.step(1)
    after = panels.after_step(old, 1)
    assert after is not None
    up = after["update"]
    # the step's gradient (float32) is the panel's (float64) ∂L/∂w over the same minibatch
    assert up["grad"] == pytest.approx(ex["grad"], rel=1e-4)
    assert up["new"] == pytest.approx(up["predicted"], rel=1e-6, abs=1e-9)
    assert up["text"].startswith("W1[1,0] ← ")
    assert after["step"] == 1 and after["examples"] != msg["examples"]
    json.dumps(after)


def test_point_scope_and_reset_forgets_the_panel() -> None:
    sess = _session()
    panels = Panels(sess)
    msg = panels.open_chain(1, "bias", [0], scope="point", point=3)
    assert msg["examples"] == [3] and msg["explanation"]["n_paths"] >= 1
    sess.reset()
    assert panels.after_step(0.0, 1) is None and panels.chain_request is None


def test_landscape_path_losses_are_the_frames_training_losses() -> None:
    sess = _session()
    panels = Panels(sess)
    start = sess.losses()[0]
    compute = panels.open_landscape("weights", (0, 1), (1, 2))
    losses = []
    for _ in range(5):
        sess.step(3)
        frame = sess.frame()
        losses.append(frame["loss_train"])
        (pt,) = [m for m in panels.on_frame(frame) if m["type"] == "landscape_path"]
        assert pt["point"]["loss"] == frame["loss_train"]
    surf = compute()
    assert surf["labels"] == ["W1[0,1]", "W2[0,2]"]  # W2 is (2, 3): flat 2 is [0,2]
    assert [p["loss"] for p in surf["path"]][1:] == losses
    assert surf["path"][0]["loss"] == pytest.approx(start, rel=1e-6)
    assert surf["path"][0]["a"] == surf["path"][0]["b"] == 0
    assert len(surf["loss"]) == 21 and "W1[0,1] across" in surf["description"]


def test_random_landscape_grid_centre_is_the_training_loss_now() -> None:
    sess = _session()
    sess.step(10)
    panels = Panels(sess)
    surf = panels.open_landscape("random", seed=1)()
    mid = len(surf["loss"]) // 2
    assert surf["loss"][mid][mid] == pytest.approx(sess.losses()[0], rel=1e-5)
    assert "random directions" in surf["description"]


def test_chain_refresh_is_rate_limited() -> None:
    t = [0.0]
    sess = _session()
    panels = Panels(sess, refresh=0.5, clock=lambda: t[0])
    panels.open_chain(0, "weight", [0, 0])
    sess.step(1)
    assert not [m for m in panels.on_frame(sess.frame()) if m["type"] == "chain"]
    t[0] = 1.0
    assert [m for m in panels.on_frame(sess.frame()) if m["type"] == "chain"]
    assert np.isfinite(panels.value())


def test_mnist_landscape_path_carries_the_frames_training_loss_on_the_slices_images() -> None:
    from test_mnist import tiny_digits

    from chainrule.playground.mnist import MnistSession

    sess = MnistSession(tiny_digits(), {"hidden": [16], "lr": 0.01})
    sess.step(5)
    panels = Panels(sess)
    compute = panels.open_landscape("random", seed=4)
    losses = []
    for _ in range(4):
        sess.step(2)
        sess.watch_training_loss(1.0)         # measure in the next frame, with no clock
        frame = sess.frame()
        losses.append(frame["loss_train"])
        (pt,) = [m for m in panels.on_frame(frame) if m["type"] == "landscape_path"]
        assert pt["mode"] == "mnist" and pt["point"]["loss"] == frame["loss_train"]
    surf = compute()
    assert surf is not None and surf["mode"] == "mnist" and len(surf["loss"]) == 11
    assert [p["loss"] for p in surf["path"]][1:] == losses
    # the slice is of the same loss: its centre is the first path point's
    assert surf["loss"][5][5] == pytest.approx(surf["path"][0]["loss"], rel=1e-5)
    assert "200 examples" in surf["description"] and "random directions" in surf["description"]


def test_a_landscape_replaced_while_computing_sends_nothing() -> None:
    sess = _session()
    panels = Panels(sess)
    first = panels.open_landscape("random", seed=1)
    second = panels.open_landscape("random", seed=2)
    assert first() is None and second() is not None
    stale = panels.open_landscape("random", seed=3)
    sess.reset()
    panels.on_frame(sess.frame())             # the new network forgets the plane
    assert stale() is None


def test_widening_a_slice_the_reset_forgot_says_to_draw_it_again() -> None:
    sess = _session()
    panels = Panels(sess)
    panels.open_landscape("random", seed=1)()
    sess.reset()
    panels.on_frame(sess.frame())             # the new network forgets the plane
    with pytest.raises(ConfigError, match="no slice to widen.*draw the slice again"):
        panels.open_landscape("random", keep=True)


def test_keep_widens_the_same_planes_grid_to_cover_the_path() -> None:
    sess = ToySession({"lr": 10.0, "batch_size": 200})   # a rate that zig-zags far out
    panels = Panels(sess)
    first = panels.open_landscape("weights", (2, 0), (2, 1))()
    assert first is not None and first["alphas"][-1] == 1.0
    plane = panels.plane
    for _ in range(30):
        sess.step(1)
        panels.on_frame(sess.frame())
    far = max(max(abs(p["a"]), abs(p["b"])) for p in map(vars, plane.path))
    assert far > 1.0                                        # the path left the first grid
    wider = panels.open_landscape("weights", keep=True)()
    assert panels.plane is plane and wider is not None
    assert len(wider["path"]) == 31 and wider["path"][0] == first["path"][0]   # same plane, same path
    assert wider["alphas"][-1] >= far and wider["alphas"][0] <= -far
