"""Training character-level language models: recipes, data windows, scores and samples.

``chainrule train --dataset names --model gpt`` (or ``--model rnn``) runs
:func:`train_language_model`: it cuts the corpus's training stream into overlapping windows
of ``block_size`` characters (targets: the same windows shifted by one), trains with the
ordinary :func:`~chainrule.training.fit` (checkpoints, ``--resume``, history, callbacks all
as for the other models), and scores the validation stream, every character once, in
nats per character (the mean cross-entropy, natural log) and its perplexity ``e^loss``
(the number of equally likely characters the model is as unsure as).

Recipes (measured on the bundled ``names``, seed 0; see docs/learn-backpropagation.md):

* gpt: 4 layers, 4 heads, 64 wide, block 32, AdamW 3e-3 (weight decay 0.01), batch 64,
  cosine decay, gradient norm clipped at 1, windows every 8 characters, 8 epochs.
* rnn: GRU, 128 hidden, block 32, Adam 3e-3, batch 64, cosine, clip 1, 8 epochs.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..tensor import no_grad

LANGUAGE_MODELS = ("gpt", "rnn")


@dataclass
class TextRecipe:
    """Everything a language-model run needs besides the corpus."""

    model: str = "gpt"
    block_size: int = 32
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 64
    hidden: int = 128          # rnn: hidden state width
    num_layers: int = 1        # rnn: stacked recurrent layers
    cell: str = "gru"          # rnn: rnn (tanh), gru or lstm
    dropout: float = 0.0
    optimizer: str = "adamw"
    lr: float = 3e-3
    weight_decay: float = 0.01
    batch_size: int = 64
    epochs: int = 8
    schedule: str = "cosine"
    clip_grad_norm: float | None = 1.0
    stride: int = 8            # a training window starts every `stride` characters
    early_stopping: int | None = None

    def replace(self, **changes: Any) -> TextRecipe:
        """A copy with the fields in ``changes`` set (``None`` values are ignored)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def architecture(self) -> dict[str, Any]:
        """The model constructor's arguments this recipe implies (without the vocabulary)."""
        if self.model == "gpt":
            return {"block_size": self.block_size, "n_layer": self.n_layer, "n_head": self.n_head,
                    "n_embd": self.n_embd, "dropout": self.dropout}
        return {"hidden_size": self.hidden, "num_layers": self.num_layers, "cell": self.cell,
                "dropout": self.dropout}


TEXT_RECIPES: dict[str, TextRecipe] = {
    "gpt": TextRecipe(),
    "rnn": TextRecipe(model="rnn", optimizer="adam", weight_decay=0.0),
}


def text_recipe(model: str) -> TextRecipe:
    if model not in TEXT_RECIPES:
        raise ConfigError(f"a text corpus trains a language model: --model must be one of "
                          f"{', '.join(LANGUAGE_MODELS)}; got {model!r}")
    return dataclasses.replace(TEXT_RECIPES[model])


def build_language_model(recipe: TextRecipe, vocab_size: int) -> Any:
    """The catalogue's model ``recipe.model`` for a vocabulary of ``vocab_size``."""
    from .. import catalogue

    entry = catalogue.lookup(catalogue.MODELS, recipe.model, "model")
    return entry.build(vocab_size, **recipe.architecture())


def nats_per_char(model: Any, x: np.ndarray, y: np.ndarray, batch_size: int = 256) -> float:
    """Mean cross-entropy (natural log) of ``model`` predicting ``y`` from ``x``, both
    (M, T) ids, in evaluation mode: nats per character. Perplexity is ``exp`` of it."""
    from ..ops.loss import cross_entropy

    was_training = getattr(model, "training", True)
    model.eval()
    total, count = 0.0, 0
    try:
        with no_grad():
            for i in range(0, len(x), batch_size):
                xb, yb = x[i:i + batch_size], y[i:i + batch_size]
                total += float(cross_entropy(model(xb), yb, reduction="sum").item())
                count += yb.size
    finally:
        if was_training:
            model.train()
    return total / max(count, 1)


def sample_words(model: Any, vocab: str, n: int, temperature: float = 1.0, seed: int = 0,
                 max_len: int | None = None) -> list[str]:
    """``n`` new words: start each from a newline and sample characters until the next one
    (or ``max_len`` characters, default the model's block size or 32)."""
    from ..data.text import SEPARATOR, decode

    if n < 1:
        raise ConfigError(f"the number of samples must be positive; got {n}")
    if SEPARATOR not in vocab:
        raise ConfigError("the model's vocabulary has no newline to start and end words with")
    start = vocab.index(SEPARATOR)
    limit = max_len or getattr(model, "block_size", None) or 32
    rng = np.random.default_rng(seed)
    ids = model.generate(np.full((n, 1), start), limit, temperature=temperature, rng=rng,
                         stop=start)
    return [decode(vocab, row[1:]).split(SEPARATOR)[0] for row in ids]


def perplexity(nats: float) -> float:
    return math.exp(nats) if nats < 700 else math.inf


__all__ = [
    "LANGUAGE_MODELS",
    "TEXT_RECIPES",
    "TextRecipe",
    "build_language_model",
    "nats_per_char",
    "perplexity",
    "sample_words",
    "text_recipe",
]
