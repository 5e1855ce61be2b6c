"""Callbacks: CSVLogger, ModelCheckpoint, LR schedulers (incl. ReduceLROnPlateau), StopAtTarget."""
import csv

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.errors import ConfigError
from chainrule.training import (
    CSVLogger,
    EarlyStopping,
    LambdaCallback,
    LRSchedulerCallback,
    ModelCheckpoint,
    StopAtTarget,
    fit,
)

from .conftest import mlp


def _fit(data, epochs=3, **kw):
    (x, y), val = data
    model = mlp()
    opt = kw.pop("opt", None) or optim.SGD(model.parameters(), lr=0.1)
    return model, fit(model, nn.CrossEntropyLoss(), opt, (x, y), val=val, epochs=epochs, progress=False,
                      seed=0, **kw)


def test_csv_logger_writes_every_epoch(data, tmp_path):
    path = tmp_path / "h.csv"
    sizes = []
    spy = LambdaCallback(on_epoch_end=lambda run, epoch, logs: sizes.append(len(open(path).readlines())))
    _, h = _fit(data, callbacks=[CSVLogger(path), spy])
    assert sizes == [2, 3, 4]  # header + one row per finished epoch, on disk as training goes
    rows = list(csv.DictReader(open(path)))
    assert [float(r["loss"]) for r in rows] == h["loss"]
    assert "grad_norm/0" in rows[0] and "val_accuracy" in rows[0]


def test_model_checkpoint_every_epoch_and_best_only(data, tmp_path):
    model, _ = _fit(data, callbacks=[ModelCheckpoint(tmp_path / "e{epoch}.safetensors")])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e1.safetensors", "e2.safetensors", "e3.safetensors"]
    last = cr.load(str(tmp_path / "e3.safetensors")).state_dict()
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(last[k], v)

    best_path = tmp_path / "best.safetensors"
    saved = []
    ck = ModelCheckpoint(best_path, monitor="val_loss", save_best_only=True)

    class Fake(LambdaCallback):
        pass

    fake = Fake(on_epoch_end=lambda run, e, logs: logs.update(val_loss=[0.5, 0.7, 0.4][e]))
    record = LambdaCallback(on_epoch_end=lambda run, e, logs: saved.append(best_path.stat().st_mtime_ns
                                                                            if best_path.exists() else None))
    _fit(data, callbacks=[fake, ck, record])
    assert ck.best == 0.4 and saved[0] is not None and saved[1] == saved[0] and saved[2] != saved[1]


def test_reduce_lr_on_plateau_gets_the_monitored_value(data):
    (x, y), val = data
    model = mlp()
    opt = optim.SGD(model.parameters(), lr=0.1)
    plateau = optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=0)
    fake = LambdaCallback(on_epoch_end=lambda run, e, logs: logs.update(val_loss=1.0))  # never improves
    h = fit(model, nn.CrossEntropyLoss(), opt, (x, y), val=val, epochs=4, progress=False,
            callbacks=[fake, LRSchedulerCallback(plateau)])
    assert h["lr"] == pytest.approx([0.1, 0.1, 0.05, 0.025])


def test_stop_at_target(data):
    _, h = _fit(data, epochs=50, callbacks=[StopAtTarget(0.9, monitor="val_accuracy")])
    assert h.stop_reason == "target reached" and len(h) < 50 and h.last["val_accuracy"] >= 0.9


def test_early_stopping_falls_back_to_training_loss_without_val(data):
    (x, y), _ = data
    model = mlp()
    es = EarlyStopping(patience=1)
    fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), (x, y), epochs=3, callbacks=[es],
        progress=False)
    assert es.best is not None


def test_callback_argument_checks():
    with pytest.raises(ConfigError):
        EarlyStopping(patience=-1)
    with pytest.raises(ConfigError):
        EarlyStopping(mode="up")
    with pytest.raises(ConfigError):
        LambdaCallback(on_step=print)
