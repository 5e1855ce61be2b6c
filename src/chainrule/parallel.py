"""Large elementwise work split over the batch axis across threads.

NumPy's matrix products already run on every core (its BLAS is threaded), but its elementwise
loops — ReLU, pooling, the im2col copy of a convolution — run on one. On a CNN those loops are
about half of a training step, so on a 2-core machine they, not the products, set the pace.
NumPy releases the GIL inside such loops, so two Python threads that each handle half of the
batch really do run at once: ``over_batch(fn, n, size)`` calls ``fn(slice)`` on slices that
cover ``range(n)``, one per thread, the calling thread taking the first.

Small work (fewer than ``MIN_PARALLEL_ELEMENTS`` elements touched) stays in the calling thread:
handing a slice to a thread costs tens of microseconds, which an MLP's or a tiny graph's ops
would notice. Every chunk writes only its own rows of preallocated outputs, so results are the
same, bit for bit, whatever the thread count.

``set_num_threads(n)`` chooses the count (default: the CPUs this process may run on, at most 8);
``set_num_threads(1)`` turns the splitting off.

Matrix products split the same way. ``over_batch(fn, n, size, products=True)`` marks work whose
slices each run their own BLAS products (a convolution: im2col, GEMM and bias add of half the
batch per thread): while it runs, OpenBLAS is held to one thread of its own, so each of our
threads runs its products on its own core, and the copies, products and adds of a slice follow
one another in the same thread, in cache, with one fork and join per op instead of one per
phase. Left to its own threads, OpenBLAS would split every product again and its idle workers
spin between products, competing with ours for the same cores (on a loaded machine that was
ten times the CPU time of a training step). Where the BLAS's thread count cannot be set (not
OpenBLAS, or not found), such work is not split: it runs in the caller, its products on the
BLAS's threads, as before.
"""
from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager

from .errors import ConfigError

MIN_PARALLEL_ELEMENTS = 1 << 18  # 1 MiB of float32: below it a hand-off costs more than it saves


def _available_cpus() -> int:
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        n = os.cpu_count() or 1
    return max(1, min(n, 8))


class _State:
    def __init__(self) -> None:
        self.threads = _available_cpus()
        self.pool: ThreadPoolExecutor | None = None
        self.lock = threading.Lock()


_state = _State()


def get_num_threads() -> int:
    """How many threads large elementwise ops split their batch over."""
    return _state.threads


def set_num_threads(n: int) -> None:
    """Use ``n`` threads (>= 1) for large elementwise ops; 1 runs everything in the caller."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"set_num_threads: n must be a positive int; got {n!r}")
    with _state.lock:
        if _state.pool is not None:
            _state.pool.shutdown(wait=True)
            _state.pool = None
        _state.threads = n


def _pool() -> ThreadPoolExecutor:
    with _state.lock:
        if _state.pool is None:
            _state.pool = ThreadPoolExecutor(max_workers=_state.threads - 1,
                                             thread_name_prefix="chainrule")
        return _state.pool


class _OpenBLAS:
    """OpenBLAS's process-wide thread count, found in the loaded library by name (NumPy's
    wheels ship it as ``libscipy_openblas64_``, with prefixed, suffixed symbols). ``None`` for
    ``get``/``set`` when NumPy uses another BLAS or the library cannot be found."""

    _NAMES = (("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
              ("scipy_openblas_get_num_threads", "scipy_openblas_set_num_threads"),
              ("openblas_get_num_threads64_", "openblas_set_num_threads64_"),
              ("openblas_get_num_threads", "openblas_set_num_threads"))

    def __init__(self) -> None:
        self.get: Callable[[], int] | None = None
        self.set: Callable[[int], None] | None = None
        self.users = 0          # regions holding OpenBLAS at one thread, and the count before
        self.saved = 0
        self.lock = threading.Lock()
        try:
            with open("/proc/self/maps") as f:   # the libraries this process has loaded
                paths = {line.split()[-1] for line in f
                         if "openblas" in line.rsplit("/", 1)[-1].lower()}
        except OSError:   # not Linux: leave the BLAS alone
            return
        for path in sorted(paths):
            try:
                lib = ctypes.CDLL(path)
            except OSError:
                continue
            for get_name, set_name in self._NAMES:
                getter, setter = getattr(lib, get_name, None), getattr(lib, set_name, None)
                if getter is not None and setter is not None:
                    getter.restype, getter.argtypes = ctypes.c_int, []
                    setter.restype, setter.argtypes = None, [ctypes.c_int]
                    self.get, self.set = getter, setter
                    return


_blas: _OpenBLAS | None = None


def _openblas() -> _OpenBLAS:
    global _blas
    if _blas is None:
        import numpy as np  # its BLAS is loaded with it
        np.dot(np.ones(2), np.ones(2))
        _blas = _OpenBLAS()
    return _blas


def blas_threads_controllable() -> bool:
    """True when chainrule can hold NumPy's BLAS to one thread while its own threads run
    products (OpenBLAS, found in this process)."""
    return _openblas().set is not None


@contextmanager
def _blas_single_threaded() -> Iterator[None]:
    """OpenBLAS at one thread inside, its previous count restored when the last of possibly
    several overlapping regions leaves."""
    blas = _openblas()
    assert blas.get is not None and blas.set is not None
    with blas.lock:
        if blas.users == 0:
            blas.saved = blas.get()
            blas.set(1)
        blas.users += 1
    try:
        yield
    finally:
        with blas.lock:
            blas.users -= 1
            if blas.users == 0:
                blas.set(blas.saved)


def over_batch(fn: Callable[[slice], object], n: int, size: int, products: bool = False) -> None:
    """Call ``fn(s)`` for consecutive slices ``s`` covering ``range(n)`` (the batch axis),
    in parallel when ``size`` (the elements the whole call touches) makes it worth it.

    ``fn`` must write only the rows ``s`` of its outputs; it runs once per slice, the first
    slice in the calling thread. An exception in any slice is raised here. ``products=True``
    says that ``fn`` runs BLAS products: the slices then run in parallel only where OpenBLAS
    can be held to one thread meanwhile (see the module's docstring).
    """
    k = min(_state.threads, n) if size >= MIN_PARALLEL_ELEMENTS else 1
    if k <= 1 or threading.current_thread().name.startswith("chainrule") or (
            products and not blas_threads_controllable()):
        fn(slice(0, n))  # (a worker never waits on the pool it runs in)
        return
    if products:
        with _blas_single_threaded():
            _split(fn, n, k)
    else:
        _split(fn, n, k)


def _split(fn: Callable[[slice], object], n: int, k: int) -> None:
    bounds = [n * i // k for i in range(k + 1)]
    pool = _pool()
    futures: list[Future[object]] = [pool.submit(fn, slice(bounds[i], bounds[i + 1]))
                                     for i in range(1, k)]
    try:
        fn(slice(bounds[0], bounds[1]))
    finally:
        for f in futures:
            f.result()
