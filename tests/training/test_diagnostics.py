"""Diagnostics: vanishing/exploding gradients, divergence and overfitting are reported once,
in words, as ChainruleWarning; a deep sigmoid network vanishes and a ReLU one does not."""
from __future__ import annotations

import io
import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.training import History, Run, TrainingDiverged, fit
from chainrule.training.diagnostics import ChainruleWarning, Diagnostics


def _deep(act, depth: int = 8, width: int = 16, seed: int = 0) -> nn.Module:
    cr.manual_seed(seed)
    layers = [nn.Linear(2, width), act()]
    for _ in range(depth - 2):
        layers += [nn.Linear(width, width), act()]
    return nn.Sequential(*layers, nn.Linear(width, 2))


def _xor_data(n: int = 256) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 2)).astype(np.float32)
    return x, (x[:, 0] * x[:, 1] > 0).astype(np.int64)


def _fit(model: nn.Module, lr: float = 0.1, epochs: int = 2, **kw):
    return fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=lr), _xor_data(),
               epochs=epochs, batch_size=64, progress=False, **kw)


def _chainrule_warnings(record) -> list[str]:
    return [str(w.message) for w in record if issubclass(w.category, ChainruleWarning)]


def test_deep_sigmoid_network_warns_vanishing_once() -> None:
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        _fit(_deep(nn.Sigmoid), epochs=2)  # fit adds Diagnostics by default
    msgs = _chainrule_warnings(rec)
    assert len(msgs) == 1 and "vanishing gradients" in msgs[0]
    assert "ReLU" in msgs[0] and "residual" in msgs[0] and "batch normalization" in msgs[0]


def test_explanation_is_printed_once() -> None:
    out = io.StringIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _fit(_deep(nn.Sigmoid), epochs=3, callbacks=[Diagnostics(stream=out)])
    assert out.getvalue().count("vanishing gradients") == 1  # not once per epoch
    assert "Usual cures" in out.getvalue()


def test_deep_relu_network_does_not_warn() -> None:
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        _fit(_deep(nn.ReLU), epochs=2)
    assert _chainrule_warnings(rec) == []


def test_diagnostics_off() -> None:
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        _fit(_deep(nn.Sigmoid), epochs=1, diagnostics=False)
    assert _chainrule_warnings(rec) == []


def test_too_high_learning_rate_stops_and_says_so() -> None:
    cr.manual_seed(0)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((512, 3)).astype(np.float32)
    y = (x @ np.array([[1.0], [-2.0], [0.5]], np.float32)).astype(np.float32)
    model = nn.Sequential(nn.Linear(3, 1))
    with pytest.warns(ChainruleWarning, match="diverging") as rec:
        with pytest.raises(TrainingDiverged, match="learning rate") as exc:
            fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=1.5), (x, y), epochs=5,
                batch_size=16, metrics=(), progress=False)
    assert exc.value.history.stop_reason == "diverged"
    assert any("learning rate 1.5 is probably too high" in str(w.message) for w in rec)


class _FakeOpt:
    param_groups = [{"lr": 0.1}]


def _run() -> Run:
    return Run(history=History(), optimizer=_FakeOpt(), model=None)


def _epoch(d: Diagnostics, run: Run, **rec) -> None:
    run.history.append(rec)
    run.epoch = rec["epoch"] - 1
    d.on_epoch_end(run, run.epoch, run.history.epochs[-1])


def test_overfitting_after_three_rising_epochs() -> None:
    out = io.StringIO()
    d, run = Diagnostics(stream=out), _run()
    d.on_train_begin(run)
    rows = [(1.0, 0.9), (0.8, 0.7), (0.6, 0.75), (0.5, 0.8)]
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        for i, (tr, va) in enumerate(rows[:3], 1):
            _epoch(d, run, epoch=i, loss=tr, val_loss=va, grad_norms={"a": 1.0, "b": 1.0})
        assert _chainrule_warnings(rec) == []  # rising for only 1 epoch so far
        _epoch(d, run, epoch=4, loss=0.5, val_loss=0.8, grad_norms={"a": 1.0, "b": 1.0})
        assert _chainrule_warnings(rec) == []  # 0.7 -> 0.75 -> 0.8: two rises
        _epoch(d, run, epoch=5, loss=0.4, val_loss=0.9, grad_norms={"a": 1.0, "b": 1.0})
        _epoch(d, run, epoch=6, loss=0.3, val_loss=1.0, grad_norms={"a": 1.0, "b": 1.0})
    msgs = _chainrule_warnings(rec)
    assert len(msgs) == 1 and "overfitting" in msgs[0]
    assert "dropout" in msgs[0] and "weight decay" in msgs[0] and "early stopping" in msgs[0]
    assert d.findings[0]["kind"] == "overfitting" and d.findings[0]["epoch"] == 5
    assert out.getvalue().count("overfitting") == 1


def test_val_rising_with_train_rising_is_not_overfitting() -> None:
    d, run = Diagnostics(verbose=False), _run()
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        for i, v in enumerate([0.5, 0.6, 0.7, 0.8, 0.9], 1):
            _epoch(d, run, epoch=i, loss=v, val_loss=v, grad_norms={})
    assert _chainrule_warnings(rec) == []


@pytest.mark.parametrize("norms, kind", [
    ({"0": 1e-9, "2": 0.1}, "vanishing"),
    ({"0": 5e3, "2": 1.0}, "exploding"),
    ({"0": 50.0, "2": 0.01}, "exploding"),
    ({"0": float("inf"), "2": 1.0}, "exploding"),
    ({"0": 0.05, "2": 0.1}, None),
])
def test_gradient_norm_rules(norms, kind) -> None:
    d, run = Diagnostics(verbose=False), _run()
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        _epoch(d, run, epoch=1, loss=1.0, grad_norms=norms)
        _epoch(d, run, epoch=2, loss=1.0, grad_norms=norms)
    msgs = _chainrule_warnings(rec)
    if kind is None:
        assert msgs == []
    else:
        assert len(msgs) == 1 and msgs[0].startswith(f"{kind} gradients")


def test_exploding_growth_over_epochs() -> None:
    d, run = Diagnostics(verbose=False), _run()
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        _epoch(d, run, epoch=1, loss=1.0, grad_norms={"0": 0.5, "1": 0.5})
        _epoch(d, run, epoch=2, loss=1.0, grad_norms={"0": 80.0, "1": 90.0})
    assert any("grew from" in m for m in _chainrule_warnings(rec))


def test_divergence_without_raising_sets_stop_flag() -> None:
    d, run = Diagnostics(verbose=False, stop_on_divergence=False), _run()
    d.on_train_begin(run)
    with pytest.warns(ChainruleWarning, match="learning rate 0.1"):
        for b, loss in enumerate([1.0, 5.0, 20.0, 40.0, 80.0]):
            d.on_batch_end(run, b, loss)
    assert run.stop_training and run.history.stop_reason == "diverged"


def test_a_loss_spike_is_not_divergence() -> None:
    d, run = Diagnostics(verbose=False), _run()
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        for b, loss in enumerate([1.0, 20.0, 30.0, 0.9, 0.8, 25.0, 0.7]):
            d.on_batch_end(run, b, loss)
    assert _chainrule_warnings(rec) == [] and not run.stop_training


def test_state_round_trip_and_bad_config() -> None:
    d, run = Diagnostics(verbose=False), _run()
    with pytest.warns(ChainruleWarning):
        _epoch(d, run, epoch=1, loss=1.0, grad_norms={"0": 1e-9, "1": 1.0})
    d.on_batch_end(run, 0, 2.0)
    e = Diagnostics(verbose=False)
    e.load_state_dict(d.state_dict())
    e.on_train_begin(run)  # a resumed run keeps what was already reported
    assert e.reported == {"vanishing"} and e.reference_loss == 2.0
    with pytest.raises(cr.ConfigError):
        Diagnostics(divergence_factor=1.0)
    with pytest.raises(cr.ConfigError):
        Diagnostics(overfit_patience=0)


def test_noisy_small_validation_set_is_not_overfitting() -> None:
    # val rises 3 epochs while train falls, but val stays close to train (no real gap)
    d, run = Diagnostics(verbose=False), _run()
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        for i, (tr, va) in enumerate([(0.020, 0.021), (0.015, 0.022), (0.010, 0.030), (0.005, 0.036)], 1):
            _epoch(d, run, epoch=i, loss=tr, val_loss=va, grad_norms={})
    assert _chainrule_warnings(rec) == []


def _overfit_like_epochs(d: Diagnostics, run: Run, **extra) -> None:
    for i, (tr, va) in enumerate([(1.0, 0.6), (0.8, 0.7), (0.6, 0.8), (0.4, 0.9), (0.3, 1.0)], 1):
        _epoch(d, run, epoch=i, loss=tr, val_loss=va, grad_norms={"a": 1.0, "b": 1.0}, **extra)


def test_overfitting_waits_for_a_validation_set_big_enough_to_mean_something() -> None:
    from chainrule.data import DataLoader, TensorDataset

    d, run = Diagnostics(verbose=False), _run()
    run.val_loader = DataLoader(TensorDataset(np.zeros((12, 2)), np.zeros(12)), batch_size=4)
    _overfit_like_epochs(d, run)
    assert d.findings == []


def test_no_accuracy_gap_is_an_underfit_not_overfitting() -> None:
    d, run = Diagnostics(verbose=False), _run()
    _overfit_like_epochs(d, run, accuracy=0.57, val_accuracy=0.58)
    assert d.findings == []
