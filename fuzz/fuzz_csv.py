"""Fuzz ``chainrule.data.csv`` (and ``read_features`` on the same file).

An input is one option byte followed by the file's bytes. Option bits: 0-1 target
(None, 0, -1, ``"y"``); 2-3 task (None, classification, regression, None); 4 also call
``read_features(path, like=result)``; 5-6 test_fraction (0.2, 0.5, 0.0, 0.9);
7 delimiter ``","`` instead of sniffing.

    python fuzz/fuzz_csv.py --seconds 600
"""
from __future__ import annotations

from pathlib import Path

from _formats import csv_seeds, mutate_csv
from _harness import Target, main


def options(flags: int) -> dict:
    return {
        "target": (None, 0, -1, "y")[flags & 3],
        "task": (None, "classification", "regression", None)[(flags >> 2) & 3],
        "test_fraction": (0.2, 0.5, 0.0, 0.9)[(flags >> 5) & 3],
        "delimiter": "," if flags & 0x80 else None,
    }


def run(data: bytes, scratch: Path) -> object:
    from chainrule.data import csv, read_features

    flags = data[0] if data else 0
    p = scratch / "input.csv"
    p.write_bytes(data[1:])
    ds = csv(p, **options(flags))
    if flags & 0x10:
        x = read_features(p, like=ds, delimiter="," if flags & 0x80 else None)
        return ds, x
    return ds


TARGET = Target(name="csv", suffix=".csv", seeds=csv_seeds, run=run, mutate=mutate_csv)

if __name__ == "__main__":
    main(TARGET)
