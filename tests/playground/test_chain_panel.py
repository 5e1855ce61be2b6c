"""The chain-rule panel's back end: cr.explain on the playground's network, whose path
products and sums equal the engine's gradient, and the update line of a step."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn, optim
from chainrule.playground.chain_panel import (
    explain_parameter,
    parameter_label,
    step_update,
    summarise_first_layer,
)


def _net(sizes: list[int], seed: int = 0) -> list[nn.Linear]:
    cr.manual_seed(seed)
    return [nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])]


def _forward(lins: list[nn.Linear]):
    def forward(x: cr.Tensor) -> cr.Tensor:
        h = x
        for lin in lins[:-1]:
            h = lin(h).tanh()
        return lins[-1](h)
    return forward


def _bce(out: cr.Tensor, y: np.ndarray) -> cr.Tensor:
    return F.binary_cross_entropy_with_logits(out.reshape(-1), cr.tensor(y))


def _params(lins: list[nn.Linear]) -> list[cr.Tensor]:
    return [p for lin in lins for p in (lin.weight, lin.bias)]


def _toy(n: int = 40, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (n, 2)).astype(np.float32)
    return x, (x[:, 0] * x[:, 1] > 0).astype(np.float32)


def _engine_grad(lins, x, y, target) -> np.ndarray:
    """∂L/∂target from an ordinary float64 backward over the same rows."""
    params = _params(lins)
    saved = [(p, p.data) for p in params]
    try:
        for p in params:
            p.data, p.grad = p.data.astype(np.float64), None
        _bce(_forward(lins)(cr.tensor(x, dtype=np.float64)), y).backward()
        return np.array(target.grad)
    finally:
        for p, d in saved:
            p.data, p.grad = d, None


@pytest.mark.parametrize("layer,kind,index", [(0, "weight", (2, 1)), (1, "weight", (0, 3)),
                                              (2, "weight", (0, 1)), (0, "bias", (3,)),
                                              (2, "bias", (0,))])
def test_batch_paths_sum_to_the_engine_gradient(layer, kind, index) -> None:
    lins = _net([2, 4, 3, 1])
    x, y = _toy()
    batch = list(range(5, 21))
    panel = explain_parameter(_forward(lins), _bce, _params(lins), x, y, layer, kind, index,
                              examples=batch, max_paths=10_000)
    ex = panel.explanation
    target = _params(lins)[2 * layer + (kind == "bias")]
    grad = float(_engine_grad(lins, x[batch], y[batch], target)[index])
    assert ex.grad == pytest.approx(grad, rel=1e-9, abs=1e-15)
    assert ex.path_sum == pytest.approx(grad, rel=1e-6)
    assert not ex.truncated
    assert math.fsum(p.product for p in ex.paths) == pytest.approx(grad, rel=1e-6)
    for p in ex.paths:  # each product is the product of its factors
        assert p.product == pytest.approx(math.prod(f.value for f in p.factors), rel=1e-12)
    assert ex.per_example is not None and len(ex.per_example) == len(batch)
    assert math.fsum(ex.per_example) == pytest.approx(grad, rel=1e-6)
    assert ex.matches_fd
    assert panel.label == parameter_label(layer, kind, index)
    assert ex.paths[0].nodes[0] == panel.label and ex.paths[0].nodes[-1] == "L"


def test_one_point_single_path_product_is_the_gradient() -> None:
    lins = _net([2, 4, 1])
    x, y = _toy()
    panel = explain_parameter(_forward(lins), _bce, _params(lins), x, y, 1, "weight", (0, 2),
                              examples=[7], scope="point")
    (path,) = panel.explanation.paths
    grad = float(_engine_grad(lins, x[[7]], y[[7]], lins[1].weight)[0, 2])
    assert path.product == pytest.approx(grad, rel=1e-6)
    assert [n for n in path.nodes] == ["W2[0,2]", "z2", "logit", "L"]
    words = [f.formula for f in path.factors]
    assert words[-1] == "the input xⱼ that this weight multiplies"
    assert words[0] == "(σ(z) − t)/n"


def test_names_follow_the_page_and_weights_stay_float32() -> None:
    lins = _net([2, 3, 1])
    x, y = _toy()
    before = [p.data.copy() for p in _params(lins)]
    panel = explain_parameter(_forward(lins), _bce, _params(lins), x, y, 0, "weight", (1, 0),
                              examples=[0, 1, 2])
    nodes = panel.explanation.paths[0].nodes
    n = nodes[1][3]  # the example this path runs through: z1[n,1] → h1[n,1] → z2[n] → logit[n]
    assert nodes == ("W1[1,0]", f"z1[{n},1]", f"h1[{n},1]", f"z2[{n}]", f"logit[{n}]", "L")
    assert [g.name for g in panel.explanation.graph] == ["W1", "z1", "h1", "z2", "logit", "L"]
    for p, b in zip(_params(lins), before):
        assert p.data.dtype == np.float32 and np.array_equal(p.data, b) and p.grad is None
    msg = json.loads(json.dumps(panel.to_message()))
    assert msg["type"] == "chain" and msg["explanation"]["grad"] == panel.explanation.grad
    assert "sum over all paths" in msg["text"]


def test_sgd_step_matches_the_update_line() -> None:
    lins = _net([2, 4, 1])
    x, y = _toy()
    batch = list(range(8))
    panel = explain_parameter(_forward(lins), _bce, _params(lins), x, y, 0, "weight", (1, 1),
                              examples=batch)
    opt = optim.SGD(_params(lins), lr=0.3)
    old = float(lins[0].weight.data[1, 1])
    opt.zero_grad()
    _bce(_forward(lins)(cr.tensor(x[batch])), y[batch]).backward()
    opt.step()
    used = float(lins[0].weight.grad[1, 1])
    upd = step_update(panel.label, old, used, float(lins[0].weight.data[1, 1]), 0.3, "sgd")
    assert used == pytest.approx(panel.explanation.grad, rel=1e-5)  # float32 step, float64 panel
    assert upd.new == pytest.approx(upd.predicted, rel=1e-6) and upd.note == ""
    assert upd.text().startswith("W1[1,1] ← ")
    adam = step_update("W1[1,1]", old, used, old - 0.01, 0.01, "adam")
    assert "running average" in adam.note


def test_bad_choices_are_config_errors() -> None:
    lins = _net([2, 3, 1])
    x, y = _toy()
    args = (_forward(lins), _bce, _params(lins), x, y)
    with pytest.raises(cr.ConfigError, match="layer"):
        explain_parameter(*args, 5, "weight", (0, 0), examples=[0])
    with pytest.raises(cr.ConfigError, match="not an element"):
        explain_parameter(*args, 0, "weight", (9, 0), examples=[0])
    with pytest.raises(cr.ConfigError, match="kind"):
        explain_parameter(*args, 0, "gain", (0,), examples=[0])
    with pytest.raises(cr.ConfigError, match="examples"):
        explain_parameter(*args, 0, "bias", (0,), examples=[400])


def test_mnist_first_layer_summary_sums_examples_to_the_gradient() -> None:
    lins = _net([784, 16, 12, 10], seed=3)
    rng = np.random.default_rng(0)
    x = rng.random((32, 784)).astype(np.float32)
    y = rng.integers(0, 10, 32)

    def forward(t: cr.Tensor) -> cr.Tensor:
        return lins[2](lins[1](lins[0](t).relu()).relu())

    s = summarise_first_layer(forward, lambda o, t: F.cross_entropy(o, t), _params(lins), x, y,
                              unit=5, pixel=400)
    for p in _params(lins):
        p.grad = None
    F.cross_entropy(forward(cr.tensor(x)), y).backward()
    grad = float(lins[0].weight.grad[5, 400])
    assert s.grad == pytest.approx(grad, rel=1e-6)
    assert s.batch_sum == pytest.approx(grad, rel=1e-4, abs=1e-9) and s.matches_grad
    assert s.n_examples == 32 and len(s.shares) == 8
    assert abs(s.shares[0].product) >= abs(s.shares[-1].product)
    for sh in s.shares:
        assert sh.product == pytest.approx(sh.pixel * sh.slope * sh.dl_dh, rel=1e-6, abs=1e-12)
    assert s.activation == "relu" and "relu" in s.slope_formula
    assert s.paths_per_example == 12 * 10  # through each unit of layer 2 and each class
    assert s.example.matches_grad
    assert lins[0].weight.grad is not None  # the caller's own gradients were left alone
    json.dumps(s.to_message())
