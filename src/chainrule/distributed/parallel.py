"""DataParallel: one model replica per rank, gradients averaged in buckets during backward.

How PyTorch's DistributedDataParallel and Horovod do it, on MPI:

* at construction rank 0's parameters and buffers are broadcast, so every replica starts equal;
* the parameters are grouped into contiguous *buckets* in reverse registration order (the
  last layers' gradients are computed first in backward), a small first bucket (1 MB) so
  communication starts early, then up to ``bucket_cap_mb`` (25 MB) each;
* a hook on every parameter (``Tensor.register_post_accumulate_grad_hook``) counts the
  bucket's gradients as the engine finalises them; when a bucket is complete its gradients
  are copied into one flat buffer and a non-blocking ``Iallreduce`` (sum) is started, so the
  transfer overlaps the rest of backward;
* :meth:`DataParallel.synchronize` (before ``optimizer.step()``) waits for every bucket and
  writes the averaged gradients back into ``p.grad``. Every rank then holds the same
  gradient, so clipping, weight decay and any optimizer give every rank the same update.

The average is weighted by examples: each rank's gradient (the mean over its shard) is scaled
by ``local / global`` examples before the sum, so a last batch split unevenly over the ranks
still gives exactly the one-process gradient. BatchNorm normalises each rank's shard with that
shard's statistics (as DDP does by default); the running statistics of rank 0 are broadcast
with every gradient average, so all replicas (and the saved model) hold rank 0's.

    ddp = DataParallel(model)
    for xb, yb in loader:                  # this rank's shard
        optimizer.zero_grad()
        loss = loss_fn(ddp(xb), yb)
        loss.backward()                    # buckets start communicating during this call
        ddp.synchronize()                  # averaged gradients in p.grad
        optimizer.step()
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..tensor import Tensor
from . import comm

FIRST_BUCKET_MB = 1.0
BUCKET_CAP_MB = 25.0


@dataclass
class Bucket:
    """Parameters whose gradients travel together in one Iallreduce.

    ``buffer`` is flat: each parameter's gradient at ``offsets[i]`` (``params[i].size``
    values); a bucket built with ``extra`` slots has them at the end (the batch loss)."""

    params: list[Tensor]
    offsets: list[int]
    buffer: np.ndarray
    pending: int = 0
    request: Any = None
    extra: int = 0
    ids: set[int] = field(default_factory=set)


def plan_buckets(params: list[Tensor], first_mb: float = FIRST_BUCKET_MB, cap_mb: float = BUCKET_CAP_MB,
                 extra: int = 1) -> list[Bucket]:
    """Group ``params`` (in registration order) into buckets, last registered first.

    A bucket holds one dtype and closes when adding the next parameter would pass its size
    cap: ``first_mb`` for the first bucket, ``cap_mb`` after. The first bucket also gets
    ``extra`` slots (for the batch's loss, reduced with the gradients at no extra cost)."""
    buckets: list[Bucket] = []
    current: list[Tensor] = []
    size = 0

    def close() -> None:
        nonlocal current, size
        if not current:
            return
        slots = extra if not buckets else 0
        offsets = list(np.cumsum([0] + [p.data.size for p in current])[:-1])
        total = sum(p.data.size for p in current) + slots
        buckets.append(Bucket(list(current), [int(o) for o in offsets], np.zeros(total, current[0].data.dtype),
                              extra=slots, ids={id(p) for p in current}))
        current, size = [], 0

    for p in reversed(params):
        cap = (first_mb if not buckets else cap_mb) * 2**20
        nbytes = p.data.nbytes
        if current and (size + nbytes > cap or p.data.dtype != current[0].data.dtype):
            close()
        current.append(p)
        size += nbytes
    close()
    return buckets


def broadcast_state(model: Any, root: int = 0) -> None:
    """Overwrite every rank's parameters and buffers with rank ``root``'s, in place."""
    for p in model.parameters():
        comm.broadcast_(_contiguous(p.data), root, "broadcasting the initial parameters")
    for _, buf in _buffers(model):
        comm.broadcast_(buf, root, "broadcasting the buffers")


def _buffers(model: Any) -> list[tuple[str, np.ndarray]]:
    return [(n, _contiguous(b)) for n, b in model.named_buffers() if isinstance(b, np.ndarray) and b.size] \
        if hasattr(model, "named_buffers") else []


def _contiguous(a: np.ndarray) -> np.ndarray:
    """``a`` or a C-contiguous view of its memory (a Fortran-ordered weight's transpose)."""
    if a.flags.c_contiguous:
        return a
    if a.flags.f_contiguous:
        return a.T
    raise ConfigError("DataParallel: parameters must be contiguous arrays to be broadcast in place")


def _in_memory_order(a: np.ndarray, like: np.ndarray) -> np.ndarray:
    """``a`` seen in the element order of ``like``'s memory: its transpose when ``like`` is
    column-major (``nn.Linear``'s weight), so packing a gradient of the weight's layout into a
    bucket is a straight copy, not a transposing one. Every rank orders a bucket the same way,
    because the parameters' layouts are the same everywhere."""
    if like.ndim >= 2 and like.flags.f_contiguous and not like.flags.c_contiguous:
        return a.T
    return a


class DataParallel:
    """Wrap ``model`` for data-parallel training over the ranks of the MPI job.

    Calling the wrapper calls the model; every other attribute (``parameters()``,
    ``train()``, ``state_dict()`` ...) is the model's. Call :meth:`synchronize` after
    ``loss.backward()`` and before ``optimizer.step()``.

    Args:
        model: a ``chainrule.nn.Module``; its state is broadcast from rank 0 here.
        bucket_cap_mb: size cap of the buckets after the first (25 MB as DDP).
        first_bucket_mb: size cap of the first bucket (1 MB as DDP): it starts early.
        broadcast_buffers: with each gradient average, give every rank rank 0's buffers
            (BatchNorm running statistics), so the replicas stay identical (DDP broadcasts
            them before each forward instead, leaving the last step's to differ).

    Attributes: ``comm_seconds`` (time spent in this rank's communication calls: packing,
    starting and waiting; includes waiting for slower ranks), ``bytes_per_step`` (the
    gradient bytes each step sends into the allreduce), ``buckets``.
    """

    def __init__(self, model: Any, bucket_cap_mb: float = BUCKET_CAP_MB, first_bucket_mb: float = FIRST_BUCKET_MB,
                 broadcast_buffers: bool = True) -> None:
        if not comm.is_initialized():
            comm.init()
        if not (bucket_cap_mb > 0 and first_bucket_mb > 0):
            raise ConfigError("DataParallel: bucket sizes must be positive megabytes")
        self.module = model
        self.broadcast_buffers = bool(broadcast_buffers)
        self.world_size = comm.world_size()
        params = [p for p in model.parameters() if p.requires_grad]
        broadcast_state(model)
        self.buckets = plan_buckets(params, first_bucket_mb, bucket_cap_mb)
        self.bytes_per_step = int(sum(b.buffer.nbytes for b in self.buckets))
        self._bucket_of = {id(p): b for b in self.buckets for p in b.params}
        self._handles = [p.register_post_accumulate_grad_hook(self._grad_ready) for p in params]
        self._scale = 1.0 / self.world_size
        self._loss = 0.0
        self.comm_seconds = 0.0
        self._reset()

    # --- the model's face
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.module(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__dict__["module"], name)

    def remove_hooks(self) -> None:
        """Detach from the model's parameters (the wrapper is then unusable)."""
        for h in self._handles:
            h.remove()
        self._handles = []

    # --- one step
    def set_batch(self, local: int, global_: int, loss: float | None = None) -> None:
        """Weight this rank's gradient by ``local / global_`` examples of the step (instead of
        the plain 1/world_size average) and contribute ``loss`` (the mean over the local
        shard) so :meth:`synchronize` returns the global batch's mean loss."""
        if global_ <= 0 or not 0 <= local <= global_:
            raise ConfigError(f"DataParallel.set_batch: need 0 <= local <= global and global > 0, "
                              f"got {local}, {global_}")
        self._scale = local / global_
        self._loss = 0.0 if loss is None or local == 0 else float(loss)

    def _reset(self) -> None:
        for b in self.buckets:
            b.pending = len(b.params)
            b.request = None

    def _grad_ready(self, p: Tensor) -> None:
        bucket = self._bucket_of.get(id(p))
        if bucket is None or bucket.request is not None:
            return
        bucket.pending -= 1
        if bucket.pending == 0:
            self._launch(bucket)
        else:
            t0 = time.perf_counter()
            comm.poke([b.request for b in self.buckets if b.request is not None])
            self.comm_seconds += time.perf_counter() - t0

    def _launch(self, bucket: Bucket) -> None:
        t0 = time.perf_counter()
        buf, scale = bucket.buffer, self._scale
        for p, off in zip(bucket.params, bucket.offsets):
            dst = buf[off:off + p.data.size]
            if p.grad is None:  # not used by this step's graph: contributes nothing
                dst.fill(0)
            else:
                np.multiply(_in_memory_order(p.grad, p.data).reshape(-1), scale, out=dst)
        if bucket.extra:
            buf[-1] = self._loss * scale
        if self.world_size > 1:
            mpi = comm._state.mpi
            bucket.request = comm._state.comm.Iallreduce(mpi.IN_PLACE, buf, op=mpi.SUM)
            comm.poke([b.request for b in self.buckets if b.request is not None])
        else:
            bucket.request = True
        self.comm_seconds += time.perf_counter() - t0

    def synchronize(self) -> float:
        """Finish the gradient average: start the buckets backward did not complete, wait for
        all, and write the averaged gradient into every parameter's ``.grad``. Returns the
        global batch's mean loss (when :meth:`set_batch` gave the local one)."""
        for b in self.buckets:
            if b.request is None:
                self._launch(b)
        t0 = time.perf_counter()
        reqs = [b.request for b in self.buckets if b.request is not True]
        if self.broadcast_buffers and self.world_size > 1:  # this step's running statistics: rank 0's
            reqs += [comm._state.comm.Ibcast(buf, root=0) for _, buf in _buffers(self.module)]
        if reqs:
            comm.wait(reqs, "the gradient allreduce")
        loss = 0.0
        for b in self.buckets:
            for p, off in zip(b.params, b.offsets):
                if p.grad is None or p.grad.shape != p.data.shape:
                    p.grad = np.empty_like(p.data)
                dst = _in_memory_order(p.grad, p.data)
                dst[...] = b.buffer[off:off + p.data.size].reshape(dst.shape)
            if b.extra:
                loss = float(b.buffer[-1])
        self.comm_seconds += time.perf_counter() - t0
        self._reset()
        self._scale = 1.0 / self.world_size
        return loss


__all__ = ["BUCKET_CAP_MB", "FIRST_BUCKET_MB", "Bucket", "DataParallel", "broadcast_state", "plan_buckets"]
