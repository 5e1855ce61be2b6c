"""The playground's chain-rule panel: ``∂L/∂w`` for one clicked weight or bias, path by path.

The panel is :func:`chainrule.explain` run on the playground's own network and data: the same
record (:class:`~chainrule.explanation.Explanation`) that ``chainrule explain`` prints, so the
page shows the numbers of the same code, not a second implementation. This module only
chooses *what* to explain (which layer's weight or bias, which element, the minibatch the next
step will use or one training point), names the tensors the way the page draws them
(``z1 = x·W1ᵀ + b1``, ``h1 = act(z1)``, ``logit``, ``L``), and adds what the page needs around
it: the gradient-descent update after a step, and a summary for a first-layer weight of the
MNIST net, where one weight reaches the loss along tens of thousands of paths.

Everything is plain data (dataclasses) with ``to_message()`` for the JSON protocol.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..explanation import Explanation, explain
from ..opspec import op_spec
from ..tensor import Tensor, graph_order

__all__ = ["ChainPanel", "ExampleShare", "FirstLayerSummary", "Update", "explain_parameter",
           "parameter_label", "step_update", "summarise_first_layer"]

#: (network outputs, targets) -> scalar loss, as the session computes it
LossFn = Callable[[Tensor, np.ndarray], Tensor]
Forward = Callable[[Tensor], Tensor]


def parameter_label(layer: int, kind: str, index: Sequence[int]) -> str:
    """``W2[0,1]`` / ``b1[3]``: layer counted from 1 (the page's names), index as in code."""
    letter = {"weight": "W", "bias": "b"}[kind]
    return f"{letter}{layer + 1}[{','.join(str(int(i)) for i in index)}]"


def _name_graph(loss: Tensor) -> None:
    """Name the forward pass as the page draws it: ``z_k`` for the k-th linear layer's output,
    ``h_k`` for its activation, ``logit`` for a reshape of the last layer, ``L`` for the loss."""
    k = 0
    for t in graph_order(loss):
        if not t._edges or t.name:
            continue
        parent = t._edges[0][0]
        spec = op_spec(t.op)
        if t.op == "linear":
            k += 1
            t.name = f"z{k}"
        elif t is loss:
            t.name = "L"
        elif t.op in ("reshape", "flatten") and parent.name == f"z{k}":
            t.name = "logit"
        elif spec is not None and spec.elementwise and len(t._edges) == 1 and \
                parent.name == f"z{k}":
            t.name = f"h{k}"


# ----------------------------------------------------------------------------- records
@dataclass(frozen=True)
class Update:
    """One gradient-descent step seen from one weight: ``w ← w − α·∂L/∂w``.

    ``grad`` is the gradient the optimizer used (over the step's minibatch); ``predicted`` is
    ``old − lr·grad``; ``new`` what the optimizer actually wrote. They are equal for plain SGD
    without weight decay; momentum, Adam and L2 change the step, and ``note`` says how.
    """

    label: str
    old: float
    grad: float
    lr: float
    new: float
    predicted: float
    optimizer: str
    note: str

    def text(self) -> str:
        line = (f"{self.label} ← {self.old:.6g} − {self.lr:g} × {self.grad:.6g} = "
                f"{self.predicted:.6g}")
        if self.note:
            line += f"   ({self.note}; the optimizer wrote {self.new:.6g})"
        return line

    def to_message(self) -> dict[str, Any]:
        return {"label": self.label, "old": self.old, "grad": self.grad, "lr": self.lr,
                "new": self.new, "predicted": self.predicted, "optimizer": self.optimizer,
                "note": self.note, "text": self.text()}


@dataclass(frozen=True)
class ChainPanel:
    """What the panel shows for one parameter element.

    Attributes:
        layer: which linear layer (0 = the first); ``kind``: ``"weight"`` or ``"bias"``;
            ``index``: the element; ``label``: ``W1[0,1]`` as the page names it.
        scope: ``"batch"`` (the minibatch the next step will use) or ``"point"`` (one
            training example); ``examples``: the training indices explained.
        step: the session's step count when it was computed.
        explanation: the :func:`chainrule.explain` record (paths, factors, sums, .grad, FD).
        update: the last step's update of this element, once a step was taken.
    """

    layer: int
    kind: str
    index: tuple[int, ...]
    label: str
    scope: str
    examples: tuple[int, ...]
    step: int
    explanation: Explanation
    update: Update | None = None

    def to_message(self) -> dict[str, Any]:
        """The ``chain`` message for the page (numbers and the text that ``explain`` prints)."""
        return {"type": "chain", "layer": self.layer, "kind": self.kind,
                "index": list(self.index), "label": self.label, "scope": self.scope,
                "examples": list(self.examples), "step": self.step,
                "explanation": self.explanation.to_dict(), "text": self.explanation.text(),
                "update": self.update.to_message() if self.update else None}


# ----------------------------------------------------------------------------- the 2-D net
def explain_parameter(forward: Forward, loss_fn: LossFn, params: Sequence[Tensor],
                      x: np.ndarray, y: np.ndarray, layer: int, kind: str,
                      index: Sequence[int], *, examples: Sequence[int], scope: str = "batch",
                      step: int = 0, max_paths: int = 8, budget: int = 4_000_000,
                      float64: bool = True) -> ChainPanel:
    """Explain ``∂L/∂(parameter element)`` on the rows ``examples`` of ``x``/``y``.

    ``params`` are the network's parameters in the page's order (W1, b1, W2, b2, ...);
    ``forward`` maps a batch (N, features) to the outputs ``loss_fn`` takes. The loss is
    evaluated in eval mode by the caller's ``forward`` (no dropout), so the finite-difference
    check re-runs the same function. With ``float64`` (the default) the parameters are read
    in double precision for the explanation (and put back untouched), so that the path sums
    and the engine's gradient agree to 1e-12 rather than to float32's 1e-7.
    """
    if kind not in ("weight", "bias"):
        raise ConfigError(f"chain panel: kind must be 'weight' or 'bias'; got {kind!r}")
    if scope not in ("batch", "point"):
        raise ConfigError(f"chain panel: scope must be 'batch' or 'point'; got {scope!r}")
    n_layers = len(params) // 2
    if not 0 <= layer < n_layers:
        raise ConfigError(f"chain panel: layer must be from 0 to {n_layers - 1}; got {layer}")
    target = params[2 * layer + (kind == "bias")]
    idx = tuple(int(i) for i in index)
    if len(idx) != target.ndim or any(not 0 <= i < n for i, n in zip(idx, target.shape)):
        raise ConfigError(f"chain panel: {kind} {list(idx)} is not an element of layer "
                          f"{layer + 1}'s {kind} of shape {target.shape}")
    rows = np.asarray(examples, dtype=np.int64).reshape(-1)
    if rows.size == 0 or rows.min() < 0 or rows.max() >= len(x):
        raise ConfigError(f"chain panel: examples must be training indices below {len(x)}")
    dtype = np.float64 if float64 else np.float32
    xb = Tensor(np.asarray(x[rows], dtype=dtype), dtype=dtype)
    xb.name = "x"
    yb = np.asarray(y[rows])

    def loss() -> Tensor:
        out = loss_fn(forward(xb), yb)
        _name_graph(out)
        return out

    label = parameter_label(layer, kind, idx)
    saved = [(p, p.data) for p in params]
    try:
        if float64:
            for p in params:
                p.data = p.data.astype(np.float64)
        ex = explain(loss, target, idx, name=label.split("[")[0], max_paths=max_paths,
                     budget=budget)
    finally:
        for p, data in saved:
            p.data = data
    return ChainPanel(layer, kind, idx, label, scope, tuple(int(r) for r in rows), int(step), ex)


def step_update(label: str, old: float, grad: float, new: float, lr: float, optimizer: str,
                weight_decay: float = 0.0, momentum: float = 0.0) -> Update:
    """The update record of one step: what ``w − α·∂L/∂w`` predicts and what was written."""
    predicted = old - lr * grad
    notes = []
    if optimizer.lower() not in ("sgd",) or momentum:
        notes.append(f"{optimizer} steps by a running average of gradients, not α·∂L/∂w alone")
    if weight_decay:
        notes.append(f"L2 adds {weight_decay:g}·w to ∂L/∂w")
    return Update(label, float(old), float(grad), float(lr), float(new), float(predicted),
                  optimizer, "; ".join(notes))


# ----------------------------------------------------------------------------- MNIST
@dataclass(frozen=True)
class ExampleShare:
    """One example's share of ``∂L/∂W1[i,j]`` = ``x[n,j] · ∂L/∂z1[n,i]``, and where the
    second factor comes from: ``∂L/∂h1[n,i]`` (the sum over every path above the unit)
    times the activation's slope ``∂h1/∂z1``."""

    example: int
    pixel: float
    dl_dh: float
    slope: float
    product: float


@dataclass(frozen=True)
class FirstLayerSummary:
    """``∂L/∂W1[unit, pixel]`` of the MNIST net, summarised where the paths are thousands.

    ``paths_per_example`` and ``example`` come from :func:`chainrule.explain` on one example
    (its listed paths are the few that contribute most); ``shares`` are the largest
    per-example products, ``batch_sum`` their sum over the whole minibatch, and ``grad`` the
    engine's gradient, which it must equal.
    """

    unit: int
    pixel: int
    label: str
    activation: str
    slope_formula: str
    n_examples: int
    shares: tuple[ExampleShare, ...]
    batch_sum: float
    grad: float
    matches_grad: bool
    paths_per_example: int | None
    example: Explanation

    def to_message(self) -> dict[str, Any]:
        return {"type": "mnist_chain", "unit": self.unit, "pixel": self.pixel,
                "label": self.label, "activation": self.activation,
                "slope_formula": self.slope_formula, "n_examples": self.n_examples,
                "shares": [vars(s) for s in self.shares], "batch_sum": self.batch_sum,
                "grad": self.grad, "matches_grad": self.matches_grad,
                "paths_per_example": self.paths_per_example,
                "example": self.example.to_dict(), "text": self.example.text()}


def summarise_first_layer(forward: Forward, loss_fn: LossFn, params: Sequence[Tensor],
                          x: np.ndarray, y: np.ndarray, unit: int, pixel: int, *,
                          top: int = 8, max_paths: int = 5) -> FirstLayerSummary:
    """``∂L/∂W1[unit, pixel]`` over the minibatch ``x``, ``y`` as a sum over examples.

    The backward pass gives ``∂L/∂h1`` (retained for this one pass); the activation's own VJP,
    fed ones, gives its slope at every element; each example's share is
    ``x[n, pixel] · slope · ∂L/∂h1``. Their sum is checked against the weight's ``.grad``; one
    example is also explained path by path by :func:`chainrule.explain`.
    """
    w = params[0]
    if w.ndim != 2 or not (0 <= unit < w.shape[0] and 0 <= pixel < w.shape[1]):
        raise ConfigError(f"chain panel: W1[{unit},{pixel}] is not an element of the first "
                          f"layer's weight of shape {w.shape}")
    xb = Tensor(np.asarray(x, dtype=np.float32))
    loss = loss_fn(forward(xb), np.asarray(y))
    order = graph_order(loss)
    z1 = next(t for t in order if t.op == "linear" and any(p is w for p, _ in t._edges))
    h1 = next((t for t in order if len(t._edges) == 1 and t._edges[0][0] is z1), None)
    saved = [(t, t.grad) for t in order if not t._edges]
    for t, _ in saved:
        t.grad = None
    inner = [z1] if h1 is None else [z1, h1]
    for node in inner:
        node.retain_grad()
    try:
        loss.backward()
        grad = float(np.asarray(w.grad, dtype=np.float64)[unit, pixel])
        dz = np.asarray(z1.grad, dtype=np.float64)[:, unit]
        if h1 is not None:
            dh = np.asarray(h1.grad, dtype=np.float64)[:, unit]
            # the activation's VJP fed ones: its elementwise slope ∂h1/∂z1 at every element
            slope = np.asarray(h1._edges[0][1](np.ones(h1.shape, dtype=np.float64)),
                               dtype=np.float64)[:, unit]
            spec = op_spec(h1.op)
            act, formula = h1.op, spec.derivative(0) if spec else ""
        else:
            dh, slope, act, formula = dz, np.ones_like(dz), "none", "1"
    finally:
        for t, old in saved:
            t.grad = old
        for node in inner:
            node._retain, node.grad = False, None
    pix = np.asarray(x, dtype=np.float64)[:, pixel]
    products = pix * dz
    batch_sum = float(products.sum())
    order_n = np.argsort(-np.abs(products), kind="stable")[:top]
    shares = tuple(ExampleShare(int(n), float(pix[n]), float(dh[n]), float(slope[n]),
                                float(products[n])) for n in order_n)
    # one example, path by path (the one contributing most), with explain's own record
    n0 = int(order_n[0]) if len(order_n) else 0
    xs = Tensor(np.asarray(x[n0:n0 + 1], dtype=np.float32))
    xs.name = "x"
    ys = np.asarray(y)[n0:n0 + 1]

    def one() -> Tensor:
        out = loss_fn(forward(xs), ys)
        _name_graph(out)
        return out

    ex = explain(one, w, (unit, pixel), name="W1", max_paths=max_paths)
    return FirstLayerSummary(
        unit, pixel, f"W1[{unit},{pixel}]", act, formula, len(pix), shares, batch_sum, grad,
        bool(abs(batch_sum - grad) <= 1e-6 + 1e-4 * abs(grad)), ex.n_paths, ex)
