"""The MPI connection: start-up, rank and size, and collectives that can never hang for ever.

mpi4py is imported only by :func:`init` (``pip install "chainrule[mpi]"``), so ``import
chainrule`` stays NumPy-only and one process never touches MPI. Every collective here is
the non-blocking MPI call followed by a wait that a *watchdog* thread watches: if one wait
lasts longer than the timeout (``CHAINRULE_MPI_TIMEOUT`` seconds, default 300) the other
ranks are presumed dead or hung, the waiting rank prints one line naming the wait and calls
``MPI_Abort``, which ends every rank. (MPICH's ``mpiexec`` already ends a job one of whose
processes was killed; the watchdog covers a rank that hangs, and launchers that do not.)

Objects (configurations, metric states) travel as JSON bytes in buffer-based
``Allgatherv`` calls: no pickle crosses the wire.
"""
from __future__ import annotations

import json
import os
import sys
import threading
import time
from typing import Any

import numpy as np

from ..blas_threads import park_idle_blas_threads
from ..errors import ChainruleError, ConfigError
from .threads import CoreShare, share_cores

#: environment variables by which launchers tell a process how many ranks the job has
#: (MPICH/Intel MPI and Slurm's PMI, Open MPI, MVAPICH, a Slurm job step)
_SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE", "SLURM_STEP_NUM_TASKS")
DEFAULT_TIMEOUT = 300.0


class DistributedError(ChainruleError):
    """A problem of the distributed job itself (MPI missing, ranks launched differently)."""


class _State:
    comm: Any = None
    mpi: Any = None
    timeout: float = DEFAULT_TIMEOUT
    waiting: tuple[float, str] | None = None  # (start, what) of the wait in progress
    watchdog: threading.Thread | None = None
    cores: CoreShare | None = None  # this rank's threads (None in a single process)


_state = _State()


def launched_world_size() -> int:
    """How many ranks the launcher (``mpiexec``, ``mpirun``, ``srun``) started, read from
    its environment variables without importing MPI; 1 for a plain process."""
    for var in _SIZE_VARIABLES:
        value = os.environ.get(var, "")
        if value.isdigit() and int(value) > 0:
            if var == "SLURM_STEP_NUM_TASKS" and "SLURM_PROCID" not in os.environ:
                continue
            return int(value)
    return 1


def init(timeout: float | None = None) -> Any:
    """Start MPI (once) and return the world communicator.

    ``timeout``: seconds one collective may wait for the other ranks before the job is
    aborted (default ``CHAINRULE_MPI_TIMEOUT`` or 300). Raises :class:`DistributedError`
    when mpi4py or an MPI library is missing. With more than one rank, every rank also gets
    its share of its machine's cores for BLAS and chainrule's own threads (see
    ``distributed/threads.py``; :func:`core_share` tells what was decided).
    """
    if timeout is None:
        raw = os.environ.get("CHAINRULE_MPI_TIMEOUT", "")
        try:
            timeout = float(raw) if raw else DEFAULT_TIMEOUT
        except ValueError:
            raise ConfigError(f"CHAINRULE_MPI_TIMEOUT must be a number of seconds, got {raw!r}") from None
    if not timeout > 0:
        raise ConfigError(f"distributed.init: timeout must be positive seconds, got {timeout!r}")
    _state.timeout = float(timeout)
    if _state.comm is not None:
        return _state.comm
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise DistributedError(
            f"distributed training needs mpi4py and an MPI library: pip install \"chainrule[mpi]\" ({e})") from None
    except RuntimeError as e:  # mpi4py present, libmpi not found
        raise DistributedError(f"mpi4py cannot load an MPI library: {' '.join(str(e).split())[:300]}") from None
    _state.mpi, _state.comm = MPI, MPI.COMM_WORLD
    if _state.comm.Get_size() > 1:
        _state.cores = _share_cores()
        # the watchdog thread below would make parking OpenBLAS's idle workers unsafe to try
        # later, when chainrule's own threads start (blas_threads.py): park them now, as every
        # process used to at import, if this rank keeps more than one core
        if _state.cores.threads > 1:
            park_idle_blas_threads()
        _state.watchdog = threading.Thread(target=_watch, name="chainrule-mpi-watchdog", daemon=True)
        _state.watchdog.start()
        sys.excepthook = _abort_on_uncaught(sys.excepthook)
    return _state.comm


def _share_cores() -> CoreShare:
    """Give this rank its share of the machine's cores (distributed/threads.py); collective:
    the ranks on one machine are counted by :func:`machine_comm`."""
    node = machine_comm()
    try:
        return share_cores(node.Get_size())
    finally:
        node.Free()


def machine_comm() -> Any:
    """The communicator of this machine's ranks (``COMM_TYPE_SHARED``; collective: every rank
    calls it; the caller frees it). Tests pretend the machine is several of
    ``CHAINRULE_TEST_RANKS_PER_NODE`` ranks each."""
    world, mpi = _state.comm, _state.mpi
    raw = os.environ.get("CHAINRULE_TEST_RANKS_PER_NODE", "")
    per_node = int(raw) if raw.isdigit() and int(raw) > 0 else 0
    if per_node:
        return world.Split(world.Get_rank() // per_node, key=world.Get_rank())
    return world.Split_type(mpi.COMM_TYPE_SHARED, key=world.Get_rank())


def core_share() -> CoreShare | None:
    """What :func:`init` decided for this rank's threads (None in a single process or
    before ``init``)."""
    return _state.cores


def _abort_on_uncaught(previous: Any) -> Any:
    """An excepthook that, after the usual traceback, ends every rank (``MPI_Abort``): a
    script whose rank raises must not leave the other ranks waiting in a collective."""

    def hook(kind: Any, value: Any, tb: Any) -> None:
        previous(kind, value, tb)
        if not issubclass(kind, KeyboardInterrupt):
            print(f"chainrule: error: rank {rank()} raised {kind.__name__}; stopping all {world_size()} ranks",
                  file=sys.stderr, flush=True)
        abort(130 if issubclass(kind, KeyboardInterrupt) else 1)

    return hook


def is_initialized() -> bool:
    """Whether :func:`init` has run in this process."""
    return _state.comm is not None


def rank() -> int:
    """This process's rank, 0 to ``world_size() - 1`` (0 when MPI is not initialised)."""
    return 0 if _state.comm is None else int(_state.comm.Get_rank())


def world_size() -> int:
    """Number of ranks in the job (1 when MPI is not initialised)."""
    return 1 if _state.comm is None else int(_state.comm.Get_size())


def abort(code: int = 1) -> None:
    """End every rank of the job now (``MPI_Abort``); exits this process when not distributed."""
    sys.stdout.flush()
    sys.stderr.flush()
    if _state.comm is not None and world_size() > 1:
        # MPI_Abort makes the launcher kill every rank at once, dropping output still on its
        # way (this rank's message, or another failing rank's traceback half printed): give
        # it a moment to arrive first
        time.sleep(ABORT_GRACE_SECONDS)
        _state.comm.Abort(code)
    os._exit(code)


#: seconds a failing rank waits, its message flushed, before ending the job
ABORT_GRACE_SECONDS = 0.3


# ----------------------------------------------------------------------------- waiting
def _watch() -> None:
    """Daemon thread: abort the job when one wait has lasted longer than the timeout."""
    while True:
        time.sleep(min(1.0, _state.timeout / 4))
        waiting = _state.waiting
        if waiting is not None and time.monotonic() - waiting[0] > _state.timeout:
            print(f"chainrule: error: rank {rank()} waited more than {_state.timeout:g} s for the other ranks "
                  f"in {waiting[1]} (a rank died or hangs); stopping every rank (CHAINRULE_MPI_TIMEOUT sets "
                  f"the limit)", file=sys.stderr, flush=True)
            abort(1)


#: a wait polls (spins) for up to SPIN_SECONDS, which is what a gradient allreduce between busy
#: ranks needs (MPICH moves a large message in pieces, each needing both ranks inside MPI);
#: a longer wait (a slower rank, a rank writing the checkpoint) then sleeps between polls,
#: doubling the pause up to MAX_PAUSE, instead of spinning a core at 100 % as MPICH's own
#: blocking wait does. Measured on a shared 2-core machine (2 ranks, MNIST MLP, 4 interleaved
#: runs each): 0.5 ms of spin gave a median of 2.48 s wall and 0.30 CPU s per rank, 5 ms 3.5 s
#: and 0.50 s, no spin 2.78 s and 0.26 s.
#: A rank with a core to itself (CoreShare.own_core) spins for up to OWN_CORE_SPIN_SECONDS
#: instead, as Open MPI spins unless the machine is oversubscribed: a rank that sleeps leaves
#: its virtual CPU idle, the host may give the physical core to someone else, and the wake-up
#: comes late, so the other rank waits in turn. On this project's 2-vCPU machine, 12
#: alternated pairs of 2-rank MNIST MLP epochs: steps waiting over 1 ms for the other rank
#: 0-1.3 % against 0-6.2 %, mean epoch 0.395 s against 0.409 s (docs/distributed-training.md)
SPIN_SECONDS, OWN_CORE_SPIN_SECONDS, MAX_PAUSE = 5e-4, 2e-2, 1e-3


def spin_seconds() -> float:
    """How long a wait polls before it starts to sleep: OWN_CORE_SPIN_SECONDS for a rank with a
    core to itself, else SPIN_SECONDS (a single process, or more ranks than cores)."""
    share = _state.cores
    return OWN_CORE_SPIN_SECONDS if share is not None and share.own_core else SPIN_SECONDS


def wait(requests: Any, what: str) -> None:
    """Wait for MPI requests (one or a list), under the watchdog's timeout."""
    reqs = requests if isinstance(requests, list) else [requests]
    testall = _state.mpi.Request.Testall
    if testall(reqs):
        return
    start = time.monotonic()
    _state.waiting = (start, what)
    spin = spin_seconds()
    try:
        while not testall(reqs):
            if time.monotonic() - start > spin:
                break
        pause = 20e-6
        while not testall(reqs):
            time.sleep(pause)
            pause = min(2 * pause, MAX_PAUSE)
    finally:
        _state.waiting = None


def poke(requests: list) -> None:
    """Let MPI progress outstanding requests (MPICH advances them only inside MPI calls)."""
    if requests:
        _state.mpi.Request.Testall(requests)


# ----------------------------------------------------------------------------- collectives
def _comm() -> Any:
    if _state.comm is None:
        raise DistributedError("chainrule.distributed: call init() first (under mpiexec / srun)")
    return _state.comm


def barrier() -> None:
    """Wait until every rank has reached this point."""
    comm = _comm()
    if comm.Get_size() > 1:
        wait(comm.Ibarrier(), "barrier")


def allreduce_(array: np.ndarray, what: str = "allreduce") -> np.ndarray:
    """Sum ``array`` over the ranks, in place (a contiguous NumPy array); returns it."""
    comm = _comm()
    if comm.Get_size() > 1:
        wait(comm.Iallreduce(_state.mpi.IN_PLACE, array, op=_state.mpi.SUM), what)
    return array


def broadcast_(array: np.ndarray, root: int = 0, what: str = "broadcast") -> np.ndarray:
    """Overwrite ``array`` (contiguous) on every rank with rank ``root``'s; returns it."""
    comm = _comm()
    if comm.Get_size() > 1:
        wait(comm.Ibcast(array, root=root), what)
    return array


def allgatherv(array: np.ndarray, what: str = "allgather") -> np.ndarray:
    """Concatenate every rank's ``array`` along axis 0, in rank order, on every rank.

    The arrays may differ in length but must agree in dtype and trailing shape."""
    comm = _comm()
    local = np.ascontiguousarray(array)
    if comm.Get_size() == 1:
        return local.copy()
    counts = np.zeros(comm.Get_size(), np.int64)
    wait(comm.Iallgather(np.array([local.shape[0]], np.int64), counts), what)
    row = int(np.prod(local.shape[1:], dtype=np.int64))
    out = np.empty((int(counts.sum()),) + local.shape[1:], local.dtype)
    sizes = counts * row
    displs = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    mpi_type = _state.mpi._typedict[local.dtype.char]
    wait(comm.Iallgatherv(local.reshape(-1), [out.reshape(-1), (sizes, displs), mpi_type]), what)
    return out


def allgather_json(obj: Any, what: str = "allgather") -> list[Any]:
    """Every rank's JSON-able ``obj``, in rank order, on every rank."""
    data = np.frombuffer(json.dumps(obj, sort_keys=True).encode("utf-8"), np.uint8)
    gathered = allgatherv(data, what)
    comm = _comm()
    counts = np.zeros(comm.Get_size(), np.int64)
    if comm.Get_size() == 1:
        return [obj]
    wait(comm.Iallgather(np.array([data.size], np.int64), counts), what)
    out, start = [], 0
    for n in counts:
        out.append(json.loads(gathered[start:start + int(n)].tobytes().decode("utf-8")))
        start += int(n)
    return out


__all__ = [
    "DistributedError",
    "abort",
    "allgather_json",
    "allgatherv",
    "allreduce_",
    "barrier",
    "broadcast_",
    "init",
    "is_initialized",
    "launched_world_size",
    "poke",
    "rank",
    "wait",
    "world_size",
]
