"""A run whose loss or weights become NaN/Inf part-way stops with TrainingDiverged and leaves
the checkpoint of the last good epoch in place: never NaN weights in a checkpoint."""
from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.data import toy2d
from chainrule.io import read_safetensors
from chainrule.training import TrainingDiverged, fit
from chainrule.training.callbacks import Callback


class Sabotage(Callback):
    """At the start of epoch ``at`` (0-based), make training blow up in the given way."""

    def __init__(self, at: int, how: str) -> None:
        self.at, self.how = at, how

    def on_epoch_begin(self, run, epoch):
        if epoch != self.at:
            return
        if self.how == "nan-weight":
            next(iter(run.model.parameters())).data[0, 0] = np.nan
        elif self.how == "inf-weight":
            next(iter(run.model.parameters())).data[...] = np.inf
        else:  # a learning rate far past any sense
            for g in run.optimizer.param_groups:
                g["lr"] = 1e30


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("how", ["nan-weight", "inf-weight", "huge-lr"])
def test_divergence_after_good_epochs_keeps_the_last_good_checkpoint(tmp_path, how):
    cr.manual_seed(0)
    ds = toy2d("xor", n=120, noise=0.1)
    model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 2))
    opt = optim.SGD(model.parameters(), lr=0.5)
    ckpt = tmp_path / "checkpoint.safetensors"
    with pytest.raises(TrainingDiverged) as info:
        fit(model, nn.CrossEntropyLoss(), opt, ds.train, epochs=8, batch_size=16, seed=0, progress=False,
            callbacks=[Sabotage(3, how)], checkpoint=ckpt)
    assert "learning rate" in str(info.value) or "NaN" in str(info.value) or "Inf" in str(info.value)
    ck = cr.load_checkpoint(ckpt)
    assert ck["epoch"] == 3  # epochs 1-3 finished; epoch 4 diverged and wrote nothing
    tensors, _ = read_safetensors(ckpt)
    assert all(np.isfinite(v).all() for v in tensors.values() if v.dtype.kind == "f")
