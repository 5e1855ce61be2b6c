"""Optimizer base: parameter groups, per-parameter state, zero_grad and state_dict.

An optimizer holds ``param_groups``: a list of dicts, each with ``'params'`` (a list of
Tensors) and that group's hyperparameters (``'lr'``, ...), which may be changed between steps
(learning-rate schedulers do). ``state[p]`` holds each parameter's running quantities
(momentum buffers, moment estimates, step counts), created on its first update and keyed
by ``id(p)`` (the parameters themselves stay alive in ``param_groups``).

``state_dict()`` is made for ``chainrule.io`` (safetensors): arrays and JSON-able values kept
apart::

    {"type": "Adam",
     "param_groups": [{"lr": 0.001, "betas": [0.9, 0.999], ..., "params": [0, 1, 2, 3]}],
     "state": {"0.exp_avg": ndarray, "0.exp_avg_sq": ndarray, ...},   # "<param index>.<name>"
     "scalars": {"0.step": 12, ...}}                                  # JSON numbers

Parameters are numbered in order across groups, as in PyTorch.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ConfigError, ModelFileError
from ..tensor import Tensor


def _param_list(params: Any, where: str) -> list[Tensor]:
    items: list[Any] = [params] if isinstance(params, Tensor) else list(params)
    for i, p in enumerate(items):
        if not isinstance(p, Tensor):
            raise ConfigError(f"{where}: parameter #{i} is a {type(p).__name__}, not a Tensor")
        if not p.requires_grad:
            raise ConfigError(f"{where}: parameter #{i} of shape {p.shape} does not require "
                              f"grad; optimizers update only trainable tensors")
    return items


def check_number(opt: str, name: str, value: Any, low: float = 0.0, high: float | None = None,
                 high_open: bool = False) -> None:
    """ConfigError naming ``opt``, ``name`` and ``value`` unless ``low <= value <= high``
    (``< high`` with ``high_open``)."""
    ok = isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool)
    ok = ok and math.isfinite(value) and value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        rng = f"[{low}, {high}{')' if high_open else ']'}" if high is not None else f">= {low}"
        raise ConfigError(f"{opt}: {name} must be a finite number {rng}; got {value!r}")


class Optimizer:
    """Base class: subclasses set ``defaults`` and write ``step()`` for one group at a time.

    Args:
        params: an iterable of Tensors (e.g. ``model.parameters()``), a Module, or a list of
            dicts ``{"params": [...], "lr": ...}`` giving groups their own hyperparameters.
        defaults: hyperparameters for groups that do not set their own.
    """

    def __init__(self, params: Any, defaults: dict[str, Any]) -> None:
        name = type(self).__name__
        if hasattr(params, "parameters") and callable(params.parameters):
            params = params.parameters()
        if isinstance(params, Tensor):
            params = [params]
        params = list(params)
        if not params:
            raise ConfigError(f"{name}: got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        self.defaults = dict(defaults)
        self.param_groups: list[dict[str, Any]] = []
        self.state: dict[int, dict[str, Any]] = {}
        for g in groups:
            self.add_param_group(g)

    def add_param_group(self, group: dict[str, Any]) -> None:
        """Add a group of parameters with its own hyperparameters (others from defaults)."""
        name = type(self).__name__
        if not isinstance(group, dict) or "params" not in group:
            raise ConfigError(f"{name}: a parameter group must be a dict with 'params'")
        g = {**self.defaults, **group}
        g["params"] = _param_list(group["params"], name)
        seen = {id(p) for other in self.param_groups for p in other["params"]}
        if any(id(p) in seen for p in g["params"]):
            raise ConfigError(f"{name}: some parameters appear in more than one group")
        self.validate_group(g)
        self.param_groups.append(g)

    def validate_group(self, group: dict[str, Any]) -> None:
        """Raise ConfigError for bad hyperparameters (subclasses extend this)."""
        check_number(type(self).__name__, "lr", group["lr"])

    def zero_grad(self) -> None:
        """Forget every parameter's gradient (``grad = None``) before the next backward."""
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    def step(self) -> None:
        """Update every parameter that has a gradient; those whose grad is None are skipped."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self.update(p, p.grad, self.state.setdefault(id(p), {}), group)

    def update(self, p: Tensor, g: np.ndarray, state: dict[str, Any], group: dict[str, Any]) -> None:
        """One parameter's update, in place on ``p.data`` (subclasses define it)."""
        raise NotImplementedError

    def state_fields(self, group: dict[str, Any]) -> tuple[str, ...]:
        """Names of the state a parameter of ``group`` holds once updated (checked on load)."""
        return ()

    # --- state
    def _all_params(self) -> list[Tensor]:
        return [p for g in self.param_groups for p in g["params"]]

    def state_dict(self) -> dict[str, Any]:
        """Arrays under ``'state'``, JSON-able values under ``'param_groups'`` and ``'scalars'``
        (copies, so the dict stays valid while training continues)."""
        index = {id(p): i for i, p in enumerate(self._all_params())}
        groups = []
        for g in self.param_groups:
            entry = {k: (list(v) if isinstance(v, tuple) else v)
                     for k, v in g.items() if k != "params"}
            entry["params"] = [index[id(p)] for p in g["params"]]
            groups.append(entry)
        arrays: dict[str, np.ndarray] = {}
        scalars: dict[str, Any] = {}
        for p in self._all_params():
            for key, value in self.state.get(id(p), {}).items():
                if key.startswith("_"):  # scratch space, not state
                    continue
                full = f"{index[id(p)]}.{key}"
                if isinstance(value, np.ndarray):
                    arrays[full] = value.copy()
                else:
                    scalars[full] = value
        return {"type": type(self).__name__, "param_groups": groups, "state": arrays,
                "scalars": scalars}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore hyperparameters and per-parameter state saved by ``state_dict()``.

        Raises ModelFileError when the saved state does not fit these parameters.
        """
        name = type(self).__name__
        try:
            saved_type = state_dict.get("type", name)
            groups = state_dict["param_groups"]
            arrays = state_dict.get("state", {})
            scalars = state_dict.get("scalars", {})
            if not (isinstance(groups, list) and isinstance(arrays, dict)
                    and isinstance(scalars, dict)):
                raise TypeError("wrong layout")
        except (KeyError, TypeError, AttributeError) as exc:
            raise ModelFileError(f"{name}.load_state_dict: not an optimizer state dict "
                                 f"({exc})") from None
        if saved_type != name:
            raise ModelFileError(f"{name}.load_state_dict: the state was saved by {saved_type}")
        if len(groups) != len(self.param_groups):
            raise ModelFileError(f"{name}.load_state_dict: {len(groups)} parameter groups saved, "
                                 f"{len(self.param_groups)} in this optimizer")
        params = self._all_params()
        for saved, group in zip(groups, self.param_groups):
            if not isinstance(saved, dict) or len(saved.get("params", ())) != len(group["params"]):
                raise ModelFileError(f"{name}.load_state_dict: a saved parameter group does not "
                                     f"match this optimizer's group sizes")
        trials = []
        for saved, group in zip(groups, self.param_groups):
            trial = dict(group)
            for k, v in saved.items():
                if k == "params":
                    continue
                if k in group and isinstance(group[k], tuple) and isinstance(v, list):
                    v = tuple(v)
                trial[k] = v
            try:
                self.validate_group(trial)
            except ConfigError as exc:
                raise ModelFileError(f"{name}.load_state_dict: {exc}") from None
            trials.append(trial)
        new_state: dict[int, dict[str, Any]] = {}
        for key, value in list(arrays.items()) + list(scalars.items()):
            idx, _, field = str(key).partition(".")
            if not idx.isdigit() or int(idx) >= len(params) or not field:
                raise ModelFileError(f"{name}.load_state_dict: state key {key!r} does not name "
                                     f"one of the {len(params)} parameters")
            p = params[int(idx)]
            if isinstance(value, np.ndarray):
                if value.shape != p.shape:
                    raise ModelFileError(f"{name}.load_state_dict: state {key!r} has shape "
                                         f"{value.shape}; parameter {idx} has shape {p.shape}")
                fresh = np.empty_like(p.data)  # in the parameter's memory layout
                fresh[...] = value
                value = fresh
            elif isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ModelFileError(f"{name}.load_state_dict: state {key!r} must be an array "
                                     f"or a count >= 0; got {value!r:.40}")
            new_state.setdefault(id(p), {})[field] = value
        index = 0
        for trial in trials:
            needed = set(self.state_fields(trial))
            for _ in trial["params"]:
                st = new_state.get(id(params[index]))
                if st is not None and not needed <= set(st):
                    raise ModelFileError(f"{name}.load_state_dict: parameter {index} lacks state "
                                         f"{sorted(needed - set(st))}")
                index += 1
        for trial, group in zip(trials, self.param_groups):
            group.update({k: v for k, v in trial.items() if k != "params"})
        self.state = new_state

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k, v in g.items():
                if k != "params":
                    lines.append(f"    {k}: {v}")
        return "\n".join(lines) + "\n)"


def scratch(state: dict[str, Any], p: Tensor) -> np.ndarray:
    """A reusable work array shaped like ``p`` (kept in ``state['_tmp']``, never saved), so
    ``step()`` makes no temporaries."""
    buf = state.get("_tmp")
    if buf is None or buf.shape != p.data.shape or buf.dtype != p.data.dtype:
        buf = state["_tmp"] = np.empty_like(p.data)
    return buf


__all__ = ["Optimizer", "check_number", "scratch"]
