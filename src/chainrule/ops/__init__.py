"""The ops, one file per family, each op a forward computation beside its VJP.

This module also binds them to :class:`~chainrule.tensor.Tensor` as operators and methods,
so ``a * b``, ``x.sum(axis=0)`` and ``x.relu()`` reach the same functions.
"""
from __future__ import annotations

from collections.abc import Iterator

from ..tensor import Tensor
from . import activation, arithmetic, combine, linear, loss, reduce, shape, unary
from .activation import gelu, leaky_relu, log_softmax, logsumexp, softmax
from .arithmetic import add, div, matmul, mul, neg, power, sub
from .combine import concatenate, maximum, minimum, stack, where
from .reduce import max, mean, min, sum, var  # noqa: A004
from .shape import flatten, getitem, reshape, transpose
from .unary import abs, clip, exp, log, relu, sigmoid, sqrt, tanh  # noqa: A004


def _iter(self: Tensor) -> Iterator[Tensor]:
    """Iterate over the first axis (rows), each a differentiable ``self[i]``, as NumPy does.

    Without this, Python would fall back to calling ``self[0], self[1], ...`` until an
    ``IndexError``, but an out-of-range index raises ``ShapeError``: ``for row in t`` and
    ``a, b = t`` would fail at the end.
    """
    if self.data.ndim == 0:
        raise TypeError("iteration over a 0-d tensor")
    return (getitem(self, i) for i in range(self.data.shape[0]))


# Tensor declares these for type checkers (``tensor.py``); here they get their implementations.
for _name, _fn in {
    "__add__": add, "__radd__": lambda self, other: add(other, self),
    "__sub__": sub, "__rsub__": lambda self, other: sub(other, self),
    "__mul__": mul, "__rmul__": lambda self, other: mul(other, self),
    "__truediv__": div, "__rtruediv__": lambda self, other: div(other, self),
    "__pow__": power, "__rpow__": lambda self, other: power(other, self),
    "__matmul__": matmul, "__rmatmul__": lambda self, other: matmul(other, self),
    "__neg__": neg, "__pos__": lambda self: self, "__getitem__": getitem, "__abs__": abs,
    "exp": exp, "log": log, "sqrt": sqrt, "abs": abs, "tanh": tanh, "sigmoid": sigmoid,
    "relu": relu, "clip": clip, "sum": sum, "mean": mean, "max": max, "min": min, "var": var,
    "reshape": reshape, "transpose": transpose, "flatten": flatten, "softmax": softmax,
    "log_softmax": log_softmax, "logsumexp": logsumexp, "pow": power, "matmul": matmul,
    "__iter__": _iter,
    "T": property(transpose, doc="The tensor with its axes reversed (a matrix transposed)."),
}.items():
    setattr(Tensor, _name, _fn)



__all__ = [
    "activation", "arithmetic", "combine", "linear", "loss", "reduce", "shape", "unary",
    "gelu", "leaky_relu", "log_softmax", "logsumexp", "softmax", "add", "div", "matmul", "mul", "neg", "power",
    "sub", "concatenate", "maximum", "minimum", "stack", "where", "max", "mean", "min", "sum", "var", "flatten",
    "getitem", "reshape", "transpose", "abs", "clip", "exp", "log", "relu", "sigmoid", "sqrt", "tanh",
]
