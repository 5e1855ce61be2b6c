"""Export rules of the feed-forward layers: one function per layer type, each appending the
layer's nodes (evaluation mode) and returning its output's name. The table that maps classes to
these functions is :data:`chainrule.onnx.rules.RULES`."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError
from .graph import Graph, Rule, export_module


def affine(g: Graph, x: str, weight: np.ndarray, bias: np.ndarray | None) -> str:
    """``x Wᵀ + b`` for any leading axes: MatMul with the stored (in, out) transpose, then Add."""
    y = g.op("MatMul", [x, g.const(np.ascontiguousarray(np.asarray(weight).T), "weight_t")])
    return g.op("Add", [y, g.const(bias, "bias")]) if bias is not None else y


def _linear(g: Graph, m: Any, x: str, value: np.ndarray) -> str:
    return affine(g, x, m.weight.data, None if m.bias is None else m.bias.data)


def _flatten(g: Graph, m: Any, x: str, value: np.ndarray) -> str:
    start = m.start_axis % value.ndim
    return g.op("Reshape", [x, g.const(np.array([0] * start + [-1], np.int64), "shape")])


def _unflatten(g: Graph, m: Any, x: str, value: np.ndarray) -> str:
    a = m.axis % value.ndim
    # 0 copies the input's dimension (the batch stays dynamic); the rest are fixed
    dims = [0] * a + list(m.shape) + list(value.shape[a + 1:])
    return g.op("Reshape", [x, g.const(np.array(dims, np.int64), "shape")])


def _identity(g: Graph, m: Any, x: str, value: np.ndarray) -> str:
    return x  # Identity, and Dropout in evaluation mode


def _simple(op_type: str) -> Rule:
    def rule(g: Graph, m: Any, x: str, value: np.ndarray) -> str:
        return g.op(op_type, [x])
    return rule


def _leaky_relu(g: Graph, m: Any, x: str, value: np.ndarray) -> str:
    return g.op("LeakyRelu", [x], alpha=float(m.negative_slope))


def _softplus(g: Graph, m: Any, x: str, value: np.ndarray) -> str:
    # ONNX Softplus is ln(1 + eˣ) (β = 1, no threshold: above it the two agree to float precision)
    if m.beta == 1.0:
        return g.op("Softplus", [x])
    beta = g.const(m.beta, "beta")
    return g.op("Div", [g.op("Softplus", [g.op("Mul", [x, beta])]), beta])


def _gelu(g: Graph, m: Any, x: str, value: np.ndarray) -> str:
    if m.approximate == "none":  # x·Φ(x) = x · ½(1 + erf(x/√2))
        inner = g.op("Erf", [g.op("Div", [x, g.const(np.sqrt(2.0), "sqrt2")])])
    else:  # x · ½(1 + tanh(√(2/π)(x + 0.044715 x³)))
        cube = g.op("Mul", [g.op("Mul", [x, x]), x])
        poly = g.op("Add", [x, g.op("Mul", [cube, g.const(0.044715, "c")])])
        inner = g.op("Tanh", [g.op("Mul", [poly, g.const(np.sqrt(2 / np.pi), "k")])])
    half = g.op("Mul", [g.op("Add", [inner, g.const(1.0, "one")]), g.const(0.5, "half")])
    return g.op("Mul", [x, half])


def _softmax(g: Graph, m: Any, x: str, value: np.ndarray) -> str:
    return g.op("Softmax", [x], axis=m.axis % value.ndim)


def _conv2d(g: Graph, m: Any, x: str, value: np.ndarray) -> str:
    (ph, pw), inputs = m.padding, [x, g.const(m.weight.data, "conv_weight")]
    if m.bias is not None:
        inputs.append(g.const(m.bias.data, "conv_bias"))
    return g.op("Conv", inputs, kernel_shape=list(m.kernel_size), strides=list(m.stride),
                pads=[ph, pw, ph, pw])


def _pool(op_type: str, **extra: Any) -> Rule:
    def rule(g: Graph, m: Any, x: str, value: np.ndarray) -> str:
        ph, pw = m.padding
        return g.op(op_type, [x], kernel_shape=list(m.kernel_size), strides=list(m.stride),
                    pads=[ph, pw, ph, pw], **extra)
    return rule


def _batch_norm(g: Graph, m: Any, x: str, value: np.ndarray) -> str:
    # evaluation mode: y = (x − μ)/√(σ² + ε)·γ + β = x·scale + shift, per channel (axis 1)
    if not m.track_running_stats:
        raise ConfigError(f"{type(m).__name__}(track_running_stats=False) normalises with each "
                          "batch's statistics even in evaluation; it cannot be exported to ONNX")
    mean = m.running_mean.astype(np.float64)
    scale = 1 / np.sqrt(m.running_var.astype(np.float64) + m.eps)
    if m.affine:
        scale = scale * m.weight.data.astype(np.float64)
    shift = -mean * scale + (m.bias.data.astype(np.float64) if m.affine else 0)
    shape = (-1,) + (1,) * (value.ndim - 2)  # broadcast over the axes after the channels
    y = g.op("Mul", [x, g.const(scale.reshape(shape), "bn_scale")])
    return g.op("Add", [y, g.const(shift.reshape(shape), "bn_shift")])


def _layer_norm(g: Graph, m: Any, x: str, value: np.ndarray) -> str:
    # LayerNormalization (opset 17+): statistics over the last len(normalized_shape) axes
    shape = m.normalized_shape
    scale = m.weight.data if m.weight is not None else np.ones(shape, np.float32)
    inputs = [x, g.const(scale, "ln_scale")]
    if m.bias is not None:
        inputs.append(g.const(m.bias.data, "ln_bias"))
    return g.op("LayerNormalization", inputs, axis=-len(shape), epsilon=float(m.eps))


def lookup(g: Graph, table: np.ndarray, ids: str, hint: str) -> str:
    """``table[ids]`` as Gather. ONNX's Gather reads a negative id from the end, where chainrule
    refuses it: a negative id is sent past the last row, so onnxruntime refuses it too."""
    past = g.const(np.array(len(table), np.int64), "rows")
    safe = g.op("Where", [g.op("Less", [ids, g.const(np.array(0, np.int64), "zero")]), past, ids])
    return g.op("Gather", [g.const(table, hint), safe], axis=0)


def _embedding(g: Graph, m: Any, x: str, value: np.ndarray) -> str:
    # weight[ids]: Gather rows of the table (the padding row is just a zero row at inference)
    return lookup(g, m.weight.data, x, "embedding")


def _sequential(g: Graph, m: Any, x: str, value: np.ndarray) -> str:
    for layer in m.layers:
        x, value = export_module(g, layer, x, value)
    return x


def _residual(g: Graph, m: Any, x: str, value: np.ndarray) -> str:
    y, _ = export_module(g, m.module, x, value)
    return g.op("Add", [x, y])


def rules() -> dict[type, Rule]:
    """Layer class -> rule, for every feed-forward layer of ``chainrule.nn``."""
    from .. import nn

    return {
        nn.Linear: _linear, nn.Flatten: _flatten, nn.Unflatten: _unflatten,
        nn.Identity: _identity, nn.Dropout: _identity,
        nn.ReLU: _simple("Relu"), nn.Sigmoid: _simple("Sigmoid"), nn.Tanh: _simple("Tanh"),
        nn.LeakyReLU: _leaky_relu, nn.GELU: _gelu, nn.Softplus: _softplus, nn.Softmax: _softmax,
        nn.Conv2d: _conv2d, nn.MaxPool2d: _pool("MaxPool"),
        nn.AvgPool2d: _pool("AveragePool", count_include_pad=1),  # zero padding counts, as torch
        nn.BatchNorm1d: _batch_norm, nn.BatchNorm2d: _batch_norm, nn.LayerNorm: _layer_norm,
        nn.Embedding: _embedding,
        nn.Sequential: _sequential, nn.Residual: _residual,
    }


__all__ = ["affine", "lookup", "rules"]
