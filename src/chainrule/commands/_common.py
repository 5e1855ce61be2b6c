"""Pieces shared by the ``train``, ``evaluate`` and ``predict`` subcommands.

Argument types here raise ``argparse.ArgumentTypeError`` so a bad value becomes argparse's
one-line usage error (exit 2) before any work starts.
"""
from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from typing import Any

from .. import catalogue
from ..errors import ChainruleError

DATASET_CHOICES = catalogue.names(catalogue.DATASETS)


# ----------------------------------------------------------------------------- argument types
def _number(text: str, kind: type) -> Any:
    try:
        value = kind(text)
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _bounded(name: str, kind: type, ok: Callable[[Any], bool], requirement: str) -> Callable[[str], Any]:
    """An argparse ``type=`` that parses ``kind`` and checks ``ok``, else says ``requirement``."""
    def parse(text: str) -> Any:
        value = _number(text, kind)
        if not ok(value):
            raise argparse.ArgumentTypeError(f"must be {requirement}, got {text}")
        return value

    parse.__name__ = name
    return parse


positive_int = _bounded("positive_int", int, lambda v: v >= 1, "a positive integer")
nonneg_int = _bounded("nonneg_int", int, lambda v: v >= 0, "a non-negative integer")
positive_float = _bounded("positive_float", float, lambda v: v > 0, "a positive number")
nonneg_float = _bounded("nonneg_float", float, lambda v: v >= 0, "a number >= 0")
fraction = _bounded("fraction", float, lambda v: 0 <= v < 1, "in [0, 1)")  # probability-like
folds = _bounded("folds", int, lambda v: v == 0 or v >= 2, "0 (no cross-validation) or a number of folds >= 2")


def hidden_sizes(text: str) -> tuple[int, ...]:
    """``"256,256"`` -> (256, 256); ``""`` or ``"none"`` -> () (a linear model)."""
    if text.strip().lower() in ("", "none", "0"):
        return ()
    parts = [p.strip() for p in text.split(",")]
    try:
        sizes = tuple(int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated layer widths such as 256,128, got {text!r}") from None
    if any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"layer widths must be positive, got {text!r}")
    return sizes


def dataset_name(text: str) -> str:
    try:
        return catalogue.lookup(catalogue.DATASETS, text, "dataset").name
    except ChainruleError:
        import difflib

        close = difflib.get_close_matches(text.strip().lower(), DATASET_CHOICES, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise argparse.ArgumentTypeError(f"unknown dataset {text!r}; {hint}choose one of: "
                                         f"{', '.join(DATASET_CHOICES)} (or use --csv PATH for your own table)"
                                         ) from None


def existing_file(text: str) -> str:
    if not os.path.exists(text):
        raise argparse.ArgumentTypeError(f"no such file: {text}")
    if os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text} is a directory, expected a file")
    if not os.path.isfile(text):  # a FIFO would block for ever, a device never end
        raise argparse.ArgumentTypeError(f"{text} is not a regular file (a pipe, device or socket)")
    return text


def existing_dir(text: str) -> str:
    if not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"no such directory: {text}")
    return text


# ----------------------------------------------------------------------------- data
def add_data_arguments(parser: argparse.ArgumentParser, default_dataset: str | None) -> None:
    """``--dataset``/``--csv``/``--target``/``--task``/``--data-dir``/``--download``."""
    g = parser.add_argument_group("data")
    src = g.add_mutually_exclusive_group()
    src.add_argument("--dataset", type=dataset_name, default=None, metavar="NAME",
                     help=f"one of {', '.join(DATASET_CHOICES)}" + (f" (default: {default_dataset})"
                                                                   if default_dataset else ""))
    src.add_argument("--csv", type=existing_file, default=None, metavar="PATH",
                     help="your own table (header row; numeric and text columns)")
    g.add_argument("--target", default=None, metavar="COL",
                   help="the --csv column to predict (default: the last column)")
    g.add_argument("--task", choices=("classification", "regression"), default=None,
                   help="for --csv: override the guess made from the target column")
    g.add_argument("--data-dir", default=None, metavar="DIR",
                   help="where the MNIST / Fashion-MNIST files are (or go, with --download)")
    g.add_argument("--download", action="store_true", help="download MNIST / Fashion-MNIST if missing")


def column_names(text: str) -> tuple[str, ...]:
    """``"id,name"`` -> ("id", "name")."""
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if not names:
        raise argparse.ArgumentTypeError(f"expected comma-separated column names, got {text!r}")
    return names


def add_table_arguments(parser: argparse.ArgumentParser) -> None:
    """How ``--csv`` tables are prepared: ``--missing``, ``--na-values``, ``--ignore``,
    ``--max-categories`` (recorded in the model file, so predict/evaluate repeat them)."""
    g = parser.add_argument_group("preparing a --csv table (defaults suit most tables)")
    g.add_argument("--missing", choices=catalogue.names(catalogue.MISSING_VALUES), default=None,
                   help=f"what to do with missing feature values: {catalogue.describe(catalogue.MISSING_VALUES)} "
                        "(default: impute); rows whose target is missing are always dropped")
    g.add_argument("--na-values", type=column_names, default=None, metavar="TOKENS",
                   help="more values that mean missing, e.g. 'none,n/a,?' (the empty field, NA and NaN always do)")
    g.add_argument("--ignore", type=column_names, default=None, metavar="COL,...",
                   help="columns to leave out (IDs, leaks of the target, ...)")
    g.add_argument("--max-categories", type=positive_int, default=None, metavar="N",
                   help="one-hot encode text columns with at most N distinct values; wider ones (names, IDs) "
                        "are left out with a note (default 20)")


def load_data(args: argparse.Namespace, default_dataset: str | None) -> Any:
    """The ``DatasetSplits`` the data arguments ask for.

    The train/test split is each loader's fixed default (seed 0), independent of ``--seed``,
    so ``chainrule evaluate`` later sees the same test set the model was never trained on.
    """
    from ..data import csv, load_dataset
    from ..errors import ConfigError

    if args.csv is not None:
        from ..data.tabular import DEFAULT_NA_VALUES, MAX_CATEGORIES

        return csv(args.csv, target=_target(args.target), task=args.task,
                   missing=getattr(args, "missing", None) or "impute",
                   na_values=DEFAULT_NA_VALUES + tuple(getattr(args, "na_values", None) or ()),
                   ignore=getattr(args, "ignore", None) or (),
                   max_categories=getattr(args, "max_categories", None) or MAX_CATEGORIES)
    for flag in ("missing", "na_values", "ignore", "max_categories"):
        if getattr(args, flag, None) is not None:
            raise ConfigError(f"--{flag.replace('_', '-')} applies only to --csv")
    if args.target is not None or args.task is not None:
        raise ConfigError("--target and --task apply only to --csv")
    name = args.dataset or default_dataset
    if name is None:
        raise ConfigError("give the data to use: --dataset NAME or --csv PATH")
    if args.data_dir is not None and not args.download and not os.path.isdir(args.data_dir):
        raise ConfigError(f"--data-dir {args.data_dir}: no such directory (add --download to create it and "
                          "fetch the files)")
    if name in ("mnist", "fashion-mnist"):
        return load_dataset(name, data_dir=args.data_dir, download=args.download)
    return load_dataset(name)


def _target(text: str | None) -> str | None:
    """The target column name (None: the table's last column)."""
    return text


__all__ = ["positive_int", "nonneg_int", "positive_float", "nonneg_float", "fraction", "folds", "hidden_sizes",
           "dataset_name", "existing_file", "existing_dir", "add_data_arguments", "add_table_arguments",
           "column_names", "load_data", "DATASET_CHOICES"]


# ----------------------------------------------------------------------------- models and tables
def load_model(path: str) -> tuple[Any, dict]:
    """``(module, metadata)`` of a model file written by ``chainrule train --out``/``cr.save``."""
    from ..errors import ModelFileError
    from ..io import load, read_metadata

    model = load(path)
    if isinstance(model, dict):
        raise ModelFileError(f"{path}: holds weights only, no architecture; it cannot be used without "
                             "its Python model class (save it with cr.save(model, ...))")
    return model, read_metadata(path)


def preprocessing(meta: dict, path: str) -> dict:
    """The file's preprocessing description, checked: the metadata is untrusted input, so any
    field of the wrong type or length is a ModelFileError naming the file, never a crash."""
    import math
    import numbers

    from ..errors import ModelFileError

    def bad(what: str) -> ModelFileError:
        return ModelFileError(f"{path}: the preprocessing in its metadata is malformed: {what}")

    prep = meta.get("preprocessing") if isinstance(meta, dict) else None
    if isinstance(meta, dict) and isinstance(meta.get("text"), dict) and prep is None:
        raise ModelFileError(f"{path}: a character-level language model (no feature columns to score); "
                             f"sample from it with 'chainrule generate {path}' (its validation loss is in "
                             "metrics.json beside it)")
    if not isinstance(prep, dict) or "num_features" not in prep:
        raise ModelFileError(f"{path}: no preprocessing description in its metadata (not written by "
                             "'chainrule train'); use it from Python with cr.load")
    d = prep["num_features"]
    if isinstance(d, bool) or not isinstance(d, int) or not 1 <= d <= 10_000_000:
        raise bad(f"num_features is {d!r:.40}, expected a positive integer")
    if prep.get("task") not in ("classification", "regression"):
        raise bad(f"task is {prep.get('task')!r:.40}, expected 'classification' or 'regression'")
    for key in ("mean", "std"):
        v = prep.get(key)
        if not isinstance(v, list) or len(v) != d or not all(
                isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x) for x in v):
            raise bad(f"{key} must be a list of {d} finite numbers")
    if any(x == 0 for x in prep["std"]):
        raise bad("std holds a zero")
    names = prep.get("feature_names")
    if names is not None and (not isinstance(names, list) or not all(isinstance(n, str) for n in names)
                              or len(names) not in (0, d)):
        raise bad(f"feature_names must be a list of {d} strings (one per feature)")
    classes = prep.get("class_names")
    if classes is not None and (not isinstance(classes, list) or not classes
                                or not all(isinstance(n, (str, int)) and not isinstance(n, bool) for n in classes)):
        raise bad("class_names must be a non-empty list of names")
    columns = prep.get("columns")
    if columns is not None:
        ok = isinstance(columns, list) and all(
            isinstance(c, dict) and isinstance(c.get("name"), str) and c.get("kind") in ("numeric", "categorical")
            and (c["kind"] == "numeric" or (isinstance(c.get("categories"), list)
                                            and all(isinstance(v, str) for v in c["categories"])))
            for c in columns)
        if not ok:
            raise bad("columns must be a list of {name, kind[, categories]} objects")
        if not all(isinstance(c.get("indicator", False), bool) for c in columns):
            raise bad("a column's indicator flag must be true or false")
        width = sum((1 if c["kind"] == "numeric" else len(c["categories"])) + bool(c.get("indicator"))
                    for c in columns)
        if columns and width != d:
            raise bad(f"columns describe {width} features but num_features is {d}")
    split = prep.get("split")
    if split is not None and not (
            isinstance(split, dict) and isinstance(split.get("digest"), str)
            and (split.get("seed") is None
                 or (isinstance(split.get("seed"), int) and not isinstance(split["seed"], bool)))
            and isinstance(split.get("test_fraction"), (int, float)) and not isinstance(split["test_fraction"], bool)
            and 0 <= split["test_fraction"] < 1
            and isinstance(split.get("na_values"), list) and all(isinstance(v, str) for v in split["na_values"])
            and split.get("missing") in catalogue.names(catalogue.MISSING_VALUES)):
        raise bad("split must be {seed, test_fraction, digest, na_values, missing}")
    if prep.get("imputation") is not None:
        from ..data.impute import Imputation

        Imputation.from_json(prep["imputation"], d)  # raises ModelFileError naming what is wrong
    target = prep.get("target_name")
    if target is not None and not isinstance(target, str):
        raise bad("target_name must be a string")
    scale = meta.get("target_scale")
    if scale is not None and not (isinstance(scale, dict) and all(
            isinstance(scale.get(k, 0.0), numbers.Real) and not isinstance(scale.get(k, 0.0), bool)
            and math.isfinite(scale.get(k, 0.0)) for k in ("mean", "std"))):
        raise bad("target_scale must be {mean, std} numbers")
    return prep


def read_raw_table(path: str, prep: dict) -> Any:
    """Raw feature rows of a CSV for a model trained on a built-in data set.

    With a header naming the model's features (``sepal length (cm)`` ..., ``pixel_0_0`` ...)
    those columns are taken, in the model's order; without one (or other names) the file
    must have exactly ``num_features`` numeric columns. Returns float64 ``(N, D)`` raw values.
    """
    import csv as _csv
    import io
    from pathlib import Path

    import numpy as np

    from ..data.tabular import _read_text, _sniff
    from ..errors import DataError

    p = Path(path)
    text = _read_text(p)
    if not text.strip():
        raise DataError(f"{p}: the file is empty")
    rows = []
    reader = _csv.reader(io.StringIO(text, newline=""), delimiter=_sniff(text, None))
    try:
        for fields in reader:
            if fields and any(f.strip() for f in fields):
                rows.append((reader.line_num, [f.strip() for f in fields]))
    except _csv.Error as e:
        raise DataError(f"{p}, line {reader.line_num}: malformed CSV: {e}") from None

    def number(s: str) -> float | None:
        try:
            return float(s)
        except ValueError:
            return None

    d = int(prep["num_features"])
    names = list(prep.get("feature_names") or [])
    header = None
    if rows and any(number(f) is None for f in rows[0][1]):
        header = rows[0][1]
        rows = rows[1:]
    cols = list(range(d))
    if header is not None and names and all(n in header for n in names):
        cols = [header.index(n) for n in names]
    elif header is not None and len(header) != d:
        raise DataError(f"{p}: {len(header)} columns, but the model takes {d} features"
                        + (f" ({', '.join(names[:4])}{' ...' if d > 4 else ''})" if names else ""))
    if not rows:
        raise DataError(f"{p}: no data rows")
    out = np.empty((len(rows), d), np.float64)
    for i, (line, fields) in enumerate(rows):
        if header is None and len(fields) != d:
            raise DataError(f"{p}, line {line}: {len(fields)} values, but the model takes {d} features")
        if max(cols) >= len(fields):
            raise DataError(f"{p}, line {line}: {len(fields)} fields, fewer than the header's {len(header or [])}")
        for j, c in enumerate(cols):
            v = number(fields[c])
            if v is None or not np.isfinite(v):
                raise DataError(f"{p}, line {line}: column {c + 1} holds {fields[c]!r}, expected a number")
            out[i, j] = v
    return out


def model_inputs(path: str, prep: dict, strict: bool = False) -> Any:
    """Model-ready inputs ``(N, D)`` float32 from a CSV, prepared as in training (``strict``:
    refuse categories not seen in training instead of encoding them as all zeros)."""
    import numpy as np

    from ..data import read_features

    if prep.get("columns"):
        return read_features(path, prep, strict=strict)
    raw = read_raw_table(path, prep)
    mean = np.asarray(prep["mean"], np.float64)
    std = np.asarray(prep["std"], np.float64)
    return ((raw - mean) / std).astype(np.float32)


def check_outputs(outputs: Any, prep: dict, path: str) -> None:
    """Refuse a model whose output width does not match what its metadata says it predicts:
    one value for regression, one score per class name for classification (an IndexError or
    a failed reshape deep in the scoring code otherwise)."""
    from ..errors import ModelFileError

    classes = prep.get("class_names")
    n_classes = prep.get("num_classes")
    if prep.get("task") == "regression":
        expected, what = 1, "one value per example (regression)"
    elif classes:
        shown = ", ".join(map(str, classes[:4])) + (" ..." if len(classes) > 4 else "")
        expected, what = len(classes), f"{len(classes)} classes ({shown})"
    elif isinstance(n_classes, int) and not isinstance(n_classes, bool):
        expected, what = n_classes, f"{n_classes} classes"
    else:
        expected, what = None, "at least 2 classes"
    width = outputs.shape[1] if getattr(outputs, "ndim", 0) == 2 else None
    if width is None or (width != expected if expected is not None else width < 2):
        given = f"{width} output(s) per example" if width is not None else \
            f"outputs of shape {tuple(getattr(outputs, 'shape', ()))}"
        raise ModelFileError(f"{path}: the network gives {given} but its metadata describes {what}; "
                             "the weights and the metadata do not belong together")


def unscale(outputs: Any, meta: dict) -> Any:
    """Regression outputs in the target's original units (training standardised them)."""
    scale = meta.get("target_scale") or {}
    return outputs * float(scale.get("std", 1.0)) + float(scale.get("mean", 0.0))


def plain_number(value: float, significant: int = 4) -> str:
    """``value`` in plain decimals with about ``significant`` significant digits, never in
    exponent form: 17710 (not 1.771e+04), 0.001234, 953000.5 -> 953000."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    digits = max(0, significant - 1 - math.floor(math.log10(abs(value))))
    return f"{value:.{digits}f}"


def dump_json(obj: Any) -> str:
    """Indented JSON with lists of numbers (confusion-matrix rows) kept on one line."""
    import json
    import re

    text = json.dumps(obj, indent=2)
    return re.sub(r"\[\s*([-0-9.eE,\s]*?)\s*\]",
                  lambda m: "[" + ", ".join(v.strip() for v in m.group(1).split(",") if v.strip()) + "]", text)
