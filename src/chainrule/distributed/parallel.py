"""DataParallel: one model replica per rank, gradients averaged in buckets during backward.

How PyTorch's DistributedDataParallel and Horovod do it, on MPI:

* at construction rank 0's parameters and buffers are broadcast, so every replica starts equal;
* the parameters are grouped into contiguous *buckets* in reverse registration order (the
  last layers' gradients are computed first in backward), up to ``bucket_cap_mb`` (25 MB)
  each; when the job spans machines the first bucket is small (1 MB, as DDP) so the network
  starts carrying gradients early (on one machine the sum runs on the very cores that compute
  backward, so there is nothing to overlap and the first bucket is as large as the others);
* each bucket's gradients are copied once, scaled, into the bucket's slot and the bucket's
  sum over the ranks is started (a :mod:`~chainrule.distributed.reducers` reducer: by
  default the hierarchical one, shared-memory sums within a machine and ``Iallreduce``
  across machines; or one ``Iallreduce(MPI.IN_PLACE)`` per bucket). Where the sum can run
  while backward goes on (a network carries it: the job spans machines, or the plain MPI
  reducer), a hook on every parameter (``Tensor.register_post_accumulate_grad_hook``)
  counts the bucket's gradients as the engine finalises them — the engine stores a hooked
  parameter's gradient the moment its last use has contributed, so the last layers' bucket
  starts while backward still works on the first layers — and every later hook moves it on.
  Within one machine the sum is done by the cores that run backward, so there is nothing to
  overlap and the buckets start in :meth:`DataParallel.synchronize` (no hooks at all);
* :meth:`DataParallel.synchronize` (before ``optimizer.step()``) starts the buckets not yet
  started, finishes every bucket and hands each ``p.grad`` back as a view of the bucket's
  flat buffer (DDP's ``gradient_as_bucket_view``: no copy back). Every rank then holds the
  same gradient, so clipping, weight decay and any optimizer give every rank the same update.

The average is weighted by examples: each rank's gradient (the mean over its shard) is scaled
by ``local / global`` examples before the sum, so a last batch split unevenly over the ranks
still gives exactly the one-process gradient. BatchNorm normalises each rank's shard with that
shard's statistics (as DDP does by default); the running statistics of rank 0 are broadcast
with every gradient average, so all replicas (and the saved model) hold rank 0's.

    ddp = DataParallel(model)
    for xb, yb in loader:                  # this rank's shard
        optimizer.zero_grad()
        loss = loss_fn(ddp(xb), yb)
        loss.backward()                    # across machines, buckets start during this call
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
from .reducers import all_on_one_machine, choose_algorithm, make_reducer

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
    views: list[np.ndarray] = field(default_factory=list)
    pending: int = 0
    started: bool = False
    index: int = 0
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
        buffer = np.zeros(total, current[0].data.dtype)
        views = [_grad_view(buffer, int(o), p.data) for p, o in zip(current, offsets)]
        buckets.append(Bucket(list(current), [int(o) for o in offsets], buffer, views, index=len(buckets),
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


def _grad_view(buffer: np.ndarray, offset: int, like: np.ndarray) -> np.ndarray:
    """The slice of a bucket's flat ``buffer`` holding the gradient of parameter ``like``,
    seen with ``like``'s shape and memory layout (Fortran order for ``nn.Linear``'s weight)."""
    flat = buffer[offset:offset + like.size]
    if _column_major(like):
        return flat.reshape(like.shape[::-1]).T
    return flat.reshape(like.shape)


def _column_major(a: np.ndarray) -> bool:
    """Whether ``a`` is laid out column-major only (``nn.Linear``'s weight and its gradient)."""
    return a.ndim >= 2 and a.flags.f_contiguous and not a.flags.c_contiguous


def broadcast_state(model: Any, root: int = 0) -> None:
    """Overwrite every rank's parameters and buffers with rank ``root``'s, in place."""
    for p in model.parameters():
        comm.broadcast_(_contiguous(p.data), root, "broadcasting the initial parameters")
    for buf in _buffer_arrays(_buffer_owners(model)):
        comm.broadcast_(buf, root, "broadcasting the buffers")


def _buffer_arrays(owners: list[tuple[Any, str]]) -> list[np.ndarray]:
    """The non-empty array buffers of ``owners``, as they are now, C-contiguous (in place)."""
    arrays = (getattr(mod, name) for mod, name in owners)
    return [_contiguous(b) for b in arrays if isinstance(b, np.ndarray) and b.size]


def _buffer_owners(model: Any) -> list[tuple[Any, str]]:
    """(module, attribute) of every buffer, found once: walking the module tree every step
    costs more than a small model's whole gradient sum; the arrays themselves are looked up
    each step, since ``load_state_dict`` or a user may rebind them."""
    if not hasattr(model, "named_modules"):
        return []
    return [(mod, name) for _, mod in model.named_modules() for name in mod.__dict__.get("_buffer_names", ())]


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
    return a.T if _column_major(like) else a


class DataParallel:
    """Wrap ``model`` for data-parallel training over the ranks of the MPI job.

    Calling the wrapper calls the model; every other attribute (``parameters()``,
    ``train()``, ``state_dict()`` ...) is the model's. Call :meth:`synchronize` after
    ``loss.backward()`` and before ``optimizer.step()``.

    Args:
        model: a ``chainrule.nn.Module``; its state is broadcast from rank 0 here.
        bucket_cap_mb: size cap of the buckets after the first (25 MB as DDP).
        first_bucket_mb: size cap of the first bucket. Default: 1 MB as DDP (it starts
            early, so the network carries the last layers' gradients while backward goes on)
            when the job spans machines; ``bucket_cap_mb`` when every rank is on one machine
            and the buckets are summed in shared memory, where the cores that would overlap
            the sum are the ones computing backward, so an early bucket only adds a barrier
            and its bookkeeping (measured: about 8 % of a step of the MNIST MLP; see
            docs/distributed-training.md).
        broadcast_buffers: with each gradient average, give every rank rank 0's buffers
            (BatchNorm running statistics), so the replicas stay identical (DDP broadcasts
            them before each forward instead, leaving the last step's to differ).
        gradient_as_bucket_view: after :meth:`synchronize` each ``p.grad`` *is* its slice
            of the bucket's buffer (no copy), overwritten by the next step's average; keep
            a ``.copy()`` of a gradient you want to hold across steps. False: fresh arrays.
        algorithm: how buckets are summed: ``"hierarchical"`` (shared-memory windows within
            a machine, ``Iallreduce`` of slices across machines), ``"mpi"`` (one
            ``Iallreduce`` per bucket), or ``"auto"`` (the default, also from the
            ``CHAINRULE_ALLREDUCE`` variable): hierarchical when every machine runs the same
            number of ranks and MPI gives shared-memory windows, else mpi. Memory: the
            hierarchical window holds two gradient copies per rank on a machine of up to
            4 ranks (double-buffered slots), about one beyond; pass ``"mpi"`` if that is
            too much for a very large model.

    Attributes: ``comm_seconds`` (time spent in this rank's communication calls: packing,
    starting and waiting; includes waiting for slower ranks), ``bytes_per_step`` (the
    gradient bytes each step sends into the allreduce), ``buckets``, ``algorithm`` (the
    reducer in use: ``hierarchical``, ``mpi``, or ``none`` on a single rank).
    """

    def __init__(self, model: Any, bucket_cap_mb: float = BUCKET_CAP_MB, first_bucket_mb: float | None = None,
                 broadcast_buffers: bool = True, gradient_as_bucket_view: bool = True,
                 algorithm: str | None = None) -> None:
        if not comm.is_initialized():
            comm.init()
        algorithm = choose_algorithm(algorithm)
        if first_bucket_mb is None:
            shared = comm.world_size() > 1 and algorithm != "mpi" and all_on_one_machine()
            first_bucket_mb = bucket_cap_mb if shared else FIRST_BUCKET_MB
        if not (bucket_cap_mb > 0 and first_bucket_mb > 0):
            raise ConfigError("DataParallel: bucket sizes must be positive megabytes")
        self.module = model
        self.broadcast_buffers = bool(broadcast_buffers)
        self.gradient_as_bucket_view = bool(gradient_as_bucket_view)
        self.world_size = comm.world_size()
        params = [p for p in model.parameters() if p.requires_grad]
        broadcast_state(model)
        self.buckets = plan_buckets(params, first_bucket_mb, bucket_cap_mb)
        self.bytes_per_step = int(sum(b.buffer.nbytes for b in self.buckets))
        self.reducer = make_reducer([b.buffer for b in self.buckets], algorithm) \
            if self.world_size > 1 else None
        self.algorithm = self.reducer.name if self.reducer is not None else "none"
        self._bucket_of = {id(p): b for b in self.buckets for p in b.params}
        # start each bucket during backward only where that overlaps something (the reducer
        # knows); otherwise synchronize() packs and starts every bucket itself
        early = self.reducer is not None and self.reducer.overlaps_backward
        self._handles = [p.register_post_accumulate_grad_hook(self._grad_ready) for p in params] if early else []
        self._buffer_owners = _buffer_owners(model)
        self._scale = 1.0 / self.world_size
        self._loss = 0.0
        self.comm_seconds = 0.0
        self._closed = False
        self._reset()

    # --- the model's face
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.module(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__dict__["module"], name)

    def remove_hooks(self) -> None:
        """Detach from the model's parameters and free the shared-memory window; the wrapper
        is then unusable. Under MPI every rank must call it (freeing a window is collective)."""
        self._closed = True
        for h in self._handles:
            h.remove()
        self._handles = []
        if self.reducer is not None:
            self.reducer.close()
            self.reducer = None

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
            b.started = False

    def _grad_ready(self, p: Tensor) -> None:
        bucket = self._bucket_of.get(id(p))
        if bucket is None or bucket.started:
            return
        bucket.pending -= 1
        if bucket.pending == 0:
            self._launch(bucket)
        elif self.reducer is not None:
            t0 = time.perf_counter()
            self.reducer.progress()
            self.comm_seconds += time.perf_counter() - t0

    def _launch(self, bucket: Bucket) -> None:
        """Pack the bucket's gradients, times this rank's weight, into the reducer's slot (one
        copy) and start its sum over the ranks."""
        t0 = time.perf_counter()
        buf, scale = (bucket.buffer if self.reducer is None else self.reducer.slot(bucket.index)), self._scale
        for p, off in zip(bucket.params, bucket.offsets):
            dst = buf[off:off + p.data.size]
            if p.grad is None:  # not used by this step's graph: contributes nothing
                dst.fill(0)
            else:
                np.multiply(_in_memory_order(p.grad, p.data).reshape(-1), scale, out=dst)
        if bucket.extra:
            buf[-1] = self._loss * scale
        bucket.started = True
        if self.reducer is not None:
            self.reducer.start(bucket.index)
        self.comm_seconds += time.perf_counter() - t0

    def synchronize(self) -> float:
        """Finish the gradient average: start the buckets backward did not complete, wait for
        all, and write the averaged gradient into every parameter's ``.grad``. Returns the
        global batch's mean loss (when :meth:`set_batch` gave the local one)."""
        if self._closed:
            raise ConfigError("DataParallel.synchronize: remove_hooks() was called; wrap the model again")
        for b in self.buckets:
            if not b.started:
                self._launch(b)
        t0 = time.perf_counter()
        reqs = []
        if self.broadcast_buffers and self.world_size > 1:  # this step's running statistics: rank 0's
            reqs = [comm._state.comm.Ibcast(buf, root=0) for buf in _buffer_arrays(self._buffer_owners)]
        if self.reducer is not None:
            self.reducer.finish()
        if reqs:
            comm.wait(reqs, "broadcasting the buffers")
        loss = 0.0
        for b in self.buckets:
            if self.gradient_as_bucket_view:  # no copy: p.grad is the averaged slice itself
                for p, view in zip(b.params, b.views):
                    p.grad = view
            else:
                for p, view in zip(b.params, b.views):
                    if p.grad is None or p.grad.shape != p.data.shape:
                        p.grad = np.empty_like(p.data)
                    p.grad[...] = view
            if b.extra:
                loss = float(b.buffer[-1])
        self.comm_seconds += time.perf_counter() - t0
        self._reset()
        self._scale = 1.0 / self.world_size
        return loss


__all__ = ["BUCKET_CAP_MB", "FIRST_BUCKET_MB", "Bucket", "DataParallel", "broadcast_state", "plan_buckets"]
