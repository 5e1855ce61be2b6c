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
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import ChainruleError, ConfigError, ModelFileError
from .. import rng as _rng
from ..tensor import Tensor, no_grad, tensor
from .callbacks import Callback, LRSchedulerCallback
from .history import History, _jsonable
from .metrics import RunningMetric, get_metric
from .progress import EpochProgress


class TrainingDiverged(ChainruleError, FloatingPointError):
    """The loss (or a weight) became NaN or Inf: training was stopped.

    Attributes: ``epoch`` (1-based), ``batch`` (1-based, or None when found in the weights
    at the end of an epoch), ``loss``, ``lr``, and ``history`` (the epochs that finished).
    """

    def __init__(self, message: str, epoch: int, batch: int | None, loss: float, lr: float | None,
                 history: History) -> None:
        super().__init__(message)
        self.epoch, self.batch, self.loss, self.lr, self.history = epoch, batch, loss, lr, history


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`fit`. ``checkpoint`` (None if there is none yet) holds exactly
    ``completed_epochs`` epochs, never a half-done one (without a checkpoint,
    ``completed_epochs`` counts the epochs finished in memory); ``history`` has the records."""

    def __init__(self, completed_epochs: int, checkpoint: str | None, history: History) -> None:
        super().__init__(f"interrupted after {completed_epochs} complete epoch(s)")
        self.completed_epochs, self.checkpoint, self.history = completed_epochs, checkpoint, history


class Run:
    """What callbacks see: the objects of one training run and its progress.

    Attributes: ``model``, ``loss_fn``, ``optimizer``, ``history``, ``epoch`` (0-based index
    of the current epoch), ``epochs`` (total), ``stop_training`` (set True to stop after
    this epoch), ``train_loader``, ``val_loader``, ``params`` (fit's arguments).
    """

    def __init__(self, **kw: Any) -> None:
        self.stop_training = False
        self.epoch = 0
        self.__dict__.update(kw)


# ----------------------------------------------------------------------------- data handling
def _as_loader(data: Any, batch_size: int, shuffle: bool, seed: int | None, what: str) -> Any:
    """A DataLoader for a DataLoader (returned as is), a Dataset, or a tuple ``(X, y)``."""
    from ..data import DataLoader, TensorDataset

    if data is None:
        return None
    if hasattr(data, "__iter__") and hasattr(data, "batch_size") and hasattr(data, "dataset"):
        return data  # already a DataLoader
    if isinstance(data, (tuple, list)) and len(data) == 2:
        data = TensorDataset(np.asarray(getattr(data[0], "data", data[0])),
                             np.asarray(getattr(data[1], "data", data[1])))
    if hasattr(data, "train") and hasattr(data, "test") and not hasattr(data, "__getitem__"):
        raise ConfigError(f"fit: {what} is a whole DatasetSplits; pass its .train (or .test) part")
    if not (hasattr(data, "__len__") and hasattr(data, "__getitem__")):
        raise ConfigError(f"fit: {what} must be a DataLoader, a Dataset or a tuple (X, y); "
                          f"got {type(data).__name__}")
    return DataLoader(data, batch_size=batch_size, shuffle=shuffle, seed=seed)


def _split_batch(batch: Any) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(batch, (tuple, list)) or len(batch) < 2:
        raise ConfigError("fit: each batch must be a tuple (inputs, targets); the dataset gives "
                          f"{type(batch).__name__} of length {len(batch) if hasattr(batch, '__len__') else '?'}")
    return batch[0], batch[1]


def _as_input(xb: Any) -> Tensor:
    return xb if isinstance(xb, Tensor) else tensor(xb)


def current_lr(optimizer: Any) -> float | None:
    """The learning rate of the optimizer's first parameter group (None if it has none)."""
    groups = getattr(optimizer, "param_groups", None)
    if groups:
        return float(groups[0]["lr"])
    lr = getattr(optimizer, "lr", None)
    return None if lr is None else float(lr)


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


# ----------------------------------------------------------------------------- checkpoints
def save_training_checkpoint(path: str, run: Run) -> None:
    """Write everything a resumed run needs, atomically (via ``chainrule.io.save_checkpoint``).

    The model goes in as a Module (so ``cr.load(checkpoint)`` can rebuild it), unless a
    callback holds weights of its own (EarlyStopping's best epoch): then the model part is a
    state dict with those arrays added under ``callback<i>/<name>``.
    """
    from ..io import save_checkpoint

    extra: dict[str, Any] = {
        "history": run.history.state_dict(),
        "callbacks": {key: cb.state_dict() for key, cb in _callback_keys(run.callbacks)},
        "loader_epoch": getattr(run.train_loader, "epoch", None),
    }
    model_part: Any = run.model
    for key, cb in _callback_keys(run.callbacks):
        best = getattr(cb, "best_weights", None)
        if best:
            if model_part is run.model:
                model_part = dict(run.model.state_dict())
            model_part.update({f"callback:{key}/{k}": v for k, v in best.items()})
    save_checkpoint(path, model_part, run.optimizer, epoch=run.history_epochs, rng_state=_rng.get_state(),
                    extra=_jsonable(extra))


def load_training_checkpoint(path: str, run: Run) -> int:
    """Restore a checkpoint written by :func:`save_training_checkpoint` into ``run`` (model,
    optimizer, global RNG, History, callbacks); returns the number of completed epochs."""
    from ..io import load_checkpoint

    ck = load_checkpoint(path, optimizer=run.optimizer, restore_rng=True)
    state = ck["model_state"]
    own = {k: v for k, v in state.items() if not k.startswith("callback:")}
    try:
        run.model.load_state_dict(own)
    except ModelFileError as e:
        raise ModelFileError(f"{path}: {e} (was the checkpoint written by a different model?)") from None
    extra = ck.get("extra") or {}
    if ck["epoch"] < 0:
        raise ModelFileError(f"{path}: epoch {ck['epoch']} in the checkpoint is negative")
    history_state = extra.get("history", {})
    problem = _history_problem(history_state)
    if problem:
        raise ModelFileError(f"{path}: malformed training history in the checkpoint: {problem}")
    run.history.load_state_dict(history_state)
    states = extra.get("callbacks", {})
    if not isinstance(states, dict):
        raise ModelFileError(f"{path}: 'callbacks' in the checkpoint is not a JSON object")
    for key, cb in _callback_keys(run.callbacks):  # callbacks new in this run start fresh
        if key in states:
            # the file is untrusted: its state must have the form this callback's own has
            problem = _form_problem(cb.state_dict(), states[key], key)
            if problem:
                raise ModelFileError(f"{path}: malformed state of callback {key} in the checkpoint: {problem}")
            try:
                cb.load_state_dict(states[key])
            except Exception as e:  # noqa: BLE001 - untrusted content: a file problem
                raise ModelFileError(f"{path}: cannot restore callback {key}: {type(e).__name__}: "
                                     f"{str(e)[:200]}") from None
        prefix = f"callback:{key}/"
        best = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        if best and hasattr(cb, "best_weights"):
            cb.best_weights = best
    return int(ck["epoch"])


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _form_problem(fresh: Any, stored: Any, where: str) -> str | None:
    """How ``stored`` (JSON from a checkpoint) differs in form from ``fresh`` (the state a
    callback of this run produces), or None. A None in ``fresh`` (not yet measured) takes
    None or a number; a list takes elements of the form of its first element (scalars when
    empty); a dict takes only its own keys."""
    if fresh is None:
        ok = stored is None or _is_number(stored)
    elif isinstance(fresh, bool):
        ok = isinstance(stored, bool)
    elif _is_number(fresh):
        ok = _is_number(stored)
    elif isinstance(fresh, str):
        ok = isinstance(stored, str)
    elif isinstance(fresh, (list, tuple)):
        if not isinstance(stored, list):
            return f"{where} must be a list"
        for i, item in enumerate(stored):
            if fresh:
                problem = _form_problem(fresh[0], item, f"{where}[{i}]")
                if problem:
                    return problem
            elif not (item is None or isinstance(item, str) or _is_number(item)):
                return f"{where}[{i}] must be a string or number"
        return None
    elif isinstance(fresh, dict):
        if not isinstance(stored, dict):
            return f"{where} must be an object"
        for k, v in stored.items():
            if k not in fresh:
                return f"{where} has an unknown field {str(k)[:40]!r}"
            problem = _form_problem(fresh[k], v, f"{where}.{k}")
            if problem:
                return problem
        return None
    else:
        ok = True
    return None if ok else f"{where} is {str(stored)[:40]!r}, not a {type(fresh).__name__ if fresh is not None else 'number'}"


def _history_problem(state: Any) -> str | None:
    """What is wrong with a History state from an (untrusted) checkpoint, or None."""
    if not isinstance(state, dict):
        return "not a JSON object"
    epochs = state.get("epochs", [])
    if not isinstance(epochs, list):
        return "'epochs' is not a list"
    for i, rec in enumerate(epochs):
        if not isinstance(rec, dict) or not isinstance(rec.get("epoch"), int) or isinstance(rec["epoch"], bool):
            return f"epoch record {i} is not an object with an integer 'epoch'"
        for k, v in rec.items():
            if isinstance(v, dict):
                if not all(isinstance(n, str) and _is_number(x) for n, x in v.items()):
                    return f"epoch record {i}: {str(k)[:40]!r} must map names to numbers"
            elif not (v is None or _is_number(v)):
                return f"epoch record {i}: {str(k)[:40]!r} is {str(v)[:40]!r}, not a number"
    if state.get("stop_reason") is not None and not isinstance(state["stop_reason"], str):
        return "'stop_reason' is not a string"
    best = state.get("best_epoch")
    if best is not None and (not isinstance(best, int) or isinstance(best, bool)):
        return "'best_epoch' is not an integer"
    return None


def _callback_keys(callbacks: Sequence[Callback]) -> list[tuple[str, Callback]]:
    """``("EarlyStopping#0", cb)`` ...: callbacks named by class and occurrence, so a resumed
    run finds each one's saved state even when other callbacks were added or removed."""
    counts: dict[str, int] = {}
    out = []
    for cb in callbacks:
        name = type(cb).__name__
        out.append((f"{name}#{counts.get(name, 0)}", cb))
        counts[name] = counts.get(name, 0) + 1
    return out


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
        train, val: a DataLoader, a Dataset or a tuple ``(X, y)`` of arrays. Datasets and
            tuples are batched by ``batch_size``; ``val`` (optional) is evaluated after each
            epoch under ``no_grad`` in eval mode.
        epochs: train until this many epochs are complete (counting resumed ones).
        metrics: names (``accuracy mse mae r2``) computed on train (running, over the epoch's
            batches, in train mode) and val data.
        shuffle, seed: shuffle the training data each epoch; with ``seed`` epoch k uses
            ``default_rng((seed, k))`` so runs and resumed runs repeat exactly.
        clip_grad_norm: if given, scale the gradients so their global L2 norm is at most this.
        progress: show a bar per epoch (only on a terminal) and one summary line per epoch.
        start_epoch: number of epochs already done (for a model trained before); the epoch
            numbers in the History continue from it. Set automatically by ``resume``.
        scheduler: a learning-rate scheduler stepped once per epoch (ReduceLROnPlateau with
            ``val_loss``, or ``loss`` when there is no validation data).
        diagnostics: add ``chainrule.training.diagnostics.Diagnostics()`` (warnings about
            vanishing/exploding gradients, divergence, overfitting) when that module exists.
        checkpoint: path of a resumable checkpoint written atomically after every epoch.
        resume: if ``checkpoint`` exists, restore it first and continue from its epoch.
        stream: where the progress bar and epoch lines go (default ``sys.stderr`` for the
            bar, ``sys.stdout`` for lines).
        distributed: ``True`` (or a ``chainrule.distributed.DataParallel`` of ``model``) to
            train data-parallel over the ranks of an MPI job (``mpiexec -n N``): rank 0's
            weights are broadcast, ``batch_size`` is the *global* batch split over the ranks,
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
        try:
            from .diagnostics import Diagnostics  # written by the learning-aids work
        except ImportError:
            Diagnostics = None  # type: ignore[assignment]
        if Diagnostics is not None:  # to silence it, pass your own Diagnostics(verbose=False)
            cbs.append(Diagnostics(stream=stream))

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

    clip = None
    if clip_grad_norm is not None:
        from ..optim import clip_grad_norm_ as clip

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
        for cb in cbs:
            cb.on_train_end(run)
        raise
    for cb in cbs:
        cb.on_train_end(run)
    return history


def _diverged(run: Run, epoch: int, batch: int | None, loss: float) -> None:
    lr = current_lr(run.optimizer)
    where = f"epoch {epoch + 1} batch {batch}" if batch is not None else f"the end of epoch {epoch + 1}"
    what = "loss" if batch is not None else "weights"
    value = "NaN" if math.isnan(loss) else ("Inf" if math.isinf(loss) else "NaN/Inf")
    hint = ""
    if lr is not None:
        hint = f": the learning rate {lr:g} is probably too high; try {lr / 10:g} or lower"
        if type(run.optimizer).__name__ in ("Adam", "AdamW") and lr > 0.01:
            hint += " (0.001 is the usual start for Adam)"
    run.history.stop_reason = "diverged"
    raise TrainingDiverged(f"{what} became {value} at {where}{hint}", epoch + 1, batch, loss, lr, run.history)


def _train_one_epoch(run: Run, epoch: int, metric_objs: list[RunningMetric], weights: list[tuple[str, Tensor]],
                     params: list[Tensor], clip: Any, clip_grad_norm: float | None, progress: bool) -> dict[str, Any]:
    """One pass over the training data; returns the epoch's History record (without val)."""
    model, loss_fn, optimizer, loader = run.model, run.loss_fn, run.optimizer, run.train_loader
    dist = getattr(run, "distributed", None)
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


# ----------------------------------------------------------------------------- evaluate / predict
def _evaluate_loader(model: Any, loader: Any, loss_fn: Any, metric_objs: list[RunningMetric]) -> dict[str, float]:
    for m in metric_objs:
        m.reset()
    was_training = getattr(model, "training", True)
    model.eval()
    loss_sum, seen = 0.0, 0
    try:
        with no_grad():
            for batch in loader:
                xb, yb = _split_batch(batch)
                out = model(_as_input(xb))
                if loss_fn is not None:
                    loss_sum += float(loss_fn(out, yb).item()) * len(yb)
                seen += len(yb)
                for m in metric_objs:
                    m.update(out.data, yb)
    finally:
        if was_training:
            model.train()
    result: dict[str, float] = {}
    if loss_fn is not None:
        result["loss"] = loss_sum / max(seen, 1)
    for m in metric_objs:
        result[m.name] = m.compute()
    return result


def evaluate(model: Any, data: Any, loss_fn: Any = None, metrics: Sequence[str | RunningMetric] = ("accuracy",),
             batch_size: int = 256) -> dict[str, float]:
    """Loss (when ``loss_fn`` is given) and metrics of ``model`` on ``data``, in eval mode.

    ``data`` is a DataLoader, Dataset or tuple ``(X, y)``. Returns e.g.
    ``{"loss": 0.08, "accuracy": 0.975}``.
    """
    loader = _as_loader(data, batch_size, False, None, "data")
    return _evaluate_loader(model, loader, loss_fn, [get_metric(m) for m in metrics])


def predict(model: Any, X: Any, batch_size: int = 256, probabilities: bool | None = None) -> np.ndarray:
    """The model's outputs for inputs ``X`` (``(N, ...)``), computed in eval mode in batches.

    ``probabilities``: apply a softmax over the last axis. ``None`` (default) decides from
    the output: outputs with 2 or more columns are treated as class scores and become
    probabilities ``(N, C)`` summing to 1; a single column (regression) is returned as is.
    """
    from ..ops.activation import softmax

    x = np.asarray(getattr(X, "data", X))
    if x.ndim == 0:
        raise ConfigError("predict: X must have a first (example) axis, got a scalar")
    was_training = getattr(model, "training", True)
    model.eval()
    outs = []
    try:
        with no_grad():
            for start in range(0, x.shape[0], batch_size):
                out = model(tensor(x[start:start + batch_size]))
                use_softmax = probabilities if probabilities is not None else (out.ndim == 2 and out.shape[1] >= 2)
                outs.append((softmax(out, axis=-1) if use_softmax else out).data)
    finally:
        if was_training:
            model.train()
    if not outs:
        return np.zeros((0,), np.float32)
    return np.concatenate(outs, axis=0)


__all__ = ["fit", "evaluate", "predict", "Run", "TrainingDiverged", "TrainingInterrupted", "current_lr",
           "save_training_checkpoint", "load_training_checkpoint"]
