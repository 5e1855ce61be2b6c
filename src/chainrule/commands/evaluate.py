"""``chainrule evaluate MODEL``: score a saved model on a data set's test split or a CSV file."""
from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

from ._common import add_data_arguments, dump_json, existing_file, positive_int

NAME = "evaluate"
HELP = "score a saved model on test data (accuracy and confusion matrix, or MSE/MAE/R²)"
DESCRIPTION = """Score a model written by 'chainrule train --out DIR' on test data.

Without --dataset/--csv the built-in data set the model was trained on is used (its test
split; MNIST is looked for in --data-dir or the cache: paths come only from your flags,
never from the model file).
With --csv every row of the file is scored; it needs the target column.

examples:
  chainrule evaluate run/model.safetensors
  chainrule evaluate run/model.safetensors --dataset mnist --data-dir ../shared/data/mnist
  chainrule evaluate run/model.safetensors --csv new_houses.csv --json
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", type=existing_file, metavar="MODEL", help="a .safetensors model file")
    add_data_arguments(parser, None)
    parser.add_argument("--batch-size", type=positive_int, default=256, metavar="N")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--summary", action="store_true",
                        help="print the model's layers, output shapes and parameter counts (as Keras's "
                             "model.summary()) instead of scoring it")


def _csv_targets(path: str, prep: dict[str, Any], column: str | None) -> np.ndarray:
    """The target column of a CSV file: class indices (classification) or floats (regression)."""
    import csv as _csv
    import io
    from pathlib import Path

    import numpy as np

    from ..data.tabular import _read_text, _sniff
    from ..errors import DataError

    p = Path(path)
    text = _read_text(p)
    name = column or prep.get("target_name")
    reader = _csv.reader(io.StringIO(text, newline=""), delimiter=_sniff(text, None))
    rows = [(reader.line_num, [f.strip() for f in r]) for r in reader if r and any(f.strip() for f in r)]
    if not rows or name not in rows[0][1]:
        raise DataError(f"{p}: no target column {name!r} to score against (give it with --target COL)")
    c = rows[0][1].index(name)
    values = [(line, r[c] if c < len(r) else "") for line, r in rows[1:]]
    if prep.get("task") == "regression":
        out = []
        for line, v in values:
            try:
                out.append(float(v))
            except ValueError:
                raise DataError(f"{p}, line {line}: target {name!r} holds {v!r}, expected a number") from None
            if not np.isfinite(out[-1]):
                raise DataError(f"{p}, line {line}: target {name!r} holds {v!r}, expected a finite number")
        return np.asarray(out, np.float64).reshape(-1, 1)
    classes = {str(n): i for i, n in enumerate(prep.get("class_names") or [])}
    out = []
    for line, v in values:
        key = v
        if key not in classes:  # 1.0 written for class "1"
            try:
                key = str(int(float(v))) if float(v).is_integer() else v
            except ValueError:
                pass
        if key not in classes:
            raise DataError(f"{p}, line {line}: target {name!r} holds {v!r}, not one of the model's classes "
                            f"({', '.join(classes)})")
        out.append(classes[key])
    return np.asarray(out, np.int64)


def _print_summary(model: object, meta: dict, as_json: bool) -> int:
    """The layer table; a model trained by 'chainrule train' takes ``num_features`` inputs."""
    prep = meta.get("preprocessing") if isinstance(meta, dict) else None
    d = prep.get("num_features") if isinstance(prep, dict) else None
    shape = (d,) if isinstance(d, int) and not isinstance(d, bool) and d >= 1 else None
    summary = model.summary(shape)  # type: ignore[attr-defined]
    print(dump_json(summary.as_dict()) if as_json else summary)
    return 0


def _registered_dataset(model_path: str, prep: dict, meta: dict) -> str:
    """The built-in data set the model file names, taken only if the catalogue registers it.

    The file is untrusted: its strings never become paths (a ``dataset`` of ``/etc/passwd``
    would otherwise be read as a CSV), and the folder training read MNIST from is not reused
    either; only the user's own ``--data-dir`` is. Nothing of the string is echoed.
    """
    from .. import catalogue
    from ..errors import ChainruleError, ConfigError

    try:
        name = catalogue.lookup(catalogue.DATASETS, prep.get("dataset"), "dataset").name
    except ChainruleError:
        raise ConfigError(f"{model_path}: its metadata names no built-in data set; give the data to score "
                          "with --dataset NAME or --csv PATH") from None
    return name


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from ..errors import ConfigError
    from ..training import confusion_matrix, predict
    from ._common import load_data, load_model, model_inputs, preprocessing, unscale

    model, meta = load_model(args.model)
    if args.summary:
        return _print_summary(model, meta, args.json)
    prep = preprocessing(meta, args.model)
    if args.csv is not None:
        x = model_inputs(args.csv, prep)
        y = _csv_targets(args.csv, prep, args.target)
        source = args.csv
    else:
        if args.dataset is None and prep.get("columns"):
            raise ConfigError(f"{args.model} was trained on the CSV table {prep.get('dataset')!r}; "
                              "give the rows to score with --csv PATH")
        if args.dataset is None:
            args.dataset = _registered_dataset(args.model, prep, meta)
        ds = load_data(args, None)
        x, y = ds.test.arrays
        source = f"{ds.name} test split"
    if x.shape[1] != int(prep["num_features"]):
        raise ConfigError(f"{source} has {x.shape[1]} features per example but the model takes "
                          f"{prep['num_features']} (was it trained on another data set?)")

    out = predict(model, x, batch_size=args.batch_size, probabilities=prep.get("task") != "regression")
    results: dict = {"model": args.model, "data": source, "examples": int(len(y))}
    if prep.get("task") == "regression":
        pred = unscale(out, meta).reshape(y.shape).astype(np.float64)
        err = pred - y
        mse = float(np.mean(err ** 2))
        ss_tot = float(np.sum((y - y.mean()) ** 2))
        results.update(mse=mse, rmse=mse ** 0.5, mae=float(np.mean(np.abs(err))),
                       r2=1 - float(np.sum(err ** 2)) / ss_tot if ss_tot > 0 else 0.0)
        text = (f"{source}: {len(y)} examples  R² {results['r2']:.4f}  RMSE {results['rmse']:.4g}  "
                f"MAE {results['mae']:.4g}")
    else:
        k = out.shape[1]
        cm = confusion_matrix(out, y, num_classes=k)
        acc = float(np.trace(cm) / max(cm.sum(), 1))
        nll = float(-np.mean(np.log(np.clip(out[np.arange(len(y)), y], 1e-12, None))))
        results.update(accuracy=acc, loss=nll, confusion_matrix=cm.tolist(), class_names=prep.get("class_names"))
        text = f"{source}: accuracy {acc:.4f} ({int(np.trace(cm))}/{len(y)})  loss {nll:.4f}"
        if k <= 20:
            names = [str(n) for n in (prep.get("class_names") or range(k))]
            w = max(5, *(len(n) for n in names), len(str(cm.max())))
            lines = ["confusion matrix (rows: true class, columns: predicted)",
                     " " * (w + 1) + " ".join(n[:w].rjust(w) for n in names)]
            lines += [names[i][:w].rjust(w) + " " + " ".join(str(v).rjust(w) for v in row) for i, row in enumerate(cm)]
            text += "\n" + "\n".join(lines)
    if meta.get("trained_on_test_split") and args.csv is None and ds.name == prep.get("dataset"):
        # after cross-validation the saved model was trained on every example, test split included
        ev, saved = meta.get("evaluation"), meta.get("test")
        ev, saved = (ev if isinstance(ev, dict) else {}), (saved if isinstance(saved, dict) else {})
        estimate = saved.get("test_accuracy", saved.get("test_r2"))
        results["held_out"] = False
        print(f"note: {args.model} was trained on every {ds.name} example, its test split included, after "
              f"{ev.get('method', 'cross-validation')}"
              + (f" estimated its test score at {estimate:.4f}" if isinstance(estimate, (int, float)) else "")
              + "; this score is not a held-out one", file=sys.stderr)
    print(dump_json(results) if args.json else text, file=sys.stdout)
    return 0
