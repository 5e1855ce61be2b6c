"""cr.viz.graph and `chainrule graph`: an SVG of the computation graph with op names,
shapes, values and gradients, drawn without touching anyone's .grad."""
from __future__ import annotations

import argparse
import shutil
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import chainrule as cr
from chainrule.commands import graph as graph_cmd
from chainrule.tiny_network import TinyNetwork


def _texts(svg: str) -> list[str]:
    root = ET.fromstring(svg)
    return [t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text")]


def test_graph_of_tiny_network_shows_ops_values_and_grads(tmp_path) -> None:
    net = TinyNetwork()
    loss = net.loss()
    out = tmp_path / "g.svg"
    svg = cr.viz.graph(loss, out, engine="svg")
    assert out.read_text(encoding="utf-8") == svg
    texts = _texts(svg)
    joined = "\n".join(texts)
    for piece in ("z1 = linear", "h = sigmoid", "ŷ = sigmoid", "L = mse_loss", "W1", "b2",
                  "shape 2×2 float32", "value 0.5496", "grad 1"):
        assert piece in joined, piece
    # ∂L/∂b2 = 0.277 (see test_explain): the picture shows the gradient
    assert any(t.startswith("grad 0.277") for t in texts)
    assert len(ET.fromstring(svg).findall(".//{http://www.w3.org/2000/svg}rect")) >= 9
    assert net.W1.grad is None  # drawing does not leave gradients behind


def test_existing_grads_are_kept() -> None:
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    w.grad = np.array([5.0, 5.0], dtype=np.float32)
    svg = cr.viz.graph((w * w).sum(), engine="svg")
    assert "grad [2, 4]" in svg
    assert np.all(w.grad == 5.0)


def test_params_names_from_module_and_nonscalar_output() -> None:
    from chainrule import nn

    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    y = model(cr.randn(5, 3))
    svg = cr.viz.graph(y, params=model, engine="svg")
    names = {n for n, _ in model.named_parameters()}
    for n in names:
        assert f">{n}<" in svg
    assert "relu" in svg and "shape 5×2" in svg


def test_deep_graph_has_no_recursion_limit() -> None:
    x = cr.tensor([0.5], requires_grad=True)
    y = x
    for _ in range(1500):
        y = y * 1.0
    svg = cr.viz.graph(y.sum(), engine="svg")
    assert svg.count("<rect") > 1500


def test_dot_text() -> None:
    net = TinyNetwork()
    dot = cr.viz.to_dot(net.loss())
    assert dot.startswith("digraph") and "->" in dot and "mse_loss" in dot


def test_graphviz_engine_missing_is_a_clear_error(monkeypatch) -> None:
    import chainrule.viz.svg as svg_mod

    monkeypatch.setattr(svg_mod.shutil, "which", lambda name: None)
    with pytest.raises(cr.ConfigError, match="graphviz"):
        cr.viz.graph(TinyNetwork().loss(), engine="graphviz")
    assert cr.viz.graph(TinyNetwork().loss(), engine="auto").startswith("<svg")


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz is not installed")
def test_graphviz_engine() -> None:
    svg = cr.viz.graph(TinyNetwork().loss(), engine="graphviz", title="tiny")
    assert "<svg" in svg and "mse_loss" in svg and "grad 0.277" in svg
    assert "arrows: the forward pass" in svg


def test_bad_arguments() -> None:
    with pytest.raises(cr.ConfigError):
        cr.viz.graph(np.zeros(3))
    with pytest.raises(cr.ConfigError):
        cr.viz.graph(TinyNetwork().loss(), engine="png")


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    graph_cmd.add_arguments(parser)
    return graph_cmd.run(parser.parse_args(list(argv)))


def test_cli_graph_writes_svg(tmp_path, capsys) -> None:
    out = tmp_path / "g.svg"
    assert _run("--out", str(out), "--engine", "svg") == 0
    svg = out.read_text(encoding="utf-8")
    ET.fromstring(svg)
    assert "mse_loss" in svg and "x" in _texts(svg)
    assert str(out) in capsys.readouterr().out


def test_cli_graph_of_saved_model(tmp_path) -> None:
    io = pytest.importorskip("chainrule.io")
    if not hasattr(io, "save"):
        pytest.skip("chainrule.io.save not available yet")
    from chainrule import nn

    model = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2))
    path = tmp_path / "m.safetensors"
    cr.save(model, path)
    out = tmp_path / "m.svg"
    assert _run("--model", str(path), "--out", str(out), "--engine", "svg") == 0
    svg = out.read_text(encoding="utf-8")
    assert "linear" in svg and "tanh" in svg and "shape 1×4" in svg
    with pytest.raises(cr.ChainruleError):
        _run("--model", str(path), "--out", str(out), "--input-shape", "a,b")
