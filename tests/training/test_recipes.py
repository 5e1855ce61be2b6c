"""Recipes and model builders used by `chainrule train`."""
import numpy as np
import pytest

from chainrule import optim
from chainrule.errors import ConfigError
from chainrule.training.recipes import (
    build_cnn,
    build_mlp,
    build_optimizer,
    build_scheduler,
    recipe_for,
)


def test_recipes_per_dataset():
    assert recipe_for("digits").hidden == (128,)
    mn = recipe_for("mnist")
    assert mn.hidden == (512, 256) and mn.optimizer == "adam" and mn.epochs == 10 and mn.schedule == "cosine"
    assert recipe_for("moons") == recipe_for("circle") and recipe_for("spiral").hidden == (64, 64, 64)
    assert recipe_for("houses.csv").hidden == (64, 64)
    r = recipe_for("digits").replace(lr=0.5, hidden=None)
    assert r.lr == 0.5 and r.hidden == (128,)  # None means "keep the recipe's value"


def test_build_mlp_shapes():
    m = build_mlp(4, (8, 6), 3, activation="tanh", dropout=0.1)
    names = [type(layer).__name__ for layer in m]
    assert names == ["Linear", "Tanh", "Dropout", "Linear", "Tanh", "Dropout", "Linear"]
    assert m(np.zeros((5, 4), np.float32)).shape == (5, 3)
    assert build_mlp(4, (), 3)(np.zeros((2, 4), np.float32)).shape == (2, 3)
    with pytest.raises(ConfigError, match="activation"):
        build_mlp(4, (8,), 3, activation="swish")


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28)])
def test_build_cnn_for_small_and_mnist_images(shape):
    model = build_cnn(shape, 10)
    x = np.zeros((2, int(np.prod(shape))), np.float32)
    assert model(x).shape == (2, 10)


@pytest.mark.parametrize("name, cls", [("sgd", optim.SGD), ("momentum", optim.SGD), ("rmsprop", optim.RMSprop),
                                       ("adam", optim.Adam), ("adamw", optim.AdamW)])
def test_build_optimizer(name, cls):
    m = build_mlp(2, (3,), 2)
    opt = build_optimizer(name, m.parameters(), 0.01)
    assert isinstance(opt, cls) and opt.param_groups[0]["lr"] == 0.01
    if name == "momentum":
        assert opt.param_groups[0]["momentum"] == 0.9


def test_build_scheduler():
    m = build_mlp(2, (3,), 2)
    opt = build_optimizer("adam", m.parameters(), 0.01)
    assert build_scheduler("none", opt, 10) is None
    assert isinstance(build_scheduler("cosine", opt, 10), optim.lr_scheduler.CosineAnnealingLR)
    with pytest.raises(ConfigError):
        build_scheduler("warmup", opt, 10)


def test_table_recipe_stops_early_on_a_held_out_fifth_and_decays_weights_by_table_size():
    from chainrule.training.recipes import table_recipe

    small, large = table_recipe(300), table_recipe(10_000)
    assert small.early_stopping == 10 and small.val_fraction == 0.2
    assert small.weight_decay == pytest.approx(0.1 / 300, rel=1e-3) and large.weight_decay == pytest.approx(1e-5)


def test_spiral_default_recipe_learns_the_spiral(capsys):
    from chainrule.cli import main

    assert main(["train", "--dataset", "spiral", "--quiet"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert float(line.split()[2]) >= 0.95, line


def test_table_recipe_averages_five_networks_for_regression_and_one_for_classification():
    from chainrule.training.recipes import table_recipe

    assert table_recipe(300, "regression").ensemble == 5 and table_recipe(300, "classification").ensemble == 1


def test_regression_table_recipe_adds_fixed_length_networks_decayed_by_ten_per_row():
    from chainrule.training.recipes import table_recipe

    recipe = table_recipe(263, "regression")
    assert recipe.hidden == (100,) and (recipe.fixed_epochs, recipe.fixed_batch_size) == (300, 200)
    assert recipe.fixed_weight_decay == pytest.approx(10 / 263, rel=1e-4)
    assert recipe.weight_decay == pytest.approx(0.1 / 263, rel=1e-3)  # the early-stopped networks' own


def test_classification_table_recipe_has_no_fixed_length_networks():
    from chainrule.training.recipes import table_recipe

    recipe = table_recipe(263, "classification")
    assert recipe.fixed_epochs == 0 and recipe.hidden == (64, 64)


@pytest.mark.parametrize("hidden", [(), (6,), (5, 4), (3, 4, 2)])
def test_average_networks_computes_the_mean_of_the_members_outputs(hidden):
    import chainrule as cr
    from chainrule.training.recipes import average_networks

    cr.manual_seed(0)
    members = [build_mlp(3, hidden, 2, "tanh") for _ in range(4)]
    x = cr.tensor(np.random.default_rng(0).standard_normal((7, 3)).astype(np.float32))
    merged = average_networks(members)
    expected = np.mean([m(x).data for m in members], axis=0)
    np.testing.assert_allclose(merged(x).data, expected, rtol=1e-5, atol=1e-6)
    assert [type(layer).__name__ for layer in merged] == [type(layer).__name__ for layer in members[0]]


def test_average_networks_refuses_networks_of_different_shapes():
    from chainrule.training.recipes import average_networks

    with pytest.raises(ConfigError, match="one shape"):
        average_networks([build_mlp(3, (4,), 1), build_mlp(3, (5,), 1)])
