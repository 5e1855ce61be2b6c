"""Training checkpoints: model, optimizer state, scheduler, epoch and RNG state in one file.

One safetensors file, written atomically (a crash mid-write leaves the previous checkpoint
intact). Tensors carry prefixes: ``model.<param name>`` and ``optim.<index>.<field>``
(see ``Optimizer.state_dict``). The header's ``__metadata__`` holds, as JSON strings::

    chainrule_format "1", kind "checkpoint", epoch, rng_state (the global generator's
    bit_generator state), optimizer {"type", "param_groups", "scalars"}, scheduler (its
    state_dict), architecture (when the model has one), metadata, extra (user values)
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np

from .. import rng
from ..errors import ConfigError, ModelFileError
from .model_file import (
    FORMAT_VERSION,
    _state_arrays,
    build_module,
    from_json,
    load_into,
    to_json,
)
from .safetensors_format import read_safetensors, write_safetensors


def save_checkpoint(path: str | os.PathLike, model: Any, optimizer: Any = None,
                    epoch: int = 0, rng_state: dict | None = None, extra: dict | None = None,
                    scheduler: Any = None, metadata: dict | None = None) -> None:
    """Write a resumable checkpoint atomically.

    Args:
        model: the Module (or its state dict).
        optimizer: its state is stored when given.
        epoch: number of completed epochs.
        rng_state: generator state to store; default the global one (``cr.rng.get_state()``).
        extra: JSON-serialisable dict of anything else (best metric, history, loader state).
        scheduler: a learning-rate scheduler whose ``state_dict()`` is stored.
        metadata: user metadata as in ``cr.save`` (class names ...).
    """
    if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)):
        raise ConfigError(f"save_checkpoint: epoch must be an integer; got {epoch!r}")
    model_arrays, arch = _state_arrays(model)
    tensors = {f"model.{k}": v for k, v in model_arrays.items()}
    meta = {"chainrule_format": FORMAT_VERSION, "kind": "checkpoint", "epoch": str(int(epoch)),
            "rng_state": to_json(rng.get_state() if rng_state is None else rng_state,
                                 "rng_state")}
    if arch is not None:
        meta["architecture"] = to_json(arch, "the architecture")
    if optimizer is not None:
        sd = optimizer.state_dict()
        tensors.update({f"optim.{k}": v for k, v in sd["state"].items()})
        meta["optimizer"] = to_json({k: v for k, v in sd.items() if k != "state"},
                                    "optimizer state")
    if scheduler is not None:
        meta["scheduler"] = to_json(scheduler.state_dict(), "scheduler state")
    if extra is not None:
        meta["extra"] = to_json(extra, "extra")
    if metadata is not None:
        meta["metadata"] = to_json(metadata, "metadata")
    write_safetensors(path, tensors, meta)


def load_checkpoint(path: str | os.PathLike, model: Any = None, optimizer: Any = None,
                    scheduler: Any = None, restore_rng: bool = False) -> dict:
    """Read a checkpoint; load it into ``model`` / ``optimizer`` / ``scheduler`` when given.

    Returns ``{"model": module or state dict, "model_state": name -> ndarray,
    "optimizer": optimizer state dict or None, "scheduler": dict or None, "epoch": int,
    "rng_state": dict or None, "extra": dict, "metadata": dict}``. With no ``model`` and a
    stored architecture, ``"model"`` is the rebuilt module. ``restore_rng=True`` also puts
    the stored generator state back into the global generator.
    """
    path = os.fspath(path)
    tensors, meta = read_safetensors(path)
    if meta.get("kind") != "checkpoint":
        raise ModelFileError(f"{path}: not a chainrule checkpoint (kind "
                             f"{meta.get('kind')!r}); use cr.load for model files")
    model_state = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    optim_arrays = {k[6:]: v for k, v in tensors.items() if k.startswith("optim.")}
    stray = [k for k in tensors if not k.startswith(("model.", "optim."))]
    if stray:
        raise ModelFileError(f"{path}: unexpected tensors {stray[:5]} in a checkpoint")
    try:
        epoch = int(meta.get("epoch", "0"))
    except ValueError:
        raise ModelFileError(f"{path}: epoch {str(meta.get('epoch'))[:40]!r} is not an "
                             f"integer") from None

    def json_field(key: str, kind: type) -> Any:
        if key not in meta:
            return None
        value = from_json(path, meta[key], key)
        if not isinstance(value, kind):
            raise ModelFileError(f"{path}: {key} in the header must be a JSON "
                                 f"{kind.__name__}")
        return value

    rng_state = json_field("rng_state", dict)
    opt_meta = json_field("optimizer", dict)
    sched_state = json_field("scheduler", dict)
    extra = json_field("extra", dict) or {}
    metadata = json_field("metadata", dict) or {}

    if model is not None:
        built = load_into(path, model, model_state)
    elif "architecture" in meta:
        built = build_module(path, meta["architecture"], model_state)
    else:
        built = model_state

    opt_state = None
    if opt_meta is not None:
        opt_state = {**opt_meta, "state": optim_arrays}
    elif optim_arrays:
        raise ModelFileError(f"{path}: optimizer tensors present but no optimizer header")
    if optimizer is not None:
        if opt_state is None:
            raise ModelFileError(f"{path}: the checkpoint holds no optimizer state")
        _load_untrusted(path, "optimizer", optimizer, opt_state)
    if scheduler is not None:
        if sched_state is None:
            raise ModelFileError(f"{path}: the checkpoint holds no scheduler state")
        _load_untrusted(path, "scheduler", scheduler, sched_state)
    if restore_rng:
        if rng_state is None:
            raise ModelFileError(f"{path}: the checkpoint holds no RNG state")
        try:
            rng.set_state(rng_state)
        except Exception as exc:  # untrusted content: report as a file problem
            raise ModelFileError(f"{path}: invalid rng_state: {str(exc)[:200]}") from None
    return {"model": built, "model_state": model_state, "optimizer": opt_state,
            "scheduler": sched_state, "epoch": epoch, "rng_state": rng_state, "extra": extra,
            "metadata": metadata}


def _load_untrusted(path: str, what: str, target: Any, state: dict) -> None:
    try:
        target.load_state_dict(state)
    except ModelFileError as exc:
        raise ModelFileError(f"{path}: {exc}") from None
    except Exception as exc:  # untrusted content: any failure is a file problem
        raise ModelFileError(f"{path}: cannot restore the {what} state: "
                             f"{type(exc).__name__}: {str(exc)[:200]}") from None


__all__ = ["save_checkpoint", "load_checkpoint"]
