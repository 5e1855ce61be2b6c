"""A machine's cores shared out among its ranks: how many threads each rank computes with.

``mpiexec -n N`` starts N processes on a machine, and in each of them NumPy's OpenBLAS and
chainrule's own elementwise threads (``chainrule.parallel``) would start one thread per core:
N x cores threads on the machine's cores. They then take turns on the cores, and because a
synchronous step waits for the slowest rank, every preempted thread stalls the whole job.
Measured on a 2-core machine: ``mpiexec -n 2 chainrule train --dataset mnist --epochs 1``
took 5.65 s with the libraries' defaults and 1.97 s with one thread per rank.

So :func:`share_cores` (called by :func:`chainrule.distributed.init`) gives every rank an
equal share of its machine: ``threads = max(1, cores // ranks on this machine)``, where
``cores`` are the CPUs the process may run on (``os.sched_getaffinity``). A launcher that
already bound each rank to its own cores (Slurm's ``--cpus-per-task`` with binding, ``mpiexec
-bind-to core:4``) shows as an affinity smaller than the machine, and then that whole affinity
is the rank's share. PyTorch's launcher does the same more bluntly (``torchrun`` sets
``OMP_NUM_THREADS=1`` for every process).

The user's word wins: with ``OPENBLAS_NUM_THREADS``, ``OMP_NUM_THREADS`` or
``MKL_NUM_THREADS`` in the environment (as the Slurm example in docs/distributed-training.md
sets), BLAS is left as those say and chainrule's own threads follow the same number;
``cr.set_num_threads(n)`` after ``init()`` changes chainrule's. A single process is never
touched.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from ..blas_threads import set_blas_threads
from ..parallel import available_cpus, set_num_threads

#: environment variables by which a user (or a batch script) fixes the threads per process
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


@dataclass(frozen=True)
class CoreShare:
    """What :func:`share_cores` decided for this rank."""

    threads: int  # threads this rank computes with (BLAS and chainrule's own)
    cores: int  # CPUs this process may run on
    local_ranks: int  # ranks of the job on this machine
    source: str  # "shared" (cores // local ranks), "bound" (the launcher's binding) or the variable's name
    #: the rank has a core to itself (no more ranks on the machine than cores, or the launcher
    #: bound it): a wait may keep its core spinning (comm.wait), as Open MPI does unless the
    #: machine is oversubscribed
    own_core: bool

    def describe(self) -> str:
        """One phrase for the start-up line: ``1 thread per rank (2 cores, 2 ranks on this machine)``."""
        unit = "thread" if self.threads == 1 else "threads"
        if self.source == "shared":
            why = f"{self.cores} cores, {self.local_ranks} ranks on this machine"
        elif self.source == "bound":
            why = f"the launcher bound each rank to {self.cores} cores"
        else:
            why = f"{self.source} is set"
        return f"{self.threads} {unit} per rank ({why})"


def decide(local_ranks: int, cores: int, machine_cores: int, environ: dict[str, str]) -> CoreShare:
    """The share of one rank (pure: no effect), following the rules of the module docstring."""
    bound = cores < machine_cores  # the launcher already gave this rank its own cores
    own_core = bound or local_ranks <= cores
    for var in THREAD_VARIABLES:
        raw = environ.get(var, "").strip()
        if raw.isdigit() and int(raw) > 0:
            return CoreShare(int(raw), cores, local_ranks, var, own_core)
    if bound:
        return CoreShare(max(1, cores), cores, local_ranks, "bound", own_core)
    return CoreShare(max(1, cores // max(1, local_ranks)), cores, local_ranks, "shared", own_core)


def share_cores(local_ranks: int) -> CoreShare:
    """Decide this rank's threads (:func:`decide`) and apply them: chainrule's own threads,
    and OpenBLAS's unless a thread variable says otherwise."""
    share = decide(local_ranks, available_cpus(), os.cpu_count() or 1, dict(os.environ))
    if share.source not in THREAD_VARIABLES:
        set_blas_threads(share.threads)
    set_num_threads(share.threads)
    return share


__all__ = ["THREAD_VARIABLES", "CoreShare", "decide", "share_cores"]
