"""Checkpoints: model + optimizer + scheduler + epoch + RNG, written atomically."""
from __future__ import annotations

import os

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.errors import ModelFileError
from chainrule.optim.lr_scheduler import StepLR


def setup(seed=0):
    cr.manual_seed(seed)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    opt = optim.Adam(model.parameters(), lr=0.01)
    return model, opt


def train(model, opt, steps, seed=1):
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        x = rng.standard_normal((8, 3)).astype(np.float32)
        opt.zero_grad()
        nn.MSELoss()(model(x), np.zeros((8, 2), np.float32)).backward()
        opt.step()


def test_resumed_training_matches_unbroken_training(tmp_path):
    model, opt = setup()
    train(model, opt, 3)
    cr.save_checkpoint(tmp_path / "c.safetensors", model, opt, epoch=3)
    train(model, opt, 3, seed=2)
    model2, opt2 = setup(seed=99)
    ck = cr.load_checkpoint(tmp_path / "c.safetensors", model2, opt2)
    assert ck["epoch"] == 3 and ck["model"] is model2
    train(model2, opt2, 3, seed=2)
    for a, b in zip(model.parameters(), model2.parameters()):
        np.testing.assert_array_equal(a.data, b.data)


def test_checkpoint_rebuilds_model_without_code_and_returns_optimizer_state(tmp_path):
    model, opt = setup()
    train(model, opt, 2)
    cr.save_checkpoint(tmp_path / "c.safetensors", model, opt, epoch=2, extra={"best": 0.5})
    ck = cr.load_checkpoint(tmp_path / "c.safetensors")
    assert isinstance(ck["model"], nn.Sequential)
    assert ck["optimizer"]["type"] == "Adam" and ck["optimizer"]["scalars"]["0.step"] == 2
    assert ck["optimizer"]["state"]["0.exp_avg"].dtype == np.float32
    assert ck["extra"] == {"best": 0.5}
    assert set(ck["model_state"]) == {"0.weight", "0.bias", "2.weight", "2.bias"}


def test_cr_load_reads_the_model_part_of_a_checkpoint(tmp_path):
    model, opt = setup()
    cr.save_checkpoint(tmp_path / "c.safetensors", model, opt)
    loaded = cr.load(tmp_path / "c.safetensors")
    np.testing.assert_array_equal(loaded[0].weight.data, model[0].weight.data)


def test_rng_state_is_stored_and_restorable(tmp_path):
    model, opt = setup()
    cr.manual_seed(7)
    cr.save_checkpoint(tmp_path / "c.safetensors", model, opt)
    expected = cr.rand(3).data
    cr.manual_seed(123)
    cr.load_checkpoint(tmp_path / "c.safetensors", restore_rng=True)
    np.testing.assert_array_equal(cr.rand(3).data, expected)


def test_scheduler_state_round_trips(tmp_path):
    model, opt = setup()
    sched = StepLR(opt, step_size=2, gamma=0.5)
    for _ in range(3):
        sched.step()
    cr.save_checkpoint(tmp_path / "c.safetensors", model, opt, scheduler=sched)
    model2, opt2 = setup()
    sched2 = StepLR(opt2, step_size=2, gamma=0.5)
    cr.load_checkpoint(tmp_path / "c.safetensors", model2, opt2, scheduler=sched2)
    sched.step()
    sched2.step()
    assert sched2.last_epoch == 4 and sched2.get_last_lr() == sched.get_last_lr()


def test_checkpoint_into_wrong_optimizer_is_model_file_error(tmp_path):
    model, opt = setup()
    train(model, opt, 1)
    cr.save_checkpoint(tmp_path / "c.safetensors", model, opt)
    model2, _ = setup()
    with pytest.raises(ModelFileError, match="c.safetensors: .*saved by Adam"):
        cr.load_checkpoint(tmp_path / "c.safetensors", model2, optim.SGD(model2, lr=0.1))


def test_load_checkpoint_rejects_plain_model_files(tmp_path):
    cr.save(nn.Linear(2, 2), tmp_path / "m.safetensors")
    with pytest.raises(ModelFileError, match="not a chainrule checkpoint"):
        cr.load_checkpoint(tmp_path / "m.safetensors")


def test_crash_before_rename_leaves_old_file_intact(tmp_path, monkeypatch):
    model, opt = setup()
    path = tmp_path / "c.safetensors"
    cr.save_checkpoint(path, model, opt, epoch=1)
    before = path.read_bytes()

    def crash(src, dst):
        raise OSError("simulated crash")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        cr.save_checkpoint(path, model, opt, epoch=2)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert cr.load_checkpoint(path)["epoch"] == 1
    assert os.listdir(tmp_path) == ["c.safetensors"]  # temporary file cleaned up


def test_write_goes_through_fsync_and_replace(tmp_path, monkeypatch):
    calls = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (calls.append("replace"),
                                                     real_replace(a, b))[1])
    cr.save(nn.Linear(2, 2), tmp_path / "m.safetensors")
    assert calls[:2] == ["fsync", "replace"]
