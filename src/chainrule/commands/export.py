"""``chainrule export MODEL --onnx OUT.onnx``: a saved model as an ONNX graph."""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from ._common import existing_file

NAME = "export"
HELP = "export a saved model to ONNX (runs in onnxruntime; needs chainrule[onnx])"
DESCRIPTION = """Export a model written by 'chainrule train --out DIR' (or cr.save) as ONNX, opset 19.

For a model from 'chainrule train' the data preparation is part of the graph, so the ONNX model
takes the raw values 'chainrule predict' reads: one input 'x' (N, D) for the built-in data
sets, or one (N, 1) input per CSV feature column (strings for categorical columns). Outputs:
'probabilities' and 'label' (classification) or 'prediction' (regression, in the target's
units). A language model from 'chainrule train --model gpt/rnn' takes token ids 'ids' (N, T)
int64 and returns 'logits' (N, T, vocabulary); both axes are dynamic and the characters are in
the metadata property 'vocab'. A file saved by cr.save without training metadata is exported as
it is: give the input shape of one batch with --input-shape (ids when it starts with an
Embedding).

examples:
  chainrule export run/model.safetensors --onnx model.onnx
  chainrule export cnn.safetensors --onnx cnn.onnx --input-shape 1,1,28,28
  chainrule export gpt_run/model.safetensors --onnx gpt.onnx
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", type=existing_file, metavar="MODEL", help="a .safetensors model file")
    parser.add_argument("--onnx", required=True, metavar="OUT.onnx", help="the ONNX file to write")
    parser.add_argument("--input-shape", default=None, metavar="N,...",
                        help="for a model without training metadata: one batch's shape, e.g. 1,784")
    parser.add_argument("--force", action="store_true", help="overwrite OUT.onnx if it exists")


def _takes_ids(model: Any) -> bool:
    """Whether the model reads integer token ids: its first layer is an Embedding."""
    from ..nn import Embedding

    for _, m in model.named_modules():
        if isinstance(m, Embedding):
            return True
        if not any(True for _ in m.named_children()):
            return False
    return False


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from ..errors import ConfigError
    from ..extras import require
    from ..nn import GPT, CharRNN
    from ..onnx import OPSET, export
    from ._common import load_model, preprocessing
    from .graph import _parse_shape

    require("onnx", "chainrule export --onnx")
    if os.path.exists(args.onnx) and not args.force:
        raise ConfigError(f"{args.onnx} exists; add --force to overwrite it")
    model, meta = load_model(args.model)
    text = meta.get("text") if isinstance(meta, dict) else None
    if isinstance(model, (GPT, CharRNN)) and args.input_shape is None:
        # a language model (chainrule train --model gpt/rnn): ids in, logits out, and the
        # vocabulary (a JSON string) in the metadata so a reader can encode and decode text
        length = model.block_size or 8
        vocab = text.get("vocab") if isinstance(text, dict) else None
        export(model, np.zeros((1, length), np.int64), args.onnx, input_name="ids", output_name="logits",
               metadata={"vocab": json.dumps(vocab)} if isinstance(vocab, str) else None)
        limit = f", T <= {length}" if model.block_size else ""
        where = "; vocabulary in metadata 'vocab'" if isinstance(vocab, str) else ""
        what = f"ids (N, T) int64{limit} -> logits (N, T, {model.vocab_size}){where}"
    elif isinstance(meta, dict) and "preprocessing" in meta and args.input_shape is None:
        prep = preprocessing(meta, args.model)
        export(model, None, args.onnx, preprocessing=prep, target_scale=meta.get("target_scale"))
        what = f"x (N, {prep['num_features']}) raw values" if not prep.get("columns") else \
            f"{len(prep['columns'])} column inputs"
    else:
        if args.input_shape is None:
            from ..nn.summary import guess_input_shape

            one = guess_input_shape(model)
            if one is None:
                raise ConfigError(f"{args.model} has no training metadata and its first layer does not fix "
                                  "the input shape: give --input-shape, e.g. 1,1,28,28")
            shape = (1, *one)
        else:
            shape = _parse_shape(args.input_shape)
        export(model, np.zeros(shape, np.int64 if _takes_ids(model) else np.float32), args.onnx)
        what = f"input (N, {', '.join(map(str, shape[1:]))})"
    print(f"wrote {args.onnx} (ONNX opset {OPSET}; {what})", file=sys.stderr)
    return 0
