"""Op metadata beside the op: every op name given to make() has an OpSpec, and explain and the
graph pictures take their words from it (by input position, whichever inputs need a gradient)."""
from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule.opspec import define_op, op_spec, registered_ops
from chainrule.tensor import edge_positions, graph_order

SRC = Path(cr.__file__).parent
# helpers that pass their first argument on to make() as the op's name
_NAMING_HELPERS = {"_extremum", "_choose", "_elementwise"}


def _op_names_in_source() -> set[str]:
    names: set[str] = set()
    for path in [SRC / "tensor.py", *sorted((SRC / "ops").glob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
                continue
            pos = 1 if node.func.id == "make" else 0 if node.func.id in _NAMING_HELPERS else None
            if pos is not None and len(node.args) > pos:
                arg = node.args[pos]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    names.add(arg.value)
    return names


def test_every_op_name_in_the_source_has_a_spec() -> None:
    names = _op_names_in_source()
    assert {"add", "linear", "conv2d", "cross_entropy", "max", "maximum", "mse_loss"} <= names
    missing = sorted(n for n in names if op_spec(n) is None)
    assert not missing, f"declare these with define_op beside the op: {missing}"


def test_every_op_a_model_records_has_a_spec() -> None:
    cr.manual_seed(0)
    x = cr.randn(2, 1, 6, 6)
    w = cr.randn(3, 1, 3, 3, requires_grad=True)
    h = F.max_pool2d(F.conv2d(x, w).relu(), 2).reshape(2, -1)
    h = F.batch_norm(h, training=True)
    loss = F.cross_entropy(F.linear(h.tanh(), cr.randn(4, 12, requires_grad=True)), [0, 3])
    loss = loss + (w * w).sum() / 2 - F.gelu(h).mean() + F.softmax(h).max()
    ops = {t.op for t in graph_order(loss) if t._edges}
    assert len(ops) >= 12
    assert all(op_spec(op) is not None for op in ops), [o for o in ops if op_spec(o) is None]


def test_spec_declares_one_derivative_per_input_or_one_for_all() -> None:
    for spec in registered_ops().values():
        assert spec.formula and spec.inputs
        assert len(spec.derivatives) in (1, len(spec.inputs))
        assert all(spec.derivative(i) for i in range(len(spec.inputs)))
    with pytest.raises(ValueError, match="one derivative"):
        define_op("twice_wrong", "a", ("a", "b", "c"), ("1", "2"))
    with pytest.raises(ValueError, match="declared twice"):
        define_op("add", "a + b", ("a", "b"), ("something else",), elementwise=True)


def test_edge_positions_name_the_inputs_that_need_a_gradient() -> None:
    x = cr.randn(2, 3)
    w = cr.randn(4, 3, requires_grad=True)
    b = cr.zeros(4, requires_grad=True)
    out = F.linear(x, w, b)  # x is a constant: edges are W and b
    assert edge_positions(out) == (1, 2)
    spec = op_spec(out.op)
    assert spec is not None
    assert [spec.input_name(p) for p in edge_positions(out)] == ["W", "b"]
    xg = cr.randn(2, 3, requires_grad=True)
    assert edge_positions(F.linear(xg, w, b)) == (0, 1, 2)


def test_explain_reads_its_words_from_the_spec_of_each_input() -> None:
    x = cr.tensor([[0.5, -1.0]], requires_grad=True)
    w = cr.tensor([[2.0, 3.0]], requires_grad=True)

    def loss():
        return F.linear(x, w).sigmoid().sum()

    lin, sig, total = op_spec("linear"), op_spec("sigmoid"), op_spec("sum")
    assert lin is not None and sig is not None and total is not None
    ex_w = cr.explain(loss, w, (0, 1))
    ex_x = cr.explain(loss, x, (0, 1))
    assert [f.formula for f in ex_w.paths[0].factors] == [
        total.derivative(0), sig.derivative(0), lin.derivative(1)]
    assert ex_x.paths[0].factors[-1].formula == lin.derivative(0)
    assert ex_w.paths[0].factors[-1].value == pytest.approx(-1.0)   # ∂z/∂W[0,1] = x[1]
    assert ex_x.paths[0].factors[-1].value == pytest.approx(3.0)    # ∂z/∂x[1] = W[0,1]
    assert ex_w.graph[-2].formula == sig.formula


def test_elementwise_ops_keep_a_zero_factor_on_the_path() -> None:
    spec = op_spec("relu")
    assert spec is not None and spec.elementwise and not op_spec("matmul").elementwise
    w = cr.tensor([-2.0, 1.0], requires_grad=True)
    ex = cr.explain(lambda: w.relu().sum(), w, 0)
    assert ex.n_paths == 1 and ex.paths[0].factors[-1].value == 0.0


def test_graph_picture_shows_the_op_formula() -> None:
    from chainrule.viz.svg import collect

    w = cr.tensor(np.ones((2, 2), np.float32), requires_grad=True)
    loss = F.linear(cr.ones(1, 2), w).tanh().sum()
    nodes = {n.title: n for n in collect(loss)}
    assert nodes["linear"].lines[0] == op_spec("linear").formula
    assert nodes["tanh"].lines[0] == op_spec("tanh").formula
    assert not nodes["parameter"].lines[0].startswith("x")  # leaves have no formula line
