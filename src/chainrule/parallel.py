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

The first split also shortens the spin of OpenBLAS's idle workers, so that they leave the cores
to these threads (``blas_threads.py``).

``set_num_threads(n)`` chooses the count (default: the CPUs this process may run on, at most 8);
``set_num_threads(1)`` turns the splitting off.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from .blas_threads import blas_thread_count_settable, park_idle_blas_threads, single_threaded_blas
from .errors import ConfigError

MIN_PARALLEL_ELEMENTS = 1 << 18  # 1 MiB of float32: below it a hand-off costs more than it saves


MAX_DEFAULT_THREADS = 8


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity; all CPUs where that is unknown)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


class _State:
    def __init__(self) -> None:
        self.threads = min(available_cpus(), MAX_DEFAULT_THREADS)
        self.pool: ThreadPoolExecutor | None = None
        self.lock = threading.Lock()
        self.blas_parked = False  # whether OpenBLAS's spin was shortened (tried once)


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
            if not _state.blas_parked:  # before our first thread: OpenBLAS's idle ones must yield
                _state.blas_parked = True
                park_idle_blas_threads()
            _state.pool = ThreadPoolExecutor(max_workers=_state.threads - 1,
                                             thread_name_prefix="chainrule")
        return _state.pool


def over_batch(fn: Callable[[slice], object], n: int, size: int, products: bool = False) -> None:
    """Call ``fn(s)`` for consecutive slices ``s`` covering ``range(n)`` (the batch axis),
    in parallel when ``size`` (the elements the whole call touches) makes it worth it.

    ``fn`` must write only the rows ``s`` of its outputs; it runs once per slice, the first
    slice in the calling thread. An exception in any slice is raised here.

    ``products=True`` marks slices that run matrix products of their own (a convolution's
    input gradient, one small product per kernel offset): OpenBLAS is then held to one thread
    while they run, so that each of chainrule's threads has a core to itself; where its thread
    count cannot be set (another BLAS), such work is not split, and its products keep the
    BLAS's own threads.
    """
    k = min(_state.threads, n) if size >= MIN_PARALLEL_ELEMENTS else 1
    if k <= 1 or threading.current_thread().name.startswith("chainrule") or (
            products and not blas_thread_count_settable()):
        fn(slice(0, n))  # (a worker never waits on the pool it runs in)
        return
    if products:
        with single_threaded_blas():
            _split(fn, n, k)
        return
    _split(fn, n, k)


def _split(fn: Callable[[slice], object], n: int, k: int) -> None:
    """``fn`` over ``k`` consecutive slices of ``range(n)``, the first in this thread."""
    bounds = [n * i // k for i in range(k + 1)]
    pool = _pool()
    futures: list[Future[object]] = [pool.submit(fn, slice(bounds[i], bounds[i + 1]))
                                     for i in range(1, k)]
    try:
        fn(slice(bounds[0], bounds[1]))
    finally:
        for f in futures:
            f.result()
