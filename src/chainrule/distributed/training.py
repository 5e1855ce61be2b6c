"""What ``fit(..., distributed=True)`` adds to the training loop, kept out of the loop itself.

* the model is wrapped in :class:`DataParallel` (rank 0's state broadcast, bucketed
  gradient allreduce during backward);
* the training data is read through a :class:`DistributedSampler`: ``batch_size`` is the
  batch of *one rank* (as in DDP and Horovod); each step's global batch of
  ``world_size * batch_size`` examples is the one a single process with that batch size
  would take, so N ranks at batch B step exactly as one process at batch N*B;
* each epoch reseeds the global generator from ``(seed, epoch, rank)``, so dropout masks
  differ between ranks and a resumed run repeats an unbroken one without saving N states.
  (So a model with dropout does not reproduce the one-process run's masks, only their
  distribution: N ranks draw N independent streams where one process draws one);
* the epoch's training loss and metrics are summed over the ranks, validation is split
  over the ranks and gathered, so every rank holds the same History (and callbacks such as
  early stopping decide the same everywhere) — equal to the one-process figures.
"""
from __future__ import annotations

from typing import Any, cast

import numpy as np

from .. import rng as _rng
from ..errors import ConfigError
from . import comm
from .parallel import DataParallel
from .sampler import DistributedSampler


class DistributedFit:
    """The distributed parts of one ``fit`` call (see the module docstring)."""

    def __init__(self, model: Any, distributed: Any, seed: int | None) -> None:
        if not comm.is_initialized():
            comm.init()
        self.rank, self.world_size = comm.rank(), comm.world_size()
        self.owns_ddp = not isinstance(distributed, DataParallel)
        self.ddp = distributed if isinstance(distributed, DataParallel) else DataParallel(model)
        if seed is None:  # one seed for every rank's shuffle and dropout streams
            drawn = np.array([cast(int, np.random.SeedSequence().entropy) % 2**62], np.int64)
            seed = int(comm.broadcast_(drawn, what="the seed")[0])
        self.seed = int(seed)
        self.sampler: DistributedSampler | None = None

    def close(self) -> None:
        """After training (on every rank): unhook the wrapper fit made and free its window."""
        if self.owns_ddp:
            self.ddp.remove_hooks()

    def loader(self, loader: Any) -> Any:
        """A DataLoader over the same dataset yielding this rank's ``loader.batch_size``
        examples of each global batch (``world_size`` times as many)."""
        from ..data import DataLoader

        if getattr(loader, "batch_sampler", None) is not None:
            raise ConfigError("fit(distributed=...): pass the training data without a batch_sampler; "
                              "fit shards it over the ranks itself")
        self.sampler = DistributedSampler(len(loader.dataset), loader.batch_size, shuffle=loader.shuffle,
                                          seed=self.seed, drop_last=loader.drop_last)
        return DataLoader(loader.dataset, batch_sampler=self.sampler)

    def global_size(self, batch_index: int) -> int:
        assert self.sampler is not None
        return self.sampler.global_size(batch_index)

    def begin_epoch(self, epoch: int) -> None:
        """Per-rank dropout stream for this epoch, a function of (seed, epoch, rank) only."""
        state = np.random.SeedSequence((self.seed, epoch, self.rank)).generate_state(2, np.uint64)
        _rng.manual_seed(int(state[0] % 2**63))

    def step(self, model: Any, loss_fn: Any, xb: Any, yb: Any, batch_index: int) -> tuple[Any, float]:
        """Forward and backward on this rank's shard, then the gradient average.

        Returns ``(outputs or None for an empty shard, the global batch's mean loss)``."""
        from ..tensor import from_numpy, tensor
        n_local, n_global = len(yb), self.global_size(batch_index)
        out = None
        if n_local:
            x = xb if hasattr(xb, "backward") else (from_numpy(xb) if getattr(xb, "dtype", None) == np.float32
                                                  else tensor(xb))
            out = self.ddp(x)
            loss = loss_fn(out, yb)
            self.ddp.set_batch(n_local, n_global, float(loss.item()))
            loss.backward()
        else:
            self.ddp.set_batch(0, n_global)
        return out, self.ddp.synchronize()

    def merge_metrics(self, metrics: list[Any]) -> None:
        """Replace each running metric's state by the sum over the ranks (all ranks equal)."""
        states = comm.allgather_json([_metric_state(m) for m in metrics], "merging the epoch's metrics")
        for i, m in enumerate(metrics):
            _merge_into(m, [s[i] for s in states])

    def evaluate(self, model: Any, loader: Any, loss_fn: Any, metrics: list[Any]) -> dict[str, float]:
        """``_evaluate_loader`` over the whole of ``loader``'s data: each rank computes the
        outputs of a contiguous share of the batches, the outputs are gathered, and every
        rank scores them batch by batch exactly as one process does."""
        from ..training.evaluation import _split_batch

        dataset, bs = loader.dataset, loader.batch_size
        n = len(dataset)
        batches = [(s, min(s + bs, n)) for s in range(0, n, bs)]
        lo, hi = len(batches) * self.rank // self.world_size, len(batches) * (self.rank + 1) // self.world_size
        outputs = _forward(model, dataset, batches[lo:hi])
        full = comm.allgatherv(outputs, "gathering validation outputs")
        for m in metrics:
            m.reset()
        loss_sum = 0.0
        from ..tensor import from_numpy, no_grad

        with no_grad():
            for s, e in batches:
                _, yb = _split_batch(_rows(dataset, s, e))
                out = full[s:e]
                if loss_fn is not None:
                    loss_sum += float(loss_fn(from_numpy(out), yb).item()) * len(yb)
                for m in metrics:
                    m.update(out, yb)
        result: dict[str, float] = {}
        if loss_fn is not None:
            result["loss"] = loss_sum / max(n, 1)
        for m in metrics:
            result[m.name] = m.compute()
        return result


def _rows(dataset: Any, start: int, stop: int) -> Any:
    idx = np.arange(start, stop)
    gather = getattr(dataset, "gather", None)
    if gather is not None:
        return gather(idx)
    from ..data.dataset import _stack_items

    return _stack_items([dataset[int(i)] for i in idx])


def _forward(model: Any, dataset: Any, batches: list[tuple[int, int]]) -> np.ndarray:
    """Outputs of ``model`` (eval mode, no graph) on the given row ranges, concatenated."""
    from ..tensor import from_numpy, no_grad, tensor

    was_training = getattr(model, "training", True)
    model.eval()
    outs = []
    try:
        with no_grad():
            for s, e in batches:
                xb = _rows(dataset, s, e)[0]
                x = from_numpy(xb) if getattr(xb, "dtype", None) == np.float32 else tensor(xb)
                outs.append(model(x).data)
    finally:
        if was_training:
            model.train()
    if outs:
        return np.concatenate(outs, axis=0)
    # no share for this rank: an empty array of the outputs' trailing shape and dtype
    probe = _rows(dataset, 0, min(1, len(dataset)))[0]
    with no_grad():
        model.eval()
        try:
            shape = model(from_numpy(probe) if getattr(probe, "dtype", None) == np.float32 else tensor(probe)).shape
        finally:
            if was_training:
                model.train()
    return np.zeros((0,) + tuple(shape[1:]), np.float32)


def predict(model: Any, X: Any, batch_size: int = 256) -> np.ndarray:
    """The model's raw outputs for all of ``X`` (``(N, ...)``), each rank computing a
    contiguous share of the batches; every rank receives the whole ``(N, ...)`` result."""
    from ..data import TensorDataset

    x = np.asarray(getattr(X, "data", X))
    ds = TensorDataset(x, np.zeros(len(x), np.int64))
    n = len(x)
    batches = [(s, min(s + batch_size, n)) for s in range(0, n, batch_size)]
    r, w = comm.rank(), comm.world_size()
    lo, hi = len(batches) * r // w, len(batches) * (r + 1) // w
    return comm.allgatherv(_forward(model, ds, batches[lo:hi]), "gathering predictions")


# ----------------------------------------------------------------------------- metrics
def _metric_state(m: Any) -> dict[str, float]:
    return {k: v for k, v in vars(m).items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def _merge_into(m: Any, states: list[dict[str, float]]) -> None:
    """Combine per-rank states of a built-in running metric: counts and sums add; the
    regression metrics' target mean and M2 merge by Chan et al.'s formula."""
    if {"correct", "count"} <= set(states[0]):  # Accuracy
        m.correct = int(sum(s["correct"] for s in states))
        m.count = int(sum(s["count"] for s in states))
    elif {"n", "sq", "ab", "mean_t", "m2_t"} <= set(states[0]):  # MSE, MAE, R2
        n, mean, m2 = 0, 0.0, 0.0
        for s in states:
            nb = int(s["n"])
            if nb:
                tot = n + nb
                delta = s["mean_t"] - mean
                m2 += s["m2_t"] + delta * delta * n * nb / tot
                mean += delta * nb / tot
                n = tot
        m.n, m.mean_t, m.m2_t = n, mean, m2
        m.sq = float(sum(s["sq"] for s in states))
        m.ab = float(sum(s["ab"] for s in states))
    else:
        raise ConfigError(f"fit(distributed=...): the metric {getattr(m, 'name', type(m).__name__)!r} has no "
                          f"known way to be combined across ranks; use accuracy, mse, mae or r2")


__all__ = ["DistributedFit", "predict"]
