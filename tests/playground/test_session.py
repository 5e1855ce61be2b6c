"""What every playground session shares: history, batch cursor, network, pacing, frame clock."""
from __future__ import annotations

import numpy as np
import pytest

from chainrule.errors import ConfigError
from chainrule.playground.session import (
    BatchCursor,
    FrameClock,
    History,
    build_mlp,
    hidden_outputs,
)
from chainrule.playground.toy import ToySession


def test_history_thins_instead_of_growing():
    h = History(limit=10)
    for i in range(1000):
        h.add([i, 0.0, 0.0])
    assert len(h.points) <= 10
    steps = [p[0] for p in h.points]
    assert steps == sorted(steps) and steps[0] == 0 and steps[-1] > 800




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




def test_batch_cursor_visits_every_row_once_an_epoch():
    c = BatchCursor(10, np.random.default_rng(0))
    seen = np.concatenate([c.next(3) for _ in range(3)])
    assert len(set(seen.tolist())) == 9                  # no row twice within an epoch
    assert len(c.next(3)) == 3                          # a fresh permutation when one runs out
    assert len(BatchCursor(4, np.random.default_rng(0)).next(100)) == 4  # never more than n


def test_the_network_is_built_from_nn_layers():
    from chainrule import nn

    model = build_mlp([2, 3, 4, 1], "relu", 0.2, np.random.default_rng(0))
    kinds = [type(m).__name__ for m in model]
    assert kinds == ["Linear", "ReLU", "Dropout", "Linear", "ReLU", "Dropout", "Linear"]
    assert isinstance(model, nn.Sequential)
    import chainrule as cr

    model.eval()
    out, hidden = hidden_outputs(model, cr.tensor(np.ones((5, 2), np.float32)))
    assert out.shape == (5, 1) and [h.shape for h in hidden] == [(5, 3), (5, 4)]


def test_advance_paces_steps_per_frame_and_the_budget():
    s = ToySession({"n_points": 100, "steps_per_frame": 5})
    loss, frame = s.advance(budget=10.0, evaluate=True)
    assert s.steps == 5 and frame["step"] == 5 and loss is not None
    s.advance(budget=0.0, evaluate=False)               # an exhausted budget still takes one step
    assert s.steps == 6


def test_frame_clock_keeps_the_rate_when_frames_take_time():
    clock = FakeClock()
    fc = FrameClock(20, clock)
    sent = 0
    while clock.t < 103.0:               # three seconds of a server whose tick takes 10 ms
        if fc.wait_time() <= 0:
            clock.t += 0.010             # training and the frame
            fc.sent()
            sent += 1
        clock.t += 0.001
    assert 58 <= sent <= 61              # 20 frames a second, not 1 / (50 ms + 10 ms)
