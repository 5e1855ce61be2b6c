"""Resumable checkpoints: resume equals an unbroken run bitwise; NaN and Ctrl-C keep the last
complete epoch on disk."""

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.training import (
    Callback,
    EarlyStopping,
    TrainingDiverged,
    TrainingInterrupted,
    fit,
)

from .conftest import mlp


def _run(data, epochs, ckpt=None, resume=False, callbacks=(), lr=0.01):
    """A run with everything that carries state: dropout (global RNG), Adam moments, a cosine
    schedule, EarlyStopping with best weights, a seeded shuffle."""
    (x, y), val = data
    model = mlp(seed=0, dropout=0.3)
    cr.manual_seed(123)  # dropout draws
    opt = optim.Adam(model.parameters(), lr=lr)
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=4)
    es = EarlyStopping(patience=10)
    h = fit(model, nn.CrossEntropyLoss(), opt, (x, y), val=val, epochs=epochs, batch_size=16, seed=7,
            scheduler=sched, callbacks=[es, *callbacks], checkpoint=ckpt, resume=resume, progress=False)
    return model, h


def _assert_same(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        np.testing.assert_array_equal(sa[k], sb[k], err_msg=k)


def test_resume_gives_bitwise_identical_weights(data, tmp_path):
    full, h_full = _run(data, 4)
    ckpt = str(tmp_path / "ck.safetensors")
    _run(data, 2, ckpt)
    # A fresh process would rebuild everything from scratch: different RNG state, new objects.
    cr.manual_seed(999)
    resumed, h_res = _run(data, 4, ckpt, resume=True)
    _assert_same(full, resumed)
    assert len(h_res) == 4 and h_res["epoch"] == [1, 2, 3, 4]
    assert h_res["loss"] == h_full["loss"] and h_res["lr"] == h_full["lr"]


def test_resume_of_a_finished_run_does_nothing_more(data, tmp_path):
    ckpt = str(tmp_path / "ck.safetensors")
    a, _ = _run(data, 2, ckpt)
    b, h = _run(data, 2, ckpt, resume=True)
    _assert_same(a, b)
    assert len(h) == 2


def test_ctrl_c_keeps_last_complete_epoch_and_resumes_exactly(data, tmp_path):
    class CtrlC(Callback):
        def on_batch_end(self, run, batch, loss):
            if run.epoch == 2 and batch == 3:
                raise KeyboardInterrupt

    ckpt = str(tmp_path / "ck.safetensors")
    with pytest.raises(TrainingInterrupted) as info:
        _run(data, 4, ckpt, callbacks=[CtrlC()])
    assert info.value.completed_epochs == 2 and info.value.checkpoint == ckpt
    assert cr.io.describe(ckpt)["epoch"] == 2
    two, _ = _run(data, 2)
    on_disk = {k: v for k, v in cr.io.load_checkpoint(ckpt)["model_state"].items() if not k.startswith("callback")}
    for k, v in two.state_dict().items():
        np.testing.assert_array_equal(on_disk[k], v)
    full, _ = _run(data, 4)
    resumed, _ = _run(data, 4, ckpt, resume=True)
    _assert_same(full, resumed)


def test_nan_never_overwrites_the_good_checkpoint(data, tmp_path):
    ckpt = str(tmp_path / "ck.safetensors")
    _run(data, 2, ckpt)
    before = open(ckpt, "rb").read()

    class Explode(Callback):  # after the checkpoint of epoch 2, make the weights huge
        def on_epoch_begin(self, run, epoch):
            if epoch == 2:
                for g in run.optimizer.param_groups:
                    g["lr"] = 1e30

    with pytest.raises(TrainingDiverged) as info:
        _run(data, 4, ckpt, resume=True, callbacks=[Explode()])
    assert "epoch 3" in str(info.value)
    assert open(ckpt, "rb").read() == before
    weights = cr.io.load_checkpoint(ckpt)["model_state"]
    assert all(np.isfinite(v).all() for v in weights.values())


def test_resume_requires_a_path(data):
    (x, y), _ = data
    model = mlp()
    with pytest.raises(cr.ConfigError, match="resume"):
        fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), (x, y), resume=True)


@pytest.mark.parametrize("extra", [
    {"history": {"epochs": "lots"}},
    {"history": {"epochs": []}, "callbacks": {"EarlyStopping#0": {"best": "low", "wait": 0}}},
    {"history": {"epochs": []}, "callbacks": {"EarlyStopping#0": {"wait": -3}}},
    {"history": {"epochs": []}, "callbacks": ["not", "a", "dict"]},
])
def test_hostile_training_state_is_a_model_file_error(data, tmp_path, extra):
    (x, y), _ = data
    model = mlp()
    opt = optim.Adam(model.parameters(), lr=0.01)
    ckpt = str(tmp_path / "ck.safetensors")
    cr.save_checkpoint(ckpt, model, opt, epoch=1, extra=extra)
    with pytest.raises(cr.ModelFileError, match="ck.safetensors"):
        fit(model, nn.CrossEntropyLoss(), opt, (x, y), epochs=3, callbacks=[EarlyStopping()], checkpoint=ckpt,
            resume=True, progress=False)


def test_resuming_a_checkpoint_of_another_architecture_names_the_difference(tmp_path):
    import numpy as np

    from chainrule import nn, optim
    from chainrule.errors import ModelFileError
    from chainrule.training import fit

    x = np.random.default_rng(0).normal(size=(40, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    path = str(tmp_path / "ck.safetensors")
    small = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    fit(small, nn.CrossEntropyLoss(), optim.Adam(small.parameters()), (x, y), epochs=1, checkpoint=path,
        progress=False)
    wide = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2))
    with pytest.raises(ModelFileError, match=r"'0.bias' has shape \(8,\) in the checkpoint but \(16,\)"):
        fit(wide, nn.CrossEntropyLoss(), optim.Adam(wide.parameters()), (x, y), epochs=2, checkpoint=path,
            resume=True, progress=False)
