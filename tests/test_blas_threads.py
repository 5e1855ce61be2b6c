"""chainrule.blas_threads: OpenBLAS's idle workers park soon after a product once chainrule
starts threads of its own, unless told not to.

Each case imports chainrule in a fresh interpreter (OpenBLAS's spin time is process-wide) and
asks OpenBLAS for the spin exponent it will use (``openblas_thread_timeout``) after import and
after chainrule's first split of an op over its threads."""
import os
import subprocess
import sys

import pytest

from chainrule.blas_threads import TIMEOUT_EXPONENT, _openblas_libraries

PROBE = """
import ctypes, os, numpy as np
np.dot(np.ones(2), np.ones(2))
import chainrule
from chainrule.blas_threads import _openblas_libraries
from chainrule.parallel import MIN_PARALLEL_ELEMENTS, over_batch
lib = ctypes.CDLL(_openblas_libraries()[0])
a = np.ones((256, 256), dtype=np.float32)  # large enough for OpenBLAS to thread it
after_import = lib.openblas_thread_timeout()
(a @ a).sum()
chainrule.set_num_threads(2)
over_batch(lambda s: None, 2, MIN_PARALLEL_ELEMENTS)  # a split: chainrule's threads start
print(after_import, lib.openblas_thread_timeout(), os.environ.get("OPENBLAS_THREAD_TIMEOUT"),
      (a @ a).sum())
"""

openblas = pytest.mark.skipif(not sys.platform.startswith("linux") or not _openblas_libraries(),
                              reason="NumPy's BLAS here is not OpenBLAS on Linux")


def probe(**env):
    base = {k: v for k, v in os.environ.items()
            if k not in ("OPENBLAS_THREAD_TIMEOUT", "CHAINRULE_BLAS_SPIN")}
    out = subprocess.run([sys.executable, "-c", PROBE], env={**base, **env}, capture_output=True,
                         text=True, check=True)
    after_import, after_split, env_after, total = out.stdout.split()
    return int(after_import), int(after_split), env_after, float(total)


@openblas
def test_importing_chainrule_leaves_openblas_spin_as_it_was():
    after_import, _, _, _ = probe()
    assert after_import != TIMEOUT_EXPONENT


@openblas
def test_chainrules_first_split_shortens_openblas_spin_and_restores_the_environment():
    _, after_split, env_after, total = probe()
    assert after_split == TIMEOUT_EXPONENT
    assert env_after == "None"          # the variable was set only while OpenBLAS read it
    assert total == 256.0 ** 3           # threaded products still right after the server restarts


@openblas
def test_a_users_own_openblas_thread_timeout_wins():
    after_import, after_split, env_after, _ = probe(OPENBLAS_THREAD_TIMEOUT="12")
    assert (after_import, after_split, env_after) == (12, 12, "12")


@openblas
def test_chainrule_blas_spin_default_leaves_openblas_alone():
    _, after_split, _, _ = probe(CHAINRULE_BLAS_SPIN="default")
    assert after_split != TIMEOUT_EXPONENT


@openblas
def test_set_blas_threads_inside_a_single_threaded_region_applies_when_it_leaves():
    from chainrule.blas_threads import blas_threads, set_blas_threads, single_threaded_blas

    before = blas_threads()
    try:
        with single_threaded_blas():
            assert set_blas_threads(2)
            assert blas_threads() == 1
        assert blas_threads() == 2
        assert set_blas_threads(1) and blas_threads() == 1
    finally:
        set_blas_threads(before)
