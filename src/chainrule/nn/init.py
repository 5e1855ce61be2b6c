"""Weight initialisation, as ``torch.nn.init``: each function fills ``tensor.data`` in place.

Random draws come from ``generator=`` when one is given (a ``numpy.random.Generator``, as
PyTorch's ``torch.nn.init`` functions take a ``torch.Generator``), else from the global
generator (``chainrule.rng.get_rng()``), so ``cr.manual_seed(s)`` makes initialisation
repeatable. Fans are computed as PyTorch does: for a
weight of shape ``(out, in, *kernel)``, ``fan_in = in * prod(kernel)`` and
``fan_out = out * prod(kernel)`` (Linear: ``(out, in)``; Conv2d: ``(out, in, kh, kw)``).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..rng import pick
from ..tensor import Tensor


def _array(tensor: Any) -> np.ndarray:
    arr = tensor.data if isinstance(tensor, Tensor) else tensor
    if not isinstance(arr, np.ndarray):
        raise ConfigError(f"nn.init: expected a Tensor or ndarray; got {type(tensor).__name__}")
    return arr


def _fill(tensor: Any, values: Any) -> Any:
    arr = _array(tensor)
    arr[...] = values
    return tensor


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended scale for weights feeding ``nonlinearity`` (PyTorch's table):
    linear/conv/sigmoid 1, tanh 5/3, relu √2, leaky_relu √(2/(1+slope²)), selu 3/4."""
    linear_like = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
                   "conv_transpose2d", "conv_transpose3d", "sigmoid")
    if nonlinearity in linear_like:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = float(param)
        else:
            raise ConfigError(f"calculate_gain: negative_slope {param!r} is not a number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ConfigError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def calculate_fan_in_and_fan_out(tensor: Any) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight with at least 2 dims: ``(out, in, *kernel)``."""
    shape = _array(tensor).shape
    if len(shape) < 2:
        raise ConfigError(f"nn.init: fan in and fan out need a tensor with at least 2 dims; "
                          f"got shape {shape}")
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def _fan(tensor: Any, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ConfigError(f"nn.init: mode must be 'fan_in' or 'fan_out'; got {mode!r}")
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def uniform_(tensor: Any, a: float = 0.0, b: float = 1.0,
             generator: np.random.Generator | None = None) -> Any:
    """Fill with U(a, b)."""
    return _fill(tensor, pick(generator, "nn.init").uniform(a, b, _array(tensor).shape))


def normal_(tensor: Any, mean: float = 0.0, std: float = 1.0,
            generator: np.random.Generator | None = None) -> Any:
    """Fill with N(mean, std²)."""
    return _fill(tensor, pick(generator, "nn.init").normal(mean, std, _array(tensor).shape))


def constant_(tensor: Any, value: float) -> Any:
    return _fill(tensor, value)


def zeros_(tensor: Any) -> Any:
    return _fill(tensor, 0)


def ones_(tensor: Any) -> Any:
    return _fill(tensor, 1)


def xavier_uniform_(tensor: Any, gain: float = 1.0, generator: np.random.Generator | None = None) -> Any:
    """Glorot: U(-a, a) with ``a = gain·√(6/(fan_in + fan_out))``."""
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor: Any, gain: float = 1.0, generator: np.random.Generator | None = None) -> Any:
    """Glorot: N(0, std²) with ``std = gain·√(2/(fan_in + fan_out))``."""
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return normal_(tensor, 0.0, std, generator)


def kaiming_uniform_(tensor: Any, a: float = 0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu", generator: np.random.Generator | None = None) -> Any:
    """He: U(-b, b) with ``b = gain·√(3/fan)``, ``gain = calculate_gain(nonlinearity, a)``.

    ``a=√5`` (Linear's and Conv2d's default) gives ``b = 1/√fan_in``.
    """
    gain = calculate_gain(nonlinearity, a)
    fan = _fan(tensor, mode)
    if fan == 0:
        return tensor
    bound = math.sqrt(3.0) * gain / math.sqrt(fan)
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor: Any, a: float = 0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu", generator: np.random.Generator | None = None) -> Any:
    """He: N(0, std²) with ``std = gain/√fan``."""
    gain = calculate_gain(nonlinearity, a)
    fan = _fan(tensor, mode)
    if fan == 0:
        return tensor
    return normal_(tensor, 0.0, gain / math.sqrt(fan), generator)


__all__ = ["calculate_gain", "calculate_fan_in_and_fan_out", "uniform_", "normal_",
           "constant_", "zeros_", "ones_", "xavier_uniform_", "xavier_normal_",
           "kaiming_uniform_", "kaiming_normal_"]
