"""A user's own table: a CSV file with a header row, one example per row.

``csv(path, target="species")`` turns it into a ``DatasetSplits`` the way a careful analyst
would (scikit-learn's ``SimpleImputer(add_indicator=True)`` + ``OneHotEncoder`` +
``StandardScaler``, fitted on the training rows only):

* numeric columns are used as they are; text columns with few distinct values are one-hot
  encoded; a text column with more distinct values than ``max_categories`` (a name, an ID,
  free text) is left out with a note;
* missing values (an empty field, ``NA``, ``NaN``; more tokens with ``na_values``) are filled
  in by default: the training mean of a number, the most frequent training category of a
  text column, plus a 0/1 indicator column per column that had gaps (``missing="drop"`` drops
  such rows instead, ``"error"`` refuses them); rows whose *target* is missing are dropped;
* every feature is standardised with the training split's mean and std.

The target decides the task unless ``task`` is given: text, or integers with at most 20
distinct values, mean classification; anything else regression. Only the standard library
``csv`` module is used. Every problem with the file raises ``DataError`` naming the file, the
line and the column.
"""
from __future__ import annotations

import csv as _csv
import hashlib
import io
import math
import os
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import catalogue
from ..errors import ChainruleWarning, ConfigError, DataError, DatasetNotFoundError, open_for_reading
from .dataset import TensorDataset, train_test_indices
from .impute import Imputation
from .splits import DatasetSplits, standardize_stats

#: tokens that mean "missing" unless ``na_values`` says otherwise (compared case-insensitively);
#: ``none``, ``n/a``, ``null`` or ``?`` can be genuine values, so they count only when asked
DEFAULT_NA_VALUES = ("", "NA", "NaN")
#: what to do with rows that have missing feature values (described in the catalogue)
MISSING_POLICIES = catalogue.names(catalogue.MISSING_VALUES)
MAX_CATEGORIES = 20  # text feature columns with more distinct values are left out
MAX_AUTO_CLASSES = 20  # integer targets with at most this many values are class labels
#: a column whose present values are numbers at least this often is numeric with stray text
NUMERIC_SHARE = 0.9
_FLOAT32_MAX = float(np.finfo(np.float32).max)
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


def _na_set(na_values: Iterable[str] | None) -> frozenset[str]:
    if na_values is None:
        na_values = DEFAULT_NA_VALUES
    if isinstance(na_values, str) or not all(isinstance(v, str) for v in na_values):
        raise ConfigError(f"csv: na_values must be a list of strings such as ['', 'NA', '?'], got {na_values!r}")
    return frozenset(v.strip().lower() for v in na_values)


def _resolve_columns(path: Path, header: list[str], names: Iterable[str], what: str) -> set[int]:
    out = set()
    for name in names:
        if name not in header:
            raise DataError(f"{path}: {what}: no column named {name!r}; the columns are {', '.join(header)}")
        out.add(header.index(name))
    return out


def _check_float32(path: Path, line: int, name: str, text: str, v: float) -> None:
    if not math.isfinite(v):
        raise DataError(f"{path}, line {line}: value {text!r} in column {name!r} is not finite")
    if abs(v) > _FLOAT32_MAX:
        raise DataError(f"{path}, line {line}: value {text!r} in column {name!r} is beyond float32's range "
                        f"(±3.4e38); rescale the column (e.g. to other units)")


def _numeric(path: Path, rows: list[tuple[int, list[str]]], col: int, name: str,
             na: frozenset[str]) -> np.ndarray | None:
    """The column as float64 with NaN where a value is missing; None if it holds text.

    A column that is numbers but for a few values (at least ``NUMERIC_SHARE`` of its present
    values are numbers) is an error naming the first stray value: one-hot encoding it, or
    leaving it out, would silently change what the column means.
    """
    out = np.full(len(rows), np.nan)
    strays: list[tuple[int, str]] = []
    for i, (line, fields) in enumerate(rows):
        text = fields[col]
        if text.lower() in na:
            continue
        try:
            v = float(text)
        except ValueError:
            strays.append((line, text))
            continue
        _check_float32(path, line, name, text, v)
        out[i] = v
    if not strays:
        return out
    present = int(np.count_nonzero(~np.isnan(out))) + len(strays)
    if present and (present - len(strays)) / present >= NUMERIC_SHARE:
        line, text = strays[0]
        more = f" ({len(strays)} such values)" if len(strays) > 1 else ""
        raise DataError(f"{path}, line {line}: column {name!r} holds numbers but {text!r} here{more}; "
                        "correct the value, or blank it to have it filled in, or leave the column out "
                        "(--ignore)")
    return None


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


def _rows_digest(rows: list[tuple[int, list[str]]]) -> str:
    """A digest of the table's rows (not their line numbers): it tells ``evaluate`` whether a
    file holds the very rows a model's train/test split was drawn from."""
    h = hashlib.sha256()
    for _, fields in rows:
        h.update("\x1f".join(fields).encode("utf-8"))
        h.update(b"\x1e")
    return h.hexdigest()


def _drop_missing_targets(path: Path, rows: list[tuple[int, list[str]]], t: int, name: str,
                          na: frozenset[str], missing: str, notes: list[str]) -> list[tuple[int, list[str]]]:
    kept = [r for r in rows if r[1][t].lower() not in na]
    if len(kept) < len(rows):
        if missing == "error":
            line = next(line for line, f in rows if f[t].lower() in na)
            raise DataError(f"{path}, line {line}: the target {name!r} is missing; drop the row, or leave "
                            "out --missing error to have such rows dropped")
        notes.append(f"dropped {len(rows) - len(kept)} row(s) whose target {name!r} is missing")
    if not kept:
        raise DataError(f"{path}: every row's target {name!r} is missing")
    return kept


def _target(path: Path, rows: list[tuple[int, list[str]]], t: int, name: str, task: str | None,
            na: frozenset[str]) -> tuple[str, np.ndarray, list[str] | None]:
    """(task, y, class names): y ``(N,)`` int64 class indices or ``(N, 1)`` float32."""
    y_num = _numeric(path, rows, t, name, na)
    if task is None:
        is_int = y_num is not None and bool(np.all(np.floor(y_num) == y_num))
        small = is_int and y_num is not None and np.unique(y_num).size <= MAX_AUTO_CLASSES
        task = "classification" if y_num is None or small else "regression"
    if task == "regression":
        if y_num is None:
            line, bad = next((line, f[t]) for line, f in rows if not _is_number(f[t]))
            raise DataError(f"{path}, line {line}: target column {name!r} holds {bad!r}, not a number, "
                            "but task is 'regression'")
        return task, y_num.astype(np.float32).reshape(-1, 1), None
    if y_num is not None:
        values, y = np.unique(y_num, return_inverse=True)
        class_names = [_class_name(v) for v in values]
    else:
        values, y = np.unique(np.array([f[t] for _, f in rows]), return_inverse=True)
        class_names = [str(v) for v in values]
    if len(class_names) < 2:
        raise DataError(f"{path}: the target {name!r} has a single class ({class_names[0]!r}) in every row; "
                        "classification needs at least two")
    return task, y.astype(np.int64).reshape(-1), class_names


def _drop_incomplete_rows(path: Path, rows: list[tuple[int, list[str]]], cols: list[int], header: list[str],
                          na: frozenset[str], missing: str, notes: list[str]) -> list[tuple[int, list[str]]]:
    """Apply ``missing="error"``/``"drop"`` to the feature columns (``"impute"`` keeps every row)."""
    if missing == "impute":
        return rows
    gaps = [(line, c) for line, f in rows for c in cols if f[c].lower() in na]
    if not gaps:
        return rows
    if missing == "error":
        line, c = gaps[0]
        raise DataError(f"{path}, line {line}: missing value in column {header[c]!r} ({len(gaps)} in all); "
                        "fill them in, or use --missing impute (fill with the training mean / most frequent "
                        "value) or --missing drop")
    bad_lines = {line for line, _ in gaps}
    kept = [r for r in rows if r[0] not in bad_lines]
    notes.append(f"dropped {len(rows) - len(kept)} row(s) with missing feature values")
    if not kept:
        raise DataError(f"{path}: every row has a missing feature value; use --missing impute")
    return kept


def _features(path: Path, header: list[str], rows: list[tuple[int, list[str]]], cols: list[int],
              na: frozenset[str], max_categories: int, notes: list[str]
              ) -> tuple[np.ndarray, list[dict[str, Any]], list[str], Imputation | None]:
    """Raw features ``(N, D)`` float64 (NaN where missing), the column descriptions, the
    feature names and the imputation layout (None when no value is missing)."""
    blocks: list[np.ndarray] = []
    columns: list[dict[str, Any]] = []
    names: list[str] = []
    onehot_blocks: list[tuple[int, ...]] = []
    gaps: list[tuple[tuple[int, ...], int]] = []
    filled: list[str] = []
    width = 0
    for c in cols:
        name = header[c]
        col = _numeric(path, rows, c, name, na)
        if col is not None:
            block, feature_names = col[:, None], [name]
            spec: dict[str, Any] = {"name": name, "kind": "numeric"}
            missing = np.isnan(col)
        else:
            raw = [f[c] for _, f in rows]
            missing = np.array([v.lower() in na for v in raw])
            cats = sorted({v for v, m in zip(raw, missing) if not m})
            if len(cats) > max_categories:
                notes.append(f"left out column {name!r}: text with {len(cats)} distinct values (an ID, a name or "
                             f"free text?); --max-categories {len(cats)} would one-hot encode it")
                continue
            index = {v: i for i, v in enumerate(cats)}
            block = np.zeros((len(rows), len(cats)))
            present = np.flatnonzero(~missing)
            block[present, [index[raw[i]] for i in present]] = 1.0
            block[missing] = np.nan
            spec = {"name": name, "kind": "categorical", "categories": cats}
            feature_names = [f"{name}={v}" for v in cats]
            onehot_blocks.append(tuple(range(width, width + len(cats))))
        features = tuple(range(width, width + block.shape[1]))
        width += block.shape[1]
        if missing.any():  # an indicator feature: 1 where this column's value was missing
            block = np.concatenate([block, missing[:, None].astype(np.float64)], axis=1)
            spec["indicator"] = True
            feature_names.append(f"{name} missing")
            gaps.append((features, width))
            width += 1
            filled.append(f"{name} ({int(missing.sum())})")
        blocks.append(block)
        columns.append(spec)
        names.extend(feature_names)
    if not blocks:
        raise DataError(f"{path}: no usable feature column" + (f": {'; '.join(notes)}" if notes else
                                                              " (every one was ignored)"))
    if filled:
        notes.append(f"filled in missing values (training mean / most frequent value, plus a 0/1 'missing' "
                     f"column each): {', '.join(filled)}")
    imputation = (Imputation(blocks=tuple(onehot_blocks), gaps=tuple(gaps), fill=np.zeros(width))
                  if gaps else None)
    return np.concatenate(blocks, axis=1), columns, names, imputation


def csv(
    path: str | os.PathLike,
    target: str | int | None = None,
    task: str | None = None,
    test_fraction: float = 0.2,
    seed: int | None = 0,
    delimiter: str | None = None,
    max_categories: int = MAX_CATEGORIES,
    missing: str = "impute",
    na_values: Iterable[str] | None = None,
    ignore: Iterable[str] = (),
) -> DatasetSplits:
    """Load a CSV table with a header row as a dataset.

    ``target`` names the column to predict (name or index; default: the last column).
    ``task`` is ``"classification"``, ``"regression"`` or None (decide from the target).
    Rows are split into train/test (``test_fraction``, stratified for classification,
    deterministic given ``seed``). ``delimiter`` None sniffs among ``, ; tab |``.
    ``missing`` is ``"impute"`` (fill gaps from the training rows, add indicator columns),
    ``"drop"`` (drop rows with a missing feature) or ``"error"``; ``na_values`` lists the
    tokens that mean missing (default ``DEFAULT_NA_VALUES``: empty, ``NA``, ``NaN``; case is
    ignored). ``ignore`` names columns to leave out. Rows with a missing target are dropped.

    Returns X ``(N, D)`` float32 standardised with the *train* mean/std (``.mean``,
    ``.std``), y ``(N,)`` int64 class indices with ``class_names`` in label order, or
    ``(N, 1)`` float32 for regression. ``.columns`` records how each raw column became
    features and ``.imputation`` how gaps are filled, so :func:`read_features` can prepare
    new rows the same way; ``.notes`` says what was filled, dropped or left out.
    """
    p = Path(path)
    if task not in (None, "classification", "regression"):
        raise ConfigError(f"csv: task must be 'classification', 'regression' or None, got {task!r}")
    if missing not in MISSING_POLICIES:
        raise ConfigError(f"csv: missing must be one of {', '.join(MISSING_POLICIES)}, got {missing!r}")
    na = _na_set(na_values)
    header, rows, _ = _parse(p, _read_text(p), delimiter)
    t = _resolve_target(p, header, target)
    ignored = _resolve_columns(p, header, ignore, "--ignore")
    if t in ignored:
        raise ConfigError(f"csv: the target column {header[t]!r} cannot also be ignored")
    cols = [c for c in range(len(header)) if c != t and c not in ignored]
    if not cols:
        raise DataError(f"{p}: only the target column {header[t]!r}; at least one feature column is needed")
    notes: list[str] = []
    rows = _drop_missing_targets(p, rows, t, header[t], na, missing, notes)
    rows = _drop_incomplete_rows(p, rows, cols, header, na, missing, notes)
    x_raw, columns, feature_names, imputation = _features(p, header, rows, cols, na, max_categories, notes)
    task, y, class_names = _target(p, rows, t, header[t], task, na)

    tr, te = train_test_indices(len(rows), test_fraction, seed=seed, labels=y if task == "classification" else None)
    if imputation is not None:
        imputation = imputation.fitted(x_raw[tr])
        x_raw = imputation.apply(x_raw)
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
        imputation=imputation,
        notes=tuple(notes),
        split={"seed": seed, "test_fraction": float(test_fraction), "rows": len(rows), "digest": _rows_digest(rows),
               "missing": missing, "na_values": sorted(na), "ignore": sorted(header[c] for c in ignored),
               "target": header[t]},
    )


def _prepared_features(p: Path, header: list[str], rows: list[tuple[int, list[str]]], prep: Mapping[str, Any],
                       strict: bool) -> np.ndarray:
    """New rows' features, prepared exactly as the training table's (see :func:`read_features`)."""
    spec = prep.get("columns")
    if not spec:
        raise ConfigError("read_features: the preprocessing has no CSV column description (not from csv())")
    na = _na_set((prep.get("split") or {}).get("na_values"))
    absent = [c["name"] for c in spec if c["name"] not in header]
    if absent:
        raise DataError(f"{p}: missing feature column(s) {', '.join(map(repr, absent))}; "
                        f"the file has {', '.join(header)}")
    blocks = []
    unknown: dict[str, int] = {}
    for c in spec:
        col = header.index(c["name"])
        if c["kind"] == "numeric":
            values = _numeric(p, rows, col, c["name"], na)
            if values is None:
                line, bad = next((line, f[col]) for line, f in rows
                                 if f[col].lower() not in na and not _is_number(f[col]))
                raise DataError(f"{p}, line {line}: column {c['name']!r} holds {bad!r}, expected a number")
            block, missing = values[:, None], np.isnan(values)
        else:
            index = {v: i for i, v in enumerate(c["categories"])}
            block = np.zeros((len(rows), len(index)))
            missing = np.zeros(len(rows), bool)
            for i, (line, f) in enumerate(rows):
                v = f[col]
                if v.lower() in na:
                    missing[i] = True
                elif v in index:
                    block[i, index[v]] = 1.0
                elif strict:
                    raise DataError(f"{p}, line {line}: column {c['name']!r} holds {v!r}, not seen in training "
                                    f"(known: {', '.join(c['categories'])})")
                else:  # an unseen category: no one-hot bit set, as OneHotEncoder(handle_unknown="ignore")
                    unknown[c["name"]] = unknown.get(c["name"], 0) + 1
            block[missing] = np.nan
        if c.get("indicator"):
            block = np.concatenate([block, missing[:, None].astype(np.float64)], axis=1)
        blocks.append(block)
    if unknown:
        warnings.warn(f"{p}: categories not seen in training were encoded as all zeros: "
                      + ", ".join(f"{name} ({n} row(s))" for name, n in unknown.items())
                      + " (--strict refuses them)", ChainruleWarning, stacklevel=3)
    x = np.concatenate(blocks, axis=1)
    d = int(prep["num_features"])
    if x.shape[1] != d:
        raise DataError(f"{p}: the prepared rows have {x.shape[1]} features, but the model takes {d}")
    if np.isnan(x).any():
        imp = prep.get("imputation")
        if imp is not None:
            x = Imputation.from_json(imp, d).apply(x)
        else:  # the training table had no gaps: fill with the training means (the scaler's centre)
            x = np.where(np.isnan(x), np.asarray(prep["mean"], np.float64), x)
    mean = np.asarray(prep["mean"], np.float64)
    std = np.asarray(prep["std"], np.float64)
    return ((x - mean) / std).astype(np.float32)


def read_features(
    path: str | os.PathLike, like: DatasetSplits | Mapping[str, Any], delimiter: str | None = None,
    strict: bool = False,
) -> np.ndarray:
    """Prepare new rows of a CSV file exactly as the training table's features were.

    ``like`` is the ``DatasetSplits`` from :func:`csv` or its ``preprocessing()`` dict
    (as stored beside a model). The file needs a header with the same feature columns (in
    any order; the target column and extra columns are ignored). Missing values are filled
    as in training; a category not seen in training becomes an all-zero one-hot with a
    warning (``strict=True`` refuses it). Returns X ``(N, D)`` float32, standardised with
    the training mean/std. Non-numbers in numeric columns raise ``DataError`` naming the
    line and column.
    """
    prep = like.preprocessing() if isinstance(like, DatasetSplits) else dict(like)
    p = Path(path)
    header, rows, _ = _parse(p, _read_text(p), delimiter)
    return _prepared_features(p, header, rows, prep, strict)


@dataclass(frozen=True)
class Examples:
    """Rows of a CSV table prepared for a model, with their targets (see :func:`read_examples`)."""

    x: np.ndarray
    y: np.ndarray
    description: str
    held_out: bool | None


def read_examples(
    path: str | os.PathLike, like: DatasetSplits | Mapping[str, Any], target: str | None = None,
    rows: str = "held-out", delimiter: str | None = None, strict: bool = False,
) -> Examples:
    """Features and targets of a CSV table, to score a model trained on (a version of) it.

    ``rows="held-out"`` keeps only the rows the model never trained on, when the file is the
    very table it was trained from (same rows, checked by a digest): the train/test split is
    drawn again with the stored seed and fraction. For any other file every row is unseen
    and is scored. ``rows="all"`` scores every row. Rows whose target is missing are
    skipped. Returns :class:`Examples` with ``x`` ``(N, D)`` float32, ``y`` ``(N,)`` int64 or
    ``(N, 1)`` float64, a one-line description, and ``held_out`` (False when training rows are
    included, None when unknown).
    """
    if rows not in ("held-out", "all"):
        raise ConfigError(f"read_examples: rows must be 'held-out' or 'all', got {rows!r}")
    prep = like.preprocessing() if isinstance(like, DatasetSplits) else dict(like)
    p = Path(path)
    header, table, _ = _parse(p, _read_text(p), delimiter)
    split: Mapping[str, Any] = prep["split"] if isinstance(prep.get("split"), dict) else {}
    name = target or prep.get("target_name")
    if name not in header:
        raise DataError(f"{p}: no target column {name!r} to score against (give it with --target COL)")
    t = header.index(name)
    na = _na_set(split.get("na_values"))
    total = len(table)
    table = [r for r in table if r[1][t].lower() not in na]
    if len(table) < total:
        description_skipped = f"; {total - len(table)} row(s) whose target is missing skipped"
    else:
        description_skipped = ""
    if not table:
        raise DataError(f"{p}: every row's target {name!r} is missing")
    if split.get("missing") == "drop":
        needed = [header.index(c["name"]) for c in prep.get("columns") or [] if c["name"] in header]
        table = [r for r in table if not any(r[1][c].lower() in na for c in needed)]
    y = _targets(p, table, t, name, prep)
    same_table = split.get("digest") == _rows_digest(table)
    held_out: bool | None = True
    if rows == "all":
        held_out = False if same_table else None
        description = f"{p.name}: all {len(table)} rows" + (" (training rows included)" if same_table else "")
    elif same_table:
        _, te = train_test_indices(len(table), float(split["test_fraction"]), seed=split.get("seed"),
                                   labels=y if prep.get("task") == "classification" else None)
        te = np.sort(te)
        table, y = [table[i] for i in te], y[te]
        description = f"{p.name}: the {len(te)} held-out test rows (never trained on)"
    else:
        description = f"{p.name}: all {len(table)} rows (not the table the model was trained on)"
        held_out = None
    x = _prepared_features(p, header, table, prep, strict)
    return Examples(x=x, y=y, description=description + description_skipped, held_out=held_out)


def read_targets(path: str | os.PathLike, prep: Mapping[str, Any], target: str | None = None,
                 delimiter: str | None = None) -> np.ndarray:
    """The target column of a CSV file as the model's class indices ``(N,)`` or floats ``(N, 1)``
    (every row; ``target`` defaults to the model's target column)."""
    p = Path(path)
    header, table, _ = _parse(p, _read_text(p), delimiter)
    name = target or prep.get("target_name")
    if name not in header:
        raise DataError(f"{p}: no target column {name!r} to score against (give it with --target COL)")
    return _targets(p, table, header.index(name), name, prep)


def _targets(p: Path, table: list[tuple[int, list[str]]], t: int, name: str, prep: Mapping[str, Any]) -> np.ndarray:
    """The target column as class indices (the model's class order) or floats ``(N, 1)``."""
    if prep.get("task") == "regression":
        out = np.empty((len(table), 1))
        for i, (line, f) in enumerate(table):
            try:
                out[i, 0] = float(f[t])
            except ValueError:
                raise DataError(f"{p}, line {line}: target {name!r} holds {f[t]!r}, expected a number") from None
            _check_float32(p, line, name, f[t], out[i, 0])
        return out
    classes = {str(n): i for i, n in enumerate(prep.get("class_names") or [])}
    labels = np.empty(len(table), np.int64)
    for i, (line, f) in enumerate(table):
        key = f[t]
        if key not in classes and _is_number(key) and float(key).is_integer():
            key = str(int(float(key)))  # 1.0 written for class "1"
        if key not in classes:
            raise DataError(f"{p}, line {line}: target {name!r} holds {f[t]!r}, not one of the model's classes "
                            f"({', '.join(classes)})")
        labels[i] = classes[key]
    return labels


__all__ = ["csv", "read_features", "read_examples", "read_targets", "Examples", "DEFAULT_NA_VALUES", "MISSING_POLICIES"]
