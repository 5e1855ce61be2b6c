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
``backward()`` runs; nothing is re-derived.

For large tensors the number of scalar paths grows as a product of widths; the listing is
then capped (and says so) while the sum over *all* paths is still computed exactly by
dynamic programming, and ``.grad`` and finite differences are still shown. When even the
element graph is too large to trace (a big batch through big layers), the trace is skipped
with a note; the gradient and finite-difference comparison remain.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np

from .errors import BackwardError, ConfigError
from .tensor import Tensor, enable_grad, no_grad

__all__ = ["explain", "Explanation", "element_label", "graph_order"]


def graph_order(root: Tensor) -> list[Tensor]:
    """Every tensor of ``root``'s recorded graph, each after all of its inputs.

    An iterative depth-first walk over ``_edges`` (no recursion, so any depth works). Inputs
    that do not require gradients are not recorded by the engine, so they do not appear.
    """
    order: list[Tensor] = []
    seen: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        for parent, _ in reversed(node._edges):
            if id(parent) not in seen:
                stack.append((parent, False))
    return order

#: Ops whose output element j depends only on input element j when shapes agree
#: (diagonal Jacobian). For them a zero local derivative is kept on the path (a dead ReLU,
#: a saturated sigmoid): seeing the 0 is the lesson.
_ELEMENTWISE = {
    "sigmoid", "tanh", "relu", "leaky_relu", "gelu", "exp", "log", "sqrt", "abs", "clip", "neg",
    "dropout", "add", "sub", "mul", "div", "pow", "maximum", "minimum", "where", "astype",
}

#: What each local derivative is, in words, by op (and for ``linear`` by which input).
_MEANING = {
    "sigmoid": "σ'(z) = σ(z)·(1 − σ(z))",
    "tanh": "tanh'(z) = 1 − tanh²(z)",
    "relu": "relu'(z) = 1 if z > 0 else 0",
    "leaky_relu": "1 if z > 0 else the slope",
    "gelu": "Φ(z) + z·φ(z)",
    "exp": "(eᶻ)' = eᶻ",
    "log": "(ln x)' = 1/x",
    "sqrt": "(√x)' = 1/(2√x)",
    "abs": "sign(x)",
    "neg": "−1",
    "add": "1",
    "sum": "1",
    "mean": "1/n",
    "mse_loss": "2·(ŷ − y)/n",
    "l1_loss": "sign(ŷ − y)/n",
    "cross_entropy": "(softmax(z)ᵢ − [i = label])/N",
    "binary_cross_entropy_with_logits": "(σ(z) − t)/n",
    "binary_cross_entropy": "(p − t)/(p(1 − p))/n",
    "matmul": "an entry of the other matrix",
    "conv2d": "a kernel weight, or an input pixel under it",
    "max_pool2d": "1 for the largest value in the window, else 0",
    "avg_pool2d": "1/(window size)",
    "batch_norm": "through the batch's mean and variance as well",
    "mul": "the other factor",
    "dropout": "0 if dropped, else 1/(1 − p)",
    "reshape": "1 (values only move)",
    "transpose": "1 (values only move)",
    "getitem": "1 (values only move)",
    "concatenate": "1 (values only move)",
    "stack": "1 (values only move)",
}
_LINEAR_MEANING = {
    "vjp_w": "the input xⱼ that this weight multiplies",
    "vjp_x": "the weight Wᵢⱼ joining the two neurons",
}


class _TooBig(Exception):
    """The element graph exceeded the tracing budget."""


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


# ----------------------------------------------------------------------------- result
class Explanation(dict):
    """The result of :func:`explain`: a ``dict`` for programs that prints as readable text.

    Keys: ``loss`` (value of L), ``tensor`` (name), ``index`` (tuple), ``label`` (the
    element as printed, e.g. ``W1[0,0]``), ``value`` (the element's value), ``graph`` (tensors between the element and L, in forward order:
    ``{"name", "op", "shape"}``), ``paths`` (listed paths, each ``{"nodes": [labels from
    the element to L], "factors": [{"of", "wrt", "op", "value", "meaning"}, ...] from L
    down, "product"}``), ``n_paths`` (total number of scalar paths, or None if not traced),
    ``truncated`` (True when fewer paths are listed than exist), ``paths_examined`` (paths
    enumerated to choose the listed ones, those with the largest |product|), ``path_sum`` (Σ over all
    paths of their products), ``grad`` (the element of ``.grad`` after ``loss.backward()``),
    ``matches_grad``, ``finite_difference`` (float64 central difference or None), ``eps``,
    ``matches_fd``, ``notes`` (list of remarks).
    """

    def text(self) -> str:
        """Readable, aligned text: the paths, the factors with values, sum, .grad, FD."""
        d = self
        lines: list[str] = []
        lines.append(f"∂L/∂{d['label']}: how a change in {d['label']} = {_fmt(d['value'])} "
                     f"reaches the loss L = {_fmt(d['loss'])}")
        chain = "  →  ".join(f"{g['name']} {tuple(g['shape'])}" + ("" if g["op"] == "leaf" else f" [{g['op']}]")
                             for g in d["graph"])
        lines.append(f"  tensors on the way: {chain}")
        n = d["n_paths"]
        if n is None:
            lines.append("  (the element-by-element trace was skipped: the graph is too large; "
                         "see notes)")
        else:
            more = (f", the {len(d['paths'])} contributing most listed" if d["truncated"] else "")
            lines.append(f"  {n} path{'s' if n != 1 else ''} from {d['label']} to L{more}:")
        for p_i, p in enumerate(d["paths"], 1):
            lines.append("")
            lines.append(f"  path {p_i}:  " + " → ".join(p["nodes"]))
            syms = [f"∂{f['of']}/∂{f['wrt']}" for f in p["factors"]]
            width = max(len(s) for s in syms + ["product"])
            vals = [_fmt(f["value"]) for f in p["factors"]]
            vwidth = max(len(v) for v in vals + [_fmt(p["product"])])
            for s, v, f in zip(syms, vals, p["factors"]):
                meaning = f"   {f['op']}: {f['meaning']}" if f["meaning"] else f"   {f['op']}"
                lines.append(f"    {s:<{width}} = {v:>{vwidth}}{meaning}")
            prod = " × ".join(vals)
            lines.append(f"    {'product':<{width}} = {_fmt(p['product']):>{vwidth}}   = {prod}")
        if d["truncated"]:
            among = ("" if d["paths_examined"] >= n
                     else f" among the first {d['paths_examined']} examined")
            lines.append(f"\n  ... {n - len(d['paths'])} more paths not listed "
                         f"(max_paths={len(d['paths'])}; the listed ones contribute most{among}); "
                         f"the sum below still covers all {n}.")
        lines.append("")
        lines.append(f"  sum over all paths       = {_fmt(d['path_sum'])}")
        mark = "✓ equal" if d["matches_grad"] else ("✗ differ" if d["matches_grad"] is False else "")
        lines.append(f"  .grad from backward()    = {_fmt(d['grad'])}   {mark}".rstrip())
        if d["finite_difference"] is None:
            lines.append("  finite difference        = (not computed; see notes)")
        else:
            mark = "✓ agrees" if d["matches_fd"] else "✗ disagrees"
            lines.append(f"  finite difference        = {_fmt(d['finite_difference'])}   {mark} "
                         f"((L(w+ε) − L(w−ε))/2ε, ε = {d['eps']:g}, float64)")
        for note in d["notes"]:
            lines.append(f"  note: {note}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text()

    __repr__ = __str__

    def to_dict(self) -> dict[str, Any]:
        """A plain ``dict`` copy (JSON-serialisable)."""
        return dict(self)


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
        An :class:`Explanation`: a dict (see its docstring) that prints as text.

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
    grad_value = float(np.asarray(grad, dtype=np.float64).reshape(-1)[flat]) if tensor.ndim else float(grad)

    paths: list[dict[str, Any]] = []
    n_paths: int | None = None
    path_sum: float | None = None
    scanned = 0
    try:
        n_paths, path_sum, paths, scanned = _trace(loss, tensor, flat, relevant, depends, names, max_paths, budget)
    except _TooBig:
        notes.append(f"the element graph is too large to trace within budget={budget:,} "
                     f"(large batch or layers); explain a smaller example (one input row) "
                     f"to see the paths, or raise budget=")
    matches_grad = None
    if path_sum is not None:
        matches_grad = bool(abs(path_sum - grad_value) <= 1e-6 + 1e-4 * abs(grad_value))

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

    return Explanation(
        loss=float(loss.data.reshape(-1)[0]), tensor=names[id(tensor)], index=idx, label=label,
        value=float(np.asarray(tensor.data, dtype=np.float64).reshape(-1)[flat]),
        graph=[{"name": names[id(t)], "op": t.op, "shape": list(t.shape)} for t in relevant],
        paths=paths, n_paths=n_paths, paths_examined=scanned, truncated=bool(n_paths is not None and n_paths > len(paths)),
        path_sum=path_sum, grad=grad_value, matches_grad=matches_grad, finite_difference=fd,
        eps=eps, matches_fd=matches_fd, notes=notes)


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


def _trace(loss: Tensor, target: Tensor, flat: int, relevant: list[Tensor], depends: set[int],
           names: dict[int, str], max_paths: int, budget: int
           ) -> tuple[int, float, list[dict[str, Any]], int]:
    """Build the scalar graph between ``target[flat]`` and ``loss`` from one-hot VJP rows.

    Returns (number of paths, Σ over paths of their products, the ``max_paths`` paths with
    the largest |product| among those examined, the number of paths examined).
    """
    # 1. Backward from the loss: for each active output element j of a tensor, call each
    #    relevant edge's VJP on the one-hot e_j; its non-zero entries are the scalar edges.
    active: dict[int, set[int]] = {id(loss): {0}}
    # (id(t), j) -> list of (parent, k, value, edge position)
    edges: dict[tuple[int, int], list[tuple[Tensor, int, float, int]]] = {}
    work = 0
    for t in reversed(relevant):
        js = active.get(id(t))
        if not js or t is target:
            continue
        for j in sorted(js):
            g = np.zeros(t.shape, dtype=np.float64)  # the one-hot e_j
            g.reshape(-1)[j] = 1.0
            row: list[tuple[Tensor, int, float, int]] = []
            for pos, (p, vjp) in enumerate(t._edges):
                if id(p) not in depends:
                    continue
                r = np.asarray(vjp(g), dtype=np.float64).reshape(-1)
                work += r.size
                if p is target:
                    ks = [flat] if (r[flat] != 0 or (t.op in _ELEMENTWISE and p.shape == t.shape
                                                       and j == flat)) else []
                elif t.op in _ELEMENTWISE and p.shape == t.shape:
                    ks = [j]
                else:
                    ks = [int(k) for k in np.flatnonzero(r)]
                for k in ks:
                    row.append((p, k, float(r[k]), pos))
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
    # 3. List the first max_paths paths (depth first from the loss, only along edges that
    #    lead to the target, so no search is wasted).
    listed: list[dict[str, Any]] = []

    def lab(t: Tensor, k: int) -> str:
        return element_label(names[id(t)], t.shape, k, full=t is target)

    stack: list[tuple[Tensor, int, list[tuple[Tensor, int, Tensor, int, float, int]]]] = [(loss, 0, [])]
    scan = max(200, 20 * max_paths)  # enumerate this many, then keep the largest contributions
    while stack and len(listed) < scan:
        t, j, so_far = stack.pop()
        if t is target and j == flat:
            factors = []
            for child, cj, parent, pk, v, pos in so_far:
                factors.append({"of": lab(child, cj), "wrt": lab(parent, pk), "op": child.op,
                                "value": v, "meaning": _meaning(child, pos)})
            nodes = [lab(target, flat)] + [lab(c, cj) for c, cj, *_ in reversed(so_far)]
            listed.append({"nodes": nodes, "factors": factors,
                           "product": float(math.prod(f["value"] for f in factors))})
            continue
        for p, k, v, pos in reversed(edges.get((id(t), j), ())):
            if (id(p), k) in count and not (p is target and k != flat):
                stack.append((p, k, so_far + [(t, j, p, k, v, pos)]))
    listed.sort(key=lambda p: -abs(p["product"]))  # stable: ties keep their order
    return n_paths, path_sum, listed[:max_paths], len(listed)


def _meaning(child: Tensor, pos: int) -> str:
    """The local derivative in words (empty when the op has no short formula)."""
    if child.op == "linear":
        vjp = child._edges[pos][1]
        return _LINEAR_MEANING.get(getattr(vjp, "__name__", ""), "1 (the bias)")
    if child.op == "sub":
        return "+1 or −1"
    if child.op == "div":
        return "1/b or −a/b²"
    if child.op == "pow":
        return "b·aᵇ⁻¹"
    return _MEANING.get(child.op, "")


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


# ----------------------------------------------------------------------------- tiny network
class TinyNetwork:
    """The network of ``chainrule explain``: 2 inputs → 2 hidden neurons → 1 sigmoid output.

    One training example, mean squared error, numbers small enough to check by hand::

        z1 = W1·x + b1        (2,)   W1: (2, 2), b1: (2,)
        h  = act(z1)          (2,)   act: sigmoid (default), tanh or relu
        z2 = W2·h + b2        (1,)   W2: (1, 2), b2: (1,)
        ŷ  = σ(z2)            (1,)
        L  = (ŷ − y)²         ()

    Tensors carry a leading batch axis of 1 (``x`` is (1, 2)), as real batches do.
    The default numbers follow the classic worked example of backpropagation
    (inputs 0.05 and 0.10, weights 0.15 ... 0.45, biases 0.35 and 0.60, target 0.01).
    """

    PARAMS = ("W1", "b1", "W2", "b2")
    ACTIVATIONS = ("sigmoid", "tanh", "relu")

    def __init__(self, activation: str = "sigmoid", x: Sequence[float] = (0.05, 0.10),
                 y: float = 0.01) -> None:
        if activation not in self.ACTIVATIONS:
            raise ConfigError(f"tiny network: activation must be one of "
                              f"{', '.join(self.ACTIVATIONS)}; got {activation!r}")
        if len(x) != 2:
            raise ConfigError(f"tiny network: the input has 2 numbers; got {len(x)}")
        self.activation = activation
        self.x = Tensor(np.array([x], dtype=np.float32))
        self.x.name = "x"
        self.y = Tensor(np.array([[y]], dtype=np.float32))
        self.y.name = "y"
        self.W1 = self._param("W1", [[0.15, 0.20], [0.25, 0.30]])
        self.b1 = self._param("b1", [0.35, 0.35])
        self.W2 = self._param("W2", [[0.40, 0.45]])
        self.b2 = self._param("b2", [0.60])

    @staticmethod
    def _param(name: str, values: Any) -> Tensor:
        t = Tensor(np.array(values, dtype=np.float32), requires_grad=True)
        t.name = name
        return t

    def parameters(self) -> list[Tensor]:
        """W1, b1, W2, b2 (the leaves that gradient descent updates)."""
        return [self.W1, self.b1, self.W2, self.b2]

    def param(self, name: str) -> Tensor:
        """A parameter by name (``"W1"``, ``"b1"``, ``"W2"``, ``"b2"``)."""
        if name not in self.PARAMS:
            raise ConfigError(f"tiny network has no parameter {name!r}; it has "
                              f"{', '.join(self.PARAMS)}")
        return getattr(self, name)

    def forward(self) -> dict[str, Tensor]:
        """Run the network once; the named tensors of the forward pass, in order."""
        from .ops.linear import linear
        from .ops.loss import mse_loss

        z1 = linear(self.x, self.W1, self.b1)
        h = getattr(z1, self.activation)()
        z2 = linear(h, self.W2, self.b2)
        y_hat = z2.sigmoid()
        loss = mse_loss(y_hat, self.y)
        out = {"z1": z1, "h": h, "z2": z2, "ŷ": y_hat, "L": loss}
        for k, t in out.items():
            t.name = k
        return out

    def loss(self) -> Tensor:
        """The loss L of one forward pass (a function to hand to :func:`explain`)."""
        return self.forward()["L"]


def parse_weight(spec: str) -> tuple[str, tuple[int, ...]]:
    """``"W1[0,1]"`` → ``("W1", (0, 1))``; ``"b2"`` → ``("b2", ())`` (first element)."""
    import re

    m = re.fullmatch(r"\s*([A-Za-z_][A-Za-z_0-9]*)\s*(?:\[\s*([0-9,\s]*)\])?\s*", spec)
    if not m:
        raise ConfigError(f"cannot read the weight {spec!r}; write it like W1[0,1] or b2[0]")
    idx = tuple(int(p) for p in m.group(2).split(",") if p.strip()) if m.group(2) else ()
    return m.group(1), idx


# ----------------------------------------------------------------------------- cr.explain
# ``cr.explain`` is this module's ``explain`` function, loaded lazily by chainrule/__init__.
# But importing the submodule (``from chainrule.explain import TinyNetwork``) makes Python set
# the package attribute ``chainrule.explain`` to the *module*, shadowing the function. Making
# the module callable keeps ``cr.explain(loss, w)`` working whichever happened first.
import sys as _sys  # noqa: E402
import types as _types  # noqa: E402


class _CallableModule(_types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> Explanation:
        return explain(*args, **kwargs)


_sys.modules[__name__].__class__ = _CallableModule
