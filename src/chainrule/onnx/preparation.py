"""The data preparation of ``chainrule train`` as graph nodes, so the ONNX model reads the raw
values ``chainrule predict`` reads (standardisation; one-hot encoding of CSV string columns)."""
from __future__ import annotations

from typing import Any

import numpy as np

from .graph import Graph


def prepared_inputs(g: Graph, prep: dict) -> tuple[list[Any], str, np.ndarray]:
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


__all__ = ["prepared_inputs"]
