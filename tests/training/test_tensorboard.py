"""TensorBoard callback: the event files read back (tbparse) hold exactly History's values."""
from __future__ import annotations

import struct
import sys
from pathlib import Path

import numpy as np
import pytest
import tbparse  # the [dev] extra (tensorboardX itself: [tensorboard], also in [dev])

import chainrule as cr
from chainrule import nn, optim
from chainrule.cli import main
from chainrule.training import TensorBoard, fit


def _events(log_dir: Path) -> list:
    """Every Event record of the directory's event files (TFRecord framing)."""
    from tensorboardX.proto.event_pb2 import Event

    out = []
    for f in sorted(log_dir.rglob("events.out.tfevents.*")):
        data = f.read_bytes()
        i = 0
        while i < len(data):
            (n,) = struct.unpack("<Q", data[i:i + 8])
            out.append(Event.FromString(data[i + 12:i + 12 + n]))
            i += 12 + n + 4
    return out


def _train(log_dir: Path, epochs: int = 3):
    cr.manual_seed(0)
    ds = cr.data.load_dataset("iris")
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))
    opt = optim.SGD(model.parameters(), lr=0.1)
    history = fit(model, nn.CrossEntropyLoss(), opt, ds.train, val=ds.test, epochs=epochs, progress=False,
                  seed=0, callbacks=[TensorBoard(log_dir)], scheduler=optim.lr_scheduler.StepLR(opt, 1, 0.5))
    return model, history


def test_scalars_read_back_equal_history(tmp_path):
    _, history = _train(tmp_path)
    scalars = tbparse.SummaryReader(str(tmp_path)).scalars
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "lr"):
        got = scalars[scalars.tag == key].sort_values("step")
        assert list(got.step) == [1, 2, 3]
        np.testing.assert_allclose(got.value, history[key], rtol=1e-6)  # stored as float32
    assert history["lr"] == [0.1, 0.05, 0.025]  # the learning rate moves, and TensorBoard follows
    for layer, norms in history.grad_norms.items():
        got = scalars[scalars.tag == f"grad_norm/{layer}"].sort_values("step")
        np.testing.assert_allclose(got.value, norms, rtol=1e-6)


def test_weight_and_gradient_histograms_per_parameter_and_epoch(tmp_path):
    model, _ = _train(tmp_path)
    hist = tbparse.SummaryReader(str(tmp_path)).histograms
    names = [n for n, _ in model.named_parameters()]
    assert set(hist.tag) == {f"{kind}/{n}" for kind in ("weights", "gradients") for n in names}
    last = hist[(hist.tag == "weights/0.weight") & (hist.step == 3)].iloc[0]
    w = model[0].weight.data
    assert last["limits"][-1] >= w.max() and float(np.sum(last["counts"])) == w.size


def test_the_model_graph_is_logged_through_onnx(tmp_path):
    _train(tmp_path, epochs=1)
    graphs = [e for e in _events(tmp_path) if e.HasField("graph_def")]
    assert len(graphs) == 1 and b"MatMul" in graphs[0].graph_def


def test_a_language_model_graph_is_logged_from_its_token_ids(tmp_path):
    cr.manual_seed(0)
    model = nn.char_rnn(5, 8, cell="lstm")
    ids = np.random.default_rng(0).integers(0, 5, (16, 6))
    fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters()), (ids, np.roll(ids, -1, 1)), epochs=1,
        metrics=(), progress=False, callbacks=[TensorBoard(tmp_path)])
    graphs = [e for e in _events(tmp_path) if e.HasField("graph_def")]
    assert len(graphs) == 1 and b"LSTM" in graphs[0].graph_def and b"Gather" in graphs[0].graph_def


def test_train_tensorboard_flag_writes_the_run(tmp_path, capsys):
    log = tmp_path / "tb"
    assert main(["train", "--dataset", "iris", "--epochs", "2", "--quiet", "--tensorboard", str(log)]) == 0
    scalars = tbparse.SummaryReader(str(log)).scalars
    assert sorted(set(scalars[scalars.tag == "loss"].step)) == [1, 2]
    assert {"val_loss", "lr"} <= set(scalars.tag)


def test_missing_tensorboardx_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    with pytest.raises(cr.ConfigError, match=r"pip install 'chainrule\[tensorboard\]'"):
        TensorBoard("unused")


def test_no_writer_thread_runs_during_the_first_epoch(tmp_path):
    """The event writer's thread starts at the first epoch's end: a thread running when
    chainrule first splits an op keeps OpenBLAS's idle workers from being parked
    (chainrule/blas_threads.py), which would slow a CNN with logging on."""
    import threading

    seen: list[int] = []

    class Probe(nn.Module):
        def forward(self, x):
            seen.append(threading.active_count())
            return x

    cr.manual_seed(0)
    ds = cr.data.load_dataset("iris")
    model = nn.Sequential(nn.Linear(4, 3), Probe())
    before = threading.active_count()
    fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), ds.train, epochs=2,
        progress=False, seed=0, callbacks=[TensorBoard(tmp_path)])
    assert seen[0] == before, "a new thread was running during the first epoch's first forward pass"
    assert list(tmp_path.rglob("events.out.tfevents.*")), "the run was still written"
