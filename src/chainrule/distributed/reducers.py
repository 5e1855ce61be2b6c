"""How a bucket of gradients is summed over the ranks: two interchangeable reducers.

:class:`DataParallel` packs each rank's (scaled) gradients into a reducer's *slot* for the
bucket, calls :meth:`start` when the bucket is complete, :meth:`progress` whenever backward
reports another gradient, and :meth:`finish` before the optimizer step; the sum is then in the
bucket's private flat buffer on every rank.

* :class:`MPIReducer` — one non-blocking ``Iallreduce(MPI.IN_PLACE, ...)`` per bucket on the
  world communicator: whatever algorithm the MPI library picks (the portable choice).
* :class:`HierarchicalReducer` — the two-level allreduce of Horovod's hierarchical mode and
  NCCL, built on MPI-3 shared-memory windows (``MPI_Win_allocate_shared``): the ranks of one
  machine write their gradients into one shared window, each sums its own slice of all of
  them (a reduce-scatter that reads memory instead of sending messages), the slices are
  summed across machines by one ``Iallreduce`` per local rank position (each rank sends only
  ``1/L`` of the bytes over the network), and every rank copies the finished sum out. On one
  machine with up to four ranks it is simpler still: after one node barrier every rank sums
  all the slots into its own buffer. Either way a few synchronisations and one pass over the
  data, instead of MPICH moving the whole buffer through its shared-memory queues in chunks,
  each needing both ranks inside an MPI call; measured side by side in
  ``benchmarks/distributed.py`` and docs/distributed-training.md.

Non-blocking collectives must be issued in the same order on every rank, so the buckets go
through their stages strictly one after another (bucket i's first barrier is issued only
after bucket i-1's last one): the order is the same everywhere whatever the timing. The sum
runs in the same order on every rank (slot 0 + slot 1 + ...), so the replicas stay bitwise
identical.
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..errors import ConfigError
from . import comm

#: ``DataParallel(algorithm=...)`` and ``CHAINRULE_ALLREDUCE``
ALGORITHMS = ("auto", "hierarchical", "mpi")
_ALIGN = 64  # bytes: every bucket region starts on a cache line
#: up to this many ranks on one machine each rank sums every slot itself (one barrier a
#: bucket, reading ranks x the bucket); more ranks share the work (reduce-scatter, 2 barriers)
DIRECT_MAX_RANKS = 4


class MPIReducer:
    """One ``Iallreduce`` (sum, in place) per bucket on the world communicator."""

    name = "mpi"

    def __init__(self, buffers: list[np.ndarray]) -> None:
        self.buffers = buffers
        self.requests: list[Any] = [None] * len(buffers)
        #: a bucket started during backward travels while backward goes on (over the network,
        #: or through MPI's progress), so DataParallel starts each one as soon as it is complete
        self.overlaps_backward = True

    def slot(self, i: int) -> np.ndarray:
        """Where this rank packs bucket ``i``'s contribution: the bucket's own buffer."""
        return self.buffers[i]

    def start(self, i: int) -> None:
        mpi = comm._state.mpi
        self.requests[i] = comm._state.comm.Iallreduce(mpi.IN_PLACE, self.buffers[i], op=mpi.SUM)
        self.progress()

    def progress(self) -> None:
        active = [r for r in self.requests if r is not None]
        if active:
            comm.poke(active)

    def finish(self) -> None:
        active = [r for r in self.requests if r is not None]
        if active:
            comm.wait(active, "the gradient allreduce")
        self.requests = [None] * len(self.buffers)

    def close(self) -> None:
        pass


class HierarchicalReducer:
    """Shared-memory reduce-scatter on each machine, ``Iallreduce`` of the slices across
    machines, shared-memory allgather (see the module docstring).

    ``node`` is the communicator of this machine's ranks (``COMM_TYPE_SHARED``), ``cross``
    that of the ranks with the same position on every machine (None on a single machine).
    """

    name = "hierarchical"
    # stages of one bucket
    IDLE, PACKED, ARRIVED, CROSSING, LEAVING, DONE = range(6)

    def __init__(self, buffers: list[np.ndarray], node: Any, cross: Any) -> None:
        mpi = comm._state.mpi
        self.buffers, self.node, self.cross = buffers, node, cross
        self.local, self.local_size = node.Get_rank(), node.Get_size()
        # one machine with a few ranks: every rank sums all the slots itself, after a single
        # barrier; the slots are double-buffered (step k writes set k % 2), so nobody
        # overwrites a slot another rank may still read: the next write to set k % 2 comes
        # after the barrier of step k+1, which every rank enters only after reading step k
        self.direct = cross is None and self.local_size <= DIRECT_MAX_RANKS
        self.parity = 0
        slots = 2 * self.local_size if self.direct else self.local_size + 1  # 2 sets, or 1 + the sum
        offsets, total = [], 0
        for b in buffers:
            offsets.append(total)
            total += -(-slots * b.nbytes // _ALIGN) * _ALIGN
        self.win = mpi.Win.Allocate_shared(total if self.local == 0 else 0, 1, comm=node)
        memory, _ = self.win.Shared_query(0)
        raw = np.frombuffer(memory, np.uint8, count=total)
        self.win.Lock_all()  # one passive epoch for the window's life; Sync orders the accesses
        # per bucket: (slots, size) array; two-phase: row local_size is the sum
        self.regions = [raw[o:o + slots * b.nbytes].view(b.dtype).reshape(slots, b.size)
                        for o, b in zip(offsets, buffers)]
        self.bounds = [(b.size * self.local // self.local_size, b.size * (self.local + 1) // self.local_size)
                       for b in buffers]
        self.stage = [self.IDLE] * len(buffers)
        self.request: list[Any] = [None] * len(buffers)
        #: only the slices' Iallreduce across machines can run while backward goes on; within
        #: a machine the sum is done by the very cores that run backward, so starting a bucket
        #: early overlaps nothing and only costs the hooks' bookkeeping (11-21 us a step of the
        #: MNIST MLP against a start in synchronize(), in balanced A/B runs; docs/distributed-training.md)
        self.overlaps_backward = cross is not None

    def slot(self, i: int) -> np.ndarray:
        """This rank's row of bucket ``i``'s shared region: the pack writes straight into it."""
        return self.regions[i][self.parity * self.local_size + self.local if self.direct else self.local]

    def start(self, i: int) -> None:
        self.stage[i] = self.PACKED
        self.progress()

    def _issue_allowed(self, i: int) -> bool:
        """Collectives are issued bucket after bucket: i may begin once i-1 has issued its last."""
        return i == 0 or self.stage[i - 1] >= (self.ARRIVED if self.direct else self.LEAVING)

    def _advance(self, i: int) -> bool:
        """Move bucket ``i`` on by one stage if it can go without waiting; whether it moved."""
        st, req = self.stage[i], self.request[i]
        if st in (self.IDLE, self.DONE):
            return False
        if st == self.PACKED:
            if not self._issue_allowed(i):
                return False
            self.win.Sync()  # this rank's slot writes are visible before the barrier says so
            self.request[i] = self.node.Ibarrier()
            self.stage[i] = self.ARRIVED
            return True
        if not req.Test():
            return False
        self.request[i] = None
        if st == self.ARRIVED and self.direct:  # every slot written: sum them all, privately
            self.win.Sync()
            rows = self.regions[i][self.parity * self.local_size:(self.parity + 1) * self.local_size]
            out = self.buffers[i]
            np.add(rows[0], rows[1], out=out)
            for k in range(2, self.local_size):
                np.add(out, rows[k], out=out)
            self.stage[i] = self.DONE
            return True
        if st == self.ARRIVED:  # every local slot written: sum this rank's slice of them
            self.win.Sync()
            region, (lo, hi) = self.regions[i], self.bounds[i]
            out = region[self.local_size, lo:hi]
            if self.local_size > 1:
                np.add(region[0, lo:hi], region[1, lo:hi], out=out)
            else:
                np.copyto(out, region[0, lo:hi])
            for k in range(2, self.local_size):
                np.add(out, region[k, lo:hi], out=out)
            if self.cross is not None:
                mpi = comm._state.mpi
                self.request[i] = self.cross.Iallreduce(mpi.IN_PLACE, out, op=mpi.SUM)
                self.stage[i] = self.CROSSING
                return True
            st = self.CROSSING
        if st == self.CROSSING:  # the slice is final: tell the machine
            self.win.Sync()
            self.request[i] = self.node.Ibarrier()
            self.stage[i] = self.LEAVING
            return True
        # LEAVING: every slice of the sum is final; take a private copy (the optimizer may
        # scale p.grad in place, which must not touch the other ranks' gradients)
        self.win.Sync()
        np.copyto(self.buffers[i], self.regions[i][self.local_size])
        self.stage[i] = self.DONE
        return True

    def progress(self) -> None:
        moved = True
        while moved:
            moved = False
            for i in range(len(self.buffers)):
                moved = self._advance(i) or moved

    def finish(self) -> None:
        for i in range(len(self.buffers)):
            if self.stage[i] == self.IDLE:
                raise ConfigError("internal error: a bucket was never started")  # DataParallel starts all
            while self.stage[i] != self.DONE:
                if not self._advance(i):
                    comm.wait(self.request[i], "the gradient allreduce")
            self.progress()  # later buckets may go on while this one is copied out
        self.stage = [self.IDLE] * len(self.buffers)
        self.parity ^= 1

    def close(self) -> None:
        if self.win is not None:
            self.win.Unlock_all()
            self.win.Free()
            self.win = None


def choose_algorithm(requested: str | None) -> str:
    """``requested`` (or ``CHAINRULE_ALLREDUCE``, default ``auto``), checked."""
    name = requested if requested is not None else os.environ.get("CHAINRULE_ALLREDUCE", "auto")
    if name not in ALGORITHMS:
        raise ConfigError(f"unknown allreduce algorithm {name!r} (DataParallel(algorithm=...) or "
                          f"CHAINRULE_ALLREDUCE); expected one of {', '.join(ALGORITHMS)}")
    return name


def make_reducer(buffers: list[np.ndarray], algorithm: str) -> MPIReducer | HierarchicalReducer:
    """The reducer for ``algorithm``: ``auto`` is hierarchical when every machine runs the same
    number of ranks and the MPI library gives shared-memory windows, else plain MPI. The
    decision is taken together, so every rank uses the same one."""
    if algorithm == "mpi":
        return MPIReducer(buffers)
    world = comm._state.comm
    node = comm.machine_comm()
    sizes = [s[0] for s in comm.allgather_json([node.Get_size()], "comparing the machines' rank counts")]
    even = len(set(sizes)) == 1
    reducer: HierarchicalReducer | None = None
    error = ""
    if even:
        cross = None
        if node.Get_size() < world.Get_size():
            cross = world.Split(node.Get_rank(), key=world.Get_rank())
        try:
            reducer = HierarchicalReducer(buffers, node, cross)
        except Exception as e:  # noqa: BLE001 - no shared windows here: fall back together
            error = f"{type(e).__name__}: {e}"
    votes = comm.allreduce_(np.array([int(reducer is not None)], np.int64), "agreeing on the allreduce algorithm")
    if int(votes[0]) == world.Get_size():
        assert reducer is not None
        return reducer
    if reducer is not None:
        reducer.close()
    if algorithm == "hierarchical":
        why = error or f"the machines run different numbers of ranks ({sorted(set(sizes))})"
        raise ConfigError(f"DataParallel(algorithm='hierarchical'): not possible here: {why}")
    return MPIReducer(buffers)


def all_on_one_machine() -> bool:
    """Whether every rank of the job shares this machine's memory (collective: every rank
    calls it)."""
    node = comm.machine_comm()
    try:
        return bool(node.Get_size() == comm._state.comm.Get_size())
    finally:
        node.Free()


__all__ = ["ALGORITHMS", "HierarchicalReducer", "MPIReducer", "all_on_one_machine", "choose_algorithm",
           "make_reducer"]
