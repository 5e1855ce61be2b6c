"""``chainrule train`` for text: a character-level GPT or RNN on a bundled corpus.

Reached from ``commands/train.py`` when ``--model`` is ``gpt``/``rnn`` or the data set is a
text corpus (``--dataset names``). Reports the validation loss in nats per character and
its perplexity, prints a few sampled words, and with ``--out`` writes ``model.safetensors``
(the vocabulary in its metadata, for ``chainrule generate``), ``history.csv``,
``metrics.json``, a resumable checkpoint after every epoch and, with ``--plot``, the curves.
"""
from __future__ import annotations

import argparse
import os
import time
import warnings
from typing import Any

from .. import catalogue
from ..errors import ConfigError

SAMPLES_SHOWN = 10


def is_text_run(args: argparse.Namespace) -> bool:
    """Whether this ``train`` command asks for a language model."""
    from ..training.language import LANGUAGE_MODELS

    if args.model in LANGUAGE_MODELS:
        return True
    if args.csv is not None or args.dataset is None:
        return False
    try:
        return catalogue.lookup(catalogue.DATASETS, args.dataset, "dataset").kind == "text"
    except ConfigError:  # an unknown name is reported by the ordinary path
        return False


def run_language_model(args: argparse.Namespace, say: Any, t_start: float, ckpt: str | None) -> int:
    import numpy as np

    import chainrule as cr
    from chainrule import nn
    from chainrule.io import save
    from chainrule.io.safetensors_format import remove_leftover_temporaries
    from chainrule.training import CSVLogger, EarlyStopping, fit
    from chainrule.training.language import (
        build_language_model,
        nats_per_char,
        perplexity,
        sample_words,
        text_recipe,
    )
    from chainrule.training.recipes import DEFAULT_LR, build_optimizer, build_scheduler

    from ._common import dump_json
    from .train import MODEL, _check_resumed_settings

    if args.csv is not None:
        raise ConfigError("--model gpt/rnn trains on a text corpus (--dataset names or surnames), not --csv")
    name = args.dataset or "names"
    entry = catalogue.lookup(catalogue.DATASETS, name, "dataset")
    if entry.kind != "text":
        texts = ", ".join(catalogue.names(catalogue.DATASETS, kind="text"))
        raise ConfigError(f"--model {args.model} is a language model: it needs a text corpus ({texts}); "
                          f"{entry.name} is not one")
    for flag, value in (("--cv", args.cv), ("--stop-at", args.stop_at), ("--activation", args.activation)):
        if value is not None:
            raise ConfigError(f"{flag} does not apply to a language model")
    model_name = args.model or "gpt"
    recipe = text_recipe(model_name)
    lr = args.lr
    if lr is None and args.optimizer is not None and args.optimizer != recipe.optimizer:
        lr = DEFAULT_LR[args.optimizer]
    hidden = args.hidden[0] if args.hidden else None
    if args.hidden is not None and len(args.hidden) != 1:
        raise ConfigError("--hidden for --model rnn is one width (the recurrent state), e.g. --hidden 128")
    recipe = recipe.replace(block_size=args.block_size, n_layer=args.n_layer, n_head=args.n_head,
                            n_embd=args.n_embd, hidden=hidden, cell=args.cell, dropout=args.dropout,
                            optimizer=args.optimizer, lr=lr, weight_decay=args.weight_decay,
                            schedule=args.schedule, batch_size=args.batch_size, epochs=args.epochs,
                            clip_grad_norm=args.clip_grad_norm, early_stopping=args.early_stopping)
    corpus = entry.build(**({} if args.val_fraction is None else {"val_fraction": args.val_fraction}))

    cr.manual_seed(args.seed)
    model = build_language_model(recipe, corpus.vocab_size)
    stride = min(recipe.stride, recipe.block_size)
    x_train, y_train = corpus.windows("train", recipe.block_size, stride)
    x_val, y_val = corpus.windows("val", recipe.block_size)       # every character scored once
    optimizer = build_optimizer(recipe.optimizer, model.parameters(), recipe.lr, recipe.weight_decay)
    scheduler = build_scheduler(recipe.schedule, optimizer, recipe.epochs)
    if args.resume and ckpt and os.path.exists(ckpt):
        _check_resumed_settings(ckpt, optimizer)
    callbacks: list[Any] = []
    if recipe.early_stopping:
        callbacks.append(EarlyStopping(monitor="val_loss", patience=recipe.early_stopping, restore_best=True))
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        callbacks.append(CSVLogger(os.path.join(args.out, "history.csv")))
    arch = (f"{recipe.n_layer} layers x {recipe.n_head} heads x {recipe.n_embd} wide, block {recipe.block_size}"
            if model_name == "gpt" else
            f"{recipe.cell.upper()} {recipe.num_layers}x{recipe.hidden}, block {recipe.block_size}")
    say(corpus.summary())
    say(f"{model_name} ({arch}; {model.num_parameters():,} parameters), {len(x_train)} training windows, "
        f"{recipe.optimizer} lr {recipe.lr:g}, batch {recipe.batch_size}, {recipe.epochs} epochs")

    t_fit = time.perf_counter()
    from chainrule.training.diagnostics import ChainruleWarning

    with np.errstate(over="ignore", invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", category=ChainruleWarning)
        history = fit(model, nn.CrossEntropyLoss(), optimizer, (x_train, y_train), val=(x_val, y_val),
                      epochs=recipe.epochs, batch_size=recipe.batch_size, callbacks=callbacks, metrics=(),
                      seed=args.seed, clip_grad_norm=recipe.clip_grad_norm, progress=not args.quiet,
                      scheduler=scheduler, checkpoint=ckpt, resume=args.resume)
    seconds = time.perf_counter() - t_fit
    val = nats_per_char(model, x_val, y_val)
    samples = sample_words(model, corpus.vocab, SAMPLES_SHOWN, temperature=0.8, seed=args.seed)
    results: dict[str, Any] = {
        "dataset": corpus.name, "task": "language_model", "model": model_name,
        "val_loss_nats_per_char": val, "val_bits_per_char": val / np.log(2), "val_perplexity": perplexity(val),
        "val_characters": int(y_val.size), "epochs": len(history), "train_seconds": round(seconds, 3),
        "total_seconds": round(time.perf_counter() - t_start, 3), "seed": args.seed,
        "num_parameters": model.num_parameters(), "recipe": recipe.as_dict(), "samples": samples,
        "stop_reason": history.stop_reason}
    say("samples (temperature 0.8): " + ", ".join(samples))
    if args.out:
        path = os.path.join(args.out, MODEL)
        remove_leftover_temporaries(path)
        save(model, path, metadata={"text": {"dataset": corpus.name, "vocab": corpus.vocab},
                                    "recipe": recipe.as_dict(),
                                    "validation": {"nats_per_char": val, "perplexity": perplexity(val)}})
        history.to_csv(os.path.join(args.out, "history.csv"))
        with open(os.path.join(args.out, "metrics.json"), "w", encoding="utf-8") as f:
            f.write(dump_json(results) + "\n")
        if getattr(args, "plot", False):
            from chainrule.viz.plots import plot_history

            for p in plot_history(history, args.out):
                say(f"wrote {p}")
    saved = f"; saved to {args.out}" if args.out else ""
    print(f"validation loss {val:.4f} nats/char (perplexity {perplexity(val):.2f}) after {len(history)} epochs "
          f"({seconds:.1f} s){saved}", flush=True)
    return 0
