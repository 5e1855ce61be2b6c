"""Tensor: an ndarray that remembers how it was made, and backpropagation over that record.

Every op (see ``chainrule/ops``) computes its output with NumPy and, when gradients are wanted,
records one *edge* per input that requires a gradient: ``(input, vjp)``, where ``vjp`` is the
vector-Jacobian product that maps the gradient of the loss with respect to the op's output,
``g = ∂L/∂out``, to the gradient with respect to that input, ``∂L/∂in = g · ∂out/∂in``
(the chain rule, one factor at a time). ``backward()`` walks the recorded graph once, output
first, in reverse topological order, and sums the contributions each tensor receives.
"""
from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import threading
import traceback
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import AnomalyError, BackwardError, ConfigError, DataError, ShapeError
from .opspec import define_op
from .rng import get_rng

DEFAULT_DTYPE = np.float32


class _Mode(threading.local):
    """Per-thread switches (grad recording, anomaly detection), as PyTorch keeps them."""

    grad_enabled = True
    anomaly = False


_mode = _Mode()
_counter = itertools.count()  # creation order of tensors: inputs always precede outputs


# ----------------------------------------------------------------------------- grad mode
class no_grad(contextlib.ContextDecorator):
    """Context manager (or decorator) under which ops record no graph: for evaluation.

    Inside it, results have ``requires_grad=False`` and hold no references to their inputs,
    so evaluation is faster and uses less memory.
    """

    def _recreate_cm(self) -> no_grad:  # a fresh context per decorated call: re-entrant
        return type(self)()

    def __enter__(self) -> no_grad:
        self._prev = _mode.grad_enabled
        _mode.grad_enabled = False
        return self

    def __exit__(self, *exc: Any) -> None:
        _mode.grad_enabled = self._prev


class enable_grad(contextlib.ContextDecorator):
    """Turn graph recording back on inside a ``no_grad`` block."""

    def _recreate_cm(self) -> enable_grad:
        return type(self)()

    def __enter__(self) -> enable_grad:
        self._prev = _mode.grad_enabled
        _mode.grad_enabled = True
        return self

    def __exit__(self, *exc: Any) -> None:
        _mode.grad_enabled = self._prev


def is_grad_enabled() -> bool:
    """Whether ops currently record the graph (False inside ``no_grad``)."""
    return _mode.grad_enabled


class detect_anomaly(contextlib.ContextDecorator):
    """Raise :class:`AnomalyError` naming the op as soon as NaN or Inf appears.

    Checks every op's output in the forward pass and every gradient in the backward pass,
    and names the line of user code that created the op. Slower; use while debugging.
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled

    def _recreate_cm(self) -> detect_anomaly:
        return type(self)(self.enabled)

    def __enter__(self) -> detect_anomaly:
        self._prev = _mode.anomaly
        _mode.anomaly = self.enabled
        return self

    def __exit__(self, *exc: Any) -> None:
        _mode.anomaly = self._prev


_PKG_DIR = os.path.dirname(os.path.abspath(__file__))


def _user_frame() -> str:
    """'file:line' of the innermost stack frame outside the chainrule package."""
    for frame in reversed(traceback.extract_stack()[:-2]):
        if not os.path.abspath(frame.filename).startswith(_PKG_DIR):
            return f"{frame.filename}:{frame.lineno}"
    return "<chainrule>"


def _nonfinite(a: np.ndarray) -> bool:
    return a.dtype.kind == "f" and not np.isfinite(a).all()


# ----------------------------------------------------------------------------- Tensor
define_op("astype", "x in another dtype", ("x",), ("1 (the value is only converted)",),
          elementwise=True)  # the one op defined here, as Tensor.astype


#: one recorded edge of the graph: an op's input and the VJP that maps ∂L/∂out to ∂L/∂input
Edge = tuple["Tensor", Callable[[np.ndarray], np.ndarray]]


class Tensor:
    """An n-dimensional array that records the ops applied to it, for backpropagation.

    Attributes:
        data: the values, a ``numpy.ndarray`` (float32 unless asked otherwise).
        grad: ``∂loss/∂self`` after ``loss.backward()``, an ndarray of ``data``'s shape and
            dtype, or ``None`` before any backward pass reached it.
        requires_grad: whether gradients flow to (and are stored for) this tensor.
    """

    # _kept (set only when make() drops inputs that need no gradient): the positions of
    # _edges among the op's inputs, so that explain can name each input (see edge_positions)
    __slots__ = ("data", "grad", "requires_grad", "_edges", "_op", "_acc", "_retain", "name",
                 "_where", "_seq", "_kept", "__weakref__")
    # Make NumPy defer to Tensor's reflected operators: ndarray * Tensor -> Tensor.__rmul__.
    __array_ufunc__ = None

    data: np.ndarray
    grad: np.ndarray | None
    requires_grad: bool
    _edges: tuple[Edge, ...]  # (input, vjp) for each input that requires a gradient
    _op: str
    _acc: np.ndarray | None  # the gradient summed so far during a backward sweep
    _retain: bool
    name: str | None
    _where: str | None  # the user's line that created it (under detect_anomaly)
    _seq: int  # creation order
    _kept: tuple[int, ...]

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None) -> None:
        self.data = _to_array(data, dtype)
        if requires_grad and self.data.dtype.kind != "f":
            raise ConfigError(
                f"only floating-point tensors can require gradients; got dtype {self.data.dtype}")
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self._edges = ()
        self._op = "leaf"
        self._acc = None
        self._retain = False
        self.name = None
        self._where = None
        self._seq = next(_counter)

    # --- array-like attributes
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def op(self) -> str:
        """Name of the op that produced this tensor (``'leaf'`` for inputs and parameters)."""
        return self._op

    @property
    def parents(self) -> tuple[Tensor, ...]:
        """The inputs of the op that produced this tensor and that require gradients."""
        return tuple(p for p, _ in self._edges)

    @property
    def is_leaf(self) -> bool:
        return not self._edges

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise ShapeError("len() of a 0-d tensor")
        return len(self.data)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        if dtype is not None and np.dtype(dtype) != self.data.dtype:
            return self.data.astype(dtype)
        return self.data.copy() if copy else self.data

    def __copy__(self) -> Tensor:
        """A new leaf sharing this tensor's data (and gradient array), with its own identity."""
        t = _leaf(self.data, self.requires_grad)
        t.grad, t.name = self.grad, self.name
        return t

    def __deepcopy__(self, memo: dict[int, Any]) -> Tensor:
        """A new leaf with copies of the data and gradient (``copy.deepcopy(model)`` for a
        target network or a best-weights snapshot). Like PyTorch, the copy is cut off from
        the graph that made the original; it gets its own place in backward's ordering."""
        t = _leaf(self.data.copy(order="K"), self.requires_grad)  # same memory layout
        t.grad = None if self.grad is None else self.grad.copy(order="K")
        t.name = self.name
        memo[id(self)] = t
        return t

    def __repr__(self) -> str:
        body = np.array2string(self.data, precision=4, separator=", ", threshold=20,
                               prefix="tensor(")
        extra = ""
        if self.data.dtype != DEFAULT_DTYPE:
            extra += f", dtype={self.data.dtype}"
        if self._edges:
            extra += f", op={self._op}"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise ShapeError(f"the truth value of a tensor with shape {self.shape} is ambiguous")
        return bool(self.data)

    # --- comparisons give plain boolean arrays (they have no gradient)
    def __lt__(self, other: Any) -> np.ndarray:
        out: np.ndarray = self.data < _raw(other)
        return out

    def __le__(self, other: Any) -> np.ndarray:
        out: np.ndarray = self.data <= _raw(other)
        return out

    def __gt__(self, other: Any) -> np.ndarray:
        out: np.ndarray = self.data > _raw(other)
        return out

    def __ge__(self, other: Any) -> np.ndarray:
        out: np.ndarray = self.data >= _raw(other)
        return out

    # --- conversions
    def item(self) -> float:
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ShapeError(f"item() needs a tensor with one element; got shape {self.shape}")
        value: float = self.data.item()
        return value

    def numpy(self) -> np.ndarray:
        """The underlying ndarray (shared, not copied)."""
        return self.data

    def tolist(self) -> Any:
        return self.data.tolist()

    def detach(self) -> Tensor:
        """A new leaf sharing this tensor's data, cut off from the graph."""
        return _leaf(self.data)

    def astype(self, dtype: Any) -> Tensor:
        """A copy in another dtype; gradients flow back, cast to this tensor's dtype."""
        src = self.data.dtype
        return make(self.data.astype(dtype), "astype", (self, lambda g: g.astype(src)))

    def argmax(self, axis: int | None = None) -> np.ndarray | np.intp:
        """Indices of the largest values (an ndarray: argmax has no gradient)."""
        return self.data.argmax(axis=axis)

    def argmin(self, axis: int | None = None) -> np.ndarray | np.intp:
        return self.data.argmin(axis=axis)

    # --- gradients
    def zero_grad(self) -> None:
        """Forget the stored gradient (``grad = None``), so the next backward starts afresh."""
        self.grad = None

    def retain_grad(self) -> Tensor:
        """Keep this intermediate tensor's gradient in ``.grad`` after ``backward()``."""
        if not self.requires_grad:
            raise BackwardError("retain_grad() on a tensor that does not require grad")
        self._retain = True
        return self

    def backward(self, grad: Any = None) -> None:
        """Backpropagate: fill ``.grad`` of every leaf (and retained tensor) this one depends on.

        ``grad`` is ``∂L/∂self``; it may be omitted only when this tensor holds a single
        value (a scalar loss), in which case it is 1. Gradients *accumulate*: each call adds
        to ``.grad``, so a second ``backward()`` of the same graph (which stays valid) adds the
        same gradients again; call ``zero_grad()`` (or ``optimizer.zero_grad()``) in between.
        """
        if not self.requires_grad:
            raise BackwardError(
                "backward() on a tensor that does not require grad: no input of the ops that "
                "made it has requires_grad=True (or it was computed under no_grad())")
        if grad is None:
            if self.data.size != 1:
                raise BackwardError(
                    f"backward() without a gradient needs a scalar (one-element) tensor; this one "
                    f"has shape {self.shape}. Reduce it first (e.g. .sum() or .mean()) or pass "
                    f"grad= an array of shape {self.shape}")
            seed = np.array(1, dtype=self.data.dtype).reshape(self.data.shape)
        else:
            seed = np.asarray(_raw(grad), dtype=self.data.dtype)
            if seed.shape != self.shape:
                raise ShapeError(
                    f"backward(grad=...) got a gradient of shape {seed.shape} for a tensor of "
                    f"shape {self.shape}; they must match")
        _backpropagate(self, seed)

    def register_post_accumulate_grad_hook(self, hook: Callable[[Tensor], None]) -> RemovableHandle:
        """Call ``hook(self)`` during ``backward()`` as soon as this leaf's ``.grad`` is final
        for that pass (PyTorch's name). The engine visits every tensor once, newest first, so
        the moment a leaf is stored no later op can add to it: data-parallel training
        (``chainrule.distributed``) starts communicating a bucket of gradients there while
        backward goes on with earlier layers. Returns a handle whose ``remove()`` unhooks it.
        Costs nothing while no hook is registered."""
        if self._edges or not self.requires_grad:
            raise BackwardError("register_post_accumulate_grad_hook: only a leaf tensor that "
                                "requires grad (a parameter) has a final gradient to report")
        entry = _post_hooks.setdefault(id(self), (weakref.ref(self), []))
        if entry[0]() is not self:  # a dead tensor's id was reused
            entry = _post_hooks[id(self)] = (weakref.ref(self), [])
        entry[1].append(hook)
        return RemovableHandle(self, hook)

    # --- operators are bound in chainrule/ops/__init__.py (one file per op family); these
    # declarations tell type checkers what they are (they do not exist at run time)
    if TYPE_CHECKING:
        def __add__(self, other: Any) -> Tensor: ...
        def __radd__(self, other: Any) -> Tensor: ...
        def __sub__(self, other: Any) -> Tensor: ...
        def __rsub__(self, other: Any) -> Tensor: ...
        def __mul__(self, other: Any) -> Tensor: ...
        def __rmul__(self, other: Any) -> Tensor: ...
        def __truediv__(self, other: Any) -> Tensor: ...
        def __rtruediv__(self, other: Any) -> Tensor: ...
        def __pow__(self, other: Any) -> Tensor: ...
        def __rpow__(self, other: Any) -> Tensor: ...
        def __matmul__(self, other: Any) -> Tensor: ...
        def __rmatmul__(self, other: Any) -> Tensor: ...
        def __neg__(self) -> Tensor: ...
        def __pos__(self) -> Tensor: ...
        def __abs__(self) -> Tensor: ...
        def __getitem__(self, key: Any) -> Tensor: ...
        def __iter__(self) -> Iterator[Tensor]: ...
        def exp(self) -> Tensor: ...
        def log(self) -> Tensor: ...
        def sqrt(self) -> Tensor: ...
        def abs(self) -> Tensor: ...
        def tanh(self) -> Tensor: ...
        def sigmoid(self) -> Tensor: ...
        def relu(self) -> Tensor: ...
        def clip(self, lo: float | None = None, hi: float | None = None) -> Tensor: ...
        def sum(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor: ...
        def mean(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor: ...
        def max(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor: ...
        def min(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor: ...
        def var(self, axis: int | Sequence[int] | None = None, keepdims: bool = False,
                ddof: int = 0) -> Tensor: ...
        def reshape(self, *shape: Any) -> Tensor: ...
        def transpose(self, *axes: Any) -> Tensor: ...
        def flatten(self, start_axis: int = 0) -> Tensor: ...
        def softmax(self, axis: int = -1) -> Tensor: ...
        def log_softmax(self, axis: int = -1) -> Tensor: ...
        def logsumexp(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor: ...
        def pow(self, other: Any) -> Tensor: ...
        def matmul(self, other: Any) -> Tensor: ...
        @property
        def T(self) -> Tensor: ...


class RemovableHandle:
    """What ``register_post_accumulate_grad_hook`` returns: ``remove()`` unhooks."""

    def __init__(self, t: Tensor, hook: Callable[[Tensor], None]) -> None:
        self._key, self._ref, self._hook = id(t), weakref.ref(t), hook

    def remove(self) -> None:
        entry = _post_hooks.get(self._key)
        if entry is not None and entry[0]() is self._ref() and self._hook in entry[1]:
            entry[1].remove(self._hook)
            if not entry[1]:
                del _post_hooks[self._key]


#: id(leaf) -> (weak reference, hooks) for ``register_post_accumulate_grad_hook``; empty
#: (so one falsy test per stored gradient) unless data-parallel training is on.
_post_hooks: dict[int, tuple[Any, list[Callable[[Tensor], None]]]] = {}


def _leaf(data: np.ndarray, requires_grad: bool = False) -> Tensor:
    t = Tensor.__new__(Tensor)
    t.data = data
    t.grad = None
    t.requires_grad = requires_grad
    t._edges = ()
    t._op = "leaf"
    t._acc = None
    t._retain = False
    t.name = None
    t._where = None
    t._seq = next(_counter)
    return t


def make(data: np.ndarray, op: str, *edges: tuple[Tensor, Callable[[np.ndarray], np.ndarray]]
         ) -> Tensor:
    """Wrap an op's output and, if gradients are wanted, record its edges.

    ``edges`` are ``(input_tensor, vjp)`` pairs; only inputs that require a gradient are kept.
    Each ``vjp(g)`` must return a *new* array (or ``g`` itself or a view of it) of the input's
    shape, and must never modify ``g`` in place.
    """
    t = Tensor.__new__(Tensor)
    t.data = data
    t.grad = None
    t._op = op
    t._acc = None
    t._retain = False
    t.name = None
    t._where = None
    t._seq = next(_counter)
    if _mode.grad_enabled:
        for e in edges:
            if not e[0].requires_grad:  # keep only the inputs that want a gradient
                t._kept = tuple([i for i, e in enumerate(edges) if e[0].requires_grad])
                edges = tuple([e for e in edges if e[0].requires_grad])
                break
        t._edges = edges
        t.requires_grad = bool(edges)
    else:
        t._edges = ()
        t.requires_grad = False
    if _mode.anomaly:
        t._where = _user_frame()
        if _nonfinite(data):
            bad_in = [i for i, (p, _) in enumerate(edges) if _nonfinite(p.data)]
            why = (f"; its input(s) #{bad_in} already held NaN/Inf" if bad_in
                   else "; its inputs were finite")
            raise AnomalyError(
                f"forward pass: op '{op}' produced NaN/Inf in its output of shape {data.shape}"
                f" at {t._where}{why}")
    return t


def _backpropagate(root: Tensor, seed: np.ndarray) -> None:
    """Reverse-mode sweep: visit tensors newest first, each exactly once.

    Every tensor carries a creation number ``_seq``, and an op's inputs always exist before
    its output, so "largest ``_seq`` first" is a reverse topological order: when a tensor is
    taken from the heap, every tensor that uses it has already sent its contribution. A tensor
    enters the heap when it receives its first gradient contribution, so the walk is one
    iterative pass (no recursion, any depth) with no separate sort.
    """
    # Arrays handed to some .grad in this pass: a second holder must get its own copy, so that
    # later in-place accumulation (+=) or clipping of one .grad never changes another.
    handed: set[int] = {id(seed)}
    root._acc = seed
    heap: list[tuple[int, Tensor]] = [(-root._seq, root)]
    # leaves with a post-accumulate hook: how many contributions each still awaits
    waiting = _hooked_leaf_uses(root) if _post_hooks else {}
    try:
        _sweep(heap, handed, _mode.anomaly, waiting)
    except BaseException:
        # a VJP raised (e.g. AnomalyError): drop the partial sums still waiting in the heap,
        # so that a later backward() through these tensors starts clean
        for _, pending in heap:
            pending._acc = None
        for leaf, _ in waiting.values():
            leaf._acc = None
        raise


def _hooked_leaf_uses(root: Tensor) -> dict[int, list[Any]]:
    """id -> [leaf, number of edges into it] for the hooked leaves of ``root``'s graph.

    Leaves are the oldest tensors, so the newest-first heap would reach them only at the very
    end of the sweep; counting their uses lets the sweep store a hooked leaf's gradient (and
    call its hooks) the moment its last contribution arrives, while backward goes on with
    earlier layers (data-parallel training starts sending a bucket there)."""
    uses: dict[int, list[Any]] = {}
    seen = {id(root)}
    stack = [root]
    while stack:
        for parent, _ in stack.pop()._edges:
            if not parent._edges:
                if id(parent) in _post_hooks:
                    entry = uses.setdefault(id(parent), [parent, 0])
                    entry[1] += 1
            elif id(parent) not in seen:
                seen.add(id(parent))
                stack.append(parent)
    return uses


def _sweep(heap: list[tuple[int, Tensor]], handed: set[int], anomaly: bool,
           waiting: dict[int, list[Any]]) -> None:
    pop, push = heapq.heappop, heapq.heappush
    while heap:
        node = pop(heap)[1]
        g: np.ndarray = node._acc  # type: ignore[assignment]  # every tensor in the heap holds one
        node._acc = None
        edges = node._edges
        if not edges or node._retain:
            _store_grad(node, g, handed)
            if _post_hooks and not edges:
                _run_post_hooks(node)
        for parent, vjp in edges:
            pg = vjp(g)
            if anomaly and _nonfinite(pg):
                raise AnomalyError(
                    f"backward pass: the gradient that op '{node._op}' (created at {node._where}) "
                    f"sends to its input #{[p for p, _ in edges].index(parent)} of shape "
                    f"{parent.shape} holds NaN/Inf")
            acc = parent._acc
            entry = waiting.get(id(parent)) if waiting else None
            if entry is not None:  # a hooked leaf: final once its last use has contributed
                parent._acc = pg if acc is None else acc + pg
                entry[1] -= 1
                if entry[1] == 0:
                    del waiting[id(parent)]
                    final, parent._acc = parent._acc, None
                    _store_grad(parent, final, handed)
                    _run_post_hooks(parent)
            elif acc is None:
                parent._acc = pg
                push(heap, (-parent._seq, parent))
            else:  # a tensor used in several places receives the sum of their gradients
                parent._acc = acc + pg


def _run_post_hooks(node: Tensor) -> None:
    entry = _post_hooks.get(id(node))
    if entry is not None and entry[0]() is node:
        for hook in tuple(entry[1]):
            hook(node)


def _store_grad(node: Tensor, g: np.ndarray, handed: set[int]) -> None:
    data = node.data
    if g.shape != data.shape:  # engine invariant; a vjp returned a wrong shape
        raise BackwardError(
            f"internal error: gradient of shape {g.shape} for tensor of shape {data.shape}")
    if g.dtype != data.dtype:
        g = g.astype(data.dtype)
    elif g.base is not None or id(g) in handed or not g.flags.writeable:
        g = g.copy()
    if node.grad is None:
        node.grad = g
        handed.add(id(g))
    else:
        node.grad += g


# ----------------------------------------------------------------------------- graph walks
def graph_order(root: Tensor) -> list[Tensor]:
    """Every tensor of ``root``'s recorded graph, each after all of its inputs.

    An iterative depth-first walk over the recorded edges (no recursion, so any depth works),
    for the tools that read a graph (``cr.explain``, the graph pictures). Inputs that do not
    require gradients are not recorded by the engine, so they do not appear.
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


def edge_positions(t: Tensor) -> tuple[int, ...]:
    """For each recorded edge of ``t``, the position of its input among the op's inputs.

    ``make`` records only the inputs that need a gradient: for ``linear(x, W, b)`` with a
    constant ``x`` the edges are ``W`` and ``b``, at positions 1 and 2, which is how the op's
    :class:`~chainrule.opspec.OpSpec` names them.
    """
    try:
        return t._kept
    except AttributeError:  # nothing was dropped
        return tuple(range(len(t._edges)))


# ----------------------------------------------------------------------------- helpers
def _raw(x: Any) -> Any:
    return x.data if isinstance(x, Tensor) else x


def _to_array(data: Any, dtype: Any = None) -> np.ndarray:
    if isinstance(data, Tensor):
        data = data.data
    try:
        arr = np.asarray(data) if dtype is None else np.asarray(data, dtype=dtype)
    except (ValueError, TypeError) as exc:
        raise DataError(f"cannot make a tensor from {type(data).__name__}: {exc}") from None
    if dtype is None:
        if arr.dtype.kind not in "biuf":
            raise DataError(
                f"cannot make a tensor from data of dtype {arr.dtype}; expected numbers "
                f"(bool, int or float)")
        dtype = DEFAULT_DTYPE
    # always a copy (as torch.tensor): later in-place updates never reach the caller's array
    return np.array(arr, dtype=dtype, copy=True)


def lift(x: Any, like: Tensor) -> Tensor:
    """Turn a Python number or ndarray operand into a constant tensor of ``like``'s dtype."""
    if isinstance(x, Tensor):
        return x
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise DataError(f"cannot combine a tensor with a {type(x).__name__} of dtype {arr.dtype}")
    if arr.dtype != like.data.dtype and like.data.dtype.kind == "f":
        arr = arr.astype(like.data.dtype)
    return _leaf(arr)


def unbroadcast(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``g`` over the axes that broadcasting added or stretched, giving it ``shape``.

    If ``x`` of shape ``shape`` was broadcast to ``g``'s shape, each element of ``x`` was used
    in every position along those axes, so its gradient is the sum over them.
    """
    if g.shape == shape:
        return g
    extra = g.ndim - len(shape)
    if extra:
        g = g.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g


# ----------------------------------------------------------------------------- creation
def tensor(data: Any, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    """A new leaf tensor holding a copy of ``data``. Numbers (bool, int or float) become float32
    unless ``dtype`` says otherwise (e.g. ``dtype=np.float64`` keeps double precision)."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def from_numpy(array: np.ndarray, requires_grad: bool = False) -> Tensor:
    """Wrap an ndarray without copying it, keeping its dtype (e.g. float64)."""
    if not isinstance(array, np.ndarray):
        raise DataError(f"from_numpy expects a numpy.ndarray; got {type(array).__name__}")
    if requires_grad and array.dtype.kind != "f":
        raise ConfigError(
            f"only floating-point tensors can require gradients; got dtype {array.dtype}")
    return _leaf(array, requires_grad)


def unpack_shape(args: Sequence[Any]) -> tuple[Any, ...]:
    """The dimensions of a ``*shape`` argument: ``f(2, 3)`` and ``f((2, 3))`` both give (2, 3)."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(args[0])
    return tuple(args)


def _shape_arg(shape: Sequence[Any]) -> tuple[int, ...]:
    """A new tensor's shape from a ``*shape`` argument: non-negative integers, else ConfigError."""
    shape = unpack_shape(shape)
    try:
        dims = tuple(int(s) for s in shape)
    except (TypeError, ValueError):
        raise ConfigError(f"a shape must be integers; got {shape!r}") from None
    if any(d < 0 for d in dims):
        raise ConfigError(f"a shape cannot have negative dimensions; got {dims}")
    return dims


def zeros(*shape: Any, requires_grad: bool = False, dtype: Any = DEFAULT_DTYPE) -> Tensor:
    """A tensor of zeros: ``zeros(2, 3)`` or ``zeros((2, 3))``."""
    return Tensor(np.zeros(_shape_arg(shape), dtype=dtype), requires_grad, dtype)


def ones(*shape: Any, requires_grad: bool = False, dtype: Any = DEFAULT_DTYPE) -> Tensor:
    """A tensor of ones: ``ones(2, 3)`` or ``ones((2, 3))``."""
    return Tensor(np.ones(_shape_arg(shape), dtype=dtype), requires_grad, dtype)


def zeros_like(t: Any, requires_grad: bool = False) -> Tensor:
    arr = _raw(t)
    return Tensor(np.zeros_like(arr), requires_grad, arr.dtype)


def ones_like(t: Any, requires_grad: bool = False) -> Tensor:
    arr = _raw(t)
    return Tensor(np.ones_like(arr), requires_grad, arr.dtype)


def randn(*shape: Any, requires_grad: bool = False, dtype: Any = DEFAULT_DTYPE) -> Tensor:
    """Standard normal samples from the global generator (``cr.manual_seed``)."""
    data = get_rng().standard_normal(_shape_arg(shape)).astype(dtype, copy=False)
    return Tensor(data, requires_grad, dtype)


def rand(*shape: Any, requires_grad: bool = False, dtype: Any = DEFAULT_DTYPE) -> Tensor:
    """Uniform samples in [0, 1) from the global generator."""
    data = get_rng().random(_shape_arg(shape)).astype(dtype, copy=False)
    return Tensor(data, requires_grad, dtype)


def arange(start: float, stop: float | None = None, step: float = 1, *,
           requires_grad: bool = False, dtype: Any = DEFAULT_DTYPE) -> Tensor:
    """Evenly spaced values in [start, stop), as ``numpy.arange``."""
    data = np.arange(start, stop, step) if stop is not None else np.arange(0, start, step)
    return Tensor(data.astype(dtype), requires_grad, dtype)


# Binding the ops as methods needs the class above; importing ops registers them.
from . import ops as _ops  # noqa: E402,F401
