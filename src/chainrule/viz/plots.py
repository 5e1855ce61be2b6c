"""Training plots as PNG files: loss and metric curves, per-layer gradient norms, and the
decision boundary of a classifier on 2-D data.

matplotlib (``pip install chainrule[plots]``) is imported only when a plot is drawn, and
only its object-oriented API is used (``Figure`` + the Agg canvas): no window opens, no
global backend is switched, and it works on machines without a display.

    from chainrule.viz import plots
    plots.plot_history(history, "run/")          # loss.png, metrics.png, grad_norms.png
    plots.plot_decision_boundary(model, X, y, "run/decision_boundary.png")
    plots.plot_run("run/")                         # redraw from run/history.csv (+ model)
"""
from __future__ import annotations

import csv
import json
import math
import os
from typing import Any

import numpy as np

from ..errors import ConfigError, DataError

__all__ = ["require_matplotlib", "load_history", "plot_history", "plot_loss", "plot_metrics", "plot_grad_norms",
           "plot_decision_boundary", "plot_run"]

METRICS = ("accuracy", "r2", "mse", "mae")


def require_matplotlib() -> None:
    """Raise ``ConfigError`` saying how to install matplotlib when it is missing (call it
    before a long run whose end is a plot)."""
    try:
        from matplotlib.figure import Figure  # noqa: F401
    except ImportError:
        raise ConfigError("plots need matplotlib, which is not installed: "
                          "pip install 'chainrule[plots]' (or pip install matplotlib)") from None


def _figure(width: float = 7.0, height: float = 4.2) -> Any:
    require_matplotlib()
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _save(fig: Any, path: str | os.PathLike) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    path = os.fspath(path)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path, format="png")
    return path


# ----------------------------------------------------------------------------- history
def load_history(path: str | os.PathLike) -> Any:
    """Read a run's ``history.csv`` (or the run directory holding it) back into a History."""
    path = os.fspath(path)
    if os.path.isdir(path):
        path = os.path.join(path, "history.csv")
    if not os.path.isfile(path):
        raise DataError(f"no history.csv at {path}; plot a directory written by "
                        f"'chainrule train --out DIR'")
    try:
        return _read_history(path)
    except (UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"{path} is not a chainrule history: {e}") from None


def _read_history(path: str) -> Any:
    from ..training.history import History

    epochs = []
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if not header or "epoch" not in header:
            raise DataError(f"{path} is not a chainrule history (its header has no 'epoch' column)")
        for line_no, row in enumerate(reader, 2):
            rec: dict[str, Any] = {}
            norms: dict[str, float] = {}
            for key, text in zip(header, row):
                if text == "":
                    continue
                try:
                    value: Any = float(text)
                except ValueError:
                    value = text
                if key.startswith("grad_norm/"):
                    if isinstance(value, float):
                        norms[key[len("grad_norm/"):]] = value
                else:
                    rec[key] = value
            if "epoch" not in rec or not isinstance(rec["epoch"], float) or not math.isfinite(rec["epoch"]):
                raise DataError(f"{path} line {line_no}: no epoch number")
            rec["epoch"] = int(rec["epoch"])
            if norms:
                rec["grad_norms"] = norms
            epochs.append(rec)
    return History(epochs)


def _series(history: Any, key: str) -> tuple[list[int], list[float]]:
    xs, ys = [], []
    for e in history.epochs:
        v = e.get(key)
        if isinstance(v, (int, float)) and math.isfinite(v):
            xs.append(int(e["epoch"]))
            ys.append(float(v))
    return xs, ys


def plot_loss(history: Any, path: str | os.PathLike) -> str:
    """Training and validation loss per epoch (log scale when they span > 2 decades)."""
    fig = _figure()
    ax = fig.add_subplot()
    ys_all: list[float] = []
    for key, label, style in (("loss", "training loss", "-o"), ("val_loss", "validation loss", "-s")):
        xs, ys = _series(history, key)
        if xs:
            ax.plot(xs, ys, style, label=label, markersize=3)
            ys_all += ys
    if ys_all and min(ys_all) > 0 and max(ys_all) / min(ys_all) > 100:
        ax.set_yscale("log")
    best = getattr(history, "best_epoch", None)
    if best:
        ax.axvline(best, color="grey", linestyle=":", label=f"best epoch ({best})")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title("Loss: falling training loss = learning; validation rising while it falls = overfitting",
                 fontsize=9)
    ax.grid(alpha=0.3)
    if ys_all:
        ax.legend()
    return _save(fig, path)


def plot_metrics(history: Any, path: str | os.PathLike) -> str | None:
    """Training and validation metrics (accuracy, R² ...) per epoch; None when there are none."""
    keys = [k for k in METRICS if _series(history, k)[0] or _series(history, f"val_{k}")[0]]
    if not keys:
        return None
    fig = _figure()
    ax = fig.add_subplot()
    for k in keys:
        for key, label, style in ((k, f"training {k}", "-o"), (f"val_{k}", f"validation {k}", "-s")):
            xs, ys = _series(history, key)
            if xs:
                ax.plot(xs, ys, style, label=label, markersize=3)
    ax.set_xlabel("epoch")
    ax.set_ylabel(", ".join(keys))
    ax.set_title("Metrics per epoch", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path)


def plot_grad_norms(history: Any, path: str | os.PathLike) -> str | None:
    """Per-layer gradient norms: over epochs (left) and by depth in the last epoch (right).

    Each value is the mean over the epoch's batches of ‖∂L/∂W‖ for one layer's weight.
    A first layer orders of magnitude below the last is the picture of vanishing
    gradients; norms in the thousands, of exploding ones. None when no norms were recorded.
    """
    norms: dict[str, list[float]] = history.grad_norms
    if not norms:
        return None
    import matplotlib

    cmap = matplotlib.colormaps["viridis"]
    fig = _figure(10.0, 4.2)
    left, right = fig.subplots(1, 2, width_ratios=[3, 2])
    names = list(norms)
    epochs = [int(e["epoch"]) for e in history.epochs]
    for i, name in enumerate(names):
        ys = [v if isinstance(v, (int, float)) and v > 0 and math.isfinite(v) else np.nan
              for v in norms[name]]
        left.plot(epochs, ys, "-o", markersize=3, color=cmap(i / max(len(names) - 1, 1)),
                  label=f"layer {name}")
    left.set_yscale("log")
    left.set_xlabel("epoch")
    left.set_ylabel("mean ‖∂L/∂W‖ (log scale)")
    left.set_title("Gradient norm of each layer's weights", fontsize=10)
    left.grid(alpha=0.3, which="both")
    left.legend(fontsize=7, ncol=1 if len(names) <= 10 else 2)
    last = [v if isinstance(v, (int, float)) and v > 0 and math.isfinite(v) else np.nan
            for v in (norms[n][-1] for n in names)]
    right.bar(range(len(names)), last, color=[cmap(i / max(len(names) - 1, 1)) for i in range(len(names))])
    right.set_yscale("log")
    right.set_xticks(range(len(names)), names, rotation=45 if len(names) > 6 else 0, fontsize=8)
    right.set_xlabel("layer (input side → output side)")
    right.set_title(f"Epoch {epochs[-1]}: far smaller on the left = vanishing gradients", fontsize=9)
    right.grid(alpha=0.3, axis="y", which="both")
    return _save(fig, path)


def plot_history(history: Any, out_dir: str | os.PathLike) -> list[str]:
    """Write ``loss.png``, ``metrics.png`` and ``grad_norms.png`` (those that apply) to
    ``out_dir``; returns the paths written."""
    out_dir = os.fspath(out_dir)
    if not len(history):
        raise DataError("the history has no epochs to plot")
    paths = [plot_loss(history, os.path.join(out_dir, "loss.png")),
             plot_metrics(history, os.path.join(out_dir, "metrics.png")),
             plot_grad_norms(history, os.path.join(out_dir, "grad_norms.png"))]
    return [p for p in paths if p]


# ----------------------------------------------------------------------------- decision boundary
def plot_decision_boundary(model: Any, x: np.ndarray, y: np.ndarray, path: str | os.PathLike,
                           title: str | None = None, resolution: int = 200) -> str:
    """Colour the plane by the classifier's prediction and draw the points on top.

    ``model`` maps (N, 2) inputs to logits (N, C) (C ≥ 2) or (N, 1) (a sigmoid output).
    For two classes the colour is the probability of class 1 (so the boundary is where it
    crosses 0.5); for more, the predicted class.
    """
    from ..tensor import Tensor, no_grad

    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y)
    if x.ndim != 2 or x.shape[1] != 2:
        raise DataError(f"a decision boundary needs 2-D inputs of shape (N, 2); got {x.shape}")
    lo, hi = x.min(axis=0), x.max(axis=0)
    pad = 0.1 * np.maximum(hi - lo, 1e-6)
    gx = np.linspace(lo[0] - pad[0], hi[0] + pad[0], resolution, dtype=np.float32)
    gy = np.linspace(lo[1] - pad[1], hi[1] + pad[1], resolution, dtype=np.float32)
    xx, yy = np.meshgrid(gx, gy)
    grid = np.stack([xx.ravel(), yy.ravel()], axis=1)
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    try:
        with no_grad():
            out = np.asarray(model(Tensor(grid)).data, dtype=np.float64)
    finally:
        if was_training and hasattr(model, "train"):
            model.train()
    if out.ndim == 1:
        out = out[:, None]
    fig = _figure(5.6, 5.0)
    ax = fig.add_subplot()
    if out.shape[1] == 1:
        z = (1 / (1 + np.exp(-out[:, 0]))).reshape(xx.shape)
        classes = 2
    elif out.shape[1] == 2:
        e = np.exp(out - out.max(axis=1, keepdims=True))
        z = (e[:, 1] / e.sum(axis=1)).reshape(xx.shape)
        classes = 2
    else:
        z = out.argmax(axis=1).reshape(xx.shape).astype(np.float64)
        classes = out.shape[1]
    if classes == 2:
        cs = ax.contourf(xx, yy, z, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.75)
        ax.contour(xx, yy, z, levels=[0.5], colors="k", linewidths=1.2)
        fig.colorbar(cs, ax=ax, label="predicted P(class 1)")
        colours: Any = np.where(y == 1, "#b2182b", "#2166ac")  # an array or a list of colour names
    else:
        ax.contourf(xx, yy, z, levels=np.arange(classes + 1) - 0.5, cmap="tab10", alpha=0.5)
        colours = [f"C{int(c) % 10}" for c in y]
    ax.scatter(x[:, 0], x[:, 1], c=colours, s=12, edgecolors="white", linewidths=0.4)
    ax.set_xlabel("x[0]")
    ax.set_ylabel("x[1]")
    ax.set_title(title or "Decision boundary (black line: P = 0.5)", fontsize=10)
    return _save(fig, path)


# ----------------------------------------------------------------------------- a run directory
def plot_run(run_dir: str | os.PathLike, history: Any = None, model: Any = None,
             data: Any = None) -> list[str]:
    """All plots of a training run, written into ``run_dir``.

    ``history`` defaults to ``run_dir/history.csv``. When the data are 2-D (a toy2d data
    set) also ``decision_boundary.png``, from ``model`` and ``data`` (a DatasetSplits; its
    test split is drawn), or else from ``run_dir/model.safetensors`` and the data set named
    in ``run_dir/metrics.json``.
    """
    run_dir = os.fspath(run_dir)
    if history is None:
        history = load_history(run_dir)
    paths = plot_history(history, run_dir)
    if data is None and model is None:
        model, data = _saved_model_and_data(run_dir)
    if model is not None and data is not None and getattr(data, "num_features", None) == 2 \
            and getattr(data, "task", "classification") == "classification":
        x, y = data.test.arrays
        paths.append(plot_decision_boundary(
            model, x, y, os.path.join(run_dir, "decision_boundary.png"),
            title=f"{data.name}: decision boundary on the test points"))
    return paths


def _saved_model_and_data(run_dir: str) -> tuple[Any, Any]:
    """(model, data set) of a run directory whose data set is a 2-D toy problem, else Nones."""
    meta_path = os.path.join(run_dir, "metrics.json")
    model_path = os.path.join(run_dir, "model.safetensors")
    if not (os.path.isfile(meta_path) and os.path.isfile(model_path)):
        return None, None
    try:
        with open(meta_path, encoding="utf-8") as f:
            meta = json.load(f)
            name = meta.get("dataset") if isinstance(meta, dict) else None
    except (OSError, ValueError):
        return None, None
    from ..data import TOY2D_NAMES, load_dataset

    if name not in TOY2D_NAMES:
        return None, None
    from ..io import load

    model = load(model_path)
    if not hasattr(model, "named_parameters"):
        return None, None
    return model, load_dataset(name)
