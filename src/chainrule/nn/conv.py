"""Convolution layers: Conv2d, the Unflatten reshape that feeds flat images to it, and the
LeNet-style network ``lenet()`` used by ``chainrule train --model cnn``.

The calculus lives in ``chainrule/ops/conv.py``; a layer only owns the parameters.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError, ShapeError
from ..ops.conv import _pair, conv2d
from ..tensor import Tensor
from . import init
from .module import Module, empty_parameter
from .registry import register


def _positive_int(layer: str, name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"{layer}: {name} must be a positive integer; got {value!r}")
    return int(value)


def _compact(pair: tuple[int, int]) -> int | list[int]:
    """A pair as it reads best in a config: one int when both are equal."""
    return pair[0] if pair[0] == pair[1] else list(pair)


def _as_tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


@register
class Conv2d(Module):
    """2-D convolution over (N, C_in, H, W) -> (N, C_out, OH, OW), as ``torch.nn.Conv2d``.

    ``weight`` (out_channels, in_channels, kh, kw) and ``bias`` (out_channels,) are
    initialised as PyTorch does: ``kaiming_uniform_(a=√5)``, i.e. U(±1/√fan_in) with
    fan_in = in_channels·kh·kw, the bias from the same range. ``kernel_size``, ``stride`` and
    ``padding`` are an int or a pair (vertical, horizontal); padding is zeros.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, bias: bool = True) -> None:
        super().__init__()
        self.in_channels = _positive_int("Conv2d", "in_channels", in_channels)
        self.out_channels = _positive_int("Conv2d", "out_channels", out_channels)
        self.kernel_size = _pair(kernel_size, "kernel_size", "Conv2d", 1)
        self.stride = _pair(stride, "stride", "Conv2d", 1)
        self.padding = _pair(padding, "padding", "Conv2d", 0)
        kh, kw = self.kernel_size
        # size-checked before allocating (a model file's architecture is untrusted)
        self.weight = empty_parameter(self.out_channels, self.in_channels, kh, kw)
        self.bias = empty_parameter(self.out_channels) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default: weight and bias uniform in ±1/√(in_channels·kh·kw)."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.in_channels * self.kernel_size[0] * self.kernel_size[1]
            bound = 1 / math.sqrt(fan_in)
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Any) -> Tensor:
        return conv2d(x, self.weight, self.bias, self.stride, self.padding)

    def output_shape(self, h: int, w: int) -> tuple[int, int]:
        """(OH, OW) for an input of height ``h`` and width ``w``."""
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        return (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1

    def config(self) -> dict[str, Any]:
        return {"in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": _compact(self.kernel_size), "stride": _compact(self.stride),
                "padding": _compact(self.padding), "bias": self.bias is not None}


@register
class Unflatten(Module):
    """Split axis ``axis`` into ``shape``: ``Unflatten(1, (1, 28, 28))`` turns flattened
    images (N, 784) into (N, 1, 28, 28) for a Conv2d (the inverse of ``Flatten``)."""

    def __init__(self, axis: int, shape: Sequence[int]) -> None:
        super().__init__()
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise ConfigError(f"Unflatten: axis must be an int; got {axis!r}")
        try:
            dims = tuple(int(s) for s in shape)
        except (TypeError, ValueError):
            raise ConfigError(f"Unflatten: shape must be a sequence of ints; got {shape!r}") \
                from None
        if not dims or any(d < 1 for d in dims):
            raise ConfigError(f"Unflatten: shape must be positive ints; got {shape!r}")
        self.axis = int(axis)
        self.shape = dims

    def forward(self, x: Any) -> Tensor:
        x = _as_tensor(x)
        if not -x.ndim <= self.axis < x.ndim:
            raise ShapeError(f"Unflatten: axis {self.axis} is out of range for input of shape "
                             f"{x.shape}")
        a = self.axis % x.ndim
        if x.shape[a] != math.prod(self.shape):
            raise ShapeError(f"Unflatten: axis {a} of input shape {x.shape} has {x.shape[a]} "
                             f"values; shape {self.shape} needs {math.prod(self.shape)}")
        result: Tensor = x.reshape(x.shape[:a] + self.shape + x.shape[a + 1:])
        return result

    def config(self) -> dict[str, Any]:
        return {"axis": self.axis, "shape": list(self.shape)}


def lenet(in_channels: int = 1, num_classes: int = 10, image_size: Any = 28,
          channels: Sequence[int] = (32, 64), hidden: int = 128, kernel_size: int = 5,
          dropout: float = 0.0, flat_input: bool = True) -> Module:
    """The LeNet-style CNN of ``chainrule train --model cnn``: for flat (N, C·H·W) images

        Unflatten -> [Conv2d k×k (no padding) -> MaxPool2d 2 -> ReLU] per entry of channels
                  -> Flatten -> Linear(hidden) -> ReLU -> [Dropout] -> Linear(num_classes)

    Defaults (MNIST): conv5×5·32 – pool – conv5×5·64 – pool – fc128 – fc10, 28→24→12→8→4,
    so the head sees 64·4·4 = 1024 features. ``image_size`` is an int or (H, W);
    ``flat_input=False`` drops the Unflatten for inputs already shaped (N, C, H, W).

    Pooling comes before the ReLU, the reverse of the textbook conv -> ReLU -> pool, because
    the two orders compute the same function with the same gradient while this one applies
    the ReLU to a quarter of the values. ReLU is monotone, so it commutes with the maximum:
    max(relu(a), relu(b), ...) = relu(max(a, b, ...)), bit for bit. The gradient agrees too:
    where the window's maximum is positive both orders route it to the same (first) largest
    element, and where it is <= 0 both give zero (the ReLU after the pool blocks it; before
    the pool, every element of the window is a zero ReLU output). A saved network stores its
    own layer list, so one saved with the old order loads, and computes, as before; the
    parameters keep their names either way (the convolutions are layers 1 and 4), so its
    weights also load into today's ``lenet()`` and give the same outputs.
    Returns an ``nn.Sequential`` that ``cr.save``/``cr.load`` rebuild from its config.
    """
    from .layers import Dropout, Flatten, Linear, ReLU
    from .module import Sequential
    from .pool import MaxPool2d

    h, w = _pair(image_size, "image_size", "lenet", 1)
    c = _positive_int("lenet", "in_channels", in_channels)
    layers: list[Module] = [Unflatten(1, (c, h, w))] if flat_input else []
    for ch in channels:
        conv = Conv2d(c, ch, kernel_size)
        h, w = conv.output_shape(h, w)
        if h < 2 or w < 2:
            raise ConfigError(f"lenet: image_size {image_size} is too small for "
                              f"{len(channels)} conv{kernel_size}x{kernel_size}+pool stages")
        layers += [conv, MaxPool2d(2), ReLU()]  # = conv, ReLU, pool (see above); cheaper
        c, h, w = ch, h // 2, w // 2
    layers += [Flatten(), Linear(c * h * w, hidden), ReLU()]
    if dropout > 0:
        layers.append(Dropout(dropout))
    layers.append(Linear(hidden, num_classes))
    return Sequential(*layers)


__all__ = ["Conv2d", "Unflatten", "lenet"]
