"""``cr.explain``: the chain rule for one weight, with real numbers a learner can check.

Backpropagation computes ``∂L/∂w`` for every weight at once, tensor by tensor. This module
takes one *element* ``w`` of one tensor and spells out what that computation amounts to:

* every **path** along which ``w`` influences the loss ``L``, element by element
  (``W1[0,0] → z1[0] → h[0] → z2 → ŷ → L``),
* on each path, every **local derivative** (``∂L/∂ŷ``, ``∂ŷ/∂z2``, ...) with its value,
* their **product** (the chain rule along that path) and the **sum over paths**
  (the multivariate chain rule),
* equality of that sum with what ``loss.backward()`` puts in ``.grad``, and
* a **finite-difference** estimate ``(L(w+ε) - L(w-ε)) / 2ε`` in float64 beside it.

How the local derivatives are obtained, honestly: the calculus lives only in the ops
(``chainrule/ops``), as vector-Jacobian products (VJPs). Feeding an op's VJP a *one-hot*
gradient ``g = e_j`` (1 at output element ``j``, 0 elsewhere) returns row ``j`` of the op's
Jacobian: ``∂out[j]/∂in[k]`` for every input element ``k``. The non-zero entries are the
scalar edges of the graph. So every number printed here comes from the same code that
``backward()`` runs; nothing is re-derived. The words beside each number (``σ'(z) =
σ(z)·(1 − σ(z))``) are the op's own :class:`~chainrule.opspec.OpSpec`, declared beside its
VJP, looked up by op name and input position.

The result is a record (:class:`Explanation`, with :class:`Path`, :class:`Factor` and
:class:`GraphStep`) that :func:`render_text` prints; the playground's chain-rule panel
renders the same record.

For large tensors the number of scalar paths grows as a product of widths; the listing is
then capped (and says so) while the sum over *all* paths is still computed exactly by
dynamic programming, and ``.grad`` and finite differences are still shown. When even the
element graph is too large to trace (a big batch through big layers), the trace is skipped
with a note; the gradient and finite-difference comparison remain.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .errors import BackwardError, ConfigError
from .opspec import op_spec
from .tensor import Tensor, edge_positions, enable_grad, graph_order, no_grad

__all__ = [
    "Explanation",
    "Factor",
    "GraphStep",
    "Path",
    "element_label",
    "explain",
    "render_text",
]


class _TooBig(Exception):
    """The element graph exceeded the tracing budget."""


# ----------------------------------------------------------------------------- the record
@dataclass(frozen=True)
class Factor:
    """One local derivative on a path: ``∂of/∂wrt``, its value and its formula in words.

    ``op`` made ``of`` from ``wrt``; ``formula`` is that op's derivative with respect to
    that input as its :class:`~chainrule.opspec.OpSpec` states it (empty when it has none).
    """

    of: str
    wrt: str
    op: str
    value: float
    formula: str

    @property
    def symbol(self) -> str:
        """``∂of/∂wrt``, as printed."""
        return f"∂{self.of}/∂{self.wrt}"


@dataclass(frozen=True)
class Path:
    """One scalar path from the element to the loss.

    ``nodes`` are element labels from the element to ``L``; ``factors`` the local derivatives
    from ``L`` down to the element (the order the backward pass multiplies them in);
    ``product`` their product: this path's share of ``∂L/∂w`` (the chain rule along it).
    """

    nodes: tuple[str, ...]
    factors: tuple[Factor, ...]
    product: float


@dataclass(frozen=True)
class GraphStep:
    """One tensor between the element and the loss: its name, the op that made it
    (``"leaf"`` for the element's own tensor), that op's formula, and its shape."""

    name: str
    op: str
    shape: tuple[int, ...]
    formula: str = ""


@dataclass(frozen=True)
class Explanation:
    """The result of :func:`explain`: ``∂L/∂w`` for one element ``w``, path by path.

    Attributes:
        loss: the value of L.
        tensor: the tensor's name; ``index`` the element's index; ``label`` the element as
            printed (``W1[0,0]``); ``value`` its value.
        graph: the tensors between the element and L, in forward order.
        paths: the listed paths, those with the largest |product| among the
            ``paths_examined`` enumerated.
        n_paths: the number of scalar paths (None when the trace was skipped as too large);
            ``truncated`` is True when fewer are listed.
        path_sum: Σ over *all* paths of their products (the multivariate chain rule).
        per_example: that sum split by example, when the loss is a reduction over a batch:
            the share of each row of the loss's input (``path_sum`` is their sum); None when
            the loss has several inputs that depend on the element.
        grad: the element of ``.grad`` after one fresh ``loss.backward()``;
            ``matches_grad`` whether ``path_sum`` equals it.
        finite_difference: the float64 central difference (None without a loss function);
            ``eps`` its step; ``matches_fd`` whether it agrees with ``grad``.
        notes: remarks (why something was skipped or disagrees).

    ``str(explanation)`` is :func:`render_text`; :meth:`to_dict` gives plain JSON types.
    """

    loss: float
    tensor: str
    index: tuple[int, ...]
    label: str
    value: float
    graph: tuple[GraphStep, ...]
    paths: tuple[Path, ...]
    n_paths: int | None
    paths_examined: int
    truncated: bool
    path_sum: float | None
    per_example: tuple[float, ...] | None
    grad: float
    matches_grad: bool | None
    finite_difference: float | None
    eps: float
    matches_fd: bool | None
    notes: tuple[str, ...] = field(default=())

    def text(self) -> str:
        """Readable, aligned text (see :func:`render_text`)."""
        return render_text(self)

    def __str__(self) -> str:
        return render_text(self)

    def _repr_html_(self) -> str:
        """Notebooks show the paths as tables (``chainrule.display.explanation_html``)."""
        from .display import explanation_html

        return explanation_html(self)

    def to_dict(self) -> dict[str, Any]:
        """The record as plain dicts, lists and numbers (JSON-serialisable)."""
        plain: dict[str, Any] = _plain(asdict(self))
        return plain


def _plain(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


# ----------------------------------------------------------------------------- labels
def element_label(name: str, shape: Sequence[int], flat_index: int, full: bool = False) -> str:
    """``name[i,j]`` for one element, dropping axes of size 1 (``h[0]`` for shape (1, 2)).

    A tensor with a single element is labelled by its name alone (``L``, ``ŷ``).
    With ``full=True`` every axis is shown (``W2[0,1]``), as the element is indexed in code.
    """
    shape = tuple(shape)
    if not shape or (int(np.prod(shape, dtype=np.int64)) <= 1 and not full):
        return name
    idx = np.unravel_index(flat_index, shape)
    shown = [str(int(i)) for i, n in zip(idx, shape) if n != 1 or full]
    return f"{name}[{','.join(shown)}]"


def _fmt(v: float | None) -> str:
    if v is None:
        return "—"
    if v == 0:
        return "0"
    return f"{v:.6g}"


def _names(order: list[Tensor], loss: Tensor, target: Tensor, target_name: str) -> dict[int, str]:
    """A short name for every tensor: its ``.name``, else ``L`` / the target name / op+counter."""
    names: dict[int, str] = {}
    counts: dict[str, int] = {}
    used = {t.name for t in order if t.name}
    for t in order:
        if t.name:
            names[id(t)] = t.name
        elif t is target:
            names[id(t)] = target_name
        elif t is loss:
            names[id(t)] = "L" if "L" not in used else "loss"
        else:
            counts[t.op] = counts.get(t.op, 0) + 1
            names[id(t)] = f"{t.op}{counts[t.op]}"
    return names


# ----------------------------------------------------------------------------- text
def render_text(d: Explanation) -> str:
    """The explanation as aligned text: the paths, each factor's value and formula in words,
    the products, the sums over paths and over the batch, ``.grad`` and finite differences."""
    lines: list[str] = []
    lines.append(f"∂L/∂{d.label}: how a change in {d.label} = {_fmt(d.value)} "
                 f"reaches the loss L = {_fmt(d.loss)}")
    chain = "  →  ".join(f"{g.name} {tuple(g.shape)}" + ("" if g.op == "leaf" else f" [{g.op}]")
                         for g in d.graph)
    lines.append(f"  tensors on the way: {chain}")
    n = d.n_paths
    if n is None:
        lines.append("  (the element-by-element trace was skipped: the graph is too large; "
                     "see notes)")
    else:
        more = f", the {len(d.paths)} contributing most listed" if d.truncated else ""
        lines.append(f"  {n} path{'s' if n != 1 else ''} from {d.label} to L{more}:")
    for p_i, p in enumerate(d.paths, 1):
        lines.append("")
        lines.append(f"  path {p_i}:  " + " → ".join(p.nodes))
        syms = [f.symbol for f in p.factors]
        width = max(len(s) for s in [*syms, "product"])
        vals = [_fmt(f.value) for f in p.factors]
        vwidth = max(len(v) for v in [*vals, _fmt(p.product)])
        for s, v, f in zip(syms, vals, p.factors):
            meaning = f"   {f.op}: {f.formula}" if f.formula else f"   {f.op}"
            lines.append(f"    {s:<{width}} = {v:>{vwidth}}{meaning}")
        lines.append(f"    {'product':<{width}} = {_fmt(p.product):>{vwidth}}   = "
                     + " × ".join(vals))
    if d.truncated and n is not None:
        among = "" if d.paths_examined >= n else f" among the first {d.paths_examined} examined"
        lines.append(f"\n  ... {n - len(d.paths)} more paths not listed "
                     f"(max_paths={len(d.paths)}; the listed ones contribute most{among}); "
                     f"the sum below still covers all {n}.")
    lines.append("")
    lines.append(f"  sum over all paths       = {_fmt(d.path_sum)}")
    if d.per_example is not None and len(d.per_example) > 1:
        shown = " + ".join(_fmt(v) for v in d.per_example[:6])
        if len(d.per_example) > 6:
            shown += f" + … ({len(d.per_example)} examples)"
        lines.append(f"    = Σ over the batch of each example's share: {shown}")
    mark = "✓ equal" if d.matches_grad else ("✗ differ" if d.matches_grad is False else "")
    lines.append(f"  .grad from backward()    = {_fmt(d.grad)}   {mark}".rstrip())
    if d.finite_difference is None:
        lines.append("  finite difference        = (not computed; see notes)")
    else:
        mark = "✓ agrees" if d.matches_fd else "✗ disagrees"
        lines.append(f"  finite difference        = {_fmt(d.finite_difference)}   {mark} "
                     f"((L(w+ε) − L(w−ε))/2ε, ε = {d.eps:g}, float64)")
    for note in d.notes:
        lines.append(f"  note: {note}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- main
def explain(loss: Tensor | Callable[[], Tensor], tensor: Tensor, index: Any = None, *,
            name: str | None = None, max_paths: int = 10, eps: float = 1e-6,
            budget: int = 20_000_000) -> Explanation:
    """Explain ``∂loss/∂tensor[index]`` path by path, with every local derivative's value.

    Args:
        loss: a scalar Tensor, or a function of no arguments that returns one
            (``lambda: F.mse_loss(model(x), y)``). Only with a function can the
            finite-difference estimate be computed, since it re-runs the forward pass.
        tensor: the tensor whose element to explain, usually a parameter (a leaf); it must
            be part of the loss's graph.
        index: which element: a tuple like ``(0, 1)``, an int (flat index), or None for
            the first element.
        name: how to call the tensor in the text (default: its ``.name``, else ``w``).
        max_paths: list at most this many scalar paths, those contributing most (largest
            |product|); the sum covers all of them.
        eps: finite-difference step (applied in float64).
        budget: cap on the work of the element-by-element trace (array elements produced
            by one-hot VJP calls); beyond it the trace is skipped with a note.

    Returns:
        An :class:`Explanation` record; ``print(it)`` shows it as text.

    Gradients already stored in ``.grad`` are left as they were; the gradient shown is that
    of one fresh ``backward()`` of this loss. A loss *function* is called three times (once
    to build the graph, twice for finite differences), so randomness in it (dropout) or
    side effects (batch-norm running statistics) show up as a disagreement or a change.
    """
    fn: Callable[[], Tensor] | None = None
    if callable(loss) and not isinstance(loss, Tensor):
        fn = loss
        with enable_grad():
            loss = fn()
    if not isinstance(loss, Tensor):
        raise ConfigError(f"explain: loss must be a Tensor or a function returning one; got "
                          f"{type(loss).__name__}")
    if not isinstance(tensor, Tensor):
        raise ConfigError(f"explain: tensor must be a Tensor; got {type(tensor).__name__}")
    if loss.size != 1:
        raise ConfigError(f"explain: the loss must be a single number; got shape {loss.shape}. "
                          f"Reduce it first (e.g. .mean())")
    if not loss.requires_grad:
        raise BackwardError("explain: the loss does not require grad, so no gradient flows to "
                            "anything (was it computed under no_grad()?)")
    flat = _flat_index(tensor, index)
    idx = tuple(int(i) for i in np.unravel_index(flat, tensor.shape)) if tensor.ndim else ()

    order = graph_order(loss)  # parents before children
    ids = {id(t) for t in order}
    if id(tensor) not in ids:
        raise ConfigError(
            f"explain: the loss does not depend on this tensor (shape {tensor.shape}); pass a "
            f"tensor with requires_grad=True that was used to compute the loss")
    depends = {id(tensor)}
    for t in order:
        if t is not tensor and any(id(p) in depends for p, _ in t._edges):
            depends.add(id(t))
    relevant = [t for t in order if id(t) in depends]
    target_name = name or tensor.name or "w"
    names = _names(relevant, loss, tensor, target_name)
    label = element_label(names[id(tensor)], tensor.shape, flat, full=True)

    notes: list[str] = []
    grad = _fresh_grad(loss, tensor, order)
    grad_value = float(np.asarray(grad, dtype=np.float64).reshape(-1)[flat])

    trace: _Trace | None = None
    try:
        trace = _trace(loss, tensor, flat, relevant, depends, names, max_paths, budget)
    except _TooBig:
        notes.append(f"the element graph is too large to trace within budget={budget:,} "
                     f"(large batch or layers); explain a smaller example (one input row) "
                     f"to see the paths, or raise budget=")
    matches_grad = None
    if trace is not None:
        matches_grad = bool(abs(trace.path_sum - grad_value) <= 1e-6 + 1e-4 * abs(grad_value))

    fd = None
    if fn is None:
        notes.append("finite differences need the loss as a function that recomputes it: "
                     "cr.explain(lambda: <your loss expression>, w)")
    elif tensor._edges:
        notes.append("finite differences are computed only for leaf tensors (parameters), "
                     "which the function's forward pass reads anew")
    else:
        leaves = [t for t in order if not t._edges]
        fd = _finite_difference(fn, tensor, idx, leaves, eps)
    matches_fd = None
    if fd is not None:
        matches_fd = bool(abs(fd - grad_value) <= 1e-6 + 1e-3 * abs(fd))
        if not matches_fd:
            notes.append("a disagreement with finite differences can come from kinks (ReLU at "
                         "exactly 0, max ties) or randomness (dropout) in the forward pass")

    steps = []
    for t in relevant:
        spec = op_spec(t.op) if t._edges else None
        steps.append(GraphStep(names[id(t)], t.op, tuple(t.shape), spec.formula if spec else ""))
    return Explanation(
        loss=float(loss.data.reshape(-1)[0]), tensor=names[id(tensor)], index=idx, label=label,
        value=float(np.asarray(tensor.data, dtype=np.float64).reshape(-1)[flat]),
        graph=tuple(steps),
        paths=trace.paths if trace else (), n_paths=trace.n_paths if trace else None,
        paths_examined=trace.examined if trace else 0,
        truncated=bool(trace is not None and trace.n_paths > len(trace.paths)),
        path_sum=trace.path_sum if trace else None,
        per_example=trace.per_example if trace else None,
        grad=grad_value, matches_grad=matches_grad, finite_difference=fd,
        eps=eps, matches_fd=matches_fd, notes=tuple(notes))


def _flat_index(tensor: Tensor, index: Any) -> int:
    size = tensor.size
    if index is None:
        return 0
    if isinstance(index, (int, np.integer)) and not isinstance(index, bool):
        if not 0 <= int(index) < max(size, 1):
            raise ConfigError(f"explain: flat index {index} is out of range for a tensor of "
                              f"{size} elements (shape {tensor.shape})")
        return int(index)
    try:
        if isinstance(index, str):
            raise TypeError
        idx = tuple(int(i) for i in index)
    except (TypeError, ValueError):
        raise ConfigError(f"explain: index must be a tuple of ints, an int or None; got "
                          f"{index!r}") from None
    if len(idx) != tensor.ndim or any(not -n <= i < n for i, n in zip(idx, tensor.shape)):
        raise ConfigError(f"explain: index {idx} does not fit a tensor of shape {tensor.shape}")
    return int(np.ravel_multi_index(tuple(i % n for i, n in zip(idx, tensor.shape)), tensor.shape))


def _fresh_grad(loss: Tensor, tensor: Tensor, order: list[Tensor]) -> np.ndarray:
    """∂loss/∂tensor from one backward pass, leaving every ``.grad`` as it was."""
    saved = [(t, t.grad) for t in order if not t._edges or t._retain]
    retain = tensor._retain
    for t, _ in saved:
        t.grad = None
    tensor.grad, tensor._retain = None, True
    try:
        loss.backward()
        g = tensor.grad
        if g is None:
            g = np.zeros(tensor.shape, dtype=tensor.dtype)
        return np.array(g, copy=True)
    finally:
        tensor._retain = retain
        tensor.grad = None
        for t, old in saved:
            t.grad = old


@dataclass(frozen=True)
class _Trace:
    n_paths: int
    path_sum: float
    per_example: tuple[float, ...] | None
    paths: tuple[Path, ...]
    examined: int


def _trace(loss: Tensor, target: Tensor, flat: int, relevant: list[Tensor], depends: set[int],
           names: dict[int, str], max_paths: int, budget: int) -> _Trace:
    """Build the scalar graph between ``target[flat]`` and ``loss`` from one-hot VJP rows.

    Returns the number of paths, Σ over paths of their products (and its split by example),
    and the ``max_paths`` paths with the largest |product| among those examined.
    """
    # 1. Backward from the loss: for each active output element j of a tensor, call each
    #    relevant edge's VJP on the one-hot e_j; its non-zero entries are the scalar edges.
    #    An elementwise op (diagonal Jacobian) keeps its edge j → j even when the local
    #    derivative is 0, so that a dead ReLU shows on the path.
    active: dict[int, set[int]] = {id(loss): {0}}
    # (id(t), j) -> list of (parent, k, value, formula)
    edges: dict[tuple[int, int], list[tuple[Tensor, int, float, str]]] = {}
    work = 0
    for t in reversed(relevant):
        js = active.get(id(t))
        if not js or t is target:
            continue
        spec = op_spec(t.op)
        diagonal = spec is not None and spec.elementwise
        positions = edge_positions(t)
        for j in sorted(js):
            g = np.zeros(t.shape, dtype=np.float64)  # the one-hot e_j
            g.reshape(-1)[j] = 1.0
            row: list[tuple[Tensor, int, float, str]] = []
            for pos, (p, vjp) in zip(positions, t._edges):
                if id(p) not in depends:
                    continue
                r = np.asarray(vjp(g), dtype=np.float64).reshape(-1)
                work += r.size
                if p is target:
                    ks = [flat] if (r[flat] != 0 or (diagonal and p.shape == t.shape
                                                       and j == flat)) else []
                elif diagonal and p.shape == t.shape:
                    ks = [j]
                else:
                    ks = [int(k) for k in np.flatnonzero(r)]
                formula = spec.derivative(pos) if spec is not None else ""
                for k in ks:
                    row.append((p, k, float(r[k]), formula))
                if ks:
                    active.setdefault(id(p), set()).update(ks)
            edges[(id(t), j)] = row
            if work > budget:
                raise _TooBig
    # 2. Forward from the target, in topological order: how many paths reach each element
    #    from target[flat], and the sum of their products (Σ over paths = the gradient).
    count: dict[tuple[int, int], int] = {(id(target), flat): 1}
    total: dict[tuple[int, int], float] = {(id(target), flat): 1.0}
    for t in relevant:
        if t is target:
            continue
        for j in active.get(id(t), ()):
            c, s = 0, 0.0
            for p, k, v, _ in edges.get((id(t), j), ()):
                key = (id(p), k)
                if key in count:
                    c += count[key]
                    s += v * total[key]
            if c:
                count[(id(t), j)] = c
                total[(id(t), j)] = s
    root = (id(loss), 0)
    n_paths = count.get(root, 0)
    path_sum = total.get(root, 0.0)
    per_example = _per_example(loss, edges.get(root, []), total)
    # 3. List paths (depth first from the loss, only along edges that lead to the target,
    #    so no search is wasted), then keep the max_paths that contribute most.
    listed: list[Path] = []

    def lab(t: Tensor, k: int) -> str:
        return element_label(names[id(t)], t.shape, k, full=t is target)

    Hop = tuple[Tensor, int, Tensor, int, float, str]
    stack: list[tuple[Tensor, int, list[Hop]]] = [(loss, 0, [])]
    scan = max(200, 20 * max_paths)  # enumerate this many, then keep the largest contributions
    while stack and len(listed) < scan:
        t, j, so_far = stack.pop()
        if t is target and j == flat:
            factors = tuple(Factor(lab(child, cj), lab(parent, pk), child.op, v, formula)
                            for child, cj, parent, pk, v, formula in so_far)
            nodes = (lab(target, flat), *(lab(c, cj) for c, cj, *_ in reversed(so_far)))
            listed.append(Path(nodes, factors, float(math.prod(f.value for f in factors))))
            continue
        for p, k, v, formula in reversed(edges.get((id(t), j), ())):
            if (id(p), k) in count and not (p is target and k != flat):
                stack.append((p, k, [*so_far, (t, j, p, k, v, formula)]))
    listed.sort(key=lambda path: -abs(path.product))  # stable: ties keep their order
    return _Trace(n_paths, path_sum, per_example, tuple(listed[:max_paths]), len(listed))


def _per_example(loss: Tensor, root_edges: list[tuple[Tensor, int, float, str]],
                 total: dict[tuple[int, int], float]) -> tuple[float, ...] | None:
    """Σ over paths split by the row (example) of the loss's input that each path enters L by.

    A loss over a batch reduces an input of shape (N, ...) (or (N,)); path sums through row
    ``n`` are example ``n``'s share of ``∂L/∂w``. None when L has several inputs on the way.
    """
    inputs = {id(p): p for p, *_ in root_edges}
    if len(inputs) != 1:
        return None
    (p,) = inputs.values()
    if p.ndim == 0:
        return None
    shares = [0.0] * p.shape[0]
    row = max(p.size // max(p.shape[0], 1), 1)
    for _, k, v, _ in root_edges:
        shares[k // row] += v * total.get((id(p), k), 0.0)
    return tuple(shares)


def _finite_difference(fn: Callable[[], Tensor], target: Tensor, idx: tuple[int, ...],
                       leaves: list[Tensor], eps: float) -> float:
    """Central difference of ``fn()`` in ``target[idx]``, with every leaf in float64.

    The leaves' arrays are swapped for float64 copies for the two evaluations (so NumPy
    computes the forward pass in float64) and put back afterwards, untouched.
    """
    saved = [(t, t.data) for t in leaves]
    try:
        for t, data in saved:
            if data.dtype.kind == "f":
                t.data = data.astype(np.float64)
        arr = target.data
        w0 = float(arr[idx])
        with no_grad():
            arr[idx] = w0 + eps
            plus = float(np.asarray(fn().data, dtype=np.float64).reshape(-1)[0])
            arr[idx] = w0 - eps
            minus = float(np.asarray(fn().data, dtype=np.float64).reshape(-1)[0])
        return (plus - minus) / (2 * eps)
    finally:
        for t, data in saved:
            t.data = data


