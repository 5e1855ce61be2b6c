"""The error mountain's back end: a loss slice through the weights, filter-normalised
directions, and an optimizer path whose losses are the training losses at those steps."""
from __future__ import annotations

import asyncio
import copy
import json

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn, optim
from chainrule.playground.landscape import (
    loss_function,
    loss_surface,
    random_plane,
    weights_plane,
)


def _setup(seed: int = 0):
    cr.manual_seed(seed)
    lins = [nn.Linear(2, 6), nn.Linear(6, 1)]
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (64, 2)).astype(np.float32)
    y = (x[:, 0] * x[:, 1] > 0).astype(np.float32)
    return lins, x, y


def _forward(lins):
    return lambda t: lins[1](lins[0](t).tanh())


def _bce(out, y):
    return F.binary_cross_entropy_with_logits(out.reshape(-1), cr.tensor(y))


def _params(lins):
    return [p for lin in lins for p in (lin.weight, lin.bias)]


def test_path_losses_are_the_training_losses_and_lie_on_the_surface() -> None:
    lins, x, y = _setup()
    params = _params(lins)
    # only the two chosen weights train, so the path stays in the plane exactly
    opt = optim.SGD([lins[1].weight], lr=0.5)
    plane = weights_plane(params, (2, 1), (2, 4), ("W2[0,1]", "W2[0,4]"))
    twin = copy.deepcopy(lins)
    loss_at = loss_function(_params(twin), _forward(twin), _bce, x, y)
    trained = []
    for step in range(12):
        opt.zero_grad()
        loss = _bce(_forward(lins)(cr.tensor(x)), y)     # the training loss at this step
        plane.record(step, [p.data for p in params], loss.item())
        trained.append(loss.item())
        loss.backward()
        lins[1].weight.grad[0, [0, 2, 3, 5]] = 0          # hold the other weights of W2
        opt.step()
    assert [p.loss for p in plane.path] == trained
    for p in plane.path:
        assert p.off_plane < 1e-6
        # the surface at the path's coordinates is the training loss there (float32 forward)
        assert loss_at(plane.point(p.a, p.b)) == pytest.approx(p.loss, rel=1e-5)
    assert plane.path[-1].loss < plane.path[0].loss
    surf = loss_surface(plane, loss_at, n=9, n_examples=len(x))
    assert surf.loss.shape == (9, 9) and np.isfinite(surf.loss).all()
    far = max(max(abs(p.a), abs(p.b)) for p in plane.path)
    assert surf.alphas[-1] >= far  # the grid covers the path
    assert "W2[0,1] across" in surf.description and "64 examples" in surf.description
    msg = json.loads(json.dumps(surf.to_message(plane)))
    assert msg["path"][3]["loss"] == trained[3] and len(msg["loss"]) == 9


def test_grid_centre_is_the_loss_at_the_weights_and_projection_inverts_point() -> None:
    lins, x, y = _setup(1)
    params = _params(lins)
    plane = random_plane(params, seed=3, step=7)
    loss_at = loss_function(_params(copy.deepcopy(lins)), _forward(lins), _bce, x, y)
    surf = loss_surface(plane, loss_at, n=5, extent=1.0)
    with cr.no_grad():
        now = _bce(_forward(lins)(cr.tensor(x)), y).item()
    assert surf.loss[2, 2] == pytest.approx(now, rel=1e-6)
    a, b, off = plane.project(plane.point(0.3, -0.7))
    assert (a, b) == pytest.approx((0.3, -0.7)) and off == pytest.approx(0, abs=1e-9)


def test_random_directions_are_filter_normalised_and_skip_biases() -> None:
    lins, _, _ = _setup(2)
    params = _params(lins)
    plane = random_plane(params, seed=0)
    for o, d in zip(plane.origin, plane.d1):
        if o.ndim == 1:
            assert not d.any()
        else:
            assert np.linalg.norm(d, axis=1) == pytest.approx(np.linalg.norm(o, axis=1))
    assert not np.allclose(plane.d1[0], plane.d2[0])


def test_surface_is_computed_off_the_event_loop_on_a_copy() -> None:
    lins, x, y = _setup(3)
    params = _params(lins)
    before = [p.data.copy() for p in params]
    plane = random_plane(params)
    twin = copy.deepcopy(lins)
    loss_at = loss_function(_params(twin), _forward(twin), _bce, x, y)

    async def main() -> tuple[object, int]:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        t = asyncio.create_task(tick())
        surf = await asyncio.to_thread(loss_surface, plane, loss_at, n=15)
        t.cancel()
        return surf, ticks

    surf, ticks = asyncio.run(main())
    assert ticks > 1  # the loop kept running while the grid was computed
    assert surf.loss.shape == (15, 15)
    assert all(np.array_equal(p.data, b) for p, b in zip(params, before))


def test_bad_planes_are_config_errors() -> None:
    lins, _, _ = _setup()
    params = _params(lins)
    with pytest.raises(cr.ConfigError, match="differ"):
        weights_plane(params, (0, 1), (0, 1), ("a", "a"))
    with pytest.raises(cr.ConfigError, match="no weight"):
        weights_plane(params, (0, 99), (0, 1), ("a", "b"))
    with pytest.raises(cr.ConfigError, match="grid"):
        loss_surface(random_plane(params), lambda a: 0.0, n=1000)


def test_weight_directions_move_exactly_the_chosen_weight_of_a_column_major_matrix() -> None:
    cr.manual_seed(0)
    lin = nn.Linear(3, 4)  # keeps its weight column-major
    params = [lin.weight, lin.bias]
    plane = weights_plane(params, (0, 5), (1, 2), ("W[1,2]", "b[2]"))
    moved = plane.point(0.5, -1.0)
    diff = moved[0] - lin.weight.data
    assert diff[1, 2] == pytest.approx(0.5) and np.count_nonzero(diff) == 1
    assert (moved[1] - lin.bias.data)[2] == pytest.approx(-1.0)


# ---- switching optimizer or learning rate changes the path, as the maths says --------------
# Full-batch training (batch_size = the 200 training points) so that each property is one of
# the optimizer, not of minibatch noise; the plane is the output layer's first two weights, so
# the path's (a, b) are exactly those weights' moves. Each run: 60 steps from the same start.
FULL_BATCH = {"batch_size": 200, "steps_per_frame": 1}
PATH_STEPS = 60
RUNS = {"sgd": ("sgd", 1.0), "momentum": ("momentum", 1.0), "too_high": ("sgd", 10.0),
        "adam": ("adam", 0.03)}


def path_measures(points: list[tuple[int, float, float, float]]) -> dict[str, object]:
    """From a drawn path ``[(step, a, b, loss), ...]``, one point per step: its length in the
    plane, the share of steps whose direction turns back on the previous one (dot < 0), how
    often the loss rose, and each step's per-coordinate size."""
    p = np.array(sorted(points), dtype=np.float64)
    assert np.array_equal(p[:, 0], np.arange(p[0, 0], p[0, 0] + len(p))), "one point per step"
    d = np.diff(p[:, 1:3], axis=0)
    turns = np.sum(d[1:] * d[:-1], axis=1) < 0
    return {"length": float(np.sum(np.linalg.norm(d, axis=1))),
            "turn_back": float(np.mean(turns)),
            "rises": int(np.sum(np.diff(p[:, 3]) > 0)),
            "steps": np.abs(d)}


def check_optimizer_paths(paths: dict[str, dict[str, object]]) -> None:
    """The documented differences between the four runs' paths (``RUNS``, same start)."""
    sgd, mom, high, adam = (paths[k] for k in ("sgd", "momentum", "too_high", "adam"))
    # gradient descent at a learning rate the surface allows: the loss only falls, and the
    # path keeps its heading
    assert sgd["rises"] == 0 and sgd["turn_back"] <= 0.1, sgd
    # momentum at the same rate: velocity builds up (up to 1/(1-0.9) = 10x the step), so it
    # travels much further and runs past the valley floor: the loss rises on some steps
    assert mom["length"] >= 3 * sgd["length"], (mom["length"], sgd["length"])
    assert mom["rises"] >= 2, mom
    # a rate too high for the curvature: each step jumps across the valley, so the direction
    # turns back on nearly every step and the loss goes up and down
    assert high["turn_back"] >= 0.8 and high["rises"] >= 0.3 * PATH_STEPS, high
    # Adam: each weight moves by about lr whatever its gradient's size -- exactly lr on the
    # first step (m̂/√v̂ = g/|g|), never beyond (1-β₁)/√(1-β₂) ≈ 3.16 lr
    lr = RUNS["adam"][1]
    steps = adam["steps"] / lr
    assert steps[0] == pytest.approx([1.0, 1.0], rel=1e-3), steps[0]
    assert steps.max() <= 3.17 and 0.3 <= float(np.median(steps)) <= 1.6, steps


def _toy_path(init: int, optimizer: str, lr: float) -> list[tuple[int, float, float, float]]:
    from chainrule.playground.panels import Panels
    from chainrule.playground.toy import ToySession

    s = ToySession({"init": init, "optimizer": optimizer, "lr": lr, **FULL_BATCH})
    panels = Panels(s)
    last = len(s.linears) - 1
    panels.open_landscape("weights", (last, 0), (last, 1))
    for _ in range(PATH_STEPS):
        s.step(1)
        panels.on_frame(s.frame())
    assert panels.plane is not None
    return [(q.step, q.a, q.b, q.loss) for q in panels.plane.path]


@pytest.mark.parametrize("init", range(8))
def test_optimizer_paths_differ_as_the_maths_says(init: int) -> None:
    check_optimizer_paths({k: path_measures(_toy_path(init, *run)) for k, run in RUNS.items()})
