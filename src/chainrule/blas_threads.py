"""OpenBLAS's idle worker threads park soon after a product instead of spinning for 0.1 s.

After each threaded matrix product, OpenBLAS's worker threads busy-wait for the next one, by
default for 2^28 CPU cycles (about 0.1 s). A training step alternates products with
elementwise work (ReLU, pooling, the im2col copy), which chainrule splits over its own threads
(``parallel.py``); a CNN step is 25 ms, so OpenBLAS's workers never stop spinning, and they
hold the other core exactly when chainrule's thread needs it: the scheduler then puts both of
chainrule's threads on one core, and the split gains nothing. PyTorch avoids this by running
everything on one thread pool.

OpenBLAS reads the spin time from ``OPENBLAS_THREAD_TIMEOUT`` (2^n cycles, n in 4..30) when
it loads, which is usually before chainrule is imported (NumPy loads it). So chainrule sets the
variable for a moment, asks OpenBLAS to read its environment again (``openblas_read_env``) and
stops its thread server (``blas_thread_shutdown_``); the next threaded product starts the
server again with the new time, and then the environment is as it was. Applied once at
``import chainrule`` when NumPy's OpenBLAS exports those two functions (NumPy's own wheels do);
left alone when the user set ``OPENBLAS_THREAD_TIMEOUT`` themselves, or set
``CHAINRULE_BLAS_SPIN=default``, or when other threads are already running (stopping the
server under a running product is not safe).
"""
from __future__ import annotations

import ctypes
import os
import sys
import threading

TIMEOUT_EXPONENT = 18  # workers spin for 2^18 cycles (about 0.1 ms), then sleep


def _openblas_libraries() -> list[str]:
    """Paths of the OpenBLAS libraries this process has loaded (Linux)."""
    try:
        with open("/proc/self/maps") as f:
            return sorted({line.split()[-1] for line in f
                           if "openblas" in line.rsplit("/", 1)[-1].lower()})
    except OSError:
        return []


def park_idle_blas_threads() -> bool:
    """Shorten OpenBLAS's spin as described above; True when it was applied."""
    if not sys.platform.startswith("linux") or os.environ.get("CHAINRULE_BLAS_SPIN") == "default":
        return False
    if "OPENBLAS_THREAD_TIMEOUT" in os.environ or threading.active_count() > 1:
        return False
    import numpy as np
    np.dot(np.ones(2), np.ones(2))  # NumPy's BLAS is loaded by now
    for path in _openblas_libraries():
        try:
            lib = ctypes.CDLL(path)
            read_env, shutdown = lib.openblas_read_env, lib.blas_thread_shutdown_
        except (OSError, AttributeError):
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
