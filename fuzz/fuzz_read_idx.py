"""Fuzz ``chainrule.data.read_idx`` (raw and gzipped IDX files).

    python fuzz/fuzz_read_idx.py --seconds 600     # see fuzz/_harness.py for the options
"""
from __future__ import annotations

from pathlib import Path

from _formats import idx_seeds, mutate_idx
from _harness import Target, main


def run(data: bytes, scratch: Path) -> object:
    from chainrule.data import read_idx

    p = scratch / "input.idx"
    p.write_bytes(data)
    return read_idx(p)


TARGET = Target(name="read_idx", suffix=".idx", seeds=idx_seeds, run=run, mutate=mutate_idx)

if __name__ == "__main__":
    main(TARGET)
