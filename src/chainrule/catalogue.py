"""The catalogue: every named choice a user can make, defined once.

The command line (``--activation``, ``--optimizer``, ``--schedule``, ``--dataset``, ``--model``),
the recipes (``training/recipes.py``), ``data.load_dataset`` and the playground (its protocol,
sessions and the ``hello`` message its page is built from) all read these tables; none of them
types a name list of its own. Each entry is a small frozen record: its name, the constructor it
stands for, the keyword defaults that name implies, and a one-line description for help texts.

Constructors are named as ``"module:attribute"`` strings and imported on first use, so this
module imports nothing but the standard library and ``chainrule.errors``: the CLI can build its
``--help`` without loading NumPy code, and nothing here can form an import cycle.

Adding an activation is: its op (``ops/``), its layer (``nn/``), one line in ``ACTIVATIONS``.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeVar

from .errors import ConfigError


def _frozen(values: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    return MappingProxyType(dict(values or {}))


@dataclass(frozen=True)
class Choice:
    """One named choice: ``build(*args, **kwargs)`` calls ``constructor`` with ``defaults``
    (``kwargs`` win over ``defaults``)."""

    name: str
    #: ``"package.module:attribute"``, imported on first use (empty: the choice builds nothing)
    constructor: str
    description: str
    defaults: Mapping[str, Any] = field(default_factory=_frozen)

    def resolve(self) -> Callable[..., Any]:
        """The constructor itself (imports its module)."""
        module, _, attribute = self.constructor.partition(":")
        return getattr(importlib.import_module(module), attribute)

    def build(self, *args: Any, **kwargs: Any) -> Any:
        """``constructor(*args, **{**defaults, **kwargs})``."""
        return self.resolve()(*args, **{**self.defaults, **kwargs})


@dataclass(frozen=True)
class ActivationChoice(Choice):
    """An elementwise nonlinearity; ``build()`` returns its ``nn`` layer (a callable Module)."""


@dataclass(frozen=True)
class OptimizerChoice(Choice):
    """An optimizer; ``build(params, lr=..., weight_decay=...)`` returns it.

    ``default_lr`` is the learning rate ``chainrule train`` uses when ``--optimizer`` differs
    from the recipe's and no ``--lr`` is given. A ``weight_decay`` of 0 keeps the entry's own
    default (AdamW decays by 0.01 unless told otherwise); parameter groups that set their own
    ``weight_decay`` (the playground's bias group) keep theirs.
    """

    default_lr: float = 1e-3

    def build(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("weight_decay") == 0:
            del kwargs["weight_decay"]
        return super().build(*args, **kwargs)


@dataclass(frozen=True)
class LossChoice(Choice):
    """A loss; ``task`` names the task it is the default for (``None``: no task's default)."""

    task: str | None = None


@dataclass(frozen=True)
class ScheduleChoice(Choice):
    """A learning-rate schedule over a run of ``epochs`` epochs; ``build(optimizer, epochs)``
    returns the scheduler (``None`` for ``none``)."""

    #: the constructor's keyword arguments for a run of the given number of epochs
    arguments: Callable[[int], dict[str, Any]] | None = None

    def build(self, *args: Any, **kwargs: Any) -> Any:
        optimizer, epochs = args
        if not self.constructor:
            return None
        extra = self.arguments(int(epochs)) if self.arguments else {}
        return super().build(optimizer, **{**extra, **kwargs})


@dataclass(frozen=True)
class DatasetChoice(Choice):
    """A data set known by name. ``kind`` says how its loader is called: ``bundled``
    (shipped with the package), ``download`` (IDX files in a data directory, fetched on
    request), ``toy2d`` or ``toy2d_regression`` (generated; the loader takes the name) or ``text``
    (a bundled character corpus for language models: the loader returns a ``TextCorpus``)."""

    kind: str = "bundled"
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelChoice(Choice):
    """A network family ``chainrule train --model`` builds from a recipe."""


C = TypeVar("C", bound=Choice)


def _table(*entries: C) -> Mapping[str, C]:
    return MappingProxyType({e.name: e for e in entries})


def _cosine(epochs: int) -> dict[str, Any]:
    return {"T_max": epochs}


def _step(epochs: int) -> dict[str, Any]:
    return {"step_size": max(1, epochs // 3), "gamma": 0.1}


_NN = "chainrule.nn"
_OPTIM = "chainrule.optim"

ACTIVATIONS: Mapping[str, ActivationChoice] = _table(
    ActivationChoice("relu", f"{_NN}:ReLU", "max(0, x)"),
    ActivationChoice("leaky_relu", f"{_NN}:LeakyReLU", "x, or 0.01·x below zero", _frozen({"negative_slope": 0.01})),
    ActivationChoice("tanh", f"{_NN}:Tanh", "hyperbolic tangent, in (-1, 1)"),
    ActivationChoice("sigmoid", f"{_NN}:Sigmoid", "logistic 1/(1+e^-x), in (0, 1)"),
    ActivationChoice("gelu", f"{_NN}:GELU", "x·Φ(x), a smooth ReLU"),
    ActivationChoice("softplus", f"{_NN}:Softplus", "ln(1 + eˣ), a smooth ReLU that is never flat"),
    ActivationChoice("linear", f"{_NN}:Identity", "no nonlinearity (the network stays linear)"),
)

#: the activations of the tiny worked-example network of ``chainrule explain`` and ``graph``
#: (``tiny_network.py``): those whose slope reads as one number per neuron
TINY_NETWORK_ACTIVATIONS: tuple[str, ...] = ("sigmoid", "tanh", "relu")

OPTIMIZERS: Mapping[str, OptimizerChoice] = _table(
    OptimizerChoice("sgd", f"{_OPTIM}:SGD", "plain stochastic gradient descent", default_lr=0.1),
    OptimizerChoice("momentum", f"{_OPTIM}:SGD", "SGD with Nesterov momentum 0.9",
                    _frozen({"momentum": 0.9, "nesterov": True}), default_lr=0.01),
    OptimizerChoice("rmsprop", f"{_OPTIM}:RMSprop", "RMSprop (per-weight step from a running RMS)", default_lr=1e-3),
    OptimizerChoice("adam", f"{_OPTIM}:Adam", "Adam (momentum and per-weight scaling)", default_lr=1e-3),
    OptimizerChoice("adamw", f"{_OPTIM}:AdamW", "Adam with decoupled weight decay (default 0.01)", default_lr=1e-3),
)

LOSSES: Mapping[str, LossChoice] = _table(
    LossChoice("cross_entropy", f"{_NN}:CrossEntropyLoss", "softmax cross-entropy on logits",
               task="classification"),
    LossChoice("mse", f"{_NN}:MSELoss", "mean squared error", task="regression"),
    LossChoice("l1", f"{_NN}:L1Loss", "mean absolute error"),
    LossChoice("huber", f"{_NN}:HuberLoss", "squared near zero, absolute beyond delta"),
    LossChoice("nll", f"{_NN}:NLLLoss", "negative log-likelihood of log-probabilities"),
    LossChoice("bce", f"{_NN}:BCELoss", "binary cross-entropy on probabilities"),
    LossChoice("bce_with_logits", f"{_NN}:BCEWithLogitsLoss", "binary cross-entropy on logits"),
)

SCHEDULES: Mapping[str, ScheduleChoice] = _table(
    ScheduleChoice("none", "", "constant learning rate"),
    ScheduleChoice("cosine", f"{_OPTIM}.lr_scheduler:CosineAnnealingLR", "cosine decay to 0 over the run",
                   arguments=_cosine),
    ScheduleChoice("step", f"{_OPTIM}.lr_scheduler:StepLR", "x0.1 every third of the run", arguments=_step),
)

DATASETS: Mapping[str, DatasetChoice] = _table(
    DatasetChoice("iris", "chainrule.data.bundled:iris", "150 iris flowers, 4 measurements, 3 species (bundled)"),
    DatasetChoice("digits", "chainrule.data.bundled:digits", "1797 handwritten digits, 8x8 pixels (bundled)"),
    DatasetChoice("mnist", "chainrule.data.mnist:mnist", "70 000 handwritten digits, 28x28 (IDX files)",
                  kind="download"),
    DatasetChoice("fashion-mnist", "chainrule.data.mnist:fashion_mnist", "70 000 clothing images, 28x28 (IDX files)",
                  kind="download", aliases=("fashionmnist",)),
    DatasetChoice("circle", "chainrule.data.toy2d:toy2d", "2-D: a disc inside a ring", kind="toy2d"),
    DatasetChoice("xor", "chainrule.data.toy2d:toy2d", "2-D: opposite quadrants share a class", kind="toy2d"),
    DatasetChoice("gauss", "chainrule.data.toy2d:toy2d", "2-D: two Gaussian blobs", kind="toy2d"),
    DatasetChoice("spiral", "chainrule.data.toy2d:toy2d", "2-D: two interleaved spirals", kind="toy2d"),
    DatasetChoice("moons", "chainrule.data.toy2d:toy2d", "2-D: two interleaving half circles", kind="toy2d"),
    DatasetChoice("plane", "chainrule.data.toy2d:regression2d", "2-D regression: a tilted plane",
                  kind="toy2d_regression"),
    DatasetChoice("multigauss", "chainrule.data.toy2d:regression2d",
                  "2-D regression: six bumps of alternating sign", kind="toy2d_regression"),
    DatasetChoice("names", "chainrule.data.text:names", "text: 5163 US first names, for --model gpt/rnn (bundled)",
                  kind="text"),
    DatasetChoice("surnames", "chainrule.data.text:surnames", "text: 88 799 US surnames, for --model gpt/rnn "
                  "(bundled)", kind="text"),
)

#: what ``data.csv`` does with rows whose feature values are missing (``--missing``)
MISSING_VALUES: Mapping[str, Choice] = _table(
    Choice("impute", "", "fill in from the training rows (mean / most frequent) plus a 0/1 'missing' column"),
    Choice("drop", "", "drop rows with a missing feature value"),
    Choice("error", "", "refuse the table, naming the first gap"),
)

MODELS: Mapping[str, ModelChoice] = _table(
    ModelChoice("mlp", "chainrule.training.recipes:build_mlp", "multilayer perceptron (Linear, activation, ...)"),
    ModelChoice("cnn", "chainrule.training.recipes:build_cnn", "LeNet-style convolutional network (image data)"),
    ModelChoice("gpt", "chainrule.nn.language_models:gpt", "character-level GPT (transformer; text data)"),
    ModelChoice("rnn", "chainrule.nn.language_models:char_rnn", "character-level recurrent network (GRU, "
                "LSTM or tanh RNN; text data)"),
)


#: the recurrent cells of ``nn.char_rnn`` / ``chainrule train --model rnn --cell``
RECURRENT_CELLS: Mapping[str, Choice] = _table(
    Choice("gru", f"{_NN}:GRU", "gated recurrent unit (the default)"),
    Choice("lstm", f"{_NN}:LSTM", "long short-term memory"),
    Choice("rnn", f"{_NN}:RNN", "plain tanh RNN (shows gradients vanishing through time)"),
)


def names(table: Mapping[str, Choice], kind: str | None = None) -> tuple[str, ...]:
    """The names in ``table``, in catalogue order (data sets: only those of ``kind``, if given)."""
    return tuple(n for n, e in table.items() if kind is None or getattr(e, "kind", None) == kind)


def _key(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def lookup(table: Mapping[str, C], name: object, what: str) -> C:
    """The entry called ``name`` (case, ``-``/``_`` and aliases forgiven); a ConfigError
    naming the choices otherwise. ``what`` names the kind of choice in that message."""
    if isinstance(name, str):
        key = _key(name)
        for entry in table.values():
            if key == _key(entry.name) or key in (_key(a) for a in getattr(entry, "aliases", ())):
                return entry
    raise ConfigError(f"unknown {what} {name!r}; choose one of: {', '.join(table)}")


def describe(table: Mapping[str, Choice]) -> str:
    """``"name: description; ..."`` for a help text (``%`` escaped for argparse)."""
    return "; ".join(f"{e.name}: {e.description}" for e in table.values()).replace("%", "%%")


def loss_for(task: str) -> LossChoice:
    """The default loss of a task (``classification`` or ``regression``)."""
    for entry in LOSSES.values():
        if entry.task == task:
            return entry
    raise ConfigError(f"no default loss for task {task!r}; expected classification or regression")


__all__ = ["Choice", "ActivationChoice", "OptimizerChoice", "LossChoice", "ScheduleChoice", "DatasetChoice",
           "ModelChoice", "ACTIVATIONS", "TINY_NETWORK_ACTIVATIONS", "OPTIMIZERS", "LOSSES", "SCHEDULES", "DATASETS",
           "MODELS", "RECURRENT_CELLS", "MISSING_VALUES", "names",
           "lookup", "describe", "loss_for"]
