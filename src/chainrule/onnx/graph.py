"""The graph being built, and the one dispatch from a module to its export rule.

A rule appends a layer's nodes to a :class:`Graph`: it reads one ONNX value (a name) whose
chainrule value is ``value`` (a NumPy array, used for the shapes a rule must fix) and returns
the name of its output. :func:`export_module` looks the rule up in :data:`RULES
<chainrule.onnx.rules.RULES>` and computes the layer's chainrule output beside it.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..extras import require

#: the ai.onnx opset every exported graph declares
OPSET = 19


class Graph:
    """The nodes and constants of the graph being built; names are unique per graph."""

    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._count = 0
        self._consts: dict[tuple[Any, ...], str] = {}
        self.onnx = require("onnx", "ONNX export")

    def name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, array: Any, hint: str) -> str:
        """A constant tensor (float arrays stored as float32)."""
        arr = np.asarray(array)
        if arr.dtype.kind == "f":
            arr = arr.astype(np.float32)
        name = self.name(hint)
        self.initializers.append(self.onnx.numpy_helper.from_array(arr, name))
        return name

    def ints(self, *values: int) -> str:
        """A small int64 vector (axes, shapes, slice bounds), stored once per graph."""
        key = ("ints", *values)
        if key not in self._consts:
            self._consts[key] = self.const(np.array(values, np.int64), "ints")
        return self._consts[key]

    def op(self, op_type: str, inputs: list[str], hint: str | None = None, **attrs: Any) -> str:
        """Append one node; returns its (single) output's name."""
        return self.ops(op_type, inputs, 1, hint, **attrs)[0]

    def ops(self, op_type: str, inputs: list[str], outputs: int, hint: str | None = None,
            **attrs: Any) -> list[str]:
        """Append one node with several outputs (LSTM's Y, Y_h, Y_c); returns their names.
        An empty input name leaves an optional ONNX input out."""
        names = [self.name(hint or op_type.lower()) for _ in range(outputs)]
        self.nodes.append(self.onnx.helper.make_node(op_type, inputs, names, **attrs))
        return names


#: how one layer becomes ONNX: ``rule(graph, module, x, value) -> output name``
Rule = Callable[[Graph, Any, str, np.ndarray], str]


def call_one(module: Any, value: np.ndarray) -> np.ndarray:
    """The module's chainrule output for one input, as export sees it: the first output of a
    layer that returns several (a recurrent layer's sequence, attention's result)."""
    from ..nn import GRU, LSTM, RNN, MultiheadAttention
    from ..tensor import Tensor, no_grad

    with no_grad():
        x = value if value.dtype.kind in "iu" else Tensor(value)  # ids stay integers
        if isinstance(module, MultiheadAttention):  # self-attention
            out = module(x, x, x, need_weights=False)[0]
        elif isinstance(module, (RNN, GRU, LSTM)):
            out = module(x)[0]
        else:
            out = module(x)
    return np.asarray(out.data)


def export_module(g: Graph, module: Any, x: str, value: np.ndarray) -> tuple[str, np.ndarray]:
    """Append ``module``'s nodes to ``g`` reading ONNX value ``x`` (whose chainrule value is
    ``value``); returns the output's name and value (the value gives later layers shapes)."""
    from .rules import REFUSED, RULES

    rule = RULES.get(type(module))
    if rule is None:
        name = type(module).__name__
        why = REFUSED.get(name, "no export rule for it (export reads chainrule.nn's layers, not a "
                                "forward() written in Python: build the model from those layers)")
        raise ConfigError(f"cannot export {name} to ONNX: {why} (layers that export: "
                          f"{', '.join(sorted(c.__name__ for c in RULES))})")
    return rule(g, module, x, value), call_one(module, value)


__all__ = ["OPSET", "Graph", "Rule", "call_one", "export_module"]
