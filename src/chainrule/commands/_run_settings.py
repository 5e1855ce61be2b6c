"""``chainrule train --out DIR``: never lose a previous run, and resume only the same run.

* ``--out ""`` is refused (it used to be ignored silently);
* a folder that holds a previous run's checkpoint or model is refused unless ``--resume``
  (continue it) or ``--overwrite`` (replace it) says what to do with it;
* every setting that shapes a run (data, model, optimisation, seed, split, schedule, stopping)
  is stored in the checkpoint (as the state of the :class:`RunSettings` callback), and
  ``--resume`` with any of them different is refused naming the flags that differ: a new
  ``--seed`` reshuffles the validation split and leaks validation examples into training.
"""
from __future__ import annotations

import argparse
import os
from typing import Any

from ..errors import ConfigError
from ..training.callbacks import Callback

#: setting -> the flag that sets it (the data set's settings first: they decide the defaults)
DATA_FLAGS = {"dataset": "--dataset/--csv", "target": "--target", "task": "--task", "data": "--dataset/--csv"}
RUN_FLAGS = {"model": "--model", "hidden": "--hidden", "activation": "--activation", "dropout": "--dropout",
             "optimizer": "--optimizer", "lr": "--lr", "weight_decay": "--weight-decay", "schedule": "--schedule",
             "epochs": "--epochs", "batch_size": "--batch-size", "early_stopping": "--early-stopping",
             "stop_at": "--stop-at", "clip_grad_norm": "--clip-grad-norm", "val_fraction": "--val-fraction",
             "seed": "--seed", "ranks": "the number of MPI ranks"}


def check_out_dir(args: argparse.Namespace, files: tuple[str, ...]) -> None:
    """Refuse ``--out ""`` and, without ``--resume``/``--overwrite``, a folder holding ``files``
    of an earlier run (``checkpoint.safetensors``, ``model.safetensors``)."""
    if args.out is None:
        if getattr(args, "overwrite", False):
            raise ConfigError("--overwrite needs --out DIR (the folder whose run it replaces)")
        return
    if not args.out.strip():
        raise ConfigError("--out needs a folder name, got an empty string")
    if args.resume and getattr(args, "overwrite", False):
        raise ConfigError("--resume continues the run in --out, --overwrite replaces it: give one of them")
    if args.resume or getattr(args, "overwrite", False):
        return
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise ConfigError(f"--out {args.out}: is a file, expected a folder")
    present = [f for f in files if os.path.exists(os.path.join(args.out, f))]
    if present:
        raise ConfigError(f"--out {args.out} already holds a run ({', '.join(present)}); add --resume to continue it, "
                          "--overwrite to replace it, or choose another folder")


def run_settings(args: argparse.Namespace, recipe: Any, ds: Any) -> dict[str, str]:
    """The settings that shape a run, as text (the effective values, defaults included)."""
    from ..distributed.checks import data_digest

    values: dict[str, Any] = {
        "dataset": os.path.abspath(args.csv) if args.csv else ds.name,
        "target": args.target, "task": ds.task,
        "data": data_digest(*ds.train.arrays, *ds.test.arrays),
        "model": recipe.model, "hidden": list(recipe.hidden), "activation": recipe.activation,
        "dropout": recipe.dropout, "optimizer": recipe.optimizer, "lr": recipe.lr,
        "weight_decay": recipe.weight_decay, "schedule": recipe.schedule, "batch_size": recipe.batch_size,
        "early_stopping": recipe.early_stopping, "stop_at": args.stop_at, "clip_grad_norm": recipe.clip_grad_norm,
        "val_fraction": recipe.val_fraction, "seed": args.seed,
        # --batch-size is per rank: another number of ranks is another global batch
        "ranks": _ranks(args),
        # a schedule is laid out over the epochs; without one a resumed run may go on for longer
        "epochs": recipe.epochs if recipe.schedule not in (None, "none") else None,
    }
    return {k: repr(v) for k, v in values.items()}


def _ranks(args: argparse.Namespace) -> int:
    if not getattr(args, "_distributed", False):
        return 1
    from ..distributed import world_size

    return world_size()


class RunSettings(Callback):
    """Carries a run's settings into its checkpoint (callback state is saved every epoch)."""

    def __init__(self, settings: dict[str, str]) -> None:
        self.settings = dict(settings)

    def state_dict(self) -> dict[str, Any]:
        return {"settings": dict(self.settings)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass  # compared before training starts (check_resumed_run); this run's settings stand


def _show(text: str) -> str:
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == "'" else text


def _given(args: argparse.Namespace, flag: str) -> bool:
    argv = getattr(args, "_argv", None) or []
    names = flag.split("/")
    return any(a == n or a.startswith(n + "=") for a in argv for n in names)


def check_resumed_run(path: str, settings: dict[str, str], args: argparse.Namespace) -> None:
    """Refuse ``--resume`` when the checkpoint's run had other settings, naming the flags.

    A different data set changes every default, so it alone is named; otherwise the flags the
    user gave that differ are named, and only if none did, the settings whose defaults differ.
    """
    from ..io import describe

    extra = describe(path).get("extra") or {}
    saved = ((extra.get("callbacks") or {}).get("RunSettings#0") or {}).get("settings")
    fix = "give the first run's arguments, or --overwrite to start afresh"
    if not isinstance(saved, dict):
        return  # a checkpoint from before settings were stored: the optimizer checks still apply
    differ = [k for k in settings if k in saved and saved[k] != settings[k]]
    data = [k for k in differ if k in DATA_FLAGS]
    if data:
        what = "; ".join(f"{k} {_show(saved[k])} then, {_show(settings[k])} now" for k in data if k != "data") or \
            "the data set's examples changed"
        raise ConfigError(f"--resume: {path} was trained on other data ({what}); {fix}")
    given = [k for k in differ if _given(args, RUN_FLAGS[k])]
    named = given or differ
    if named:
        parts = "; ".join(f"{RUN_FLAGS[k]} {_show(saved[k])} then, {_show(settings[k])} now" for k in named)
        raise ConfigError(f"--resume: {path} was started with other settings ({parts}); {fix}")


__all__ = ["check_out_dir", "run_settings", "RunSettings", "check_resumed_run"]
