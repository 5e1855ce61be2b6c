"""Every input the fuzzers (fuzz/fuzz_*.py) ever flagged, replayed through its loader, plus a
short hypothesis fuzz per loader built from the same seeds and format-aware mutations.

The contract (DESIGN.md §3): a loader given any bytes either returns or raises a
``ChainruleError``; never another exception, never code from the file. ``run_one`` reports
anything else as ``failed`` with the traceback.
"""
from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "fuzz_corpus"
sys.path.insert(0, str(ROOT / "fuzz"))

import fuzz_csv  # noqa: E402
import fuzz_load  # noqa: E402
import fuzz_mnist  # noqa: E402
import fuzz_read_idx  # noqa: E402
from _harness import mutate_bytes, run_one  # noqa: E402

TARGETS = {t.name: t for t in (fuzz_read_idx.TARGET, fuzz_mnist.TARGET, fuzz_csv.TARGET, fuzz_load.TARGET)}
# a hang guard for one input, far above what any input needs; not a speed test
SLOW = 60.0


def _check(target, data: bytes, scratch: Path, label: str) -> None:
    outcome, key, detail, _ = run_one(target, data, scratch, SLOW)
    assert outcome in ("passed", "rejected"), f"{label}: {key}\n{detail}"


def _corpus_files():
    files = []
    for d in sorted(CORPUS.iterdir()) if CORPUS.is_dir() else []:
        if d.name in TARGETS:
            files += [pytest.param(d.name, f, id=f"{d.name}/{f.name}") for f in sorted(d.iterdir()) if f.is_file()]
    return files


def test_every_corpus_folder_has_a_loader():
    unknown = [d.name for d in CORPUS.iterdir() if d.is_dir() and d.name not in TARGETS] if CORPUS.is_dir() else []
    assert not unknown, f"tests/fuzz_corpus/ folders without a loader: {unknown}"


@pytest.mark.parametrize("loader,path", _corpus_files())
def test_corpus_input_raises_only_chainrule_error(loader, path, tmp_path):
    _check(TARGETS[loader], path.read_bytes(), tmp_path, str(path))


@pytest.mark.parametrize("loader", sorted(TARGETS))
def test_seed_inputs_load_or_raise_chainrule_error(loader, tmp_path):
    target = TARGETS[loader]
    for i, seed in enumerate(target.seeds()):
        _check(target, seed, tmp_path, f"{loader} seed {i}")


_SEEDS = {name: t.seeds() for name, t in TARGETS.items()}


@pytest.mark.parametrize("loader", sorted(TARGETS))
@settings(max_examples=100, deadline=None, derandomize=False,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_seeds_raise_only_chainrule_error(loader, data, tmp_path):
    target = TARGETS[loader]
    seeds = _SEEDS[loader]
    x = seeds[data.draw(st.integers(0, len(seeds) - 1), label="seed")]
    rng = random.Random(data.draw(st.integers(0, 2**32 - 1), label="rng"))
    for _ in range(data.draw(st.integers(1, 6), label="rounds")):
        if target.mutate is not None and rng.random() < 0.6:
            x = target.mutate(x, rng, seeds)
        else:
            x = mutate_bytes(x, rng, seeds)
    _check(target, x[: target.max_len], tmp_path, f"{loader} mutant {x[:64]!r}...")
