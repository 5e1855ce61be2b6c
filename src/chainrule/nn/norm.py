"""Batch normalisation layers: BatchNorm1d (N, C) / (N, C, L) and BatchNorm2d (N, C, H, W).

As in PyTorch: in training mode each batch is normalised with its own statistics and the
running statistics (buffers ``running_mean``, ``running_var``, ``num_batches_tracked``) are
updated with ``momentum`` (``None``: a cumulative average); in evaluation mode
(``model.eval()``) the running statistics are used. The calculus is in ``ops/norm.py``.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError, ShapeError
from ..ops.norm import batch_norm, layer_norm
from ..tensor import Tensor
from . import init
from .module import Module, empty_parameter, new_buffer
from .registry import register


class _BatchNorm(Module):
    _ndims: tuple[int, ...] = ()
    weight: Tensor | None  # Parameters, when affine
    bias: Tensor | None
    running_mean: np.ndarray  # buffers (when track_running_stats)
    running_var: np.ndarray
    num_batches_tracked: np.ndarray

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True) -> None:
        super().__init__()
        name = type(self).__name__
        if isinstance(num_features, bool) or not isinstance(num_features, (int, np.integer)) \
                or num_features < 1:
            raise ConfigError(f"{name}: num_features must be a positive integer; "
                              f"got {num_features!r}")
        if not isinstance(eps, (int, float)) or isinstance(eps, bool) or not eps > 0:
            raise ConfigError(f"{name}: eps must be a positive number; got {eps!r}")
        if momentum is not None and (isinstance(momentum, bool) or not 0 <= momentum <= 1):
            raise ConfigError(f"{name}: momentum must be in [0, 1] or None; got {momentum!r}")
        self.num_features = int(num_features)
        self.eps = float(eps)
        self.momentum = None if momentum is None else float(momentum)
        self.affine = bool(affine)
        self.track_running_stats = bool(track_running_stats)
        if self.affine:
            self.weight = empty_parameter(self.num_features)  # size-checked before allocating
            self.bias = empty_parameter(self.num_features)
        else:
            self.weight = None
            self.bias = None
        if self.track_running_stats:
            self.register_buffer("running_mean", new_buffer((self.num_features,), 0.0))
            self.register_buffer("running_var", new_buffer((self.num_features,), 1.0))
            self.register_buffer("num_batches_tracked", new_buffer((), 0, np.int64))
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean[...] = 0
            self.running_var[...] = 1
            self.num_batches_tracked[...] = 0

    def reset_parameters(self) -> None:
        """γ = 1, β = 0, running mean 0 and variance 1 (PyTorch's defaults)."""
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            init.zeros_(self.bias)

    def forward(self, x: Any) -> Tensor:
        x = x if isinstance(x, Tensor) else Tensor(x)
        name = type(self).__name__
        if x.ndim not in self._ndims:
            raise ShapeError(f"{name}: expected a {' or '.join(f'{d}-D' for d in self._ndims)} "
                             f"input; got shape {x.shape}")
        if x.shape[1] != self.num_features:
            raise ShapeError(f"{name}({self.num_features}): input of shape {x.shape} has "
                             f"{x.shape[1]} channels (axis 1)")
        use_batch = self.training or not self.track_running_stats
        momentum = self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked += 1
            if momentum is None:  # cumulative moving average
                momentum = 1.0 / float(self.num_batches_tracked)
        update = self.training and self.track_running_stats
        return batch_norm(x, self.running_mean if update or not use_batch else None,
                          self.running_var if update or not use_batch else None,
                          self.weight, self.bias, training=use_batch,
                          momentum=0.0 if momentum is None else momentum, eps=self.eps)

    def config(self) -> dict[str, Any]:
        return {"num_features": self.num_features, "eps": self.eps, "momentum": self.momentum,
                "affine": self.affine, "track_running_stats": self.track_running_stats}


@register
class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) or (N, C, L) inputs, per feature/channel C."""

    _ndims = (2, 3)


@register
class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) inputs, per channel C."""

    _ndims = (4,)




@register
class LayerNorm(Module):
    """Normalise each example over its last axes ``normalized_shape`` (e.g. the features of
    every token of a (N, T, C) batch), then scale and shift elementwise; the same in training
    and evaluation. ``weight`` starts at ones, ``bias`` at zeros, as in PyTorch."""

    def __init__(self, normalized_shape: Any, eps: float = 1e-5,
                 elementwise_affine: bool = True, bias: bool = True) -> None:
        super().__init__()
        shape = ((normalized_shape,) if isinstance(normalized_shape, (int, np.integer))
                 else tuple(normalized_shape))
        if not shape or any(isinstance(s, bool) or not isinstance(s, (int, np.integer))
                            or s < 1 for s in shape):
            raise ConfigError(f"LayerNorm: normalized_shape must be a positive integer or a "
                              f"tuple of them; got {normalized_shape!r}")
        if not isinstance(eps, (int, float)) or isinstance(eps, bool) or not eps > 0:
            raise ConfigError(f"LayerNorm: eps must be a positive number; got {eps!r}")
        self.normalized_shape = tuple(int(s) for s in shape)
        self.eps = float(eps)
        self.elementwise_affine = bool(elementwise_affine)
        # size-checked before allocating (a model file's architecture is untrusted)
        self.weight = empty_parameter(*self.normalized_shape) if self.elementwise_affine else None
        self.bias = (empty_parameter(*self.normalized_shape)
                     if self.elementwise_affine and bias else None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, x: Any) -> Tensor:
        return layer_norm(x if isinstance(x, Tensor) else Tensor(x), self.normalized_shape,
                          self.weight, self.bias, self.eps)

    def config(self) -> dict[str, Any]:
        return {"normalized_shape": list(self.normalized_shape), "eps": self.eps,
                "elementwise_affine": self.elementwise_affine, "bias": self.bias is not None}


__all__ = ["BatchNorm1d", "BatchNorm2d", "LayerNorm"]
