"""Training sessions behind the playground page, independent of the web layer.

:class:`PlaygroundSession` trains a small multilayer perceptron on a 2-D toy data set with
chainrule's own ``nn``, ``optim`` and ``nn.functional``, and describes its state as a *frame*:
the decision boundary over a grid, each hidden neuron's output over a smaller grid, every
weight and its gradient dL/dw from the last backward pass, per-layer gradient norms and the
losses. :class:`MnistSession` does the same for digits (accuracy instead of pictures), and
answers "what does the model think this drawing is?".

:class:`SessionManager` bounds how many sessions run at once and notices idle ones;
:class:`FrameClock` keeps frames at or under a rate. Both take a clock so tests need no sleep.
"""
from __future__ import annotations

import base64
import math
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import ChainruleError, ConfigError
from .protocol import CONFIG_FIELDS, MNIST_FIELDS, validate_config

BOUNDARY_SIZE = 50      # decision-boundary grid, cells per side
NEURON_SIZE = 25        # each neuron's thumbnail grid: every other cell of the boundary grid
HISTORY_LIMIT = 600     # loss points kept; older ones are thinned, never dropped wholesale

DEFAULT_CONFIG = {
    "dataset": "circle",
    "noise": 0.1,
    "test_fraction": 0.5,
    "n_points": 400,
    "seed": 1,
    "hidden": [4, 2],
    "activation": "tanh",
    "lr": 0.3,
    "batch_size": 10,
    "optimizer": "sgd",
    "l2": 0.0,
    "dropout": 0.0,
    "steps_per_frame": 10,
}

DEFAULT_MNIST_CONFIG = {
    "hidden": [128],
    "activation": "relu",
    "lr": 0.001,
    "batch_size": 64,
    "optimizer": "adam",
    "l2": 0.0,
    "dropout": 0.0,
    "steps_per_frame": 5,
}

# settings whose change needs new data, a new network, or only a new optimizer
_DATA_KEYS = {"dataset", "noise", "test_fraction", "n_points", "seed"}
_NET_KEYS = {"hidden", "activation"}
_OPT_KEYS = {"optimizer", "lr", "l2"}


def _b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a, dtype=np.uint8).tobytes()).decode("ascii")


def _round(a: np.ndarray, digits: int = 5) -> list:
    a = np.asarray(a, dtype=np.float64)
    if not np.isfinite(a).all():
        a = np.nan_to_num(a, nan=0.0, posinf=1e30, neginf=-1e30)
    return np.round(a, digits).tolist()


def _sig(x: float, digits: int = 6) -> float | None:
    """A float rounded to ``digits`` significant figures (None when not finite)."""
    x = float(x)
    if not math.isfinite(x):
        return None
    return float(f"{x:.{digits}g}")


def _activation(name: str):
    """The catalogue's activation ``name`` as a callable layer."""
    from .. import catalogue

    return catalogue.lookup(catalogue.ACTIVATIONS, name, "activation").build()


class _MLP:
    """Linear layers and an activation, with the forward pass spelled out.

    Kept as a plain list of ``nn.Linear`` so that the page can be shown what each layer does:
    :meth:`forward` can hand back every hidden layer's output.
    """

    def __init__(self, sizes: list[int], activation: str, dropout: float, rng: np.random.Generator):
        from chainrule import nn

        self.sizes = list(sizes)
        self.activation = activation
        self.act = _activation(activation)
        self.dropout = float(dropout)
        self.linears = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            lin = nn.Linear(fan_in, fan_out)
            # PyTorch's default init, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), drawn from this
            # session's own generator so that a seed gives the same network every time.
            bound = 1.0 / math.sqrt(fan_in)
            lin.weight.data[...] = rng.uniform(-bound, bound, (fan_out, fan_in))
            lin.bias.data[...] = rng.uniform(-bound, bound, (fan_out,))
            self.linears.append(lin)

    def parameters(self) -> list:
        return [p for lin in self.linears for p in (lin.weight, lin.bias)]

    def forward(self, x, training: bool = False, keep: bool = False):
        import chainrule.nn.functional as F

        hidden = []
        h = x
        for lin in self.linears[:-1]:
            h = self.act(lin(h))
            if keep:
                hidden.append(h)
            if training and self.dropout > 0:
                h = F.dropout(h, self.dropout, training=True)
        out = self.linears[-1](h)
        return (out, hidden) if keep else out


def _make_optimizer(name: str, model: "_MLP", lr: float, l2: float):
    """The catalogue's optimizer by its page name; L2 (weight decay) applies to weights, not biases."""
    from .. import catalogue

    groups = [{"params": [lin.weight for lin in model.linears], "weight_decay": l2},
              {"params": [lin.bias for lin in model.linears], "weight_decay": 0.0}]
    return catalogue.lookup(catalogue.OPTIMIZERS, name, "optimizer").build(groups, lr=lr)


def _retune(optimizer, lr: float, l2: float) -> None:
    """Change lr and L2 in place, keeping the optimizer's state (momentum, Adam moments)."""
    weights, biases = optimizer.param_groups
    weights["lr"] = biases["lr"] = lr
    weights["weight_decay"] = l2


def _apply_optimizer_change(sess, changed: set) -> None:
    c = sess.config
    if "optimizer" in changed:
        sess.optimizer = _make_optimizer(c["optimizer"], sess.model, c["lr"], c["l2"])
    else:
        _retune(sess.optimizer, c["lr"], c["l2"])


def _zero_grads(params: list) -> None:
    for p in params:
        p.grad = None


class _History:
    """Loss (or accuracy) points, thinned by half whenever they pass ``limit``."""

    def __init__(self, limit: int = HISTORY_LIMIT):
        self.limit = limit
        self.points: list[list] = []
        self.stride = 1
        self._since = 0

    def add(self, point: list) -> bool:
        """Record a point; return whether it was kept (every ``stride``-th is)."""
        self._since += 1
        if self._since < self.stride:
            return False
        self._since = 0
        self.points.append(point)
        if len(self.points) > self.limit:
            self.points = self.points[::2]
            self.stride *= 2
        return True


class PlaygroundSession:
    """A 2-class MLP on a 2-D toy data set, trained one minibatch at a time.

    ``configure(**values)`` validates and applies settings; changing the data or the network
    starts over, changing lr, L2, optimizer, batch size or dropout carries on with the current
    weights. ``step(n)`` runs ``n`` optimizer steps; ``frame()`` describes the model now.
    """

    def __init__(self, config: dict | None = None, data_factory: Callable | None = None):
        self.config = dict(DEFAULT_CONFIG)
        self._data_factory = data_factory
        if config:
            self.config.update(validate_config(config, CONFIG_FIELDS))
        self._check_sizes(self.config)
        self._make_data()
        self.reset()

    # ---- set-up ------------------------------------------------------------------------
    @staticmethod
    def _check_sizes(cfg: dict) -> None:
        n_test = int(round(cfg["n_points"] * cfg["test_fraction"]))
        if cfg["n_points"] - n_test < 2 or n_test < 1:
            raise ConfigError("too few points for this train/test split")

    def _make_data(self) -> None:
        cfg = self.config
        if self._data_factory is not None:
            (xtr, ytr), (xte, yte) = self._data_factory(cfg)
        else:
            from chainrule import data

            ds = data.toy2d(cfg["dataset"], n=cfg["n_points"], noise=cfg["noise"],
                            seed=cfg["seed"], test_fraction=cfg["test_fraction"])
            xtr, ytr = ds.train.arrays
            xte, yte = ds.test.arrays
        self.x_train = np.asarray(xtr, dtype=np.float32)
        self.y_train = (np.asarray(ytr).reshape(-1) > 0).astype(np.float32)
        self.x_test = np.asarray(xte, dtype=np.float32)
        self.y_test = (np.asarray(yte).reshape(-1) > 0).astype(np.float32)
        both = np.concatenate([self.x_train, self.x_test]) if len(self.x_test) else self.x_train
        m = float(np.max(np.abs(both))) if both.size else 1.0
        # toy2d data fills about [-1, 1]^2; widen the square (in quarters) only for noisy outliers
        self.extent = 1.0 if m <= 1.05 else float(math.ceil(m * 4) / 4)
        self.grid = self._grid(BOUNDARY_SIZE)
        # thumbnails reuse the boundary pass: every other row and column of the 50x50 grid
        step = BOUNDARY_SIZE // NEURON_SIZE
        cells = np.arange(BOUNDARY_SIZE * BOUNDARY_SIZE).reshape(BOUNDARY_SIZE, BOUNDARY_SIZE)
        self._thumb_cells = cells[::step, ::step].ravel()
        self._all_x = np.concatenate([self.x_train, self.x_test])
        self._all_y = np.concatenate([self.y_train, self.y_test])
        self.data_version = getattr(self, "data_version", 0) + 1

    def _grid(self, n: int) -> np.ndarray:
        e = self.extent
        # cell centres; row 0 is the top of the picture (largest x2)
        ticks = (np.arange(n) + 0.5) / n * 2 * e - e
        xx, yy = np.meshgrid(ticks, ticks[::-1])
        return np.stack([xx.ravel(), yy.ravel()], axis=1).astype(np.float32)

    def reset(self) -> None:
        """Fresh weights (from the seed and the reset count), step 0, empty history."""
        cfg = self.config
        self.resets = getattr(self, "resets", -1) + 1
        self.rng = np.random.default_rng([cfg["seed"], self.resets])
        self.model = _MLP([2, *cfg["hidden"], 1], cfg["activation"], cfg["dropout"], self.rng)
        self.params = self.model.parameters()
        self.optimizer = _make_optimizer(cfg["optimizer"], self.model, cfg["lr"], cfg["l2"])
        self.steps = 0
        self.last_loss: float | None = None
        self.last_grads = [np.zeros_like(lin.weight.data) for lin in self.model.linears]
        self.last_bias_grads = [np.zeros_like(lin.bias.data) for lin in self.model.linears]
        self.history = _History()
        self._order = np.empty(0, dtype=np.int64)
        self._pos = 0
        self.run_id = getattr(self, "run_id", 0) + 1

    def configure(self, **values) -> str:
        """Apply validated settings; return what was rebuilt: 'data', 'network', 'optimizer' or ''."""
        values = validate_config(values, CONFIG_FIELDS)
        changed = {k for k, v in values.items() if self.config.get(k) != v}
        if not changed:
            return ""
        new = {**self.config, **values}
        self._check_sizes(new)
        self.config = new
        if changed & _DATA_KEYS:
            self._make_data()
            self.reset()
            return "data"
        if changed & _NET_KEYS:
            self.reset()
            return "network"
        if "dropout" in changed:
            self.model.dropout = new["dropout"]
        if changed & _OPT_KEYS:
            _apply_optimizer_change(self, changed)
            return "optimizer"
        return "settings"

    # ---- training ----------------------------------------------------------------------
    def _next_batch(self) -> np.ndarray:
        n = len(self.x_train)
        bs = min(self.config["batch_size"], n)
        if self._pos + bs > len(self._order):
            self._order = self.rng.permutation(n)
            self._pos = 0
        idx = self._order[self._pos:self._pos + bs]
        self._pos += bs
        return idx

    def _loss(self, logits, targets: np.ndarray):
        import chainrule as cr
        import chainrule.nn.functional as F

        return F.binary_cross_entropy_with_logits(logits.reshape(-1), cr.tensor(targets))

    def step(self, n: int = 1) -> float | None:
        """Run ``n`` optimizer steps on minibatches; return the last minibatch loss."""
        import chainrule as cr

        for _ in range(int(n)):
            idx = self._next_batch()
            _zero_grads(self.params)
            logits = self.model.forward(cr.tensor(self.x_train[idx]), training=True)
            loss = self._loss(logits, self.y_train[idx])
            loss.backward()
            for i, lin in enumerate(self.model.linears):
                g = lin.weight.grad
                self.last_grads[i] = np.zeros_like(lin.weight.data) if g is None else np.array(g)
                gb = lin.bias.grad
                self.last_bias_grads[i] = np.zeros_like(lin.bias.data) if gb is None else np.array(gb)
            self.optimizer.step()
            self.steps += 1
            self.last_loss = float(loss.item())
        return self.last_loss

    def losses(self) -> tuple[float, float]:
        """Mean loss on the whole train and test sets (no dropout), in one forward pass."""
        import chainrule as cr
        import chainrule.nn.functional as F

        with cr.no_grad():
            logits = self.model.forward(cr.tensor(self._all_x)).reshape(-1)
            each = F.binary_cross_entropy_with_logits(logits, cr.tensor(self._all_y),
                                                      reduction="none").numpy().astype(np.float64)
        n = len(self.x_train)
        train = float(each[:n].mean()) if n else float("nan")
        test = float(each[n:].mean()) if len(each) > n else float("nan")
        return train, test

    def grad_norms(self) -> list[float]:
        """The L2 norm of dL/dW for each weight matrix, input side first."""
        return [float(np.sqrt(np.sum(np.square(g, dtype=np.float64)))) for g in self.last_grads]

    @property
    def epoch(self) -> float:
        return self.steps * min(self.config["batch_size"], len(self.x_train)) / max(1, len(self.x_train))

    # ---- describing the model ------------------------------------------------------------
    def data_message(self) -> dict:
        def pts(x, y):
            return np.concatenate([np.round(x, 4), y[:, None]], axis=1).tolist()

        return {
            "type": "data",
            "run": self.run_id,
            "extent": self.extent,
            "train": pts(self.x_train, self.y_train),
            "test": pts(self.x_test, self.y_test),
        }

    def frame(self) -> dict:
        """Everything the page draws, as JSON-ready values (pictures as base64 uint8)."""
        import chainrule as cr

        with cr.no_grad():
            out, hidden = self.model.forward(cr.tensor(self.grid), keep=True)
        logits = out.numpy().reshape(-1)
        prob = 1.0 / (1.0 + np.exp(-np.clip(logits.astype(np.float64), -60, 60)))
        neurons = []
        for h in hidden:
            a = h.numpy()[self._thumb_cells].astype(np.float64)     # (cells, width)
            if not np.isfinite(a).all():
                a = np.nan_to_num(a, nan=0.0, posinf=1.0, neginf=-1.0)
            scale = np.maximum(1.0, np.max(np.abs(a), axis=0))    # keep [-1, 1] as it is
            u8 = np.round((np.clip(a / scale, -1.0, 1.0) + 1.0) * 127.5).astype(np.uint8).T.copy()
            neurons.append([_b64(row) for row in u8])
        train_loss, test_loss = self.losses()
        self.history.add([self.steps, _sig(train_loss), _sig(test_loss)])
        return {
            "type": "frame",
            "run": self.run_id,
            "step": self.steps,
            "epoch": round(self.epoch, 3),
            "loss_train": _sig(train_loss),
            "loss_test": _sig(test_loss),
            "boundary": _b64(np.round(np.nan_to_num(prob) * 255)),
            "boundary_size": BOUNDARY_SIZE,
            "neurons": neurons,
            "neuron_size": NEURON_SIZE,
            "weights": [_round(lin.weight.data) for lin in self.model.linears],
            "biases": [_round(lin.bias.data) for lin in self.model.linears],
            "grads": [_round(g, 7) for g in self.last_grads],
            "grad_norms": [_sig(g) for g in self.grad_norms()],
        }


# ---- MNIST ---------------------------------------------------------------------------------

@dataclass
class DigitData:
    """Images flattened to rows in [0, 1], labels, and where they came from."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    side: int
    source: str


_DIGIT_CACHE: dict = {}
_DIGIT_LOCK = threading.Lock()


def _arrays(ds) -> tuple[np.ndarray, np.ndarray]:
    if hasattr(ds, "arrays"):
        x, y = ds.arrays
    else:
        x, y = ds
    return np.asarray(x), np.asarray(y)


def _as_images(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32).reshape(len(x), -1)
    hi = float(x.max()) if x.size else 1.0
    return x / hi if hi > 1.0 else x


def load_digits(data_dir: str | None = None) -> DigitData:
    """MNIST from ``data_dir`` or the cache when it is there; the bundled 8x8 digits when not.

    Loaded once per process and shared (read-only) by every session.
    """
    key = str(data_dir)
    with _DIGIT_LOCK:
        if key in _DIGIT_CACHE:
            return _DIGIT_CACHE[key]
        from chainrule import data

        found = None
        try:
            ds = data.mnist(data_dir, download=False, normalize=False)
            found = ds
        except ChainruleError:
            found = None
        except (OSError, ValueError):
            found = None
        if found is not None:
            (xtr, ytr), (xte, yte) = _arrays(found.train), _arrays(found.test)
            where = data_dir if data_dir else "the cache"
            result = DigitData(_as_images(xtr), ytr.astype(np.int64).reshape(-1),
                               _as_images(xte), yte.astype(np.int64).reshape(-1), 28,
                               f"MNIST, 28x28, {len(xtr):,} training images (from {where})")
        else:
            ds = data.digits()
            if hasattr(ds, "train"):
                (xtr, ytr), (xte, yte) = _arrays(ds.train), _arrays(ds.test)
            else:
                x, y = _arrays(ds)
                x = _as_images(x)
                y = y.astype(np.int64).reshape(-1)
                order = np.random.default_rng(0).permutation(len(x))
                cut = int(len(x) * 0.8)
                xtr, ytr, xte, yte = x[order[:cut]], y[order[:cut]], x[order[cut:]], y[order[cut:]]
            xtr = _as_images(xtr)
            side = int(round(math.sqrt(xtr.shape[1])))
            result = DigitData(xtr, np.asarray(ytr, dtype=np.int64).reshape(-1), _as_images(xte),
                               np.asarray(yte, dtype=np.int64).reshape(-1), side,
                               f"bundled digits, {side}x{side}, {len(xtr):,} training images "
                               "(MNIST not found; use --data-dir)")
        _DIGIT_CACHE[key] = result
        return result


def _resize(img: np.ndarray, h: int, w: int) -> np.ndarray:
    """Area-average resampling of a small 2-D image to (h, w)."""
    H, W = img.shape
    up = np.repeat(np.repeat(img, h, axis=0), w, axis=1)           # (H*h, W*w)
    return up.reshape(h, H, w, W).mean(axis=(1, 3))


def prepare_drawing(pixels, side: int) -> np.ndarray | None:
    """Turn a 28x28 drawing (0..255, row by row) into a model input as MNIST was made.

    The ink's bounding box is scaled to fit 20x20 (or the full 8x8 for the small digits) and
    placed so that its centre of mass sits in the middle. Returns ``None`` for a blank pad.
    """
    img = np.asarray(pixels, dtype=np.float64).reshape(28, 28) / 255.0
    mask = img > 0.05
    if not mask.any():
        return None
    rows, cols = np.where(mask)
    crop = img[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    box = 20 if side == 28 else side
    scale = box / max(crop.shape)
    h = max(1, min(box, int(round(crop.shape[0] * scale))))
    w = max(1, min(box, int(round(crop.shape[1] * scale))))
    small = _resize(crop, h, w)
    out = np.zeros((side, side))
    if side == 28:
        total = small.sum()
        cy = (small.sum(axis=1) @ np.arange(h)) / total
        cx = (small.sum(axis=0) @ np.arange(w)) / total
        top = int(round(side / 2 - 0.5 - cy))
        left = int(round(side / 2 - 0.5 - cx))
    else:
        top, left = (side - h) // 2, (side - w) // 2
    top = min(max(top, 0), side - h)
    left = min(max(left, 0), side - w)
    out[top:top + h, left:left + w] = small
    m = out.max()
    if m > 0:
        out = out / m
    return out.reshape(-1).astype(np.float32)


class MnistSession:
    """An MLP on MNIST (or the bundled digits): live loss and accuracy, and predictions."""

    TEST_SUBSET = 2000

    def __init__(self, digits: DigitData, config: dict | None = None):
        self.digits = digits
        self.config = dict(DEFAULT_MNIST_CONFIG)
        if config:
            self.config.update(validate_config(config, MNIST_FIELDS))
        self._reset_count = -1
        self.reset()

    def reset(self) -> None:
        cfg = self.config
        self._reset_count += 1
        self.rng = np.random.default_rng([7, self._reset_count])
        d = self.digits
        self.model = _MLP([d.x_train.shape[1], *cfg["hidden"], 10], cfg["activation"],
                          cfg["dropout"], self.rng)
        self.params = self.model.parameters()
        self.optimizer = _make_optimizer(cfg["optimizer"], self.model, cfg["lr"], cfg["l2"])
        self.steps = 0
        self._order = np.empty(0, dtype=np.int64)
        self._pos = 0
        self._recent: list[tuple[float, float]] = []
        self.test_accuracy: float | None = None
        self._test_at = -1
        self.history = _History()
        self.run_id = getattr(self, "run_id", 0) + 1
        n = len(d.x_test)
        self._test_idx = np.arange(n) if n <= self.TEST_SUBSET else \
            np.random.default_rng(0).choice(n, self.TEST_SUBSET, replace=False)

    def configure(self, **values) -> str:
        values = validate_config(values, MNIST_FIELDS)
        changed = {k for k, v in values.items() if self.config.get(k) != v}
        if not changed:
            return ""
        self.config = {**self.config, **values}
        if changed & _NET_KEYS:
            self.reset()
            return "network"
        if "dropout" in changed:
            self.model.dropout = self.config["dropout"]
        if changed & _OPT_KEYS:
            _apply_optimizer_change(self, changed)
            return "optimizer"
        return "settings"

    def step(self, n: int = 1) -> float | None:
        import chainrule as cr
        import chainrule.nn.functional as F

        d = self.digits
        last = None
        for _ in range(int(n)):
            bs = min(self.config["batch_size"], len(d.x_train))
            if self._pos + bs > len(self._order):
                self._order = self.rng.permutation(len(d.x_train))
                self._pos = 0
            idx = self._order[self._pos:self._pos + bs]
            self._pos += bs
            _zero_grads(self.params)
            logits = self.model.forward(cr.tensor(d.x_train[idx]), training=True)
            loss = F.cross_entropy(logits, d.y_train[idx])
            loss.backward()
            self.optimizer.step()
            self.steps += 1
            last = float(loss.item())
            acc = float(np.mean(np.argmax(logits.numpy(), axis=1) == d.y_train[idx]))
            self._recent.append((last, acc))
            if len(self._recent) > 50:
                del self._recent[0]
        return last

    def evaluate(self) -> float:
        import chainrule as cr

        d = self.digits
        correct = 0
        with cr.no_grad():
            for start in range(0, len(self._test_idx), 500):
                idx = self._test_idx[start:start + 500]
                logits = self.model.forward(cr.tensor(d.x_test[idx])).numpy()
                correct += int(np.sum(np.argmax(logits, axis=1) == d.y_test[idx]))
        self.test_accuracy = correct / max(1, len(self._test_idx))
        self._test_at = self.steps
        return self.test_accuracy

    @property
    def epoch(self) -> float:
        n = len(self.digits.x_train)
        return self.steps * min(self.config["batch_size"], n) / max(1, n)

    def frame(self, evaluate: bool = True) -> dict:
        if evaluate and self._test_at != self.steps:
            self.evaluate()
        loss = float(np.mean([r[0] for r in self._recent])) if self._recent else None
        acc = float(np.mean([r[1] for r in self._recent])) if self._recent else None
        if self.steps and evaluate:
            self.history.add([self.steps, _sig(acc or 0, 4), _sig(self.test_accuracy or 0, 4)])
        return {
            "type": "mnist_frame",
            "run": self.run_id,
            "step": self.steps,
            "epoch": round(self.epoch, 3),
            "loss": _sig(loss) if loss is not None else None,
            "train_accuracy": _sig(acc, 4) if acc is not None else None,
            "test_accuracy": _sig(self.test_accuracy, 4) if self.test_accuracy is not None else None,
            "test_size": int(len(self._test_idx)),
        }

    def predict(self, pixels) -> dict:
        import chainrule as cr
        import chainrule.nn.functional as F

        x = prepare_drawing(pixels, self.digits.side)
        if x is None:
            return {"type": "prediction", "probs": None, "label": None, "input": None}
        with cr.no_grad():
            probs = F.softmax(self.model.forward(cr.tensor(x[None, :])), axis=-1).numpy()[0]
        probs = np.nan_to_num(probs.astype(np.float64))
        side = self.digits.side
        return {
            "type": "prediction",
            "probs": [round(float(p), 4) for p in probs],
            "label": int(np.argmax(probs)),
            "input": _b64(np.round(x * 255)),
            "input_side": side,
        }


# ---- pacing and bookkeeping ------------------------------------------------------------------

class FrameClock:
    """Decides when the next frame may go out so that frames stay at or under ``max_fps``."""

    def __init__(self, max_fps: float = 20.0, clock: Callable[[], float] = time.monotonic):
        if not (0 < max_fps <= 60):
            raise ConfigError(f"max_fps must be in (0, 60], got {max_fps}")
        self.interval = 1.0 / max_fps
        self.clock = clock
        self.last: float | None = None

    def wait_time(self) -> float:
        """Seconds to wait before a frame may be sent (0 when one may go now)."""
        if self.last is None:
            return 0.0
        return max(0.0, self.last + self.interval - self.clock())

    def sent(self) -> None:
        """Record that a frame went out now."""
        now = self.clock()
        # never schedule into the past by more than one interval: no bursts after a stall
        self.last = now if self.last is None else max(now, self.last + self.interval)


class SessionManager:
    """Admits at most ``max_sessions`` at once and says which have been idle too long."""

    def __init__(self, max_sessions: int = 32, idle_timeout: float = 600.0,
                 clock: Callable[[], float] = time.monotonic):
        if max_sessions < 1:
            raise ConfigError(f"max_sessions must be at least 1, got {max_sessions}")
        if idle_timeout <= 0:
            raise ConfigError(f"idle_timeout must be positive, got {idle_timeout}")
        self.max_sessions = int(max_sessions)
        self.idle_timeout = float(idle_timeout)
        self.clock = clock
        self._last_seen: dict[str, float] = {}
        self._lock = threading.Lock()
        self.opened = 0
        self.refused = 0

    def open(self) -> str | None:
        """A new session id, or ``None`` when the server is full."""
        with self._lock:
            if len(self._last_seen) >= self.max_sessions:
                self.refused += 1
                return None
            sid = uuid.uuid4().hex[:12]
            self._last_seen[sid] = self.clock()
            self.opened += 1
            return sid

    def touch(self, sid: str) -> None:
        with self._lock:
            if sid in self._last_seen:
                self._last_seen[sid] = self.clock()

    def close(self, sid: str) -> None:
        with self._lock:
            self._last_seen.pop(sid, None)

    def idle_for(self, sid: str) -> float:
        with self._lock:
            seen = self._last_seen.get(sid)
        return 0.0 if seen is None else self.clock() - seen

    def is_idle(self, sid: str) -> bool:
        return self.idle_for(sid) >= self.idle_timeout

    def time_left(self, sid: str) -> float:
        return max(0.0, self.idle_timeout - self.idle_for(sid))

    def __len__(self) -> int:
        with self._lock:
            return len(self._last_seen)

    def __contains__(self, sid: str) -> bool:
        with self._lock:
            return sid in self._last_seen
