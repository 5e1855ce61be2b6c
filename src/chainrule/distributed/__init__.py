"""Data-parallel training on MPI: the same model on every rank, each rank a shard of every batch.

    mpiexec -n 4 chainrule train --dataset mnist --data-dir DIR --epochs 10 --out run

is the whole story for the command line. For your own loop::

    import chainrule.distributed as dist
    dist.init()                                        # under mpiexec / srun / mpirun
    ddp = dist.DataParallel(model)                     # rank 0's weights, everywhere
    sampler = dist.DistributedSampler(len(ds), batch_size=128, seed=0)   # 128 per rank
    loader = DataLoader(ds, batch_sampler=sampler)
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        for xb, yb in loader:                          # this rank's shard of the batch
            optimizer.zero_grad()
            loss = loss_fn(ddp(xb), yb)
            loss.backward()                            # buckets are reduced during backward
            ddp.synchronize()                          # averaged gradient in every p.grad
            optimizer.step()                           # the same update on every rank
    if dist.rank() == 0:
        cr.save(model, "model.safetensors")

or simply ``fit(model, ..., distributed=True)``. ``batch_size`` is per rank everywhere (as in
PyTorch's DDP and Horovod): N ranks take global batches of ``N * batch_size`` examples, the
very batches one process takes at that batch size; the learning rate is yours to scale
(linear rule for SGD, about square root for Adam; see docs/distributed-training.md).

Needs ``pip install "chainrule[mpi]"`` (mpi4py and MPICH's wheel); nothing here imports MPI before :func:`init`, and
``import chainrule`` never imports this package.
"""
from __future__ import annotations

from .checks import RanksDiffer, check_same, data_digest, fail_together
from .comm import (
    DistributedError,
    abort,
    allgather_json,
    allgatherv,
    allreduce_,
    barrier,
    broadcast_,
    core_share,
    init,
    is_initialized,
    launched_world_size,
    rank,
    world_size,
)
from .parallel import DataParallel, broadcast_state, plan_buckets
from .sampler import DistributedSampler
from .training import predict


def is_launched() -> bool:
    """Whether this process was started as one of several ranks by an MPI launcher (read from
    the launcher's environment variables; MPI is not imported)."""
    return launched_world_size() > 1


__all__ = [
    "DataParallel",
    "DistributedError",
    "DistributedSampler",
    "RanksDiffer",
    "abort",
    "allgather_json",
    "allgatherv",
    "allreduce_",
    "barrier",
    "broadcast_",
    "broadcast_state",
    "check_same",
    "core_share",
    "data_digest",
    "fail_together",
    "init",
    "is_initialized",
    "is_launched",
    "launched_world_size",
    "plan_buckets",
    "predict",
    "rank",
    "world_size",
]
