"""``chainrule predict MODEL INPUT.csv``: predictions for new rows, as CSV."""
from __future__ import annotations

import argparse
import csv
import sys

from ._common import existing_file, positive_int

NAME = "predict"
HELP = "predict new rows of a CSV file with a saved model"
DESCRIPTION = """Predict the rows of a CSV file with a model written by 'chainrule train --out DIR'.

For a model trained on --csv data the file needs the same feature columns (any order; the
target and other columns are ignored). For the built-in data sets give raw values
(centimetres for iris, 0-16 for digits, 0-255 pixels for MNIST): one row per example, with a
header naming the features or exactly as many columns as the model has inputs.
Output (stdout or --output): the predicted class and one probability column per class, or
the predicted value for regression.

examples:
  chainrule predict run/model.safetensors new_flowers.csv
  chainrule predict run/model.safetensors houses.csv --output predictions.csv
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", type=existing_file, metavar="MODEL", help="a .safetensors model file")
    parser.add_argument("input", type=existing_file, metavar="INPUT.csv", help="rows to predict")
    parser.add_argument("--output", "-o", default=None, metavar="PATH", help="write here instead of stdout")
    parser.add_argument("--batch-size", type=positive_int, default=256, metavar="N")
    parser.add_argument("--strict", action="store_true",
                        help="refuse categories not seen in training (default: all-zero one-hot, with a warning)")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from ..training import predict
    from ._common import check_outputs, load_model, model_inputs, preprocessing, unscale

    model, meta = load_model(args.model)
    prep = preprocessing(meta, args.model)
    x = model_inputs(args.input, prep, strict=args.strict)
    regression = prep.get("task") == "regression"
    out = predict(model, x, batch_size=args.batch_size, probabilities=not regression)
    check_outputs(out, prep, args.model)
    if regression:
        header = [prep.get("target_name") or "prediction"]
        rows = [[np.format_float_positional(np.float32(v), unique=True, trim="-")]  # plain decimals, no 1e+06
                for v in unscale(out, meta).reshape(len(x), -1)[:, 0]]
    else:
        names = [str(n) for n in (prep.get("class_names") or range(out.shape[1]))]
        header = ["prediction"] + [f"p_{n}" for n in names]
        rows = [[names[int(r.argmax())]] + [f"{p:.4f}" for p in r] for r in out]
    f = open(args.output, "w", newline="", encoding="utf-8") if args.output else sys.stdout
    try:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
    finally:
        if args.output:
            f.close()
    if args.output:
        print(f"{len(rows)} predictions written to {args.output}", file=sys.stderr)
    return 0
