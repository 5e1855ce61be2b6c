"""ONNX export: run a chainrule model in onnxruntime, or anything else that reads ONNX.

    import chainrule as cr
    cr.onnx.export(model, np.zeros((1, 784), np.float32), "model.onnx")

or, for a model written by ``chainrule train --out DIR``::

    chainrule export DIR/model.safetensors --onnx model.onnx

Opset :data:`OPSET` (19) of the default ``ai.onnx`` domain. The model is exported in
evaluation mode (Dropout passes values through, BatchNorm uses its running statistics). The
batch axis is dynamic (``N``); the other axes are those of ``example_input``.

Every layer type has one export rule, in the table :data:`RULES` below (class -> function
that appends the layer's nodes). A module of any other type (a custom ``forward``, and for now
the sequence models: MultiheadAttention, RNN/GRU/LSTM, GPT, CharRNN) cannot be exported:
ConfigError names it. An integer ``example_input`` (ids for an Embedding) makes the graph's
input int64.

**Preparation folded in.** Given the ``preprocessing`` a model file stores (``chainrule
train`` writes it), the graph takes the same raw values ``chainrule predict`` reads:

* built-in data sets (iris, digits, MNIST ...): one input ``x`` (N, D) float32 of raw values
  (centimetres, 0-16, 0-255 pixels), standardised inside the graph with the training mean/std;
* CSV tables: one input per feature column, named as the column, shape (N, 1): numeric
  columns float32, categorical columns strings, one-hot encoded inside the graph (``Equal``
  against the training categories, hence opset 19). Unlike ``chainrule predict``, a category
  not seen in training cannot raise an error in ONNX: its one-hot block is all zeros;
* outputs: classification ``probabilities`` (N, C) (the softmax ``chainrule predict`` prints)
  and ``label`` (N,) int64 (index into the ``class_names`` metadata property); regression
  ``prediction`` (N, 1) in the target's own units (training's scaling undone in the graph).

Needs the ``onnx`` package (``pip install 'chainrule[onnx]'``); it is imported only here.
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from . import __version__
from .errors import ConfigError
from .extras import require

#: the ai.onnx opset every exported graph declares
OPSET = 19


class Graph:
    """The nodes and constants of the graph being built; names are unique per graph."""

    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._count = 0
        self.onnx = require("onnx", "ONNX export")

    def name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, array: Any, hint: str) -> str:
        """A constant tensor (float arrays stored as float32)."""
        arr = np.asarray(array)
        if arr.dtype.kind == "f":
            arr = arr.astype(np.float32)
        name = self.name(hint)
        self.initializers.append(self.onnx.numpy_helper.from_array(arr, name))
        return name

    def op(self, op_type: str, inputs: list[str], hint: str | None = None, **attrs: Any) -> str:
        """Append one node; returns its (single) output's name."""
        out = self.name(hint or op_type.lower())
        self.nodes.append(self.onnx.helper.make_node(op_type, inputs, [out], **attrs))
        return out


Rule = Callable[[Graph, Any, str, np.ndarray], str]


# ----------------------------------------------------------------------------- one rule per layer
def _linear(g: Graph, m: Any, x: str, value: np.ndarray) -> str:
    # y = x Wᵀ + b for any leading axes: MatMul with the stored (in, out) transpose, then Add
    y = g.op("MatMul", [x, g.const(np.ascontiguousarray(m.weight.data.T), "weight_t")])
    return g.op("Add", [y, g.const(m.bias.data, "bias")]) if m.bias is not None else y


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


def _embedding(g: Graph, m: Any, x: str, value: np.ndarray) -> str:
    # weight[ids]: Gather rows of the table (the padding row is just a zero row at inference)
    return g.op("Gather", [g.const(m.weight.data, "embedding"), x], axis=0)


def _sequential(g: Graph, m: Any, x: str, value: np.ndarray) -> str:
    for layer in m.layers:
        x, value = export_module(g, layer, x, value)
    return x


def _residual(g: Graph, m: Any, x: str, value: np.ndarray) -> str:
    y, _ = export_module(g, m.module, x, value)
    return g.op("Add", [x, y])


def _rules() -> dict[type, Rule]:
    from . import nn

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


#: layer class -> its export rule (the one place that says how each layer becomes ONNX)
RULES: dict[type, Rule] = {}


def export_module(g: Graph, module: Any, x: str, value: np.ndarray) -> tuple[str, np.ndarray]:
    """Append ``module``'s nodes to ``g`` reading ONNX value ``x`` (whose chainrule value is
    ``value``); returns the output's name and value (the value gives later layers shapes)."""
    from .tensor import Tensor, no_grad

    if not RULES:
        RULES.update(_rules())
    rule = RULES.get(type(module))
    if rule is None:
        raise ConfigError(f"cannot export {type(module).__name__} to ONNX: no export rule for it "
                          f"(supported: {', '.join(sorted(c.__name__ for c in RULES))})")
    with no_grad():
        out = module(value if value.dtype.kind in "iu" else Tensor(value))  # ids stay integers
    return rule(g, module, x, value), np.asarray(out.data)


# ----------------------------------------------------------------------------- preparation
def _prepared_inputs(g: Graph, prep: dict) -> tuple[list[Any], str, np.ndarray]:
    """Graph inputs for raw values and the standardised (N, D) matrix built from them."""
    helper, tp = g.onnx.helper, g.onnx.TensorProto
    d = int(prep["num_features"])
    columns = prep.get("columns") or []
    inputs, blocks = [], []
    if not columns:
        inputs.append(helper.make_tensor_value_info("x", tp.FLOAT, ["N", d]))
        blocks.append("x")
    for c in columns:
        if c["kind"] == "numeric":
            inputs.append(helper.make_tensor_value_info(c["name"], tp.FLOAT, ["N", 1]))
            blocks.append(c["name"])
        else:  # one-hot: compare (N, 1) strings with the (K,) training categories
            inputs.append(helper.make_tensor_value_info(c["name"], tp.STRING, ["N", 1]))
            cats = g.name("categories")
            g.initializers.append(g.onnx.numpy_helper.from_array(
                np.array(c["categories"], dtype=object), cats))
            equal = g.op("Equal", [c["name"], cats])
            blocks.append(g.op("Cast", [equal], "onehot", to=tp.FLOAT))
    raw = blocks[0] if len(blocks) == 1 else g.op("Concat", blocks, "features", axis=1)
    mean = np.asarray(prep["mean"], np.float64)
    std = np.asarray(prep["std"], np.float64)
    x = g.op("Div", [g.op("Sub", [raw, g.const(mean, "mean")]), g.const(std, "std")], "standardised")
    return inputs, x, np.zeros((1, d), np.float32)


# ----------------------------------------------------------------------------- export
def export(model: Any, example_input: Any, path: str | os.PathLike, *,
           preprocessing: dict | None = None, target_scale: dict | None = None,
           input_name: str = "input", output_name: str = "output") -> Any:
    """Write ``model`` as an ONNX file at ``path`` (atomically) and return the ``ModelProto``.

    Args:
        model: an ``nn.Module`` built from the layers in :data:`RULES`.
        example_input: one batch ``(N, ...)`` of what the model takes; fixes every axis but the
            first (the batch axis is dynamic). Ignored when ``preprocessing`` is given.
        preprocessing: the dict ``chainrule train`` stores in a model file's metadata
            (``DatasetSplits.preprocessing()``): fold standardisation and one-hot encoding into
            the graph, and name outputs as described in the module docstring.
        target_scale: ``{"mean", "std"}`` of a regression target, undone in the graph.
        input_name: the name of the plain model's input.
        output_name: the name of the plain model's output.

    The file passes ``onnx.checker.check_model(full_check=True)`` before it is written.
    """
    from .nn.module import Module
    from .tensor import Tensor

    onnx = require("onnx", "ONNX export")
    if not isinstance(model, Module):
        raise ConfigError(f"onnx.export: expected an nn.Module; got {type(model).__name__}")
    helper, tp = onnx.helper, onnx.TensorProto
    g = Graph()
    if preprocessing is not None:
        inputs, x, value = _prepared_inputs(g, preprocessing)
    else:
        value = np.asarray(example_input.data if isinstance(example_input, Tensor) else example_input)
        # integer ids (an Embedding first) stay int64; everything else is float32
        value = value.astype(np.int64 if value.dtype.kind in "iu" else np.float32)
        if value.ndim < 1 or value.shape[0] < 1:
            raise ConfigError(f"onnx.export: example_input must be a batch (N, ...) with N >= 1; "
                              f"got shape {value.shape}")
        kind = tp.INT64 if value.dtype == np.int64 else tp.FLOAT
        inputs = [helper.make_tensor_value_info(input_name, kind, ["N", *value.shape[1:]])]
        x = input_name
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        y, out = export_module(g, model, x, value)
    finally:
        for m, mode in modes:
            object.__setattr__(m, "training", mode)

    props = {"chainrule_version": __version__}
    if preprocessing is None:
        g.nodes.append(helper.make_node("Identity", [y], [output_name]))
        outputs = [helper.make_tensor_value_info(output_name, tp.FLOAT, ["N", *out.shape[1:]])]
    elif preprocessing.get("task") == "regression":
        scale = target_scale or {}
        y = g.op("Mul", [y, g.const(float(scale.get("std", 1.0)), "target_std")])
        g.nodes.append(helper.make_node("Add", [y, g.const(float(scale.get("mean", 0.0)), "target_mean")],
                                        ["prediction"]))
        outputs = [helper.make_tensor_value_info("prediction", tp.FLOAT, ["N", *out.shape[1:]])]
        props["task"] = "regression"
    else:
        g.nodes.append(helper.make_node("Softmax", [y], ["probabilities"], axis=-1))
        g.nodes.append(helper.make_node("ArgMax", ["probabilities"], ["label"], axis=-1, keepdims=0))
        outputs = [helper.make_tensor_value_info("probabilities", tp.FLOAT, ["N", out.shape[-1]]),
                   helper.make_tensor_value_info("label", tp.INT64, ["N"])]
        props["task"] = "classification"
        names = preprocessing.get("class_names") or list(range(out.shape[-1]))
        props["class_names"] = json.dumps([str(n) for n in names])
    if preprocessing is not None:
        props["inputs"] = "raw values, as 'chainrule predict' reads them (see chainrule.onnx)"
    graph = helper.make_graph(g.nodes, "chainrule", inputs, outputs, g.initializers)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="chainrule", producer_version=__version__)
    helper.set_model_props(proto, props)
    try:
        onnx.checker.check_model(proto, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:  # a bug of ours
        raise ConfigError(f"onnx.export: the graph built for {type(model).__name__} fails the ONNX "
                          f"checker: {exc}") from None
    from .io.safetensors_format import atomic_write

    data = proto.SerializeToString()
    atomic_write(path, lambda f: f.write(data))
    return proto


def export_file(model_path: str | os.PathLike, out_path: str | os.PathLike) -> Any:
    """Export a model file written by ``chainrule train`` with its preparation folded in."""
    from .commands._common import load_model, preprocessing

    model, meta = load_model(os.fspath(model_path))
    prep = preprocessing(meta, os.fspath(model_path))
    return export(model, None, out_path, preprocessing=prep, target_scale=meta.get("target_scale"))


__all__ = ["OPSET", "RULES", "Graph", "export", "export_file", "export_module"]
