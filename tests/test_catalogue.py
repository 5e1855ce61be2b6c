"""The catalogue: one definition per named choice, read by the CLI, recipes, data and playground."""
import argparse
import subprocess
import sys

import numpy as np
import pytest

import chainrule as cr
from chainrule import catalogue, nn, optim
from chainrule.cli import build_parser
from chainrule.errors import ConfigError


def _choices(option: str) -> tuple[str, ...]:
    parser = build_parser()
    train = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices["train"]
    action = next(a for a in train._actions if option in a.option_strings)
    return tuple(action.choices)


def test_importing_the_catalogue_loads_no_constructor():
    code = ("import sys, chainrule.catalogue; "
            "print(sorted(m for m in sys.modules if m.split('.')[:2] in "
            "(['chainrule', 'nn'], ['chainrule', 'optim'], ['chainrule', 'data'], ['chainrule', 'training'])))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("name", catalogue.names(catalogue.ACTIVATIONS))
def test_every_activation_builds_an_elementwise_layer(name):
    layer = catalogue.ACTIVATIONS[name].build()
    assert isinstance(layer, nn.Module)
    x = cr.tensor(np.linspace(-2, 2, 12, dtype=np.float32).reshape(3, 4))
    assert layer(x).shape == (3, 4)


@pytest.mark.parametrize("name", catalogue.names(catalogue.OPTIMIZERS))
def test_every_optimizer_builds_and_steps(name):
    p = nn.Parameter(np.ones(3, np.float32))
    opt = catalogue.OPTIMIZERS[name].build([p], lr=0.1, weight_decay=0.0)
    assert isinstance(opt, optim.Optimizer)
    p.grad = np.ones(3, np.float32)
    opt.step()
    assert (p.data < 1).all()


def test_momentum_is_nesterov_everywhere():
    from chainrule.playground.toy import ToySession
    from chainrule.training.recipes import build_optimizer

    p = nn.Parameter(np.ones(2, np.float32))
    group = build_optimizer("momentum", [p], lr=0.1).param_groups[0]
    assert group["momentum"] == 0.9 and group["nesterov"] is True
    s = ToySession({"optimizer": "momentum", "n_points": 50})
    assert all(g["momentum"] == 0.9 and g["nesterov"] is True for g in s.optimizer.param_groups)


def test_adamw_keeps_its_default_decay_unless_given_one():
    p = nn.Parameter(np.ones(2, np.float32))
    assert catalogue.OPTIMIZERS["adamw"].build([p], lr=0.1, weight_decay=0.0).param_groups[0]["weight_decay"] == 0.01
    assert catalogue.OPTIMIZERS["adamw"].build([p], lr=0.1, weight_decay=0.5).param_groups[0]["weight_decay"] == 0.5


@pytest.mark.parametrize("name", catalogue.names(catalogue.LOSSES))
def test_every_loss_builds_a_loss_module(name):
    assert isinstance(catalogue.LOSSES[name].build(), nn.Module)


def test_each_task_has_one_default_loss():
    assert isinstance(catalogue.loss_for("classification").build(), nn.CrossEntropyLoss)
    assert isinstance(catalogue.loss_for("regression").build(), nn.MSELoss)
    with pytest.raises(ConfigError, match="task"):
        catalogue.loss_for("ranking")


def test_schedules_build_for_a_run_length():
    p = nn.Parameter(np.ones(2, np.float32))
    opt = optim.SGD([p], lr=0.1)
    assert catalogue.SCHEDULES["none"].build(opt, 9) is None
    assert catalogue.SCHEDULES["cosine"].build(opt, 9).T_max == 9
    assert catalogue.SCHEDULES["step"].build(opt, 9).step_size == 3


def test_every_dataset_and_model_resolves_to_a_callable():
    for table in (catalogue.DATASETS, catalogue.MODELS):
        for entry in table.values():
            assert callable(entry.resolve())


def test_lookup_forgives_case_dashes_and_aliases_and_names_the_choices():
    assert catalogue.lookup(catalogue.DATASETS, "Fashion_MNIST", "dataset").name == "fashion-mnist"
    assert catalogue.lookup(catalogue.DATASETS, "fashionmnist", "dataset").name == "fashion-mnist"
    assert catalogue.lookup(catalogue.ACTIVATIONS, "Leaky-ReLU", "activation").name == "leaky_relu"
    with pytest.raises(ConfigError, match="unknown optimizer 'lbfgs'; choose one of: sgd, momentum"):
        catalogue.lookup(catalogue.OPTIMIZERS, "lbfgs", "optimizer")


def test_cli_choices_and_help_come_from_the_catalogue():
    assert _choices("--activation") == catalogue.names(catalogue.ACTIVATIONS)
    assert _choices("--optimizer") == catalogue.names(catalogue.OPTIMIZERS)
    assert _choices("--schedule") == catalogue.names(catalogue.SCHEDULES)
    assert _choices("--model") == catalogue.names(catalogue.MODELS)
    from chainrule.commands._common import DATASET_CHOICES

    assert DATASET_CHOICES == catalogue.names(catalogue.DATASETS)
    parser = build_parser()
    train = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices["train"]
    assert catalogue.OPTIMIZERS["momentum"].description in " ".join(train.format_help().split())


def test_recipes_data_and_playground_read_the_catalogue():
    from chainrule.data import DATASET_NAMES, TOY2D_NAMES
    from chainrule.data.toy2d import _GENERATORS, _SURFACES, REGRESSION_NAMES
    from chainrule.playground import protocol
    from chainrule.training import recipes

    assert recipes.ACTIVATIONS == protocol.ACTIVATIONS == catalogue.names(catalogue.ACTIVATIONS)
    assert recipes.OPTIMIZERS == protocol.OPTIMIZERS == catalogue.names(catalogue.OPTIMIZERS)
    assert DATASET_NAMES == catalogue.names(catalogue.DATASETS)
    assert TOY2D_NAMES == tuple(_GENERATORS) and REGRESSION_NAMES == tuple(_SURFACES)
    assert protocol.DATASETS == TOY2D_NAMES + REGRESSION_NAMES
    assert recipes.DEFAULT_LR == {n: e.default_lr for n, e in catalogue.OPTIMIZERS.items()}
