"""Pictures of what backpropagation does: computation graphs (SVG) and training plots (PNG).

    import chainrule as cr
    svg = cr.viz.graph(loss, path="graph.svg")      # op names, shapes, values, gradients
    cr.viz.plots.plot_history(history, "run/")       # loss, metrics, per-layer grad norms

``graph`` needs nothing beyond NumPy (it writes SVG text itself) and uses graphviz when
``engine="graphviz"`` (or ``"auto"`` and ``dot`` is installed). The plots need matplotlib
(``pip install chainrule[plots]``), imported only when a plot is drawn.
"""
from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigError
from ..tensor import Tensor
from .svg import collect, render_graphviz, render_svg
from .svg import to_dot as _to_dot

__all__ = ["graph", "to_dot", "plots"]

ENGINES = ("auto", "svg", "graphviz")


def _names(params: Any) -> dict[int, str]:
    """id(tensor) -> name, from a Module (``named_parameters``) or a ``{name: tensor}`` dict."""
    if params is None:
        return {}
    if hasattr(params, "named_parameters"):
        items = params.named_parameters()
    elif isinstance(params, Mapping):
        items = params.items()
    else:
        raise ConfigError(f"graph: params must be a Module or a dict of name -> Tensor; got "
                          f"{type(params).__name__}")
    return {id(t): str(n) for n, t in items}


def graph(tensor: Tensor, path: str | os.PathLike | None = None, *, params: Any = None,
          grads: bool = True, engine: str = "auto", title: str | None = None) -> str:
    """Draw the computation graph that produced ``tensor`` and return it as SVG text.

    Each box is one tensor: the op that made it (``linear``, ``sigmoid``, ``mse_loss`` ...),
    its shape and dtype, its value (the numbers when ≤ 4, else mean and spread), and its
    gradient ∂tensor/∂box. Arrows point from inputs to outputs (the forward pass);
    backpropagation runs against them. Parameters are green, the output orange.

    Args:
        tensor: the output to draw from, usually a scalar loss.
        path: also write the SVG to this file.
        params: a Module or ``{name: tensor}`` to name the parameters in the picture.
        grads: show gradients. For a scalar output that requires grad they are computed
            by a fresh backward pass (every ``.grad`` is left as it was); otherwise the
            stored ``.grad`` of leaves is shown.
        engine: ``"svg"`` (pure Python), ``"graphviz"`` (requires ``dot``), or ``"auto"``
            (graphviz when installed, else pure Python).
        title: a heading drawn above the graph.

    Only tensors that require gradients are recorded by the engine, so data inputs and
    targets (constants) do not appear as boxes.
    """
    if not isinstance(tensor, Tensor):
        raise ConfigError(f"graph: expected a Tensor; got {type(tensor).__name__}")
    if engine not in ENGINES:
        raise ConfigError(f"graph: engine must be one of {', '.join(ENGINES)}; got {engine!r}")
    nodes = collect(tensor, _names(params), grads=grads)
    svg = None
    if engine in ("auto", "graphviz"):
        svg = render_graphviz(nodes, title)
        if svg is None and engine == "graphviz":
            raise ConfigError("graph: engine='graphviz' needs the graphviz program 'dot' on "
                              "PATH (e.g. apt install graphviz); use engine='svg' instead")
    if svg is None:
        svg = render_svg(nodes, title)
    if path is not None:
        with open(path, "w", encoding="utf-8") as f:
            f.write(svg)
    from ..display import SVG

    return SVG(svg)  # a str that notebooks draw inline


def to_dot(tensor: Tensor, *, params: Any = None, grads: bool = True,
           title: str | None = None) -> str:
    """The graph of ``tensor`` in graphviz's DOT language (to render with ``dot -Tsvg``)."""
    return _to_dot(collect(tensor, _names(params), grads=grads), title)


def __getattr__(name: str) -> Any:
    if name == "plots":  # loads matplotlib only when a plot is wanted
        mod = importlib.import_module("chainrule.viz.plots")
        globals()["plots"] = mod
        return mod
    raise AttributeError(f"module 'chainrule.viz' has no attribute {name!r}")
