"""``chainrule graph``: draw a computation graph as SVG.

Without ``--model`` it draws the tiny network of ``chainrule explain`` (with the values of
its forward pass and the gradients of its backward pass); with ``--model FILE`` it draws a
saved model's forward pass on one random input.
"""
from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from .. import catalogue

NAME = "graph"
HELP = "draw the computation graph (ops, shapes, values, gradients) as an SVG file"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="graph.svg",
                        help="SVG file to write (default: graph.svg)")
    parser.add_argument("--model", default=None,
                        help="a model saved with cr.save / chainrule train; draw its forward pass "
                             "instead of the tiny explain network")
    parser.add_argument("--input-shape", default=None,
                        help="input shape for --model, comma-separated, e.g. 1,784 or 1,1,28,28 "
                             "(default: one row of the first layer's input size)")
    parser.add_argument("--activation", choices=catalogue.TINY_NETWORK_ACTIVATIONS, default="sigmoid",
                        help="hidden activation of the tiny network (default: sigmoid)")
    parser.add_argument("--engine", choices=("auto", "svg", "graphviz"), default="auto",
                        help="auto: graphviz when installed, else pure-Python SVG")


def _parse_shape(text: str) -> tuple[int, ...]:
    from ..errors import ConfigError

    try:
        shape = tuple(int(s) for s in text.replace("x", ",").split(",") if s.strip())
    except ValueError:
        raise ConfigError(f"graph: --input-shape must be integers like 1,784; got {text!r}") from None
    if not shape or any(s <= 0 for s in shape):
        raise ConfigError(f"graph: --input-shape must be positive integers like 1,784; got {text!r}")
    return shape


def _input_shape(model: Any, text: str | None) -> tuple[int, ...]:
    from ..errors import ConfigError

    if text:
        return _parse_shape(text)
    for _, p in model.named_parameters():
        if p.ndim == 2:  # Linear: (out_features, in_features)
            return (1, p.shape[1])
        break
    raise ConfigError("graph: cannot tell this model's input shape from its first layer; "
                      "pass --input-shape, e.g. --input-shape 1,1,28,28")


def draw_tiny(out: str, activation: str = "sigmoid", engine: str = "auto") -> str:
    """Draw the explain network's graph (after one backward pass) into ``out``."""
    from ..tiny_network import TinyNetwork
    from ..viz import graph

    net = TinyNetwork(activation)
    net.x.requires_grad = True  # so the input appears in the picture, with ∂L/∂x
    loss = net.loss()
    return graph(loss, out, engine=engine,
                 title=f"chainrule explain network: 2 → 2 {activation} → 1 sigmoid, MSE")


def draw_model(path: str, out: str, input_shape: str | None = None, engine: str = "auto") -> str:
    """Draw a saved model's forward pass on one random input into ``out``."""
    from ..errors import ModelFileError
    from ..io import load
    from ..tensor import Tensor
    from ..viz import graph

    model = load(path)
    if not hasattr(model, "named_parameters"):
        raise ModelFileError(f"graph: {path} holds weights only, not a model with an architecture; "
                             f"save the model itself with cr.save(model, path)")
    if hasattr(model, "eval"):
        model.eval()
    shape = _input_shape(model, input_shape)
    x = Tensor(np.random.default_rng(0).standard_normal(shape).astype(np.float32), requires_grad=True)
    x.name = "x"
    y = model(x)
    y.name = "output"
    if y.size == 1:
        return graph(y, out, params=model, engine=engine, title=f"forward pass of {path}")
    return graph(y, out, params=model, grads=False, engine=engine,
                 title=f"forward pass of {path} (input {shape})")


def run(args: argparse.Namespace) -> int:
    if args.model:
        draw_model(args.model, args.out, args.input_shape, args.engine)
    else:
        draw_tiny(args.out, args.activation, args.engine)
    print(f"wrote {args.out}")
    return 0
