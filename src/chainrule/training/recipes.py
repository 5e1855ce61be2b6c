"""Recipes: a sensible model and set of hyperparameters for each data set.

``chainrule train --dataset X`` starts from ``recipe_for(X)`` and lets flags override any
field. The numbers are ones that were measured to work (see the README's table):

* digits: MLP 64-128-10, ReLU, Adam 3e-3 with cosine decay, batch 32, 40 epochs
  -> 95.8-96.7 % test accuracy over seeds 0-4 (a few seconds)
* iris: MLP 4-16-3, tanh, Adam 1e-2 with cosine decay, batch 16, 100 epochs, judged by 5-fold
  cross-validation -> 97.3 % (146/150) on the fixed folds; 95.3-97.3 % (mean 96.3 %) over
  ten other fold assignments. A single 30-flower test set measures accuracy only to about
  ±4 points and depends on which flowers it holds: on the bundled default split (seed 0)
  even linear discriminant analysis gets only 93 %. Cross-validation tests all 150 flowers,
  each once. (ReLU without the decay: mean 95.0 % over the same ten fold assignments.)
* mnist: MLP 784-512-256-10, ReLU, dropout 0.2, Adam 1e-3, batch 128, cosine decay of the
  learning rate over 10 epochs -> 98.50 % test accuracy (seed 0)
* the 2-D toys: MLP 2-16-16-2, tanh, Adam 1e-2, 100 epochs; spiral: 2-64-64-64-2, ReLU, Adam 5e-3
  with cosine decay, 300 epochs -> 98.4 % (seed 0; 94.8-99.2 % over seeds 0-3)
* CSV tables: MLP with hidden 64,64, Adam 1e-3, a fifth held out for validation, early stopping
  (patience 10, best weights kept), weight decay 0.1/rows (regression: hidden 100, MSE loss on
  standardised targets, reported in the original units, and the average of 10 networks on five
  cross-fitting splits: 5 early-stopped, each validated on a different fifth, and 5 trained 300
  epochs of batch 200 with weight decay 10/rows); see ``table_recipe`` and benchmarks/tables.py.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .. import catalogue
from ..errors import ConfigError

# The names come from the catalogue (one definition each); these are kept for existing imports.
OPTIMIZERS = catalogue.names(catalogue.OPTIMIZERS)
ACTIVATIONS = catalogue.names(catalogue.ACTIVATIONS)
SCHEDULES = catalogue.names(catalogue.SCHEDULES)
#: learning rate used when ``--optimizer`` differs from the recipe's and ``--lr`` is not given
DEFAULT_LR = {name: entry.default_lr for name, entry in catalogue.OPTIMIZERS.items()}


@dataclass
class Recipe:
    """Everything ``chainrule train`` needs besides the data."""

    model: str = "mlp"
    hidden: tuple[int, ...] = (128,)
    activation: str = "relu"
    dropout: float = 0.0
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 32
    epochs: int = 30
    schedule: str = "none"
    val_fraction: float = 0.1
    clip_grad_norm: float | None = None
    early_stopping: int | None = None
    cv: int = 0  # k-fold cross-validation over all examples (0: the data set's train/test split)
    # networks averaged: each holds out a different 1/ensemble of the training rows for
    # validation and early stopping (val_fraction is then unused); 1: one network
    ensemble: int = 1
    # with ensemble > 1: beside each early-stopped network, one more trained on the same rows for
    # exactly this many epochs (no early stopping), with its own batch size and weight decay,
    # and averaged with the rest; 0: none
    fixed_epochs: int = 0
    fixed_batch_size: int = 200
    fixed_weight_decay: float = 0.0

    def replace(self, **changes: Any) -> Recipe:
        """A copy with the fields in ``changes`` set (``None`` values are ignored)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def as_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["hidden"] = list(self.hidden)
        return d


RECIPES: dict[str, Recipe] = {
    "digits": Recipe(hidden=(128,), lr=3e-3, batch_size=32, epochs=40, schedule="cosine"),
    "iris": Recipe(hidden=(16,), activation="tanh", lr=1e-2, batch_size=16, epochs=100, schedule="cosine",
                   cv=5),
    "mnist": Recipe(hidden=(512, 256), dropout=0.2, lr=1e-3, batch_size=128, epochs=10, schedule="cosine",
                    val_fraction=1 / 12),
    "fashion-mnist": Recipe(hidden=(512, 256), dropout=0.2, lr=1e-3, batch_size=128, epochs=10,
                            schedule="cosine", val_fraction=1 / 12),
    # two interleaved spirals need depth: 2-16-16-2 tanh scored 0.60 (an underfit); this gets
    # 0.984 / 0.992 / 0.948 / 0.992 test accuracy over seeds 0-3
    "spiral": Recipe(hidden=(64, 64, 64), activation="relu", lr=5e-3, batch_size=32, epochs=300,
                     schedule="cosine"),
    "toy2d": Recipe(hidden=(16, 16), activation="tanh", lr=1e-2, batch_size=32, epochs=100),
    "csv": Recipe(hidden=(64, 64), lr=1e-3, batch_size=32, epochs=200, val_fraction=0.2, early_stopping=10),
}


#: early-stopped networks averaged by the recipe of a regression table (see ``table_recipe``)
TABLE_REGRESSION_ENSEMBLE = 5
#: epochs of each fixed-length network of a regression table's recipe (no early stopping)
TABLE_REGRESSION_FIXED_EPOCHS = 300
#: batch size of the fixed-length networks (scikit-learn's ``MLPRegressor`` default, 200)
TABLE_REGRESSION_FIXED_BATCH = 200
#: weight decay of the fixed-length networks times the table's rows (10 / rows)
TABLE_REGRESSION_FIXED_DECAY = 10.0


def table_recipe(rows: int, task: str = "classification") -> Recipe:
    """The recipe for a user's CSV table of ``rows`` examples: made to generalise with no tuning.

    A fifth of the training rows is held out for validation and training stops once the
    validation loss has not improved for 10 epochs, keeping the best epoch's weights (an
    MLP trained to the end memorises a small table: cross-validated R² fell to 0.10 where a
    ridge regression got 0.30). An L2 penalty shrinks the weights harder the fewer the rows:
    weight decay ``0.1 / rows`` (3e-4 for 300 rows, 1e-5 for 10 000), the usual
    ``λ/N`` scaling of a fixed prior.

    A regression ``task`` averages 10 networks of one hidden layer of 100 ReLUs (scikit-learn's
    ``MLPRegressor`` width), trained on the same five cross-fitting splits of the training rows
    (four fifths to learn from, the fifth left over), two per split:

    * one early-stopped on the split's left-over fifth as above (5 such networks learn from
      every row together, which one network with a held-out fifth cannot);
    * one trained for a fixed 300 epochs of batch 200 with no early stopping and a stronger
      weight decay, ``10 / rows``, which its left-over fifth never influences.

    Early stopping on a fifth of a small table stops where a few rows say: on Hitters (210
    training salaries, 42 validating each network, a few of them several times the rest) the
    five early-stopped networks stop after 5-40 epochs and score 0.05 R² below scikit-learn's
    MLP; the fixed-length networks regularise by weight decay instead, which does not depend on
    which rows validate. Their decay was chosen by inner cross-validation on the training rows
    (out-of-fold error of the five fixed-length networks, over ``{0.1, 1, 10} / rows``): it
    picked ``10 / rows`` on Hitters, Carseats, Credit and Wage, ``1 / rows`` on Auto. The mix
    brought Hitters within 0.02 of scikit-learn's best and Carseats closer (docs/own-data.md).
    """
    rows = max(int(rows), 1)
    recipe = dataclasses.replace(RECIPES["csv"], weight_decay=round(0.1 / rows, 7))
    if task == "regression":
        recipe = dataclasses.replace(recipe, hidden=(100,), ensemble=TABLE_REGRESSION_ENSEMBLE,
                                     fixed_epochs=TABLE_REGRESSION_FIXED_EPOCHS,
                                     fixed_batch_size=TABLE_REGRESSION_FIXED_BATCH,
                                     fixed_weight_decay=round(TABLE_REGRESSION_FIXED_DECAY / rows, 7))
    return recipe


def recipe_for(name: str) -> Recipe:
    """The recipe for a data set name (``digits``, ``mnist``, ``circle`` ...; CSV files: ``csv``)."""
    from ..data import TOY2D_NAMES

    key = name.lower().replace("_", "-")
    if key in TOY2D_NAMES and key not in RECIPES:
        key = "toy2d"
    return dataclasses.replace(RECIPES.get(key, RECIPES["csv"]))


# ----------------------------------------------------------------------------- building
def activation_layer(name: str) -> Any:
    """A new layer of the catalogue's activation ``name`` (``relu``, ``tanh`` ...)."""
    return catalogue.lookup(catalogue.ACTIVATIONS, name, "activation").build()


def check_model_size(n_params: int, train_copies: int = 4) -> None:
    """Refuse a model whose training would not fit in this machine's memory, before building it:
    ``n_params`` float32 values, times ``train_copies`` (weights, gradients and two optimizer
    moments). ``train --hidden 1000000000`` asked for 3 TB and died in a NumPy traceback."""
    import os

    need = 4 * n_params * train_copies
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        memory = 0
    if memory and need > memory:
        raise ConfigError(f"the model would have {n_params:,} parameters ({4 * n_params / 1e9:.3g} GB of float32, "
                          f"about {need / 1e9:.3g} GB to train with gradients and optimizer state), more than this "
                          f"machine's {memory / 1e9:.3g} GB of memory; choose smaller --hidden widths")


def build_mlp(in_features: int, hidden: Sequence[int], out_features: int, activation: str = "relu",
              dropout: float = 0.0) -> Any:
    """``Sequential(Linear, act, [Dropout], ..., Linear)``: in -> hidden... -> out (logits).

    The size is checked before anything is allocated (``check_model_size``)."""
    from .. import nn

    widths = [in_features, *hidden, out_features]
    check_model_size(sum(a * b + b for a, b in zip(widths, widths[1:])))
    layers: list[Any] = []
    width = in_features
    for h in hidden:
        layers += [nn.Linear(width, h), activation_layer(activation)]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = h
    layers.append(nn.Linear(width, out_features))
    return nn.Sequential(*layers)


def average_networks(models: Sequence[Any]) -> Any:
    """One MLP whose output is exactly the mean of the outputs of ``models``, K MLPs of the
    same shape built by :func:`build_mlp` (an ensemble saved, loaded, evaluated and exported
    as a single ordinary ``Sequential``).

    Each hidden layer of the result stacks the K members' units side by side: the first
    ``Linear`` concatenates their weights ``(K·h, in)``; a middle one is block-diagonal
    ``(K·h', K·h)``, so member j's units see only member j's units; the last concatenates
    them along the input ``(out, K·h)`` scaled by 1/K and averages the biases. Activations and
    dropout act unit by unit, so nothing mixes between members until that final mean.
    """
    import numpy as np

    from .. import nn

    if not models:
        raise ConfigError("average_networks: no networks to average")
    first, k = models[0], len(models)
    if k == 1:
        return first
    shapes = [[tuple(p.data.shape) for p in m.parameters()] for m in models]
    if any(s != shapes[0] for s in shapes) or not isinstance(first, nn.Sequential):
        raise ConfigError("average_networks: the networks must be Sequential MLPs of one shape")
    linear = [i for i, layer in enumerate(first) if isinstance(layer, nn.Linear)]
    layers: list[Any] = []
    for i, layer in enumerate(first):
        if not isinstance(layer, nn.Linear):
            layers.append(nn.from_config(layer.to_config()))  # a fresh copy of the activation or dropout
            continue
        ws = [np.asarray(m[i].weight.data, np.float64) for m in models]
        bs = [np.asarray(m[i].bias.data if m[i].bias is not None else np.zeros(m[i].out_features), np.float64)
              for m in models]
        if i == linear[0] == linear[-1]:  # no hidden layer: the mean of K affine maps is affine
            w, b = np.mean(ws, axis=0), np.mean(bs, axis=0)
        elif i == linear[0]:
            w, b = np.concatenate(ws, axis=0), np.concatenate(bs)
        elif i == linear[-1]:
            w, b = np.concatenate(ws, axis=1) / k, np.mean(bs, axis=0)
        else:
            out_h, in_h = ws[0].shape
            w = np.zeros((k * out_h, k * in_h))
            for j, wj in enumerate(ws):
                w[j * out_h:(j + 1) * out_h, j * in_h:(j + 1) * in_h] = wj
            b = np.concatenate(bs)
        merged = nn.Linear(w.shape[1], w.shape[0])
        merged.weight.data[...] = w
        if merged.bias is not None:  # build_mlp's layers all have one
            merged.bias.data[...] = b
        layers.append(merged)
    return nn.Sequential(*layers)


def build_cnn(image_shape: Sequence[int], out_features: int, hidden: Sequence[int] = (), dropout: float = 0.0) -> Any:
    """The LeNet-style CNN (``nn.lenet``) for flattened images of ``image_shape`` (C, H, W).

    28x28 and larger (MNIST): conv5x5·32 - pool - conv5x5·64 - pool - fc - fc. Smaller images
    (the 8x8 digits): one conv3x3·32 - pool stage. ``hidden``: width of the fully connected
    layer (its first entry; default 128).
    """
    from .. import nn

    c, h, w = (int(v) for v in image_shape)
    width = int(hidden[0]) if hidden else 128
    check_model_size(width * (64 * c * h * w // 16 + out_features))  # the fully connected layers dominate
    if min(h, w) >= 16:
        return nn.lenet(c, out_features, (h, w), hidden=width, dropout=dropout)
    return nn.lenet(c, out_features, (h, w), channels=(32,), kernel_size=3, hidden=width, dropout=dropout)


def build_optimizer(name: str, params: Any, lr: float, weight_decay: float = 0.0) -> Any:
    """The catalogue's optimizer ``name`` (``sgd``, ``momentum`` = SGD with Nesterov momentum 0.9,
    ``rmsprop``, ``adam``, ``adamw``); ``weight_decay`` 0 keeps the optimizer's default."""
    return catalogue.lookup(catalogue.OPTIMIZERS, name, "optimizer").build(params, lr=lr, weight_decay=weight_decay)


def build_scheduler(name: str | None, optimizer: Any, epochs: int) -> Any:
    """The catalogue's schedule ``name`` over ``epochs`` epochs (``None`` for ``none``):
    ``cosine`` decays to 0; ``step`` multiplies by 0.1 every third of the run."""
    if name is None:
        return None
    return catalogue.lookup(catalogue.SCHEDULES, name, "schedule").build(optimizer, epochs)


__all__ = ["Recipe", "RECIPES", "recipe_for", "table_recipe", "build_mlp", "average_networks", "build_cnn",
           "build_optimizer", "build_scheduler", "activation_layer", "OPTIMIZERS", "ACTIVATIONS", "SCHEDULES",
           "DEFAULT_LR", "TABLE_REGRESSION_ENSEMBLE",
           "TABLE_REGRESSION_FIXED_EPOCHS", "TABLE_REGRESSION_FIXED_BATCH", "TABLE_REGRESSION_FIXED_DECAY"]
