"""Training checkpoints: saving, restoring and validating the state of a training run.

A checkpoint holds everything a resumed run needs to end with exactly the weights an
uninterrupted run would have: the model, the optimizer's state, the global RNG (dropout),
the History, every callback's state and the epoch number. It is written atomically after
every epoch by :func:`~chainrule.training.fit` (``checkpoint=path``).

A checkpoint file is untrusted input: everything read from its JSON part is checked here
(form, types, ranges) before it reaches a History or a callback, and any problem is a
:class:`~chainrule.errors.ModelFileError` naming the file.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .. import rng as _rng
from ..errors import ModelFileError
from .callbacks import Callback
from .history import _jsonable
from .run import Run


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
    from ..io import describe, load_checkpoint

    _check_same_model(path, describe(path).get("tensors") or {}, run.model)
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


def _check_same_model(path: str, tensors: dict[str, Any], model: Any) -> None:
    """Refuse to resume a checkpoint of another architecture, naming the first difference,
    before its optimizer state is loaded (whose shapes would otherwise be the first to clash)."""
    saved = {k[len("model."):]: tuple(shape) for k, (_, shape) in tensors.items()
             if k.startswith("model.") and not k.startswith("model.callback:")}
    mine = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    fix = "use another checkpoint path, or delete it to start afresh"
    for name in sorted(saved.keys() | mine.keys()):
        if name not in mine:
            raise ModelFileError(f"{path}: the checkpoint's model has {name!r} {saved[name]}, which this model "
                                 f"lacks: it was written by a different architecture; {fix}")
        if name not in saved:
            raise ModelFileError(f"{path}: this model's {name!r} {mine[name]} is not in the checkpoint: it was "
                                 f"written by a different architecture; {fix}")
        if saved[name] != mine[name]:
            raise ModelFileError(f"{path}: {name!r} has shape {saved[name]} in the checkpoint but {mine[name]} in "
                                 f"this model: it was written by a different architecture; {fix}")


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
    kind = type(fresh).__name__ if fresh is not None else "number"
    return None if ok else f"{where} is {str(stored)[:40]!r}, not a {kind}"


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


__all__ = ["save_training_checkpoint", "load_training_checkpoint"]
