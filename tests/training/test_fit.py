"""The fit loop: learning, History contents, validation, divergence and Ctrl-C."""
import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.data import DataLoader, TensorDataset
from chainrule.errors import ConfigError
from chainrule.training import (
    Callback,
    EarlyStopping,
    TrainingDiverged,
    TrainingInterrupted,
    evaluate,
    fit,
    predict,
)

from .conftest import mlp


def test_loss_decreases_and_history_has_the_keys(data):
    (x, y), val = data
    model = mlp()
    h = fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), (x, y), val=val,
            epochs=8, batch_size=16, seed=0, progress=False)
    assert len(h) == 8 and h["epoch"] == list(range(1, 9))
    assert h["loss"][-1] < 0.5 * h["loss"][0]
    assert h["val_accuracy"][-1] > 0.9
    for key in ("loss", "val_loss", "accuracy", "val_accuracy", "lr", "seconds", "grad_norms"):
        assert key in h.last
    assert set(h.last["grad_norms"]) == {"0", "2"}  # one entry per Linear layer, by module name
    assert all(v > 0 for v in h.last["grad_norms"].values())
    assert h.last["lr"] == 0.1


def test_accepts_dataset_and_dataloader(data):
    (x, y), _ = data
    for train in (TensorDataset(x, y), DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True, seed=0)):
        model = mlp()
        h = fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=0.01), train, epochs=2,
                progress=False)
        assert len(h) == 2 and "val_loss" not in h.last


def test_same_seed_same_weights(data):
    (x, y), _ = data
    weights = []
    for _ in range(2):
        model = mlp(dropout=0.3)
        fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=0.01), (x, y), epochs=2,
            seed=3, progress=False)
        weights.append(model.state_dict())
    for k in weights[0]:
        np.testing.assert_array_equal(weights[0][k], weights[1][k])


def test_evaluate_and_predict(data):
    (x, y), (xv, yv) = data
    model = mlp()
    fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=0.02), (x, y), epochs=10,
        progress=False, seed=0)
    res = evaluate(model, (xv, yv), loss_fn=nn.CrossEntropyLoss(), metrics=("accuracy",))
    probs = predict(model, xv, batch_size=7)
    assert probs.shape == (60, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert res["accuracy"] == pytest.approx(float((probs.argmax(1) == yv).mean()))
    assert res["accuracy"] > 0.9 and res["loss"] > 0


def test_regression_metrics_in_history():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3)).astype(np.float32)
    y = (x @ np.array([[1.0], [-2.0], [0.5]], np.float32) + 0.3).astype(np.float32)
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 1))
    h = fit(model, nn.MSELoss(), optim.Adam(model.parameters(), lr=0.05), (x, y), val=(x, y), epochs=30,
            batch_size=20, metrics=("mse", "mae", "r2"), progress=False, seed=0)
    assert h.last["val_r2"] > 0.99 and h.last["mse"] < 0.05 and "val_mae" in h.last
    assert predict(model, x).shape == (200, 1)


def test_bad_arguments(data):
    (x, y), _ = data
    model = mlp()
    opt = optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ConfigError, match="epochs"):
        fit(model, nn.CrossEntropyLoss(), opt, (x, y), epochs=0)
    with pytest.raises(ConfigError, match="batch_size"):
        fit(model, nn.CrossEntropyLoss(), opt, (x, y), batch_size=-1)
    with pytest.raises(ConfigError, match="must be a DataLoader"):
        fit(model, nn.CrossEntropyLoss(), opt, 42)


def test_nan_loss_stops_with_a_message(data):
    (x, y), _ = data
    model = mlp()
    opt = optim.SGD(model.parameters(), lr=1e6)
    with pytest.raises(TrainingDiverged) as info:
        fit(model, nn.CrossEntropyLoss(), opt, (x * 1e3, y), epochs=5, progress=False, seed=0)
    e = info.value
    msg = str(e)
    assert "NaN" in msg or "Inf" in msg
    assert f"epoch {e.epoch}" in msg and "learning rate 1e+06 is probably too high" in msg
    assert e.history.stop_reason == "diverged"


def test_early_stopping_restores_best(data):
    (x, y), val = data
    seen = {}

    class Spy(Callback):  # remembers the weights after every epoch, and fakes a val_loss curve
        def on_epoch_end(self, run, epoch, logs):
            logs["val_loss"] = [0.9, 0.5, 0.7, 0.8, 0.95, 0.99, 1.0, 1.1][epoch]
            seen[epoch + 1] = run.model.state_dict()

    model = mlp()
    es = EarlyStopping(monitor="val_loss", patience=2, restore_best=True)
    h = fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), (x, y), val=val,
            epochs=8, callbacks=[Spy(), es], progress=False, seed=0)
    assert len(h) == 5  # best at 2, then 3 epochs without improvement (> patience 2)
    assert h.stop_reason == "early stopping" and h.best_epoch == 2
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, seen[2][k])


def test_keyboard_interrupt_reports_completed_epochs(data):
    (x, y), _ = data

    class CtrlC(Callback):
        def on_batch_end(self, run, batch, loss):
            if run.epoch == 2 and batch == 1:
                raise KeyboardInterrupt

    model = mlp()
    with pytest.raises(TrainingInterrupted) as info:
        fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), (x, y), epochs=5,
            callbacks=[CtrlC()], progress=False, seed=0)
    assert info.value.completed_epochs == 2 and info.value.checkpoint is None
    assert len(info.value.history) == 2 and info.value.history.stop_reason == "interrupted"
    assert isinstance(info.value, KeyboardInterrupt)


def test_scheduler_is_stepped_per_epoch(data):
    (x, y), _ = data
    model = mlp()
    opt = optim.SGD(model.parameters(), lr=0.1)
    sched = optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    h = fit(model, nn.CrossEntropyLoss(), opt, (x, y), epochs=3, scheduler=sched, progress=False)
    assert h["lr"] == pytest.approx([0.1, 0.05, 0.025])


def test_clip_grad_norm_records_raw_norms(data):
    (x, y), _ = data
    model = mlp()
    h = fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), (x * 100, y), epochs=1,
            clip_grad_norm=1e-3, progress=False, seed=0)
    assert max(h.last["grad_norms"].values()) > 1e-3  # measured before clipping
    assert math.isfinite(h.last["loss"])


def test_progress_lines(data, capsys):
    (x, y), val = data
    model = mlp()
    fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), (x, y), val=val, epochs=2,
        progress=True)
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and out[0].startswith("epoch 1/2") and "val_accuracy" in out[1]
