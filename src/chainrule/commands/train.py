"""``chainrule train``: train a network on a data set and report its test score.

With no arguments it trains an MLP on the bundled 8x8 digits (no network needed) in a few
seconds. Every choice has a flag; what is not given comes from the data set's recipe
(``chainrule.training.recipes``). With ``--out DIR`` the run writes ``model.safetensors``,
``history.csv``, ``metrics.json`` and, after every epoch, ``checkpoint.safetensors``, which
``--resume`` continues from.
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import catalogue
from ._common import (
    add_data_arguments,
    add_table_arguments,
    dump_json,
    folds,
    fraction,
    hidden_sizes,
    load_data,
    nonneg_float,
    nonneg_int,
    positive_float,
    positive_int,
)

if TYPE_CHECKING:
    import numpy as np

    from ..data import Dataset, DatasetSplits
    from ..nn import Module
    from ..optim import Optimizer
    from ..training import History
    from ..training.recipes import Recipe

#: prints a progress line (or nothing, with --quiet)
Say = Callable[..., None]

NAME = "train"
HELP = "train a network (default: an MLP on the bundled digits) and report test accuracy"
DESCRIPTION = """Train a network and report its test score.

examples:
  chainrule train                                   # MLP on the bundled digits, ~5 s
  chainrule train --dataset iris --epochs 50
  chainrule train --dataset mnist --data-dir ../shared/data/mnist --epochs 10 --out run
  chainrule train --csv houses.csv --target price --hidden 64,64 --out run
  chainrule train --out run --resume                # continue an interrupted run
  mpiexec -n 4 chainrule train --dataset mnist --data-dir DIR --out run   # 4 processes (pip install "chainrule[mpi]")
  chainrule train --dataset names --model gpt --out gpt_run   # character-level GPT
  chainrule generate gpt_run/model.safetensors --n 20 --temperature 0.8 --seed 0

under an MPI launcher (mpiexec, mpirun, srun) every rank trains a replica on its own batch and
the gradients are averaged: --batch-size is the batch of ONE rank (as in PyTorch DDP and
Horovod), so N ranks take a global batch of N x batch-size per step (rank 0 prints it) and an
epoch has N times fewer steps. --lr is never changed for you. Rule of thumb when the global
batch grows k-fold: SGD scales --lr by k (the linear scaling rule, Goyal et al. 2017), with a
few epochs of warm-up once k*lr is large; Adam/AdamW scale by about sqrt(k), or keep the lr
for small k (the mnist recipe's Adam 0.001 reaches 0.98 at global batch 256 unchanged).
Only rank 0 prints and writes --out; BatchNorm uses each rank's own batch statistics.
"""

DEFAULT_DATASET = "digits"
CHECKPOINT = "checkpoint.safetensors"
MODEL = "model.safetensors"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_data_arguments(parser, DEFAULT_DATASET)
    add_table_arguments(parser)
    m = parser.add_argument_group("model (defaults come from the data set's recipe)")
    m.add_argument("--model", choices=catalogue.names(catalogue.MODELS), default=None,
                   help=f"network type (default: mlp); {catalogue.describe(catalogue.MODELS)}")
    m.add_argument("--hidden", type=hidden_sizes, default=None, metavar="W1,W2",
                   help="hidden layer widths, e.g. 256,256 ('none': no hidden layer)")
    m.add_argument("--activation", choices=catalogue.names(catalogue.ACTIVATIONS), default=None,
                   help=catalogue.describe(catalogue.ACTIVATIONS))
    m.add_argument("--dropout", type=fraction, default=None, metavar="P", help="dropout after each hidden layer")
    t = parser.add_argument_group("language models (--model gpt or rnn, on a text corpus such as --dataset names)")
    t.add_argument("--block-size", type=positive_int, default=None, metavar="T",
                   help="characters of context (gpt default 32)")
    t.add_argument("--n-layer", type=positive_int, default=None, metavar="N", help="gpt: transformer blocks (4)")
    t.add_argument("--n-head", type=positive_int, default=None, metavar="H", help="gpt: attention heads (4)")
    t.add_argument("--n-embd", type=positive_int, default=None, metavar="E", help="gpt: embedding width (64)")
    t.add_argument("--cell", choices=catalogue.names(catalogue.RECURRENT_CELLS), default=None,
                   help=f"rnn: recurrent cell ({catalogue.describe(catalogue.RECURRENT_CELLS)}); --hidden sets "
                        "its width (128)")
    o = parser.add_argument_group("optimisation")
    o.add_argument("--optimizer", choices=catalogue.names(catalogue.OPTIMIZERS), default=None,
                   help=catalogue.describe(catalogue.OPTIMIZERS))
    o.add_argument("--lr", type=positive_float, default=None, help="learning rate")
    o.add_argument("--weight-decay", type=nonneg_float, default=None, metavar="WD")
    o.add_argument("--schedule", choices=catalogue.names(catalogue.SCHEDULES), default=None,
                   help=f"learning-rate schedule over the epochs; {catalogue.describe(catalogue.SCHEDULES)}")
    o.add_argument("--batch-size", type=positive_int, default=None, metavar="N",
                   help="examples per optimizer step; under mpiexec per rank (global batch: ranks x N)")
    o.add_argument("--epochs", type=positive_int, default=None, metavar="N")
    o.add_argument("--early-stopping", type=nonneg_int, default=None, metavar="N",
                   help="stop when the validation loss has not improved for N epochs; keep the best weights "
                        "(--csv tables default to 10; 0: off)")
    o.add_argument("--ensemble", type=positive_int, default=None, metavar="K",
                   help="average K networks, each validated and stopped early on a different 1/K of the "
                        "training rows (then --val-fraction is unused), saved as one network (--csv "
                        "regression tables default to several, plus as many trained a fixed number of epochs "
                        "on the same rows: the run's first line says how many; others to 1); an ensemble run "
                        "keeps no checkpoint")
    o.add_argument("--stop-at", type=positive_float, default=None, metavar="ACC",
                   help="stop once the validation accuracy reaches ACC (e.g. 0.98)")
    o.add_argument("--clip-grad-norm", type=positive_float, default=None, metavar="MAX",
                   help="scale gradients so their global L2 norm is at most MAX")
    o.add_argument("--val-fraction", type=fraction, default=None, metavar="F",
                   help="part of the training data held out for validation (default 0.1; 0: none)")
    o.add_argument("--cv", type=folds, default=None, metavar="K",
                   help="judge the recipe by K-fold cross-validation over all examples instead of the "
                        "train/test split (iris defaults to 5; 0: use the split); with --out, the saved "
                        "model is then trained on every example")
    o.add_argument("--cv-seed", type=nonneg_int, default=0, metavar="N",
                   help="which assignment of the examples to the --cv folds (default 0, the same every run); "
                        "on a small table the score moves with it, so compare models over a few seeds")
    o.add_argument("--seed", type=nonneg_int, default=0, help="random seed for initialisation, shuffling "
                   "and dropout (default 0)")
    r = parser.add_argument_group("output")
    r.add_argument("--out", default=None, metavar="DIR",
                   help="write model.safetensors, history.csv, metrics.json and a checkpoint here")
    r.add_argument("--resume", action="store_true",
                   help="continue from DIR/checkpoint.safetensors (same other arguments)")
    r.add_argument("--overwrite", action="store_true",
                   help="replace the run already in --out DIR (without it, or --resume, such a folder is refused)")
    r.add_argument("--quiet", action="store_true", help="no progress output, only the final result")
    r.add_argument("--tensorboard", default=None, metavar="DIR",
                   help="also log scalars, gradient norms, weight histograms and the graph for TensorBoard "
                        "into DIR (needs chainrule[tensorboard]; view with: tensorboard --logdir DIR)")
    r.add_argument("--plot", action="store_true",
                   help="also draw loss/metric curves, per-layer gradient norms (and, for 2-D data, the "
                        "decision boundary) as PNG files into --out DIR (needs matplotlib)")


@dataclass
class _Trained:
    """A model trained by :func:`_fit`, with what scoring and saving it need."""

    model: Module
    history: History
    loss_fn: Module
    seconds: float
    y_mean: float = 0.0  # regression targets were standardised with these for training
    y_std: float = 1.0
    distributed: bool = False  # trained data-parallel over MPI ranks (each scores a share of the test set)
    member_epochs: list[int] = field(default_factory=list)  # epochs of each averaged network (one: [epochs])


def _resume_command(args: argparse.Namespace) -> str:
    argv = [a for a in getattr(args, "_argv", ["train", "..."]) if a != "--resume"]
    return "chainrule " + " ".join(shlex.quote(a) for a in argv) + " --resume"


def run(args: argparse.Namespace) -> int:
    from chainrule.distributed import is_launched

    if not is_launched():
        return _run(args)
    import chainrule.distributed as dist  # started by mpiexec/srun with several ranks

    dist.init()
    args._distributed = True
    with dist.fail_together():  # a rank that fails ends the job instead of leaving the others waiting
        return _run(args)


def _is_main(args: argparse.Namespace) -> bool:
    """Whether this process prints and writes files: always, unless it is rank > 0 of an MPI job."""
    if not getattr(args, "_distributed", False):
        return True
    from chainrule.distributed import rank

    return rank() == 0


def _same_on_every_rank(args: argparse.Namespace, ds: DatasetSplits) -> None:
    """Refuse a job whose ranks got different arguments or data (one line naming the difference)."""
    from chainrule.distributed import check_same, data_digest

    config = {f"--{k.replace('_', '-')}": repr(v) for k, v in sorted(vars(args).items())
              if not k.startswith("_") and k not in ("data_dir", "quiet")}
    config["the training data"] = data_digest(*ds.train.arrays)
    config["the test data"] = data_digest(*ds.test.arrays)
    check_same(config)


def _run(args: argparse.Namespace) -> int:
    import chainrule as cr  # noqa: F401 - imported here so the CLI starts fast
    from chainrule.errors import ConfigError
    from chainrule.training import TrainingDiverged, TrainingInterrupted
    from chainrule.training.recipes import DEFAULT_LR, recipe_for, table_recipe

    t_start = time.perf_counter()
    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, flush=True))
    from ._run_settings import check_out_dir

    check_out_dir(args, (CHECKPOINT, MODEL))  # --out "", or a previous run without --resume/--overwrite
    if args.resume and args.out is None:
        raise ConfigError("--resume needs --out DIR (the folder holding checkpoint.safetensors)")
    ckpt = os.path.join(args.out, CHECKPOINT) if args.out else None
    if args.resume and not (ckpt and os.path.isfile(ckpt)):
        raise ConfigError(f"--resume: no checkpoint at {ckpt}; start the run without --resume")
    if getattr(args, "plot", False):
        if args.out is None:
            raise ConfigError("--plot needs --out DIR (the PNG files are written there)")
        from chainrule.viz.plots import require_matplotlib

        require_matplotlib()

    from ._train_text import is_text_run, run_language_model

    if is_text_run(args):
        if getattr(args, "_distributed", False):
            raise ConfigError("--model gpt/rnn trains in one process; run it without an MPI launcher")
        try:
            return run_language_model(args, say, t_start, ckpt)
        except TrainingInterrupted as e:
            print(f"interrupted after {e.completed_epochs} complete epoch(s)"
                  + (f"; resume with: {_resume_command(args)}" if e.checkpoint else ""), file=sys.stderr)
            return 130
    ds = load_data(args, DEFAULT_DATASET)
    if getattr(args, "_distributed", False):
        _same_on_every_rank(args, ds)
    for note in ds.notes:  # what preparing a --csv table filled in, dropped or left out
        say(f"{ds.name}: {note}")
    recipe = table_recipe(len(ds.train) + len(ds.test), ds.task) if args.csv else recipe_for(ds.name)
    lr = args.lr
    if lr is None and args.optimizer is not None and args.optimizer != recipe.optimizer:
        lr = DEFAULT_LR[args.optimizer]
    recipe = recipe.replace(model=args.model, hidden=args.hidden, activation=args.activation, dropout=args.dropout,
                            optimizer=args.optimizer, lr=lr, weight_decay=args.weight_decay, schedule=args.schedule,
                            batch_size=args.batch_size, epochs=args.epochs, early_stopping=args.early_stopping,
                            clip_grad_norm=args.clip_grad_norm, val_fraction=args.val_fraction, cv=args.cv,
                            ensemble=getattr(args, "ensemble", None))
    if args.epochs is not None and recipe.fixed_epochs > args.epochs:  # --epochs caps every network
        recipe = recipe.replace(fixed_epochs=args.epochs)
    if recipe.ensemble > 1 and args.resume:
        raise ConfigError(f"--resume continues one network's training; this run averages {recipe.ensemble} "
                          "networks (--ensemble), which keeps no checkpoint; give --ensemble 1 for a resumable run")
    if ds.task == "regression" and args.stop_at is not None:
        raise ConfigError("--stop-at watches validation accuracy; it does not apply to regression")
    if recipe.cv:
        if args.resume:
            raise ConfigError("--resume continues one training run; it does not combine with cross-validation "
                              "(--cv trains a model per fold; give --cv 0 to train on the train/test split)")
        n = len(ds.train) + len(ds.test)
        if recipe.cv > n:
            raise ConfigError(f"--cv {recipe.cv}: {ds.name} has only {n} examples; use at most {n} folds")

    try:
        if recipe.cv:
            return _cross_validate(args, ds, recipe, say, t_start)
        return _train_and_test(args, ds, recipe, say, t_start, ckpt)
    except TrainingDiverged as e:
        kept = (f"; the checkpoint in {args.out} keeps the last good epoch" if ckpt and os.path.exists(ckpt)
                else "")
        if _is_main(args):  # under MPI every rank diverges together; one says so
            print(f"chainrule: error: {e}{kept}", file=sys.stderr)
        return 1
    except TrainingInterrupted as e:
        if not _is_main(args):
            return 130
        if e.checkpoint:
            print(f"interrupted after {e.completed_epochs} complete epoch(s); resume with: {_resume_command(args)}",
                  file=sys.stderr)
        elif args.out is None or recipe.cv or recipe.ensemble > 1:
            print("interrupted; nothing was saved" + ("" if recipe.cv else " (--ensemble 1 keeps a checkpoint you "
                  "can --resume)" if recipe.ensemble > 1 else " (give --out DIR to keep a checkpoint you can "
                  "--resume)"), file=sys.stderr)
        else:
            print("interrupted before the first epoch finished; nothing to resume", file=sys.stderr)
        return 130


def _train_and_test(args: argparse.Namespace, ds: DatasetSplits, recipe: Recipe, say: Say, t_start: float,
                    ckpt: str | None) -> int:
    """The usual run: train on the data set's training split, score on its test split."""
    trained = _fit(args, ds, recipe, say, log_dir=args.out, checkpoint=ckpt, resume=args.resume,
                   tensorboard=args.tensorboard)
    scores, _ = _score(trained, ds)
    results: dict[str, Any] = {"dataset": ds.name, "task": ds.task, **scores}
    results.update(_run_facts(args, trained, recipe, t_start))
    _write_outputs(args, ds, recipe, trained, results, say)
    if ds.task == "classification" and len(ds.test):
        say(_per_class_table(scores))
    print(f"{_summary(ds, scores)} after {_epochs(trained)} ({trained.seconds:.1f} s"
          f"{_stopped(trained)}){_saved(args)}", flush=True)
    return 0


def _cross_validate(args: argparse.Namespace, ds: DatasetSplits, recipe: Recipe, say: Say, t_start: float) -> int:
    """k-fold cross-validation: one model per fold, each tested on the examples it never saw;
    the scores are pooled over all examples. With ``--out``, a final model is then trained on
    every example (the cross-validated score is its expected accuracy) and saved."""
    import numpy as np

    # fixed folds (like the fixed default split) unless --cv-seed draws another assignment
    folds = ds.cross_validation(recipe.cv, seed=getattr(args, "cv_seed", 0))
    n = folds.examples
    say(f"{ds.name}: {recipe.cv}-fold cross-validation over all {n} examples (each one tested once, by a "
        f"model that never saw it)")
    fold_scores, outputs, targets, seconds, epochs = [], [], [], 0.0, []
    for i, fold in enumerate(folds, 1):
        trained = _fit(args, fold, recipe, say, log_dir=None, checkpoint=None, resume=False,
                       tensorboard=args.tensorboard and os.path.join(args.tensorboard, f"fold{i}"), verbose=False)
        scores, out = _score(trained, fold)
        fold_scores.append(scores)
        outputs.append(out)
        targets.append(fold.test.arrays[1])
        seconds += trained.seconds
        epochs += trained.member_epochs
        say(f"fold {i}/{recipe.cv}: {_fold_summary(fold, scores)} after {_epochs(trained)}")
        del fold, trained  # one fold's arrays at a time (folds are gathered when taken)
    pooled = _pooled_scores(ds, fold_scores, outputs, targets)
    key = "test_r2" if ds.task == "regression" else "test_accuracy"
    per_fold = [s[key] for s in fold_scores]
    results: dict[str, Any] = {"dataset": ds.name, "task": ds.task, **pooled,
                               "evaluation": {"method": f"{recipe.cv}-fold cross-validation", "folds": recipe.cv,
                                              "examples": n, f"fold_{key}": per_fold,
                                              f"{key}_std": float(np.std(per_fold)), "fold_epochs": epochs}}
    line = (f"{recipe.cv}-fold cross-validated {_summary(ds, pooled)}; folds "
            f"{min(per_fold):.4f}-{max(per_fold):.4f}")
    if args.out:
        say(f"final model: trained on all {n} examples")
        final = ds.pooled()
        # no checkpoint: a cross-validated run is not resumable (--resume refuses --cv)
        trained = _fit(args, final, recipe, say, log_dir=args.out, checkpoint=None, resume=False,
                       tensorboard=args.tensorboard and os.path.join(args.tensorboard, "final"))
        seconds += trained.seconds
        results.update(_run_facts(args, trained, recipe, t_start, train_seconds=seconds))
        results["final_model"] = {"trained_on": f"all {n} examples (train and test splits)",
                                  "epochs": len(trained.history), "train_seconds": round(trained.seconds, 3)}
        _write_outputs(args, final, recipe, trained, results, say)
    span = f"{min(epochs)}" if min(epochs) == max(epochs) else f"{min(epochs)}-{max(epochs)}"
    if ds.task == "classification":
        say(_per_class_table(pooled))
    per = f"per network, {len(epochs) // recipe.cv} averaged per fold" if len(epochs) > recipe.cv else "per fold"
    print(f"{line} ({span} epochs {per}, {seconds:.1f} s){_saved(args)}", flush=True)
    return 0


def _fit(args: argparse.Namespace, ds: DatasetSplits, recipe: Recipe, say: Say, log_dir: str | None,
         checkpoint: str | None, resume: bool, tensorboard: str | None = None, verbose: bool = True) -> _Trained:
    """Build the recipe's model and train it on ``ds.train`` (part held out for validation);
    ``tensorboard``: a directory to log the run into for TensorBoard; ``verbose`` False (a
    cross-validation fold): no per-epoch lines, no diagnoses printed.

    With ``recipe.ensemble`` K > 1 (an MLP on at least 2K rows), K networks are trained, network
    j validated (and stopped early) on the j-th of K parts of the training rows; with
    ``recipe.fixed_epochs`` > 0, K more, network j trained on the same rows for that many epochs
    with no early stopping (``fixed_batch_size``, ``fixed_weight_decay``). All are returned as
    one MLP computing their average (``average_networks``); only the first network's curve is
    logged, and there is no checkpoint to resume."""
    verbose = verbose and not args.quiet and _is_main(args)
    import numpy as np

    import chainrule as cr
    from chainrule.data import TensorDataset, random_split
    from chainrule.training.recipes import average_networks

    regression = ds.task == "regression"
    # --- data: train / validation, regression targets standardised for training
    cr.manual_seed(args.seed)
    x_train, y_train = ds.train.arrays
    y_mean, y_std = 0.0, 1.0
    if regression:
        y_mean, y_std = float(y_train.mean()), float(y_train.std()) or 1.0
        y_train = ((y_train - y_mean) / y_std).astype(np.float32)
    train_set: Dataset = TensorDataset(x_train, y_train)
    k = recipe.ensemble if recipe.model == "mlp" and len(train_set) >= max(10, 2 * recipe.ensemble) else 1
    if k == 1:
        val_set: Dataset | None = None
        if recipe.val_fraction > 0 and len(train_set) >= 10:
            train_set, val_set = random_split(train_set, [1 - recipe.val_fraction, recipe.val_fraction],
                                              seed=args.seed)
        model, history, loss_fn, seconds = _train_network(args, ds, recipe, train_set, val_set, say, log_dir,
                                                          checkpoint, resume, tensorboard, verbose)
        return _Trained(model=model, history=history, loss_fn=loss_fn, seconds=seconds, y_mean=y_mean,
                        y_std=y_std, distributed=getattr(args, "_distributed", False),
                        member_epochs=[len(history)])
    # cross-fitting: the training rows in K parts (seeded, so every MPI rank draws the same)
    parts = np.array_split(np.random.default_rng(args.seed).permutation(len(train_set)), k)
    # split j: (rows to learn from, rows left over), gathered once for both of its networks
    splits = []
    for j in range(k):
        fit, left = np.concatenate([parts[i] for i in range(k) if i != j]), parts[j]
        splits.append((TensorDataset(x_train[fit], y_train[fit]), TensorDataset(x_train[left], y_train[left])))
    # each split trains an early-stopped network, then (recipe.fixed_epochs) a fixed-length one
    fixed = recipe.replace(epochs=recipe.fixed_epochs, batch_size=recipe.fixed_batch_size,
                           weight_decay=recipe.fixed_weight_decay, early_stopping=0)
    plan = [(j, recipe) for j in range(k)] + ([(j, fixed) for j in range(k)] if recipe.fixed_epochs > 0 else [])
    members, histories, seconds = [], [], 0.0
    for n, (j, member_recipe) in enumerate(plan):
        first = n == 0
        model, history, loss_fn, took = _train_network(
            args, ds, member_recipe, *splits[j], say, log_dir if first else None, None, False,
            tensorboard if first else None, verbose and first, member=(n + 1, len(plan), k))
        if verbose and not first:
            if member_recipe is fixed:  # no early stopping: the left-over fifth only measures it
                say(f"network {n + 1}/{len(plan)}: {len(history)} epochs (fixed length, weight decay "
                    f"{fixed.weight_decay:.2g}); validation loss {history['val_loss'][-1]:.4f}")
            else:
                best = history.best_epoch or len(history)
                say(f"network {n + 1}/{len(plan)}: best validation loss {min(history['val_loss']):.4f} at epoch "
                    f"{best} of {len(history)}")
        members.append(model)
        histories.append(history)
        seconds += took
    return _Trained(model=average_networks(members), history=histories[0], loss_fn=loss_fn, seconds=seconds,
                    y_mean=y_mean, y_std=y_std, distributed=getattr(args, "_distributed", False),
                    member_epochs=[len(h) for h in histories])


def _train_network(args: argparse.Namespace, ds: DatasetSplits, recipe: Recipe, train_set: Dataset,
                   val_set: Dataset | None, say: Say, log_dir: str | None, checkpoint: str | None, resume: bool,
                   tensorboard: str | None, verbose: bool,
                   member: tuple[int, int, int] | None = None) -> tuple[Module, History, Module, float]:
    """One network of the recipe trained on ``train_set`` (stopping early on ``val_set``):
    (model, history, loss function, seconds). ``member``: (j, M, K) when it is network j of an
    average of M trained on K cross-fitting splits."""
    import numpy as np

    from chainrule.errors import ConfigError
    from chainrule.training import Callback, CSVLogger, EarlyStopping, StopAtTarget, fit
    from chainrule.training.diagnostics import ChainruleWarning, Diagnostics
    from chainrule.training.recipes import build_cnn, build_mlp, build_optimizer, build_scheduler

    regression = ds.task == "regression"
    # --- model, loss, optimizer
    if recipe.model == "cnn":
        if ds.image_shape is None:
            raise ConfigError(f"--model cnn needs image data; {ds.name} has no image shape (use --model mlp)")
        if args.activation not in (None, "relu") or (args.hidden is not None and len(args.hidden) > 1):
            raise ConfigError("--model cnn is the LeNet-style network (ReLU, one fully connected hidden layer): "
                              "--activation must be relu and --hidden a single width")
        model = build_cnn(ds.image_shape, ds.output_size, args.hidden or (), recipe.dropout)
    else:
        model = build_mlp(ds.num_features, recipe.hidden, ds.output_size, recipe.activation, recipe.dropout)
    loss_fn = catalogue.loss_for(ds.task).build()
    optimizer = build_optimizer(recipe.optimizer, model.parameters(), recipe.lr, recipe.weight_decay)
    scheduler = build_scheduler(recipe.schedule, optimizer, recipe.epochs)
    metrics = ("r2",) if regression else ("accuracy",)
    from ._run_settings import RunSettings, check_resumed_run, run_settings

    settings = run_settings(args, recipe, ds) if checkpoint else None
    if resume and checkpoint and os.path.exists(checkpoint) and settings is not None:
        check_resumed_run(checkpoint, settings, args)  # names the flags that differ
        _check_resumed_settings(checkpoint, optimizer)

    callbacks: list[Callback] = []
    if recipe.early_stopping:
        callbacks.append(EarlyStopping(monitor="val_loss", patience=recipe.early_stopping, restore_best=True))
    if args.stop_at is not None:
        callbacks.append(StopAtTarget(args.stop_at, monitor="val_accuracy" if val_set is not None else "accuracy"))
    if log_dir and _is_main(args):
        os.makedirs(log_dir, exist_ok=True)
        callbacks.append(CSVLogger(os.path.join(log_dir, "history.csv")))
    if tensorboard and _is_main(args):
        from chainrule.training import TensorBoard

        callbacks.append(TensorBoard(tensorboard))
    # explanations printed (unless --quiet); no duplicate Python warning
    callbacks.append(Diagnostics(verbose=verbose))
    if settings is not None:
        callbacks.append(RunSettings(settings))  # saved in the checkpoint, compared by --resume

    arch = "-".join(str(v) for v in (ds.num_features, *recipe.hidden, ds.output_size))
    if recipe.model == "cnn":
        arch = "(" + " ".join(type(m).__name__ for m in model) + ")"
    n_val = len(val_set) if val_set is not None else 0
    (say if verbose else _silent)(f"{ds.name}: {len(train_set)} train / {n_val} validation / "
        f"{len(ds.test)} test examples; {recipe.model} {arch} ({recipe.activation}), {recipe.optimizer} "
        f"lr {recipe.lr:g}, {_batch(args, recipe)}, {recipe.epochs} epochs"
        + (f"; network {member[0]} of {member[1]} averaged, on {member[2]} splits of the training rows, each "
           f"validated on a different 1/{member[2]}" if member else ""))

    t_fit = time.perf_counter()
    # Overflow on the way to a NaN loss is reported once, by fit, not as NumPy warnings.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", category=ChainruleWarning)
        history = fit(model, loss_fn, optimizer, train_set, val=val_set, epochs=recipe.epochs,
                      batch_size=recipe.batch_size, callbacks=callbacks, metrics=metrics, seed=args.seed,
                      clip_grad_norm=recipe.clip_grad_norm, progress=verbose, scheduler=scheduler,
                      checkpoint=checkpoint, resume=resume, distributed=getattr(args, "_distributed", False))
    return model, history, loss_fn, time.perf_counter() - t_fit


def _batch(args: argparse.Namespace, recipe: Recipe) -> str:
    """``batch 128``, or under MPI the per-rank and the global batch (the lr is not scaled)."""
    if not getattr(args, "_distributed", False):
        return f"batch {recipe.batch_size}"
    from chainrule.distributed import core_share, world_size

    n, cores = world_size(), core_share()
    threads = f", {cores.describe()}" if cores is not None else ""
    return f"batch {recipe.batch_size} per rank on {n} MPI ranks = global batch {n * recipe.batch_size}{threads}"


def _check_resumed_settings(path: str, optimizer: Optimizer) -> None:
    """``--resume`` continues the run that wrote the checkpoint, whose optimizer state would
    silently replace this command's settings: refuse a command whose optimizer differs."""
    from chainrule.errors import ConfigError
    from chainrule.io import describe

    saved = describe(path).get("optimizer") or {}
    then = (saved.get("param_groups") or [{}])[0]
    now = optimizer.param_groups[0]
    fix = "give the arguments of the first run, or a new --out folder to start afresh"
    if saved.get("type") not in (None, type(optimizer).__name__):
        raise ConfigError(f"--resume: {path} was trained with {saved['type']}, this command asks for "
                          f"{type(optimizer).__name__} (--optimizer); {fix}")
    for key, name, flag in (("lr", "learning rate", "--lr"), ("weight_decay", "weight decay", "--weight-decay"),
                            ("momentum", "momentum", "--optimizer")):
        old, new = (then.get("initial_lr", then.get("lr")), now.get("initial_lr", now.get("lr"))) \
            if key == "lr" else (then.get(key), now.get(key))
        if isinstance(old, (int, float)) and isinstance(new, (int, float)) and abs(old - new) > 1e-12 * max(
                abs(old), abs(new)):
            raise ConfigError(f"--resume: {path} was trained with {name} {old:g}, this command "
                              f"asks for {new:g} ({flag}); {fix}")


def _score(trained: _Trained, ds: DatasetSplits) -> tuple[dict[str, Any], np.ndarray]:
    """Test scores of a trained run on ``ds.test`` and its outputs there (probabilities, or
    predictions in the target's units for regression), from one pass over the test set.
    Baselines come from the training split: its majority class, or its mean target."""
    import numpy as np

    import chainrule as cr
    from chainrule.ops.activation import softmax
    from chainrule.training import predict

    x_test, y_test = ds.test.arrays
    if trained.distributed:  # each rank scores a share of the test set; all get every output
        from chainrule.distributed import predict as predict_sharded

        out = predict_sharded(trained.model, x_test)
    else:
        out = predict(trained.model, x_test, probabilities=False)
    y_train = ds.train.arrays[1]
    if ds.task == "regression":
        pred = out * trained.y_std + trained.y_mean
        return _regression_scores(pred, y_test, float(np.mean(y_train))), pred
    logits = cr.from_numpy(out)
    loss = float(trained.loss_fn(logits, y_test).item())
    probs = softmax(logits, axis=-1).data
    majority = int(np.argmax(np.bincount(y_train, minlength=ds.output_size)))
    return {**_classification_scores(ds, probs, y_test, majority), "test_loss": loss}, probs


def _classification_scores(ds: DatasetSplits, probs: np.ndarray, targets: np.ndarray,
                           majority: int | None) -> dict[str, Any]:
    from chainrule.training import classification_report

    r = classification_report(probs, targets, ds.class_names, majority_class=majority)
    scores = {"test_accuracy": r["accuracy"], "test_balanced_accuracy": r["balanced_accuracy"],
              "test_baseline_accuracy": r["baseline_accuracy"], "baseline_class": r["baseline_class"],
              "per_class": r["per_class"], "confusion_matrix": r["confusion_matrix"], "class_names": ds.class_names}
    if "roc_auc" in r:
        scores["test_roc_auc"] = r["roc_auc"]
    return scores


def _regression_scores(pred: np.ndarray, y_test: np.ndarray, baseline: float | None = None) -> dict[str, float]:
    from chainrule.training import regression_report

    r = regression_report(pred.reshape(y_test.shape), y_test, baseline=baseline)
    return {"test_mse": r["mse"], "test_rmse": r["rmse"], "test_mae": r["mae"], "test_r2": r["r2"],
            "test_baseline_rmse": r["baseline_rmse"]}


def _pooled_scores(ds: DatasetSplits, fold_scores: list[dict[str, Any]], outputs: list[np.ndarray],
                   targets: list[np.ndarray]) -> dict[str, Any]:
    """Scores over all examples, each predicted by the fold model that did not train on it
    (``outputs``, ``targets``: one array per fold)."""
    import numpy as np

    if ds.task == "regression":
        return _regression_scores(np.concatenate(outputs), np.concatenate(targets))
    sizes = [len(t) for t in targets]  # the pooled loss: fold means weighted by fold size
    loss = float(np.dot(sizes, [s["test_loss"] for s in fold_scores]) / sum(sizes))
    return {**_classification_scores(ds, np.concatenate(outputs), np.concatenate(targets), None), "test_loss": loss}


def _summary(ds: DatasetSplits, scores: dict[str, Any]) -> str:
    """One line: the score beside what a model that learnt nothing would get."""
    import numpy as np

    from ._common import plain_number

    if ds.task == "regression":
        return (f"test R² {scores['test_r2']:.4f}  RMSE {plain_number(scores['test_rmse'])}  "
                f"MAE {plain_number(scores['test_mae'])} (predicting the mean: R² 0, RMSE "
                f"{plain_number(scores['test_baseline_rmse'])})")
    cm = np.asarray(scores["confusion_matrix"])
    line = (f"test accuracy {scores['test_accuracy']:.4f} ({int(np.trace(cm))}/{int(cm.sum())}); always "
            f"{scores['baseline_class']!r}: {scores['test_baseline_accuracy']:.4f}; balanced accuracy "
            f"{scores['test_balanced_accuracy']:.4f}")
    if "test_roc_auc" in scores:
        line += f", ROC-AUC {scores['test_roc_auc']:.4f}"
    return line


def _fold_summary(ds: DatasetSplits, scores: dict[str, Any]) -> str:
    if ds.task == "regression":
        return f"test R² {scores['test_r2']:.4f}"
    return f"test accuracy {scores['test_accuracy']:.4f}"


def _silent(*_: Any) -> None:
    """A ``say`` that says nothing."""


def _per_class_table(scores: dict[str, Any]) -> str:
    """Precision, recall and F1 per class (up to 12 classes), and a warning when the accuracy
    is hardly above the majority-class baseline."""
    per_class = scores.get("per_class") or {}
    lines = []
    if 0 < len(per_class) <= 12:
        w = max(5, *(len(n) for n in per_class))
        lines.append(f"{'class'.rjust(w)}  precision  recall      f1  support")
        for name, r in per_class.items():
            lines.append(f"{name[:w].rjust(w)}  {r['precision']:9.4f}  {r['recall']:6.4f}  {r['f1']:6.4f}  "
                         f"{r['support']:7d}")
    baseline = scores.get("test_baseline_accuracy", 0.0)
    if scores["test_accuracy"] < baseline + 0.25 * (1 - baseline):
        lines.append(f"note: accuracy {scores['test_accuracy']:.4f} is little better than always answering "
                     f"{scores['baseline_class']!r} ({baseline:.4f}); judge the model by balanced accuracy and "
                     "the recall of the rare classes")
    return "\n".join(lines)


def _run_facts(args: argparse.Namespace, trained: _Trained, recipe: Recipe, t_start: float,
               train_seconds: float | None = None) -> dict[str, Any]:
    history = trained.history
    seconds = trained.seconds if train_seconds is None else train_seconds
    return dict(epochs=len(history), train_seconds=round(seconds, 3),
                total_seconds=round(time.perf_counter() - t_start, 3), stop_reason=history.stop_reason,
                best_epoch=history.best_epoch, seed=args.seed, num_parameters=trained.model.num_parameters(),
                recipe=recipe.as_dict(), networks=len(trained.member_epochs) or 1,
                network_epochs=trained.member_epochs or [len(history)])


def _write_outputs(args: argparse.Namespace, ds: DatasetSplits, recipe: Recipe, trained: _Trained,
                   results: dict[str, Any], say: Say) -> None:
    """model.safetensors, history.csv, metrics.json (and plots) into ``--out``."""
    if not args.out or not _is_main(args):
        return
    from chainrule.io import save
    from chainrule.io.safetensors_format import remove_leftover_temporaries

    regression = ds.task == "regression"
    metadata = {"preprocessing": ds.preprocessing(), "recipe": recipe.as_dict(),
                "target_scale": {"mean": trained.y_mean, "std": trained.y_std} if regression else None,
                "test": {k: v for k, v in results.items() if k.startswith("test_")},
                "data_dir": os.path.abspath(args.data_dir) if args.data_dir else None}
    if "evaluation" in results:  # cross-validated: this model has seen the test split too
        metadata["evaluation"] = results["evaluation"]
        metadata["trained_on_test_split"] = True
    remove_leftover_temporaries(os.path.join(args.out, MODEL))  # of a run killed while saving
    save(trained.model, os.path.join(args.out, MODEL), metadata=metadata)
    from chainrule.errors import naming_file

    with naming_file(os.path.join(args.out, "history.csv")):  # a full disk names the file
        trained.history.to_csv(os.path.join(args.out, "history.csv"))
    with naming_file(os.path.join(args.out, "metrics.json")), \
            open(os.path.join(args.out, "metrics.json"), "w", encoding="utf-8") as f:
        f.write(dump_json(results) + "\n")
    if getattr(args, "plot", False):
        from chainrule.viz.plots import plot_run

        for path in plot_run(args.out, history=trained.history, model=trained.model, data=ds):
            say(f"wrote {path}")


def _epochs(trained: _Trained) -> str:
    """``23 epochs``, or for an average of networks ``5 networks averaged, 18-41 epochs each``."""
    e = trained.member_epochs or [len(trained.history)]
    if len(e) == 1:
        return f"{e[0]} epochs"
    span = f"{min(e)}" if min(e) == max(e) else f"{min(e)}-{max(e)}"
    return f"{len(e)} networks averaged, {span} epochs each"


def _stopped(trained: _Trained) -> str:
    reason = trained.history.stop_reason
    return f", {reason}" if reason else ""


def _saved(args: argparse.Namespace) -> str:
    return f"; saved to {args.out}" if args.out else ""
