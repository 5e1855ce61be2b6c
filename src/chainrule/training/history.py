"""History: what happened in each epoch of :func:`chainrule.training.fit`.

One dict per epoch with the keys ``epoch`` (1-based), ``loss`` (mean training loss over the
epoch's batches, weighted by batch size), the training metrics (``accuracy`` ...), ``val_loss``
and ``val_<metric>`` when validation data was given, ``lr`` (learning rate used in the epoch),
``seconds`` (wall time of the epoch) and ``grad_norms``: for every layer with a weight matrix
(Linear, Conv2d ...), the mean over the epoch's batches of the L2 norm of ``∂loss/∂weight``,
measured before any clipping. Those norms are how one *sees* vanishing or exploding
gradients: a layer whose norm is 1000x smaller than its neighbour's is barely learning.
"""
from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: The columns every History row has, in the order CSV files list them.
BASE_KEYS = ("epoch", "loss", "val_loss", "accuracy", "val_accuracy", "lr", "seconds")


@dataclass(eq=False)
class History:
    """Per-epoch records of a training run.

    Attributes:
        epochs: list of dicts, one per finished epoch (see module docstring for keys).
        stop_reason: ``None`` when all epochs ran, else a short text: ``"early stopping"``,
            ``"diverged"``, ``"interrupted"``, ``"target reached"``.
        best_epoch: set by ``EarlyStopping(restore_best=True)`` to the epoch whose weights
            were restored.
        params: the arguments of the run (epochs, batch_size, ...), for reports.

    ``history["val_loss"]`` is the list of that key over epochs (``nan`` where missing).
    """

    epochs: list[dict[str, Any]] = field(default_factory=list)
    stop_reason: str | None = None
    best_epoch: int | None = None
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.epochs = list(self.epochs or [])  # a list of its own (None: empty)

    # --- building
    def append(self, record: dict[str, Any]) -> None:
        self.epochs.append(dict(record))

    # --- reading
    def __len__(self) -> int:
        return len(self.epochs)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.epochs)

    def __getitem__(self, key: str) -> list[Any]:
        if isinstance(key, int):
            return self.epochs[key]
        if not any(key in e for e in self.epochs):
            raise KeyError(f"History has no key {key!r}; it has: {', '.join(self.keys())}")
        return [e.get(key, float("nan")) for e in self.epochs]

    def keys(self) -> list[str]:
        """All keys that occur in some epoch, base keys first."""
        seen: list[str] = [k for k in BASE_KEYS if any(k in e for e in self.epochs)]
        for e in self.epochs:
            for k in e:
                if k not in seen:
                    seen.append(k)
        return seen

    @property
    def last(self) -> dict[str, Any]:
        """The most recent epoch's record ({} before the first epoch)."""
        return self.epochs[-1] if self.epochs else {}

    @property
    def grad_norms(self) -> dict[str, list[float]]:
        """``{layer_name: [mean weight-grad norm per epoch]}`` (the diagnostics input)."""
        names: list[str] = []
        for e in self.epochs:
            for n in e.get("grad_norms", {}):
                if n not in names:
                    names.append(n)
        return {n: [e.get("grad_norms", {}).get(n, float("nan")) for e in self.epochs] for n in names}

    def best(self, key: str = "val_loss", mode: str = "min") -> dict[str, Any]:
        """The epoch record with the smallest (``mode="min"``) or largest value of ``key``."""
        rows = [e for e in self.epochs if key in e and not _isnan(e[key])]
        if not rows:
            raise KeyError(f"History has no finite values of {key!r}")
        pick = min if mode == "min" else max
        return pick(rows, key=lambda e: e[key])

    def as_dict(self) -> dict[str, list[Any]]:
        """Column form: ``{"epoch": [1, 2, ...], "loss": [...], ..., "grad_norms": [{...}, ...]}``."""
        return {k: [e.get(k, float("nan")) for e in self.epochs] for k in self.keys()}

    def to_rows(self) -> tuple[list[str], list[list[Any]]]:
        """Flat table for CSV: ``grad_norms`` become one ``grad_norm/<layer>`` column per layer."""
        layers = list(self.grad_norms)
        cols = [k for k in self.keys() if k != "grad_norms"] + [f"grad_norm/{n}" for n in layers]
        rows = []
        for e in self.epochs:
            g = e.get("grad_norms", {})
            rows.append([e.get(k, "") for k in cols if not k.startswith("grad_norm/")]
                        + [g.get(n, "") for n in layers])
        return cols, rows

    def to_csv(self, path: str | os.PathLike) -> None:
        """Write one row per epoch (header first); numbers as Python prints them."""
        cols, rows = self.to_rows()
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(cols)
            for r in rows:
                w.writerow([_fmt(v) for v in r])

    def state_dict(self) -> dict[str, Any]:
        """JSON-able form, stored in checkpoints so a resumed run has the whole history."""
        return {"epochs": _jsonable(self.epochs), "stop_reason": self.stop_reason,
                "best_epoch": self.best_epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epochs = [dict(e) for e in state.get("epochs", [])]
        self.stop_reason = state.get("stop_reason")
        self.best_epoch = state.get("best_epoch")

    def _repr_html_(self) -> str:
        """Notebooks show the epochs as a table with loss/metric curves (``chainrule.display``)."""
        from ..display import history_html

        return history_html(self)

    def __repr__(self) -> str:
        last = self.last
        shown = ", ".join(f"{k}={_fmt(last[k])}" for k in ("loss", "val_loss", "accuracy", "val_accuracy")
                          if k in last)
        extra = f", stopped: {self.stop_reason}" if self.stop_reason else ""
        return f"History({len(self)} epochs{', last: ' + shown if shown else ''}{extra})"


def _isnan(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)


def _fmt(v: Any) -> str:
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    return str(v)


def _jsonable(obj: Any) -> Any:
    """Convert NumPy scalars inside dicts/lists to Python numbers (json can't take them)."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return obj


__all__ = ["History", "BASE_KEYS"]
