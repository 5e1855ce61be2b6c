"""cr.explain and `chainrule explain`: path products sum to .grad, which agrees with finite
differences; the tiny network's numbers can be checked by hand."""
from __future__ import annotations

import argparse
import json
import math

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule.commands import explain as explain_cmd
from chainrule.explanation import element_label
from chainrule.tiny_network import TinyNetwork, parse_weight


def _sig(v: float) -> float:
    return 1 / (1 + math.exp(-v))


def test_tiny_network_chain_by_hand() -> None:
    net = TinyNetwork()
    ex = cr.explain(net.loss, net.W1, (0, 0))
    # forward by hand
    z10 = 0.15 * 0.05 + 0.20 * 0.10 + 0.35
    z11 = 0.25 * 0.05 + 0.30 * 0.10 + 0.35
    h0, h1 = _sig(z10), _sig(z11)
    z2 = 0.40 * h0 + 0.45 * h1 + 0.60
    yh = _sig(z2)
    assert ex.loss == pytest.approx((yh - 0.01) ** 2, rel=1e-5)
    assert ex.n_paths == 1 and not ex.truncated
    (path,) = ex.paths
    assert path.nodes == ("W1[0,0]", "z1[0]", "h[0]", "z2", "ŷ", "L")
    expected = [2 * (yh - 0.01), yh * (1 - yh), 0.40, h0 * (1 - h0), 0.05]
    assert [f.of for f in path.factors] == ["L", "ŷ", "z2", "h[0]", "z1[0]"]
    assert [f.wrt for f in path.factors] == ["ŷ", "z2", "h[0]", "z1[0]", "W1[0,0]"]
    assert [f.value for f in path.factors] == pytest.approx(expected, rel=1e-5)
    assert path.product == pytest.approx(math.prod(expected), rel=1e-5)
    assert ex.path_sum == pytest.approx(ex.grad, rel=1e-6)
    assert ex.matches_grad and ex.matches_fd
    assert ex.finite_difference == pytest.approx(math.prod(expected), rel=1e-5)


def test_text_output_mentions_every_factor() -> None:
    net = TinyNetwork()
    text = str(cr.explain(net.loss, net.W1, (0, 0)))
    for piece in ("∂L/∂ŷ", "∂ŷ/∂z2", "∂z2/∂h[0]", "∂h[0]/∂z1[0]", "∂z1[0]/∂W1[0,0]",
                  "product", "sum over all paths", ".grad", "finite difference", "✓"):
        assert piece in text


def test_grads_left_untouched() -> None:
    net = TinyNetwork()
    net.W1.grad = np.full((2, 2), 7.0, dtype=np.float32)
    cr.explain(net.loss, net.W1, (1, 1))
    assert np.all(net.W1.grad == 7.0)
    assert net.W2.grad is None
    assert net.W1.dtype == np.float32 and net.W1.data[0, 0] == np.float32(0.15)


def test_several_paths_sum_to_grad_mlp_batch() -> None:
    cr.manual_seed(0)
    x = cr.randn(4, 3)
    w1 = cr.randn(5, 3, requires_grad=True)
    w2 = cr.randn(2, 5, requires_grad=True)
    y = np.array([0, 1, 1, 0])
    fn = lambda: F.cross_entropy(F.linear(F.linear(x, w1).tanh(), w2), y)  # noqa: E731
    ex = cr.explain(fn, w1, (2, 1), max_paths=3)
    assert ex.n_paths == 4 * 2  # every example, through each of the 2 logits
    assert ex.truncated and len(ex.paths) == 3
    sizes = [abs(p.product) for p in ex.paths]
    assert sizes == sorted(sizes, reverse=True)  # those contributing most are listed
    everything = cr.explain(fn, w1, (2, 1), max_paths=100)
    assert sizes[0] == max(abs(p.product) for p in everything.paths)
    assert sum(p.product for p in everything.paths) == pytest.approx(ex.path_sum, rel=1e-6)
    assert ex.path_sum == pytest.approx(ex.grad, rel=1e-4, abs=1e-7)
    assert ex.matches_fd
    assert "more paths not listed" in str(ex)
    assert len(ex.per_example) == 4  # the batch's 4 examples, each with its share
    assert sum(ex.per_example) == pytest.approx(ex.path_sum, rel=1e-9)
    assert "Σ over the batch" in str(ex)


def test_cr_explain_is_a_plain_function_after_any_import() -> None:
    import types

    import chainrule.explanation  # noqa: F401  (importing the module must not shadow it)

    assert isinstance(cr.explain, types.FunctionType) and cr.explain.__name__ == "explain"


def test_shared_use_gives_two_paths() -> None:
    a = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    ex = cr.explain(lambda: (a * a).sum(), a, 2)
    assert ex.n_paths == 2
    assert ex.path_sum == pytest.approx(6.0)
    assert ex.finite_difference == pytest.approx(6.0, rel=1e-6)


def test_dead_relu_shows_zero_factor() -> None:
    w = cr.tensor([[-1.0, 2.0]], requires_grad=True)
    x = cr.tensor([[1.0, 1.0]])
    fn = lambda: (x * w).relu().sum()  # noqa: E731
    ex = cr.explain(fn, w, (0, 0))
    assert ex.n_paths == 1
    vals = [f.value for f in ex.paths[0].factors]
    assert 0.0 in vals and ex.grad == 0.0


def test_tensor_loss_without_function_has_no_fd() -> None:
    net = TinyNetwork()
    ex = cr.explain(net.loss(), net.b1, 1)
    assert ex.finite_difference is None and ex.matches_grad
    assert any("function" in n for n in ex.notes)


def test_too_large_graph_still_gives_grad_and_fd() -> None:
    cr.manual_seed(1)
    x = cr.randn(32, 20)
    w = cr.randn(20, 20, requires_grad=True)
    fn = lambda: F.linear(F.linear(x, w).tanh(), w).sum()  # noqa: E731
    ex = cr.explain(fn, w, (3, 4), budget=1000)
    assert ex.n_paths is None and ex.paths == ()
    assert ex.matches_fd
    assert "too large" in str(ex)


def test_json_serialisable() -> None:
    net = TinyNetwork("tanh")
    ex = cr.explain(net.loss, net.W2, (0, 1))
    d = json.loads(json.dumps(ex.to_dict()))
    assert d["paths"][0]["factors"][0]["formula"] == "2·(ŷ − y)/n"
    assert d["grad"] == ex.grad and d["index"] == [0, 1]


@pytest.mark.parametrize("bad", [(2, 0), (0,), "x"])
def test_bad_index(bad) -> None:
    net = TinyNetwork()
    with pytest.raises(cr.ConfigError):
        cr.explain(net.loss, net.W1, bad)


def test_unrelated_tensor_and_nonscalar_loss() -> None:
    net = TinyNetwork()
    other = cr.tensor([1.0], requires_grad=True)
    with pytest.raises(cr.ConfigError, match="does not depend"):
        cr.explain(net.loss, other)
    with pytest.raises(cr.ConfigError, match="single number"):
        cr.explain(net.forward()["z1"], net.W1)


def test_labels_and_weight_specs() -> None:
    assert element_label("h", (1, 2), 1) == "h[1]"
    assert element_label("W2", (1, 2), 1, full=True) == "W2[0,1]"
    assert element_label("L", (), 0) == "L"
    assert parse_weight("W1[0, 1]") == ("W1", (0, 1))
    assert parse_weight("b2") == ("b2", ())
    with pytest.raises(cr.ConfigError):
        parse_weight("W1(0)")


def _run(*argv: str) -> tuple[int, argparse.Namespace]:
    parser = argparse.ArgumentParser()
    explain_cmd.add_arguments(parser)
    args = parser.parse_args(list(argv))
    return explain_cmd.run(args), args


def test_cli_explain_agrees_with_finite_differences(capsys) -> None:
    code, _ = _run()
    out = capsys.readouterr().out
    assert code == 0
    for piece in ("Forward pass", "z1[0] = W1[0,0]·x[0]", "L     = (ŷ − y)²", "∂h[0]/∂z1[0]",
                  "gradient descent", "lower ✓", "finite differences", "they agree"):
        assert piece in out
    code, _ = _run("--json")
    r = json.loads(capsys.readouterr().out)
    assert r["agrees"] and r["loss_after"] < r["loss"]
    assert r["finite_difference"] == pytest.approx(r["grad"], rel=1e-4)
    assert r["update"]["new"] == pytest.approx(r["update"]["old"] - 0.5 * r["update"]["grad"], rel=1e-6)


@pytest.mark.parametrize("act", ["sigmoid", "tanh", "relu"])
@pytest.mark.parametrize("weight", ["W1[1,0]", "b1[1]", "W2[0,1]", "b2[0]"])
def test_cli_options(capsys, act: str, weight: str) -> None:
    code, _ = _run("--weight", weight, "--activation", act, "--lr", "0.1", "--json")
    r = json.loads(capsys.readouterr().out)
    assert code == 0 and r["agrees"] and r["weight"] == weight
    assert r["loss_after"] < r["loss"]


def test_cli_through_main(capsys) -> None:
    from chainrule.cli import main

    assert main(["explain", "--weight", "W9[0,0]"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("chainrule: error:") and err.count("\n") == 1 and "W9" in err
    assert main(["explain", "--activation", "tanh"]) == 0
    assert "they agree" in capsys.readouterr().out


def test_cli_bad_weight() -> None:
    with pytest.raises(cr.ChainruleError):
        _run("--weight", "W3[0,0]")
    with pytest.raises(cr.ChainruleError):
        _run("--weight", "W1[5,0]")
    with pytest.raises(cr.ChainruleError):
        _run("--lr", "-1")
    with pytest.raises(cr.ChainruleError):
        _run("--input", "nan", "0.1")
    with pytest.raises(cr.ChainruleError):
        _run("--target", "inf")
