"""The training loop: ``fit``, and ``evaluate``/``predict`` for trained models.

One epoch of :func:`fit`, without the bookkeeping, is the loop every neural network runs::

    model.train()
    for xb, yb in train_loader:
        optimizer.zero_grad()             # forget last batch's gradients
        loss = loss_fn(model(xb), yb)     # forward: the graph is recorded
        loss.backward()                   # backward: ∂loss/∂parameter for every parameter
        clip_grad_norm_(params, max)      # optional: cap the gradient's length
        optimizer.step()                  # move each parameter against its gradient

Around it ``fit`` adds what makes training usable: validation under ``no_grad`` after each
epoch, a History with losses, metrics and per-layer gradient norms, callbacks, a progress
bar, a check that stops at the first NaN/Inf loss (:class:`TrainingDiverged`), and an
optional resumable checkpoint written atomically after every epoch (``checkpoint=path``).
A run resumed from that checkpoint (``resume=True``) ends with exactly the weights an
uninterrupted run would have, because the checkpoint holds the model, the optimizer's
state, the scheduler and callbacks, the global RNG (dropout), and the epoch number (the
DataLoader's shuffle is seeded per epoch).
"""
from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..tensor import Tensor
from .callbacks import Callback, LRSchedulerCallback
from .checkpoint import load_training_checkpoint, save_training_checkpoint
from .diagnostics import Diagnostics
from .evaluation import _as_input, _as_loader, _evaluate_loader, _split_batch
from .history import History
from .metrics import RunningMetric, get_metric
from .progress import EpochProgress
from .run import Run, TrainingDiverged, TrainingInterrupted, current_lr, divergence_cause


def _weight_params(model: Any) -> list[tuple[str, Tensor]]:
    """(layer name, weight) for every parameter named ``*weight`` with 2 or more dims."""
    out = []
    for name, p in model.named_parameters():
        if name.split(".")[-1] == "weight" and p.data.ndim >= 2:
            layer = name[: -len("weight")].rstrip(".") or "weight"
            out.append((layer, p))
    return out


def _finite_params(model: Any) -> bool:
    return all(np.isfinite(p.data).all() for p in model.parameters())


# ----------------------------------------------------------------------------- fit
def fit(
    model: Any,
    loss_fn: Callable[[Tensor, Any], Tensor],
    optimizer: Any,
    train: Any,
    val: Any = None,
    epochs: int = 10,
    batch_size: int = 32,
    callbacks: Sequence[Callback] = (),
    metrics: Sequence[str | RunningMetric] = ("accuracy",),
    shuffle: bool = True,
    seed: int | None = None,
    clip_grad_norm: float | None = None,
    progress: bool = True,
    start_epoch: int = 0,
    scheduler: Any = None,
    diagnostics: bool = True,
    plot: bool = False,
    checkpoint: str | os.PathLike | None = None,
    resume: bool = False,
    stream: Any = None,
    distributed: Any = False,
) -> History:
    """Train ``model`` for ``epochs`` epochs and return the :class:`History`.

    Args:
        model: a ``chainrule.nn.Module`` mapping an input batch to outputs (logits ``(B, C)``
            for classification, ``(B, K)`` for regression).
        loss_fn: ``loss_fn(outputs, targets) -> scalar Tensor`` (``nn.CrossEntropyLoss()``,
            ``F.mse_loss`` ...), averaged over the batch.
        optimizer: a ``chainrule.optim`` optimizer over ``model.parameters()``.
        train: a DataLoader, a Dataset or a tuple ``(X, y)`` of arrays. Datasets and tuples
            are batched by ``batch_size``.
        val: optional validation data of the same kinds, evaluated after each epoch under
            ``no_grad`` in eval mode.
        epochs: train until this many epochs are complete (counting resumed ones).
        metrics: names (``accuracy mse mae r2``) computed on train (running, over the epoch's
            batches, in train mode) and val data.
        shuffle: shuffle the training data each epoch.
        seed: with a seed, epoch k is shuffled by ``default_rng((seed, k))``, so runs and
            resumed runs repeat exactly.
        clip_grad_norm: if given, scale the gradients so their global L2 norm is at most this.
        progress: show a bar per epoch (only on a terminal) and one summary line per epoch.
        start_epoch: number of epochs already done (for a model trained before); the epoch
            numbers in the History continue from it. Set automatically by ``resume``.
        scheduler: a learning-rate scheduler stepped once per epoch (ReduceLROnPlateau with
            ``val_loss``, or ``loss`` when there is no validation data).
        diagnostics: add ``chainrule.training.diagnostics.Diagnostics()`` (warnings about
            vanishing/exploding gradients, divergence, overfitting) when that module exists.
        plot: in a Jupyter notebook, draw the loss and metric curves live, redrawn in place
            after each epoch (``chainrule.display.LivePlot``).
        checkpoint: path of a resumable checkpoint written atomically after every epoch.
        resume: if ``checkpoint`` exists, restore it first and continue from its epoch.
        stream: where the progress bar and epoch lines go (default ``sys.stderr`` for the
            bar, ``sys.stdout`` for lines).
        distributed: ``True`` (or a ``chainrule.distributed.DataParallel`` of ``model``) to
            train data-parallel over the ranks of an MPI job (``mpiexec -n N``): rank 0's
            weights are broadcast, ``batch_size`` is the batch of *each rank* (the global
            batch is ``world_size * batch_size``; the learning rate is not scaled for you),
            gradients are averaged in buckets during backward, every rank holds the same
            History, and only rank 0 prints and writes the checkpoint (every rank resumes
            from it). See ``chainrule.distributed``.

    Raises:
        TrainingDiverged: the loss or the weights became NaN/Inf; the checkpoint (if any)
            keeps the last good epoch.
        TrainingInterrupted: Ctrl-C; the checkpoint keeps the last complete epoch.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 1:
        raise ConfigError(f"fit: epochs must be a positive integer, got {epochs!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ConfigError(f"fit: batch_size must be a positive integer, got {batch_size!r}")
    if clip_grad_norm is not None and not clip_grad_norm > 0:
        raise ConfigError(f"fit: clip_grad_norm must be positive, got {clip_grad_norm!r}")
    if resume and checkpoint is None:
        raise ConfigError("fit: resume=True needs checkpoint=<path>")

    train_loader = _as_loader(train, batch_size, shuffle, seed, "train")
    dist = None
    if distributed is not False and distributed is not None:
        from ..distributed.training import DistributedFit

        dist = DistributedFit(model, distributed, seed)
        train_loader = dist.loader(train_loader)
        progress = progress and dist.rank == 0
    val_loader = _as_loader(val, max(int(batch_size), 256), False, None, "val")
    metric_objs = [get_metric(m) for m in metrics]
    val_metric_objs = [get_metric(m.name if isinstance(m, RunningMetric) else m) for m in metrics]
    params = list(model.parameters())
    weights = _weight_params(model)

    cbs: list[Callback] = list(callbacks)
    if scheduler is not None:
        cbs.append(LRSchedulerCallback(scheduler))
    if diagnostics and not any(type(c).__name__ == "Diagnostics" for c in cbs):
        cbs.append(Diagnostics(stream=stream))  # to silence it, pass your own Diagnostics(verbose=False)

    if plot:
        from ..display import LivePlot

        cbs.append(LivePlot())
    history = History()
    history.params = {"epochs": int(epochs), "batch_size": int(batch_size), "seed": seed,
                      "clip_grad_norm": clip_grad_norm, "metrics": [m.name for m in metric_objs]}
    run = Run(model=model, loss_fn=loss_fn, optimizer=optimizer, history=history, epochs=int(epochs),
              callbacks=cbs, train_loader=train_loader, val_loader=val_loader, params=history.params,
              distributed=dist)
    ckpt = None if checkpoint is None else os.fspath(checkpoint)
    writer = dist is None or dist.rank == 0  # one rank writes the checkpoint; all read it
    if ckpt is not None and writer:
        from ..io.safetensors_format import remove_leftover_temporaries

        remove_leftover_temporaries(ckpt)  # of a run killed while writing its checkpoint
    if resume and ckpt is not None and os.path.exists(ckpt):
        start_epoch = load_training_checkpoint(ckpt, run)
        if history.stop_reason in ("early stopping", "target reached"):
            start_epoch = int(epochs)  # that run had already finished; just end it again
    run.history_epochs = int(start_epoch)
    run.saved_epochs = int(start_epoch) if resume and ckpt is not None and os.path.exists(ckpt) else None
    out = stream if stream is not None else sys.stdout

    clip: Callable[..., Any] | None = None
    if clip_grad_norm is not None:
        from ..optim import clip_grad_norm_

        clip = clip_grad_norm_

    for cb in cbs:
        cb.on_train_begin(run)
    try:
        for epoch in range(int(start_epoch), int(epochs)):
            run.epoch = epoch
            if hasattr(train_loader, "set_epoch"):
                train_loader.set_epoch(epoch)  # the shuffle of epoch k depends only on (seed, k)
            if dist is not None:
                dist.begin_epoch(epoch)
            for cb in cbs:
                cb.on_epoch_begin(run, epoch)
            record = _train_one_epoch(run, epoch, metric_objs, weights, params, clip, clip_grad_norm, progress)
            if val_loader is not None:
                evaluate_val = _evaluate_loader if dist is None else dist.evaluate
                record.update({f"val_{k}": v for k, v in
                               evaluate_val(model, val_loader, loss_fn, val_metric_objs).items()})
            if not _finite_params(model):
                _diverged(run, epoch, None, record["loss"])
            history.append(record)
            run.history_epochs = epoch + 1
            for cb in cbs:
                cb.on_epoch_end(run, epoch, history.epochs[-1])
            if progress:
                print(_epoch_line(history.epochs[-1], int(epochs)), file=out, flush=True)
            if ckpt is not None and writer:
                save_training_checkpoint(ckpt, run)  # atomic: the file is always a whole epoch
                run.saved_epochs = run.history_epochs
            if run.stop_training:
                break
    except KeyboardInterrupt:
        history.stop_reason = "interrupted"
        if ckpt is not None and run.saved_epochs is not None:  # report what the file holds
            raise TrainingInterrupted(run.saved_epochs, ckpt, history) from None
        raise TrainingInterrupted(run.history_epochs, None, history) from None
    except TrainingDiverged:
        if dist is not None:  # every rank diverges at the same step (the loss is the global mean)
            dist.close()
        for cb in cbs:
            cb.on_train_end(run)
        raise
    if dist is not None:  # unhook the model; collective, so only where every rank gets to
        dist.close()
    for cb in cbs:
        cb.on_train_end(run)
    return history


def _diverged(run: Run, epoch: int, batch: int | None, loss: float) -> None:
    lr = current_lr(run.optimizer)
    where = f"epoch {epoch + 1} batch {batch}" if batch is not None else f"the end of epoch {epoch + 1}"
    what = "loss" if batch is not None else "weights"
    value = "NaN" if math.isnan(loss) else ("Inf" if math.isinf(loss) else "NaN/Inf")
    hint = ""
    cause = divergence_cause(run.optimizer)
    if cause is not None:
        hint = f": {cause[0]}"
    elif lr is not None:
        hint = f": the learning rate {lr:g} is probably too high; try {lr / 10:g} or lower"
        if type(run.optimizer).__name__ in ("Adam", "AdamW") and lr > 0.01:
            hint += " (0.001 is the usual start for Adam)"
    run.history.stop_reason = "diverged"
    raise TrainingDiverged(f"{what} became {value} at {where}{hint}", epoch + 1, batch, loss, lr, run.history)


def _train_one_epoch(run: Run, epoch: int, metric_objs: list[RunningMetric], weights: list[tuple[str, Tensor]],
                     params: list[Tensor], clip: Any, clip_grad_norm: float | None, progress: bool) -> dict[str, Any]:
    """One pass over the training data; returns the epoch's History record (without val)."""
    model, loss_fn, optimizer, loader = run.model, run.loss_fn, run.optimizer, run.train_loader
    assert loss_fn is not None  # fit always sets it
    dist = run.distributed
    for m in metric_objs:
        m.reset()
    total = len(loader) if hasattr(loader, "__len__") else None
    bar = EpochProgress(total, f"epoch {epoch + 1}/{run.epochs}", enabled=progress)
    lr = current_lr(optimizer)
    grad_sums = {name: 0.0 for name, _ in weights}
    loss_sum, seen, n_batches = 0.0, 0, 0
    t0 = time.perf_counter()
    model.train()
    try:
        for batch_idx, batch in enumerate(loader):
            xb, yb = _split_batch(batch)
            optimizer.zero_grad()
            if dist is None:
                out = model(_as_input(xb))
                loss = loss_fn(out, yb)
                loss_value = float(loss.item())
                if not math.isfinite(loss_value):
                    _diverged(run, epoch, batch_idx + 1, loss_value)
                loss.backward()
            else:  # this rank's shard; the gradients and loss come back averaged over the ranks
                out, loss_value = dist.step(model, loss_fn, xb, yb, batch_idx)
                if not math.isfinite(loss_value):
                    _diverged(run, epoch, batch_idx + 1, loss_value)
            with np.errstate(over="ignore", invalid="ignore"):  # an exploding norm is data, not an error
                for name, w in weights:  # per-layer gradient size, before clipping
                    if w.grad is not None:
                        g = w.grad.ravel()
                        grad_sums[name] += math.sqrt(float(np.dot(g, g)))
            if clip is not None:
                clip(params, clip_grad_norm)
            optimizer.step()

            n = len(yb) if dist is None else dist.global_size(batch_idx)
            loss_sum += loss_value * n
            seen += n
            n_batches += 1
            if out is not None:
                for m in metric_objs:
                    m.update(out.data, yb)
            for cb in run.callbacks:
                cb.on_batch_end(run, batch_idx, loss_value)
            if bar.active:
                shown = {"loss": loss_sum / seen}
                if metric_objs:
                    shown[metric_objs[0].name] = metric_objs[0].compute()
                bar.update(1, **shown)
    finally:
        bar.close()
    if dist is not None:
        dist.merge_metrics(metric_objs)
    record: dict[str, Any] = {"epoch": epoch + 1, "loss": loss_sum / max(seen, 1)}
    for m in metric_objs:
        record[m.name] = m.compute()
    record["lr"] = lr
    record["seconds"] = time.perf_counter() - t0
    record["grad_norms"] = {name: s / max(n_batches, 1) for name, s in grad_sums.items()}
    return record


def _epoch_line(rec: dict[str, Any], epochs: int) -> str:
    parts = [f"epoch {rec['epoch']}/{epochs}"]
    for k in ("loss", "accuracy", "mse", "mae", "r2", "val_loss", "val_accuracy", "val_mse", "val_mae", "val_r2"):
        if k in rec:
            parts.append(f"{k} {rec[k]:.4f}")
    parts.append(f"{rec['seconds']:.1f}s")
    return "  ".join(parts)


__all__ = ["fit"]
