"""``chainrule evaluate MODEL``: score a saved model on a data set's test split or a CSV file."""
from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass

from ._common import add_data_arguments, dump_json, existing_file, positive_int

NAME = "evaluate"
HELP = "score a saved model on test data (accuracy and confusion matrix, or MSE/MAE/R²)"
DESCRIPTION = """Score a model written by 'chainrule train --out DIR' on test data.

Without --dataset/--csv the built-in data set the model was trained on is used (its test
split; MNIST is looked for in --data-dir or the cache: paths come only from your flags,
never from the model file).
With --csv the file needs the target column. For the very table the model was trained on,
only its held-out test rows are scored (the split is drawn again from the seed and fraction
stored in the model file, and the rows are checked by a digest); --all-rows scores every row,
training rows included, and says so. Any other file is scored in full.

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
    parser.add_argument("--all-rows", action="store_true",
                        help="with --csv: score every row, the ones the model trained on included")
    parser.add_argument("--strict", action="store_true",
                        help="with --csv: refuse categories not seen in training (default: all-zero one-hot, "
                             "with a warning)")
    parser.add_argument("--summary", action="store_true",
                        help="print the model's layers, output shapes and parameter counts (as Keras's "
                             "model.summary()) instead of scoring it")


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
    from ..training import predict
    from ._common import check_outputs, load_data, load_model, model_inputs, plain_number, preprocessing, unscale

    model, meta = load_model(args.model)
    if args.summary:
        return _print_summary(model, meta, args.json)
    prep = preprocessing(meta, args.model)
    held_out: bool | None = None
    if args.csv is not None:
        from ..data.tabular import read_examples, read_targets

        if prep.get("columns"):  # a model trained on a CSV table: its held-out rows, unless --all-rows
            ex = read_examples(args.csv, prep, target=args.target, rows="all" if args.all_rows else "held-out",
                               strict=args.strict)
            x, y, source, held_out = ex.x, ex.y, ex.description, ex.held_out
            if held_out and meta.get("trained_on_test_split"):
                held_out = False
                source += " (but after cross-validation the model was trained on every row)"
        else:  # raw rows for a model of a built-in data set
            x, y = model_inputs(args.csv, prep), read_targets(args.csv, prep, args.target)
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
    check_outputs(out, prep, args.model)
    results: dict = {"model": args.model, "data": source, "examples": int(len(y))}
    if prep.get("task") == "regression":
        from ..training import regression_report

        pred = unscale(out, meta).reshape(y.shape).astype(np.float64)
        results.update(regression_report(pred, y))
        text = (f"{source}: {len(y)} examples  R² {results['r2']:.4f}  RMSE {plain_number(results['rmse'])}  "
                f"MAE {plain_number(results['mae'])} (predicting the mean: RMSE "
                f"{plain_number(results['baseline_rmse'])})")
    else:
        from ..training import classification_report

        k = out.shape[1]
        names = [str(n) for n in (prep.get("class_names") or range(k))]
        report = classification_report(out, y, names)
        cm = np.asarray(report["confusion_matrix"])
        nll = float(-np.mean(np.log(np.clip(out[np.arange(len(y)), y], 1e-12, None))))
        results.update(report, loss=nll, class_names=prep.get("class_names"))
        text = (f"{source}: accuracy {report['accuracy']:.4f} ({int(np.trace(cm))}/{len(y)}; always "
                f"{report['baseline_class']!r}: {report['baseline_accuracy']:.4f})  balanced accuracy "
                f"{report['balanced_accuracy']:.4f}" + (f"  ROC-AUC {report['roc_auc']:.4f}" if k == 2 else "")
                + f"  loss {nll:.4f}")
        if k <= 20:
            w = max(5, *(len(n) for n in names), len(str(cm.max())))
            lines = ["confusion matrix (rows: true class, columns: predicted)",
                     " " * (w + 1) + " ".join(n[:w].rjust(w) for n in names)]
            lines += [names[i][:w].rjust(w) + " " + " ".join(str(v).rjust(w) for v in row) for i, row in enumerate(cm)]
            lines.append(f"{'class'.rjust(w)}  precision  recall      f1  support")
            lines += [f"{n[:w].rjust(w)}  {r['precision']:9.4f}  {r['recall']:6.4f}  {r['f1']:6.4f}  {r['support']:7d}"
                      for n, r in report["per_class"].items()]
            text += "\n" + "\n".join(lines)
    if held_out is not None:
        results["held_out"] = held_out
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
