"""ONNX export: run a chainrule model in onnxruntime, or anything else that reads ONNX.

    import chainrule as cr
    cr.onnx.export(model, np.zeros((1, 784), np.float32), "model.onnx")
    cr.onnx.export(gpt, np.zeros((1, 32), np.int64), "gpt.onnx")        # token ids -> logits

or, for a model written by ``chainrule train --out DIR``::

    chainrule export DIR/model.safetensors --onnx model.onnx

Opset :data:`OPSET` (19) of the default ``ai.onnx`` domain. The model is exported in
evaluation mode (Dropout passes values through, BatchNorm uses its running statistics). The
batch axis is dynamic (``N``); so is the sequence axis (``T``) of the sequence models (GPT,
CharRNN, MultiheadAttention, RNN/GRU/LSTM); the other axes are those of ``example_input``
unless ``dynamic_axes`` says otherwise.

Every layer type has one export rule, in the table :data:`RULES` (class -> function that
appends the layer's nodes; ``chainrule/onnx/feedforward.py`` and ``sequence.py``). Every
layer registered in ``chainrule.nn`` has a rule, except those in :data:`REFUSED` (losses and
the containers without a forward of their own), which export refuses with a ConfigError
giving the reason; a module of any other type (a custom ``forward``) is refused by name too.
An integer ``example_input`` (ids for an Embedding, GPT or CharRNN) makes the graph's input
int64.

**Layers with several inputs or outputs** (MultiheadAttention, RNN/GRU/LSTM) exported on
their own mirror their ``forward``: see :mod:`chainrule.onnx.signatures` (inputs ``query``,
``key``, ``value``, ``key_padding_mask``, ``h0``, ``c0``; outputs ``output``,
``attn_weights``, ``h_n``, ``c_n``; ``kwargs`` such as ``is_causal=True``).

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
from typing import Any

import numpy as np

from .. import __version__
from ..errors import ConfigError
from ..extras import require
from .graph import OPSET, Graph, export_module
from .rules import REFUSED, RULES
from .signatures import Port, layer_call


def _sequence_model(model: Any) -> bool:
    """Whether the model maps token ids (N, T) to (N, T, ...) whatever T is (GPT, CharRNN)."""
    from ..nn import GPT, CharRNN

    return type(model) in (GPT, CharRNN)


def _axes(dynamic_axes: dict[int, str] | None, model: Any, ndim: int) -> dict[int, str]:
    if dynamic_axes is None:
        return {0: "N", 1: "T"} if _sequence_model(model) and ndim >= 2 else {0: "N"}
    if not isinstance(dynamic_axes, dict) or any(
            isinstance(a, bool) or not isinstance(a, int) or not 0 <= a < ndim
            or not isinstance(n, str) or not n for a, n in dynamic_axes.items()):
        raise ConfigError(f"onnx.export: dynamic_axes must map axes of the input (0..{ndim - 1}) to "
                          f"names, e.g. {{0: 'N', 1: 'T'}}; got {dynamic_axes!r}")
    return dict(dynamic_axes)


def _example(model: Any, example_input: Any) -> np.ndarray:
    from ..tensor import Tensor

    value = np.asarray(example_input.data if isinstance(example_input, Tensor) else example_input)
    if value.dtype.kind not in "fiub":
        raise ConfigError(f"onnx.export: example_input must be a numeric array; got dtype {value.dtype}")
    if _sequence_model(model) and value.dtype.kind == "f" and np.all(np.mod(value, 1) == 0):
        value = value.astype(np.int64)  # token ids given as whole floats
    # integer ids (an Embedding first) stay int64; everything else is float32
    value = value.astype(np.int64 if value.dtype.kind in "iu" else np.float32)
    if value.ndim < 1 or value.shape[0] < 1:
        raise ConfigError(f"onnx.export: example_input must be a batch (N, ...) with N >= 1; "
                          f"got shape {value.shape}")
    return value


def export(model: Any, example_input: Any, path: str | os.PathLike, *,
           kwargs: dict[str, Any] | None = None, dynamic_axes: dict[int, str] | None = None,
           preprocessing: dict | None = None, target_scale: dict | None = None,
           input_name: str = "input", output_name: str = "output",
           metadata: dict[str, str] | None = None) -> Any:
    """Write ``model`` as an ONNX file at ``path`` (atomically) and return the ``ModelProto``.

    Args:
        model: an ``nn.Module`` built from the layers in :data:`RULES` (or a
            ``distributed.DataParallel`` wrapping one: its model is exported).
        example_input: one batch ``(N, ...)`` of what the model takes; fixes every axis that
            is not dynamic. A tuple for a layer with several inputs (see
            :mod:`chainrule.onnx.signatures`). Ignored when ``preprocessing`` is given.
        kwargs: keyword arguments of the layer's ``forward`` (as ``torch.onnx.export``'s),
            for MultiheadAttention: ``is_causal``, ``need_weights``, masks.
        dynamic_axes: input axis -> symbolic name, for a model whose own input has one
            tensor; default ``{0: "N"}`` (``{0: "N", 1: "T"}`` for GPT and CharRNN). An
            output axis at the same position gets the same name. Mark an axis dynamic only
            when no layer fixes it (Linear, activations, LayerNorm over the last axis and
            Embedding leave every leading axis free; Flatten and Unflatten do not).
        preprocessing: the dict ``chainrule train`` stores in a model file's metadata
            (``DatasetSplits.preprocessing()``): fold standardisation and one-hot encoding into
            the graph, and name outputs as described in the module docstring.
        target_scale: ``{"mean", "std"}`` of a regression target, undone in the graph.
        input_name: the name of the plain model's input.
        output_name: the name of the plain model's (first) output.
        metadata: extra string properties for the model's ``metadata_props``.

    The file passes ``onnx.checker.check_model(full_check=True)`` before it is written.
    """
    from ..nn.module import Module
    from .preparation import prepared_inputs

    onnx = require("onnx", "ONNX export")
    inner = vars(model).get("module") if not isinstance(model, Module) and hasattr(model, "__dict__") else None
    if isinstance(inner, Module):  # a wrapper that calls its model (distributed.DataParallel)
        model = inner
    if not isinstance(model, Module):
        raise ConfigError(f"onnx.export: expected an nn.Module; got {type(model).__name__}")
    helper, tp = onnx.helper, onnx.TensorProto
    g = Graph()
    props = {"chainrule_version": __version__, **{str(k): str(v) for k, v in (metadata or {}).items()}}
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        signature = None if preprocessing is not None else layer_call(
            g, model, example_input, kwargs, input_name, output_name)
        if signature is None and kwargs:
            raise ConfigError(f"onnx.export: kwargs are for layers whose forward takes them "
                              f"(MultiheadAttention); {type(model).__name__} takes one input")
        if signature is not None:
            if dynamic_axes is not None:
                raise ConfigError(f"onnx.export: {type(model).__name__}'s batch and sequence axes are "
                                  "dynamic already; dynamic_axes is for models with one input")
            inputs = [helper.make_tensor_value_info(p.name, p.elem_type, p.dims) for p in signature.inputs]
            for name, port in signature.outputs:
                g.nodes.append(helper.make_node("Identity", [name], [port.name]))
            outputs = [helper.make_tensor_value_info(p.name, p.elem_type, p.dims)
                       for _, p in signature.outputs]
        else:
            if preprocessing is not None:
                inputs, x, value = prepared_inputs(g, preprocessing)
                axes = {0: "N"}
            else:
                value = _example(model, example_input)
                axes = _axes(dynamic_axes, model, value.ndim)
                kind = tp.INT64 if value.dtype == np.int64 else tp.FLOAT
                dims = [axes.get(a, s) for a, s in enumerate(value.shape)]
                inputs = [helper.make_tensor_value_info(input_name, kind, dims)]
                x = input_name
            y, out = export_module(g, model, x, value)
            outputs = _outputs(g, y, out, axes, preprocessing, target_scale, output_name, props)
    finally:
        for m, mode in modes:
            object.__setattr__(m, "training", mode)

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
    from ..io.safetensors_format import atomic_write

    data = proto.SerializeToString()
    atomic_write(path, lambda f: f.write(data))
    return proto


def _outputs(g: Graph, y: str, out: np.ndarray, axes: dict[int, str], preprocessing: dict | None,
             target_scale: dict | None, output_name: str, props: dict[str, str]) -> list[Any]:
    """The graph's outputs for a model with one output: the plain value, or (given the
    training preparation) probabilities and label, or a prediction in the target's units."""
    helper, tp = g.onnx.helper, g.onnx.TensorProto
    dims = [axes.get(a, s) for a, s in enumerate(out.shape)]
    if preprocessing is None:
        g.nodes.append(helper.make_node("Identity", [y], [output_name]))
        return [helper.make_tensor_value_info(output_name, tp.FLOAT, dims)]
    if preprocessing.get("task") == "regression":
        scale = target_scale or {}
        y = g.op("Mul", [y, g.const(float(scale.get("std", 1.0)), "target_std")])
        g.nodes.append(helper.make_node("Add", [y, g.const(float(scale.get("mean", 0.0)), "target_mean")],
                                        ["prediction"]))
        props["task"] = "regression"
        return [helper.make_tensor_value_info("prediction", tp.FLOAT, dims)]
    g.nodes.append(helper.make_node("Softmax", [y], ["probabilities"], axis=-1))
    g.nodes.append(helper.make_node("ArgMax", ["probabilities"], ["label"], axis=-1, keepdims=0))
    props["task"] = "classification"
    names = preprocessing.get("class_names") or list(range(out.shape[-1]))
    props["class_names"] = json.dumps([str(n) for n in names])
    return [helper.make_tensor_value_info("probabilities", tp.FLOAT, ["N", out.shape[-1]]),
            helper.make_tensor_value_info("label", tp.INT64, ["N"])]


def export_file(model_path: str | os.PathLike, out_path: str | os.PathLike) -> Any:
    """Export a model file written by ``chainrule train`` with its preparation folded in."""
    from ..commands._common import load_model, preprocessing

    model, meta = load_model(os.fspath(model_path))
    prep = preprocessing(meta, os.fspath(model_path))
    return export(model, None, out_path, preprocessing=prep, target_scale=meta.get("target_scale"))


__all__ = ["OPSET", "REFUSED", "RULES", "Graph", "Port", "export", "export_file", "export_module"]
