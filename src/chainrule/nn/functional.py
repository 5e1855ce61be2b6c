"""``chainrule.nn.functional`` (imported as ``F``): the ops as functions, PyTorch-style.

    import chainrule.nn.functional as F
    loss = F.cross_entropy(F.relu(F.linear(x, w, b)), labels)
"""
from __future__ import annotations

from ..ops.activation import gelu, leaky_relu, log_softmax, logsumexp, softmax, softplus
from ..ops.attention import scaled_dot_product_attention
from ..ops.conv import conv2d
from ..ops.embedding import embedding
from ..ops.linear import dropout, linear
from ..ops.loss import (
    REDUCTIONS,
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    huber_loss,
    l1_loss,
    mse_loss,
    nll_loss,
)
from ..ops.norm import batch_norm, layer_norm
from ..ops.pool import avg_pool2d, max_pool2d
from ..ops.unary import relu, sigmoid, tanh

__all__ = [
    "relu", "leaky_relu", "gelu", "softplus", "sigmoid", "tanh", "softmax", "log_softmax", "logsumexp",
    "mse_loss", "l1_loss", "huber_loss", "cross_entropy", "nll_loss", "binary_cross_entropy",
    "binary_cross_entropy_with_logits", "linear", "dropout", "REDUCTIONS",
    "conv2d", "max_pool2d", "avg_pool2d", "batch_norm", "layer_norm", "embedding",
    "scaled_dot_product_attention",
]
