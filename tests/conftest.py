"""Shared test configuration: the hypothesis profile, the optional PyTorch oracle, data paths,
the benchmark scripts' loader, and generic hypothesis strategies (importable as ``from conftest import ...``).

Profiles (choose with ``HYPOTHESIS_PROFILE=<name> pytest``):

* ``ci`` (default): 25 examples per test, no deadline (a loaded machine does not flake), and
  derandomized, so every run draws the same examples and a red build is reproducible.
* ``dev``: 10 random examples, quicker.
* ``explore``: 300 random examples, for hunting bugs (slow).
"""
from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

# tests/ is a package (so tests/io cannot shadow the standard library's io); this alias keeps
# ``from conftest import ...`` working in test modules.
sys.modules.setdefault("conftest", sys.modules[__name__])


MNIST_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"

_QUIET = [HealthCheck.too_slow]
settings.register_profile("ci", deadline=None, max_examples=25, derandomize=True,
                          suppress_health_check=_QUIET)
settings.register_profile("dev", deadline=None, max_examples=10, suppress_health_check=_QUIET)
settings.register_profile("explore", deadline=None, max_examples=300,
                          suppress_health_check=_QUIET)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def torch():
    """The ``torch`` module, or skip the test when PyTorch is not installed."""
    return pytest.importorskip("torch")


@pytest.fixture
def mnist_dir() -> Path:
    """The shared MNIST directory beside the checkout, or skip when it is absent."""
    if not MNIST_DIR.is_dir():
        pytest.skip(f"MNIST files not found in {MNIST_DIR}")
    return MNIST_DIR


def load_benchmark(name: str) -> ModuleType:
    """``benchmarks/<name>.py`` imported as the module ``name`` (the scripts are not a package:
    they run as ``python benchmarks/NAME.py``)."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


# ----------------------------------------------------------------------------- strategies
def shapes(min_dims: int = 0, max_dims: int = 3, min_side: int = 1, max_side: int = 4):
    """Array shapes, small enough for element-by-element finite differences."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side,
                            max_side=max_side)


def broadcastable_shapes(num_shapes: int = 2, min_dims: int = 0, max_dims: int = 3,
                         max_side: int = 4):
    """Tuples of ``num_shapes`` shapes that broadcast together (size-1 and missing dims)."""
    return hnp.mutually_broadcastable_shapes(
        num_shapes=num_shapes, min_dims=min_dims, max_dims=max_dims, max_side=max_side
    ).map(lambda r: r.input_shapes)


def floats64(shape, lo: float = -3.0, hi: float = 3.0, gap: float = 0.0,
             avoid: tuple[float, ...] = (0.0,)):
    """float64 arrays with values in [lo, hi]; with ``gap > 0`` every value keeps at least
    ``gap`` away from each point in ``avoid`` (kinks such as 0 for relu and abs)."""
    elements = st.floats(lo, hi, allow_nan=False, allow_infinity=False)
    if gap > 0:
        elements = elements.filter(lambda v: all(abs(v - a) >= gap for a in avoid))
    return hnp.arrays(np.float64, shape, elements=elements)


def distinct64(shape, lo: float = -3.0, hi: float = 3.0):
    """float64 arrays whose values are pairwise well apart (no ties, so max, min, maximum
    and sorting-like ops are differentiable there), in random order, within [lo, hi]."""
    size = int(np.prod(shape)) if len(shape) else 1

    def build(seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        step = (hi - lo) / size
        values = lo + rng.permutation(size) * step + rng.uniform(0, step / 2, size)
        return values.reshape(shape)

    return st.integers(0, 2**32 - 1).map(build)
