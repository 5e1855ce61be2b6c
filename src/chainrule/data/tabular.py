"""A user's own table: a CSV file with a header row, one example per row.

``csv(path, target="species")`` turns it into a ``DatasetSplits``: numeric columns are
used as they are, text columns with few distinct values are one-hot encoded, and all
features are standardised with the training split's mean and std. The target decides the
task unless ``task`` is given: text, or integers with at most 20 distinct values, mean
classification; anything else regression. Only the standard library ``csv`` module is
used. Every problem with the file raises ``DataError`` naming the file, the line and the
column.
"""
from __future__ import annotations

import csv as _csv
import io
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, DataError, DatasetNotFoundError, open_for_reading
from .dataset import TensorDataset, train_test_indices
from .splits import DatasetSplits, standardize_stats

MISSING = frozenset({"", "na", "n/a", "nan", "null", "none", "?"})
MAX_CATEGORIES = 20  # text feature columns with more distinct values are refused
MAX_AUTO_CLASSES = 20  # integer targets with at most this many values are class labels
_DELIMITERS = ",;\t|"
_SNIFF_LINES, _SNIFF_CHARS = 20, 2048  # what csv.Sniffer is shown (its cost grows as chars**2)


def _read_text(path: Path) -> str:
    with open_for_reading(path, "CSV file", DatasetNotFoundError, DataError) as f:
        try:
            data = f.read()
        except OSError as e:
            raise DataError(f"{path}: cannot read the CSV file: {e.strerror or e}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise DataError(
            f"{path}, line {line}: not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start}); "
            "save the file as UTF-8"
        ) from None


def _sniff(text: str, delimiter: str | None) -> str:
    if delimiter is not None:
        if not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in "\"\r\n":
            raise ConfigError(f"csv: delimiter must be a single character like ',' or ';', got {delimiter!r}")
        return delimiter
    head = text[:8192]
    first = head.splitlines()[0] if head.splitlines() else ""
    # csv.Sniffer's quote regexes take time quadratic in the sample (10 s for 8 KB of '"\n'
    # lines), so it sees only the first lines; the header check below does the rest
    sample = "\n".join(head.splitlines()[:_SNIFF_LINES])[:_SNIFF_CHARS]
    try:
        found = _csv.Sniffer().sniff(sample, delimiters=_DELIMITERS).delimiter
    except _csv.Error:
        found = ","
    # the sniffer can be fooled by few lines; trust it only if the header splits on it
    if found not in first:
        counts = {d: first.count(d) for d in _DELIMITERS}
        best = max(counts, key=lambda d: counts[d])
        found = best if counts[best] else ","
    return found


def _parse(path: Path, text: str, delimiter: str | None) -> tuple[list[str], list[tuple[int, list[str]]], str]:
    """Header and data rows (with their line numbers), whitespace stripped, blank rows skipped."""
    if not text.strip():
        raise DataError(f"{path}: the file is empty; expected a header row and data rows")
    delim = _sniff(text, delimiter)
    reader = _csv.reader(io.StringIO(text, newline=""), delimiter=delim)
    header: list[str] | None = None
    rows: list[tuple[int, list[str]]] = []
    try:
        for fields in reader:
            if not fields or all(not f.strip() for f in fields):
                continue
            fields = [f.strip() for f in fields]
            if header is None:
                header = fields
                header_line = reader.line_num
                continue
            if len(fields) != len(header):
                raise DataError(
                    f"{path}, line {reader.line_num}: {len(fields)} fields, expected {len(header)} as in the "
                    f"header (line {header_line}; delimiter {delim!r})"
                )
            rows.append((reader.line_num, fields))
    except _csv.Error as e:
        raise DataError(f"{path}, line {reader.line_num}: malformed CSV: {e}") from None
    if header is None:
        raise DataError(f"{path}: no header row (every row is empty); expected a header row naming the columns")
    for i, name in enumerate(header):
        if not name:
            raise DataError(f"{path}, line {header_line}: column {i + 1} of the header has no name")
    if all(_is_number(name) for name in header):
        raise DataError(
            f"{path}, line {header_line}: the first row looks like data ({', '.join(header[:4])}...), "
            "but a header row naming the columns is required"
        )
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise DataError(f"{path}, line {header_line}: column name {name!r} appears twice in the header")
        seen.add(name)
    if not rows:
        raise DataError(f"{path}: the file has a header but no data rows")
    return header, rows, delim


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def _check_missing(path: Path, rows: list[tuple[int, list[str]]], col: int, name: str) -> None:
    for line, fields in rows:
        if fields[col].lower() in MISSING:
            raise DataError(
                f"{path}, line {line}: missing value {fields[col]!r} in column {name!r}; "
                "fill in or drop rows with missing values"
            )


def _numeric(path: Path, rows: list[tuple[int, list[str]]], col: int, name: str) -> np.ndarray | None:
    """The column as float64, or None if some value is not a number."""
    out = np.empty(len(rows), np.float64)
    for i, (line, fields) in enumerate(rows):
        try:
            v = float(fields[col])
        except ValueError:
            return None
        if not math.isfinite(v):
            raise DataError(f"{path}, line {line}: value {fields[col]!r} in column {name!r} is not finite")
        out[i] = v
    return out


def _resolve_target(path: Path, header: list[str], target: str | int | None) -> int:
    if target is None:
        return len(header) - 1
    if isinstance(target, bool):
        raise ConfigError(f"csv: target must be a column name or index, got {target!r}")
    if isinstance(target, int):
        if not -len(header) <= target < len(header):
            raise DataError(f"{path}: target column index {target} out of range; the file has {len(header)} columns")
        return target % len(header)
    if target in header:
        return header.index(target)
    raise DataError(f"{path}: no column named {target!r}; available columns: {', '.join(header)}")


def _class_name(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def csv(
    path: str | os.PathLike,
    target: str | int | None = None,
    task: str | None = None,
    test_fraction: float = 0.2,
    seed: int | None = 0,
    delimiter: str | None = None,
    max_categories: int = MAX_CATEGORIES,
) -> DatasetSplits:
    """Load a CSV table with a header row as a dataset.

    ``target`` names the column to predict (name or index; default: the last column).
    ``task`` is ``"classification"``, ``"regression"`` or None (decide from the target).
    Rows are split into train/test (``test_fraction``, stratified for classification,
    deterministic given ``seed``). ``delimiter`` None sniffs among ``, ; tab |``.

    Returns X ``(N, D)`` float32 standardised with the *train* mean/std (``.mean``,
    ``.std``), y ``(N,)`` int64 class indices with ``class_names`` in label order, or
    ``(N, 1)`` float32 for regression. ``.columns`` records how each raw column became
    features, so :func:`read_features` can prepare new rows the same way.
    """
    p = Path(path)
    if task not in (None, "classification", "regression"):
        raise ConfigError(f"csv: task must be 'classification', 'regression' or None, got {task!r}")
    header, rows, _ = _parse(p, _read_text(p), delimiter)
    t = _resolve_target(p, header, target)
    if len(header) < 2:
        raise DataError(f"{p}: only the target column {header[t]!r}; at least one feature column is needed")

    # target
    _check_missing(p, rows, t, header[t])
    y_num = _numeric(p, rows, t, header[t])
    if task is None:
        is_int = y_num is not None and bool(np.all(np.floor(y_num) == y_num))
        few_values = y_num is not None and is_int and np.unique(y_num).size <= MAX_AUTO_CLASSES
        task = "classification" if y_num is None or few_values else "regression"
    if task == "regression":
        if y_num is None:
            bad = next((line, f[t]) for line, f in rows if not _is_number(f[t]))
            raise DataError(
                f"{p}, line {bad[0]}: target column {header[t]!r} holds {bad[1]!r}, not a number, "
                "but task is 'regression'"
            )
        y: np.ndarray = y_num.astype(np.float32).reshape(-1, 1)
        class_names = None
    elif y_num is not None:
        values, y = np.unique(y_num, return_inverse=True)
        class_names = [_class_name(v) for v in values]
    else:
        values, y = np.unique(np.array([f[t] for _, f in rows]), return_inverse=True)
        class_names = [str(v) for v in values]
    if task == "classification":
        y = y.astype(np.int64).reshape(-1)

    # features
    columns: list[dict[str, Any]] = []
    blocks: list[np.ndarray] = []
    feature_names: list[str] = []
    for c, name in enumerate(header):
        if c == t:
            continue
        _check_missing(p, rows, c, name)
        col = _numeric(p, rows, c, name)
        if col is not None:
            columns.append({"name": name, "kind": "numeric"})
            blocks.append(col[:, None])
            feature_names.append(name)
            continue
        raw = [f[c] for _, f in rows]
        cats = sorted(set(raw))
        if len(cats) > max_categories:
            raise DataError(
                f"{p}: column {name!r} holds text with {len(cats)} distinct values (e.g. {cats[0]!r}), too many "
                f"to one-hot encode (limit {max_categories}); drop the column or encode it as numbers"
            )
        index = {v: i for i, v in enumerate(cats)}
        onehot = np.zeros((len(rows), len(cats)), np.float64)
        onehot[np.arange(len(rows)), [index[v] for v in raw]] = 1.0
        columns.append({"name": name, "kind": "categorical", "categories": cats})
        blocks.append(onehot)
        feature_names.extend(f"{name}={v}" for v in cats)
    x_raw = np.concatenate(blocks, axis=1).astype(np.float32)

    tr, te = train_test_indices(len(rows), test_fraction, seed=seed, labels=y if task == "classification" else None)
    mean, std = standardize_stats(x_raw[tr])
    x = ((x_raw - mean) / std).astype(np.float32)
    return DatasetSplits(
        name=p.name,
        train=TensorDataset(x[tr], y[tr]),
        test=TensorDataset(x[te], y[te]),
        task=task,
        num_features=x.shape[1],
        num_classes=len(class_names) if class_names is not None else None,
        class_names=class_names,
        feature_names=feature_names,
        mean=mean,
        std=std,
        columns=columns,
        target_name=header[t],
        source=str(p),
        fitted_scaling=True,
    )


def read_features(
    path: str | os.PathLike, like: DatasetSplits | Mapping[str, Any], delimiter: str | None = None
) -> np.ndarray:
    """Prepare new rows of a CSV file exactly as the training table's features were.

    ``like`` is the ``DatasetSplits`` from :func:`csv` or its ``preprocessing()`` dict
    (as stored beside a model). The file needs a header with the same feature columns (in
    any order; the target column and extra columns are ignored). Returns X ``(N, D)``
    float32, standardised with the training mean/std. Unknown categories, missing values
    and non-numbers raise ``DataError`` naming the line and column.
    """
    prep = like.preprocessing() if isinstance(like, DatasetSplits) else dict(like)
    spec = prep.get("columns")
    if not spec:
        raise ConfigError("read_features: the preprocessing has no CSV column description (not from csv())")
    p = Path(path)
    header, rows, _ = _parse(p, _read_text(p), delimiter)
    missing = [c["name"] for c in spec if c["name"] not in header]
    if missing:
        raise DataError(f"{p}: missing feature column(s) {', '.join(map(repr, missing))}; "
                        f"the file has {', '.join(header)}")
    blocks = []
    for c in spec:
        col = header.index(c["name"])
        _check_missing(p, rows, col, c["name"])
        if c["kind"] == "numeric":
            values = _numeric(p, rows, col, c["name"])
            if values is None:
                line, bad = next((line, f[col]) for line, f in rows if not _is_number(f[col]))
                raise DataError(f"{p}, line {line}: column {c['name']!r} holds {bad!r}, expected a number")
            blocks.append(values[:, None])
        else:
            index = {v: i for i, v in enumerate(c["categories"])}
            onehot = np.zeros((len(rows), len(index)), np.float64)
            for i, (line, f) in enumerate(rows):
                if f[col] not in index:
                    raise DataError(
                        f"{p}, line {line}: column {c['name']!r} holds {f[col]!r}, not seen in training "
                        f"(known: {', '.join(c['categories'])})"
                    )
                onehot[i, index[f[col]]] = 1.0
            blocks.append(onehot)
    x = np.concatenate(blocks, axis=1)
    mean = np.asarray(prep["mean"], np.float64)
    std = np.asarray(prep["std"], np.float64)
    return ((x - mean) / std).astype(np.float32)


__all__ = ["csv", "read_features"]
