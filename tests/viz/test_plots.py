"""Training plots (PNG via matplotlib's Agg canvas) and `chainrule plot RUN_DIR`."""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import pytest

pytest.importorskip("matplotlib")

import chainrule as cr  # noqa: E402
from chainrule import nn  # noqa: E402
from chainrule.commands import plot as plot_cmd  # noqa: E402
from chainrule.training import History  # noqa: E402
from chainrule.viz import plots  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"


def _history(epochs: int = 4) -> History:
    h = History()
    for e in range(1, epochs + 1):
        h.append({"epoch": e, "loss": 1.0 / e, "val_loss": 1.1 / e + 0.01 * e, "accuracy": 0.5 + 0.1 * e,
                  "val_accuracy": 0.5 + 0.08 * e, "lr": 0.1, "seconds": 0.01,
                  "grad_norms": {"0": 1e-7 * e, "2": 1e-3, "4": 0.3}})
    return h


def _is_png(path) -> bool:
    with open(path, "rb") as f:
        return f.read(8) == PNG


def test_plot_history_writes_three_pngs(tmp_path) -> None:
    paths = plots.plot_history(_history(), tmp_path)
    names = sorted(p.rsplit("/", 1)[-1] for p in paths)
    assert names == ["grad_norms.png", "loss.png", "metrics.png"]
    assert all(_is_png(p) for p in paths)


def test_history_csv_round_trip(tmp_path) -> None:
    h = _history(3)
    h.to_csv(tmp_path / "history.csv")
    back = plots.load_history(tmp_path)
    assert len(back) == 3
    assert back.epochs[1]["epoch"] == 2 and back.epochs[1]["loss"] == pytest.approx(0.5)
    assert back.grad_norms == h.grad_norms


def test_history_without_val_or_norms(tmp_path) -> None:
    h = History([{"epoch": 1, "loss": 2.0}, {"epoch": 2, "loss": 1.0}])
    paths = plots.plot_history(h, tmp_path)
    assert [p.rsplit("/", 1)[-1] for p in paths] == ["loss.png"]


def test_bad_history_files(tmp_path) -> None:
    with pytest.raises(cr.DataError, match="history.csv"):
        plots.load_history(tmp_path)
    (tmp_path / "history.csv").write_text("a,b\n1,2\n")
    with pytest.raises(cr.DataError, match="epoch"):
        plots.load_history(tmp_path)
    with pytest.raises(cr.DataError):
        plots.plot_history(History(), tmp_path)


@pytest.mark.parametrize("outputs", [1, 2, 3])
def test_decision_boundary(tmp_path, outputs: int) -> None:
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, outputs))
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (50, 2)).astype(np.float32)
    y = rng.integers(0, max(outputs, 2), 50)
    path = plots.plot_decision_boundary(model, x, y, tmp_path / "b.png", resolution=40)
    assert _is_png(path)
    with pytest.raises(cr.DataError, match="2-D"):
        plots.plot_decision_boundary(model, np.zeros((5, 3)), y[:5], tmp_path / "c.png")


def test_missing_matplotlib_is_a_clear_error(tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(cr.ConfigError, match=r"pip install 'chainrule\[plots\]'"):
        plots.plot_history(_history(), tmp_path)


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    plot_cmd.add_arguments(parser)
    return plot_cmd.run(parser.parse_args(list(argv)))


def test_cli_plot_run_dir_with_toy_model(tmp_path, capsys) -> None:
    io = pytest.importorskip("chainrule.io")
    _history().to_csv(tmp_path / "history.csv")
    (tmp_path / "metrics.json").write_text(json.dumps({"dataset": "xor"}))
    cr.manual_seed(0)
    io.save(nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 2)), tmp_path / "model.safetensors")
    assert _run(str(tmp_path)) == 0
    out = capsys.readouterr().out
    for name in ("loss.png", "metrics.png", "grad_norms.png", "decision_boundary.png"):
        assert name in out and _is_png(tmp_path / name)


def test_cli_plot_out_dir_and_errors(tmp_path) -> None:
    _history().to_csv(tmp_path / "history.csv")
    assert _run(str(tmp_path), "--out", str(tmp_path / "pics")) == 0
    assert _is_png(tmp_path / "pics" / "loss.png")
    with pytest.raises(cr.DataError):
        _run(str(tmp_path / "nope"))


def test_cli_train_plot_writes_pngs_into_run_dir(tmp_path, capsys) -> None:
    from chainrule.cli import main

    run = tmp_path / "run"
    assert main(["train", "--dataset", "xor", "--epochs", "2", "--out", str(run), "--plot", "--quiet"]) == 0
    for name in ("loss.png", "metrics.png", "grad_norms.png", "decision_boundary.png"):
        assert _is_png(run / name), name
    assert main(["train", "--dataset", "xor", "--epochs", "1", "--plot"]) == 2
    assert "--plot needs --out" in capsys.readouterr().err
