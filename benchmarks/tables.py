"""chainrule's out-of-the-box CSV recipe against scikit-learn on real public tables.

Each table is scored by 5-fold cross-validation, as a user would run it with no tuning:

    chainrule train --csv TABLE --target COL --cv 5 [--ignore COLS]

against the best of two scikit-learn models, each behind the textbook preparation
(``SimpleImputer(add_indicator=True)`` + ``StandardScaler`` for numbers,
``SimpleImputer(most_frequent)`` + ``OneHotEncoder(handle_unknown="ignore")`` for text):
``LogisticRegression`` / ``MLPClassifier`` for classification (accuracy), ``RidgeCV`` /
``MLPRegressor`` (target standardised) for regression (R²). Both sides are scored on the
very same 5 folds (chainrule's, stratified for classification; scikit-learn is given their
row indices) and summarised the same way, as scikit-learn's ``cross_val_score`` does: the
mean of the 5 per-fold scores (chainrule's own output pools every row instead). On a small
table the folds matter as much as the model: on Hitters (263 salaries, 53 per fold)
scikit-learn's MLP scores 0.588 on its own folds and 0.446 on chainrule's. Rows with a
missing target are dropped by both. Columns that leak the target (``logwage`` beside
``wage``) or are row IDs are ignored by both.

The tables come from two maintained wheels, installed without their dependencies (only their
data files are read; nothing of theirs is imported):

    pip install --no-deps islp palmerpenguins    # ISLP's data (BSD-2), penguins (CC0)
    pip install scikit-learn pandas
    python benchmarks/tables.py [--tables penguins,Auto] [--repeats 3] [--markdown]

It prints one row per table: rows, columns, task, chainrule's score, the two scikit-learn
scores, and chainrule minus the best of them.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Table:
    name: str
    package: str  # the wheel whose data folder holds the CSV
    file: str
    target: str
    task: str  # classification | regression
    ignore: tuple[str, ...] = ()
    note: str = ""


TABLES = (
    Table("penguins", "palmerpenguins", "penguins.csv", "species", "classification",
          note="344 penguins, 7 columns, gaps in 5 of them"),
    Table("Default", "ISLP", "Default.csv", "default", "classification",
          note="10 000 card holders, 3.3 % default: imbalanced"),
    Table("OJ", "ISLP", "OJ.csv", "Purchase", "classification", note="orange-juice brand choice"),
    Table("College", "ISLP", "College.csv", "Private", "classification", note="private or public US college"),
    Table("Caravan", "ISLP", "Caravan.csv", "Purchase", "classification",
          note="5822 customers, 85 features, 6 % buy: imbalanced"),
    Table("Auto", "ISLP", "Auto.csv", "mpg", "regression", note="car fuel economy; 'name' is an identifier"),
    Table("Carseats", "ISLP", "Carseats.csv", "Sales", "regression", note="child car-seat sales"),
    Table("Credit", "ISLP", "Credit.csv", "Balance", "regression", ignore=("ID",), note="card balance"),
    Table("Hitters", "ISLP", "Hitters.csv", "Salary", "regression",
          note="baseball salaries; 59 of 322 salaries missing"),
    Table("Wage", "ISLP", "Wage.csv", "wage", "regression", ignore=("logwage",),
          note="3000 workers; logwage would leak the target"),
)


def table_path(t: Table) -> Path | None:
    spec = importlib.util.find_spec(t.package)  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / t.file
    return path if path.is_file() else None


def chainrule_score(t: Table, path: Path, folds: int, cv_seed: int = 0) -> tuple[float, float]:
    """chainrule's cross-validated score (accuracy or R², the mean of the per-fold scores, as
    scikit-learn's ``cross_val_score``) and the seconds it took."""
    from chainrule.cli import main

    with tempfile.TemporaryDirectory() as out:
        argv = ["train", "--csv", str(path), "--target", t.target, "--cv", str(folds), "--cv-seed", str(cv_seed),
                "--quiet", "--out", os.path.join(out, "run")]
        if t.ignore:
            argv += ["--ignore", ",".join(t.ignore)]
        start = time.perf_counter()
        code = main(argv)
        seconds = time.perf_counter() - start
        if code != 0:
            raise SystemExit(f"tables: chainrule train failed on {t.name} (exit {code})")
        metrics = json.loads(Path(out, "run", "metrics.json").read_text())
    per_fold = metrics["evaluation"]["fold_test_accuracy" if t.task == "classification" else "fold_test_r2"]
    return sum(per_fold) / len(per_fold), seconds


def chainrule_folds(t: Table, path: Path, folds: int, cv_seed: int = 0) -> list[tuple[list[int], list[int]]]:
    """The (train, test) row numbers of the folds ``chainrule train --cv`` uses, counted over the
    table's rows whose target is present, in file order (as ``DataFrame.dropna`` leaves them)."""
    import numpy as np

    from chainrule.data import csv, train_test_indices
    from chainrule.data.tabular import read_examples

    ds = csv(path, target=t.target, ignore=t.ignore)
    y = read_examples(path, ds, rows="all").y  # file order, rows with a missing target skipped
    tr, te = train_test_indices(len(y), ds.split["test_fraction"], seed=ds.split["seed"],
                                labels=y if t.task == "classification" else None)
    order = np.concatenate([tr, te])  # cross-validation pools the train split, then the test split
    pooled_y = np.concatenate([ds.train.arrays[1], ds.test.arrays[1]])
    if not np.allclose(np.asarray(y, np.float64)[order].ravel(), np.asarray(pooled_y, np.float64).ravel()):
        raise SystemExit(f"tables: {t.name}: could not line up chainrule's rows with the file's")
    return [(sorted(order[a].tolist()), sorted(order[b].tolist()))
            for a, b in ds.cross_validation(folds, seed=cv_seed).indices]


def sklearn_scores(t: Table, path: Path, folds: list[tuple[list[int], list[int]]]) -> dict[str, float]:
    """Cross-validated scores (the mean over ``folds``, pairs of row numbers) of scikit-learn's
    linear model and MLP with the textbook preparation."""
    import numpy as np
    import pandas as pd
    from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression, RidgeCV
    from sklearn.model_selection import cross_val_score
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    frame = pd.read_csv(path, keep_default_na=False, na_values=["", "NA", "NaN"])
    frame = frame.dropna(subset=[t.target]).reset_index(drop=True)
    y = frame[t.target].to_numpy()
    x = frame.drop(columns=[t.target, *t.ignore])
    numeric = [c for c in x.columns if pd.api.types.is_numeric_dtype(x[c])]
    text = [c for c in x.columns if c not in numeric]
    # as chainrule: text columns with more than 20 distinct values (names, IDs) are left out
    text = [c for c in text if x[c].nunique() <= 20]
    prepare = ColumnTransformer([
        ("numbers", make_pipeline(SimpleImputer(add_indicator=True), StandardScaler()), numeric),
        ("text", make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")),
         text),
    ])
    if t.task == "classification":
        models = {"linear": LogisticRegression(max_iter=2000), "mlp": MLPClassifier(max_iter=1000, random_state=0)}
        scoring = "accuracy"
    else:
        models = {"linear": RidgeCV(alphas=np.logspace(-3, 3, 13)),
                  "mlp": TransformedTargetRegressor(MLPRegressor(max_iter=2000, random_state=0),
                                                    transformer=StandardScaler())}
        scoring = "r2"
        y = y.astype(float)
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence warnings of the defaults, as a user would see them
        for name, model in models.items():
            out[name] = float(np.mean(cross_val_score(make_pipeline(prepare, model), x, y, cv=folds,
                                                      scoring=scoring)))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tables", default=None, help="comma-separated table names (default: all)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=1,
                        help="average over this many fold assignments (chainrule's --cv-seed 0, 1, ...), both "
                             "sides on the same folds; a small table's score moves by several hundredths with them")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args()
    wanted = set(args.tables.split(",")) if args.tables else None
    rows = []
    for t in TABLES:
        if wanted and t.name not in wanted:
            continue
        path = table_path(t)
        if path is None:
            print(f"tables: {t.name}: {t.package} is not installed (pip install --no-deps {t.package.lower()})",
                  file=sys.stderr)
            continue
        ours, seconds, theirs = 0.0, 0.0, {"linear": 0.0, "mlp": 0.0}
        for cv_seed in range(args.repeats):
            score, took = chainrule_score(t, path, args.folds, cv_seed)
            ours, seconds = ours + score / args.repeats, seconds + took
            for name, value in sklearn_scores(t, path, chainrule_folds(t, path, args.folds, cv_seed)).items():
                theirs[name] += value / args.repeats
        best = max(theirs.values())
        n_rows = sum(1 for _ in path.open(encoding="utf-8")) - 1
        rows.append((t, n_rows, ours, theirs, best, seconds))
        print(f"{t.name:9s} {t.task:14s} rows {n_rows:5d}  chainrule {ours:.4f}  sklearn linear "
              f"{theirs['linear']:.4f}  mlp {theirs['mlp']:.4f}  difference {ours - best:+.4f}  ({seconds:.1f} s)",
              flush=True)
    if args.markdown:
        metric = {"classification": "accuracy", "regression": "R²"}
        print("\n| table | rows | task (metric) | chainrule | scikit-learn linear | scikit-learn MLP | "
              "chainrule − best |")
        print("| --- | ---: | --- | ---: | ---: | ---: | ---: |")
        for t, n, ours, theirs, best, _ in rows:
            print(f"| {t.name} | {n} | {t.task} ({metric[t.task]}) | {ours:.4f} | {theirs['linear']:.4f} | "
                  f"{theirs['mlp']:.4f} | {ours - best:+.4f} |")
    within = sum(1 for _t, _n, ours, _theirs, best, _s in rows if ours >= best - 0.02)
    print(f"\nwithin 0.02 of scikit-learn's best on {within} of {len(rows)} tables")
    return 0


if __name__ == "__main__":
    sys.exit(main())
