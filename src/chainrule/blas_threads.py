"""OpenBLAS's idle worker threads park soon after a product once chainrule runs threads of its own.

After each threaded matrix product, OpenBLAS's worker threads busy-wait for the next one, by
default for 2^28 CPU cycles (about 0.1 s). A CNN's training step alternates products with
elementwise work (ReLU, pooling, the im2col copy), which chainrule splits over its own threads
(``parallel.py``); the step is 25 ms, so OpenBLAS's workers never stop spinning, and they hold
the other core exactly when chainrule's thread needs it: the scheduler then puts both of
chainrule's threads on one core, and the split gains nothing. PyTorch avoids this by running
everything on one thread pool.

OpenBLAS reads the spin time from ``OPENBLAS_THREAD_TIMEOUT`` (2^n cycles, n in 4..30) when
it loads, which is usually before chainrule is imported (NumPy loads it). So chainrule sets the
variable for a moment, asks OpenBLAS to read its environment again (``openblas_read_env``) and
stops its thread server (``blas_thread_shutdown_``); the next threaded product starts the
server again with the new time, and then the environment is as it was.

This is done once, when chainrule is about to start its own threads (``parallel._pool``, the
first time a large op is split), and not at import: a process whose work is never split (an
MLP's batches are too small) keeps OpenBLAS's long spin, which it wants, since its products
come every few tens of microseconds with bookkeeping in between and a parked worker costs a
wake-up (40 µs on the MNIST MLP's first backward product). Skipped when NumPy's OpenBLAS does
not export the two functions (NumPy's own wheels do), when the user set
``OPENBLAS_THREAD_TIMEOUT`` themselves or ``CHAINRULE_BLAS_SPIN=default``, and when other
threads are running (stopping the server under a running product is not safe). So chainrule's
own helper threads start after the first split (the ``TensorBoard`` callback's writer, at the
first epoch's end) or park first (an MPI rank's watchdog, in ``distributed.init``). In a
Jupyter kernel, whose own threads always run, the workers are never parked.

``single_threaded_blas()`` holds OpenBLAS to one thread for a while, for work that chainrule
splits over its own threads with products inside each slice (``parallel.over_batch(...,
products=True)``): each thread then runs its products on its own core.
"""
from __future__ import annotations

import ctypes
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

TIMEOUT_EXPONENT = 18  # workers spin for 2^18 cycles (about 0.1 ms), then sleep


def _openblas_libraries() -> list[str]:
    """Paths of the OpenBLAS libraries this process has loaded (Linux)."""
    try:
        with open("/proc/self/maps") as f:
            return sorted({line.split()[-1] for line in f
                           if "openblas" in line.rsplit("/", 1)[-1].lower()})
    except OSError:
        return []


def _loaded_openblas() -> list[ctypes.CDLL]:
    """Handles on the OpenBLAS libraries NumPy has loaded (Linux; none elsewhere or when
    NumPy's BLAS is another)."""
    if not sys.platform.startswith("linux"):
        return []
    import numpy as np
    np.dot(np.ones(2), np.ones(2))  # NumPy's BLAS is loaded by now
    handles = []
    for path in _openblas_libraries():
        try:
            handles.append(ctypes.CDLL(path))
        except OSError:
            continue
    return handles


def park_idle_blas_threads() -> bool:
    """Shorten OpenBLAS's spin as described above; True when it was applied. Call it before
    starting threads: with another thread running it does nothing."""
    if os.environ.get("CHAINRULE_BLAS_SPIN") == "default":
        return False
    if "OPENBLAS_THREAD_TIMEOUT" in os.environ or threading.active_count() > 1:
        return False
    for lib in _loaded_openblas():
        read_env, shutdown = getattr(lib, "openblas_read_env", None), getattr(lib, "blas_thread_shutdown_", None)
        if read_env is None or shutdown is None:
            continue
        read_env.argtypes, read_env.restype = [], None
        shutdown.argtypes, shutdown.restype = [], ctypes.c_int
        os.environ["OPENBLAS_THREAD_TIMEOUT"] = str(TIMEOUT_EXPONENT)
        try:
            read_env()
        finally:
            del os.environ["OPENBLAS_THREAD_TIMEOUT"]
        shutdown()
        return True
    return False


class _ThreadCount:
    """OpenBLAS's process-wide thread count (``openblas_get/set_num_threads``, under the
    prefixed, suffixed names of NumPy's wheels too); ``get``/``set`` are ``None`` when NumPy's
    BLAS is not OpenBLAS or cannot be found."""

    _NAMES = (("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
              ("scipy_openblas_get_num_threads", "scipy_openblas_set_num_threads"),
              ("openblas_get_num_threads64_", "openblas_set_num_threads64_"),
              ("openblas_get_num_threads", "openblas_set_num_threads"))

    def __init__(self) -> None:
        self.get: Any = None
        self.set: Any = None
        self.users = 0  # regions holding OpenBLAS at one thread, and the count before them
        self.saved = 1
        self.lock = threading.Lock()
        for lib in _loaded_openblas():
            for get_name, set_name in self._NAMES:
                getter, setter = getattr(lib, get_name, None), getattr(lib, set_name, None)
                if getter is not None and setter is not None:
                    getter.argtypes, getter.restype = [], ctypes.c_int
                    setter.argtypes, setter.restype = [ctypes.c_int], None
                    self.get, self.set = getter, setter
                    return


_count: _ThreadCount | None = None


def _thread_count() -> _ThreadCount:
    global _count
    if _count is None:
        _count = _ThreadCount()
    return _count


def blas_thread_count_settable() -> bool:
    """True when chainrule can hold NumPy's BLAS (OpenBLAS) to one thread for a while."""
    return _thread_count().set is not None


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """OpenBLAS at one thread inside (so that chainrule's own threads can each run products on
    their own core), its previous count back when the last of overlapping regions leaves.
    Setting the count is a store of one integer in OpenBLAS (about a microsecond)."""
    count = _thread_count()
    assert count.get is not None and count.set is not None, "check blas_thread_count_settable()"
    with count.lock:
        if count.users == 0:
            count.saved = count.get()
            count.set(1)
        count.users += 1
    try:
        yield
    finally:
        with count.lock:
            count.users -= 1
            if count.users == 0:
                count.set(count.saved)


def set_blas_threads(n: int) -> bool:
    """Set OpenBLAS's thread count for the rest of the process (``openblas_set_num_threads``);
    False when NumPy's BLAS is not an OpenBLAS chainrule can reach. Under a
    :func:`single_threaded_blas` region the count applies when the last region leaves."""
    count = _thread_count()
    if count.set is None:
        return False
    with count.lock:
        if count.users:
            count.saved = n
        else:
            count.set(n)
    return True


def blas_threads() -> int | None:
    """OpenBLAS's thread count now (None when it cannot be read)."""
    count = _thread_count()
    return int(count.get()) if count.get is not None else None
