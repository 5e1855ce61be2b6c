"""Basic layers: Linear, Flatten, Dropout, Identity and the activation modules.

Each layer's ``config()`` returns its constructor arguments, so a model built from them can be
saved and rebuilt without the code that built it.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..ops.activation import gelu, leaky_relu, softmax, softplus
from ..ops.linear import dropout, linear
from ..ops.unary import relu, sigmoid, tanh
from ..rng import pick
from ..tensor import Tensor
from . import init
from .module import Module, empty_parameter
from .registry import register


def _as_tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def _positive_int(layer: str, name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"{layer}: {name} must be a positive integer; got {value!r}")
    return int(value)


@register
class Linear(Module):
    """Affine map ``y = x Wᵀ + b``: x (..., in_features) -> y (..., out_features).

    ``weight`` is (out_features, in_features) as in PyTorch, initialised U(-1/√in, 1/√in)
    (``kaiming_uniform_(a=√5)``); ``bias`` (out_features,) from the same range.

    The weight is stored column-major (``weight.data.flags.f_contiguous``): its transpose,
    the (in, out) matrix that the forward product ``x @ Wᵀ`` reads, is then row-major, the
    layout in which BLAS runs that product and the gradient ``Xᵀ G`` fastest. Shape, values
    and indexing are those of any (out, in) array; only the order in memory differs.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        self.in_features = _positive_int("Linear", "in_features", in_features)
        self.out_features = _positive_int("Linear", "out_features", out_features)
        self.weight = empty_parameter(self.out_features, self.in_features, order="F")
        self.bias = empty_parameter(self.out_features) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default: weight and bias uniform in ±1/√in_features."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features)
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Any) -> Tensor:
        return linear(x, self.weight, self.bias)

    def config(self) -> dict[str, Any]:
        return {"in_features": self.in_features, "out_features": self.out_features,
                "bias": self.bias is not None}


@register
class Flatten(Module):
    """Merge axes from ``start_axis`` on: (N, C, H, W) -> (N, C·H·W)."""

    def __init__(self, start_axis: int = 1) -> None:
        super().__init__()
        self.start_axis = int(start_axis)

    def forward(self, x: Any) -> Tensor:
        return _as_tensor(x).flatten(self.start_axis)

    def config(self) -> dict[str, Any]:
        return {"start_axis": self.start_axis}


@register
class Dropout(Module):
    """In training, zero each element with probability ``p`` and scale the rest by 1/(1-p);
    in evaluation (``model.eval()``), pass values through unchanged.

    ``generator`` (a ``numpy.random.Generator``) draws the masks; None (the default) draws from
    the global generator. A model whose Dropout layers share one seeded generator of its own
    repeats its masks exactly, whatever else draws random numbers meanwhile. The generator is
    not part of ``config()`` (as PyTorch keeps generators out of ``state_dict``).
    """

    def __init__(self, p: float = 0.5, generator: np.random.Generator | None = None) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p < 1:
            raise ConfigError(f"Dropout: p must be in [0, 1); got {p!r}")
        self.p = float(p)
        pick(generator, "Dropout")  # refuse anything but a Generator now, not at the first step
        self.generator = generator

    def forward(self, x: Any) -> Tensor:
        return dropout(_as_tensor(x), self.p, self.training, self.generator)

    def config(self) -> dict[str, Any]:
        return {"p": self.p}


@register
class Identity(Module):
    """Returns its input unchanged (a placeholder layer)."""

    def forward(self, x: Any) -> Tensor:
        return _as_tensor(x)

    def config(self) -> dict[str, Any]:
        return {}


@register
class ReLU(Module):
    """``max(x, 0)`` elementwise."""

    def forward(self, x: Any) -> Tensor:
        return relu(_as_tensor(x))

    def config(self) -> dict[str, Any]:
        return {}


@register
class LeakyReLU(Module):
    """``x`` where positive, ``negative_slope·x`` elsewhere."""

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = float(negative_slope)

    def forward(self, x: Any) -> Tensor:
        return leaky_relu(_as_tensor(x), self.negative_slope)

    def config(self) -> dict[str, Any]:
        return {"negative_slope": self.negative_slope}


@register
class Sigmoid(Module):
    """``1 / (1 + e^{-x})`` elementwise."""

    def forward(self, x: Any) -> Tensor:
        return sigmoid(_as_tensor(x))

    def config(self) -> dict[str, Any]:
        return {}


@register
class Tanh(Module):
    """``tanh(x)`` elementwise."""

    def forward(self, x: Any) -> Tensor:
        return tanh(_as_tensor(x))

    def config(self) -> dict[str, Any]:
        return {}


@register
class GELU(Module):
    """``x·Φ(x)``; ``approximate='tanh'`` for the tanh approximation."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ConfigError(f"GELU: approximate must be 'none' or 'tanh'; got {approximate!r}")
        self.approximate = approximate

    def forward(self, x: Any) -> Tensor:
        return gelu(_as_tensor(x), self.approximate)

    def config(self) -> dict[str, Any]:
        return {"approximate": self.approximate}


@register
class Softplus(Module):
    """``(1/β)·ln(1 + e^(β·x))``, a smooth ReLU (linear above ``threshold``), as ``torch.nn.Softplus``."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        if not float(beta) > 0:
            raise ConfigError(f"Softplus: beta must be positive; got {beta!r}")
        self.beta, self.threshold = float(beta), float(threshold)

    def forward(self, x: Any) -> Tensor:
        return softplus(_as_tensor(x), self.beta, self.threshold)

    def config(self) -> dict[str, Any]:
        return {"beta": self.beta, "threshold": self.threshold}


@register
class Softmax(Module):
    """Softmax along ``axis`` (default the last): outputs are positive and sum to 1."""

    def __init__(self, axis: int = -1) -> None:
        super().__init__()
        self.axis = int(axis)

    def forward(self, x: Any) -> Tensor:
        return softmax(_as_tensor(x), self.axis)

    def config(self) -> dict[str, Any]:
        return {"axis": self.axis}


__all__ = ["Linear", "Flatten", "Dropout", "Identity", "ReLU", "LeakyReLU", "Sigmoid", "Tanh",
           "GELU", "Softplus", "Softmax"]
