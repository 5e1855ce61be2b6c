"""Pooling layers: MaxPool2d and AvgPool2d over (N, C, H, W) (calculus in ops/pool.py)."""
from __future__ import annotations

from typing import Any

from ..ops.conv import _pair
from ..ops.pool import avg_pool2d, max_pool2d
from ..tensor import Tensor
from .module import Module
from .registry import register


class _Pool2d(Module):
    _op = "pool"

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0) -> None:
        super().__init__()
        name = type(self).__name__
        self.kernel_size = _pair(kernel_size, "kernel_size", name, 1)
        self.stride = self.kernel_size if stride is None else _pair(stride, "stride", name, 1)
        self.padding = _pair(padding, "padding", name, 0)

    def config(self) -> dict[str, Any]:
        def compact(p: tuple[int, int]) -> int | list[int]:
            return p[0] if p[0] == p[1] else list(p)
        return {"kernel_size": compact(self.kernel_size), "stride": compact(self.stride),
                "padding": compact(self.padding)}


@register
class MaxPool2d(_Pool2d):
    """Largest value of each ``kernel_size`` window, moved by ``stride`` (default: the kernel
    size, so windows tile the image); padding counts as -inf. As ``torch.nn.MaxPool2d``."""

    def forward(self, x: Any) -> Tensor:
        x = x if isinstance(x, Tensor) else Tensor(x)
        return max_pool2d(x, self.kernel_size, self.stride, self.padding)


@register
class AvgPool2d(_Pool2d):
    """Mean of each ``kernel_size`` window, moved by ``stride`` (default: the kernel size);
    zero padding counts in the divisor. As ``torch.nn.AvgPool2d``'s defaults."""

    def forward(self, x: Any) -> Tensor:
        x = x if isinstance(x, Tensor) else Tensor(x)
        return avg_pool2d(x, self.kernel_size, self.stride, self.padding)


__all__ = ["MaxPool2d", "AvgPool2d"]
