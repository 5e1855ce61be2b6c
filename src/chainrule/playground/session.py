"""What every playground session shares: settings, a network, a batch cursor, pacing.

A *session* is one model a page trains: :class:`~.toy.ToySession` (a small net on a 2-D toy
problem) or :class:`~.mnist.MnistSession` (an MLP on digits). Both derive from
:class:`Session`, which owns what they have in common:

- settings checked against the protocol's field table (``configure``), and what a change
  rebuilds: new data, a new network, a new optimizer, or nothing;
- the network, built from ``nn`` layers and the catalogue's activation (``build_mlp``), and the
  optimizer, from the catalogue with L2 on weights only;
- one shuffled minibatch cursor (:class:`BatchCursor`), one ``step(n)``, one
  ``frame(evaluate)`` signature, and pacing (``advance``: up to ``steps_per_frame`` steps
  inside a time budget, then a frame). The server drives any session the same way.

:class:`FrameClock` keeps frames at or under a rate; :class:`History` keeps a bounded curve.
Both take a clock or a limit so that tests need no sleep.
"""
from __future__ import annotations

import base64
import math
import time
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from ..errors import ConfigError
from . import protocol
from .protocol import validate_config

HISTORY_LIMIT = 600     # curve points kept; older ones are thinned, never dropped wholesale


def b64(a: np.ndarray) -> str:
    """uint8 pixels as base64 text (the page decodes it into an ImageData)."""
    return base64.b64encode(np.ascontiguousarray(a, dtype=np.uint8).tobytes()).decode("ascii")


def sig(x: float | None, digits: int = 6) -> float | None:
    """A float rounded to ``digits`` significant figures (None when missing or not finite)."""
    if x is None:
        return None
    x = float(x)
    if not math.isfinite(x):
        return None
    return float(f"{x:.{digits}g}")


def rounded(a: np.ndarray, digits: int = 5) -> list:
    """An array as nested lists rounded to ``digits`` decimals; NaN and ±inf become None.

    The page draws None as "not a number" -- never as 0, which would look like a real weight.
    """
    a = np.asarray(a, dtype=np.float64)
    out = np.round(a, digits)
    if np.isfinite(out).all():
        return out.tolist()
    obj = out.astype(object)
    obj[~np.isfinite(out)] = None
    return obj.tolist()


class History:
    """Curve points ``[step, a, b]``, thinned by half whenever they pass ``limit``."""

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


class BatchCursor:
    """Minibatch indices into ``n`` rows: a fresh permutation each epoch, no row repeated
    within one. ``next(batch_size)`` returns an index array of ``min(batch_size, n)`` rows."""

    def __init__(self, n: int, rng: np.random.Generator):
        self.n = int(n)
        self.rng = rng
        self.order = np.empty(0, dtype=np.int64)
        self.pos = 0

    def next(self, batch_size: int) -> np.ndarray:
        bs = min(int(batch_size), self.n)
        if self.pos + bs > len(self.order):
            self.order = self.rng.permutation(self.n)
            self.pos = 0
        idx = self.order[self.pos:self.pos + bs]
        self.pos += bs
        return idx


def build_mlp(sizes: list[int], activation: str, dropout: float, rng: np.random.Generator):
    """``nn.Sequential`` of Linear → activation → Dropout blocks, a bare Linear last.

    Weights start as PyTorch's default, U(-1/√fan_in, 1/√fan_in), drawn from ``rng`` so that
    a seed gives the same network every time; the Dropout layers draw their masks from the
    same ``rng`` (never the global generator), so a seed also gives the same masks, whatever
    other sessions or threads draw meanwhile. Weight matrices are (fan_out, fan_in).
    """
    from .. import catalogue, nn

    layers: list = []
    for k, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        lin = nn.Linear(fan_in, fan_out)
        bound = 1.0 / math.sqrt(fan_in)
        nn.init.uniform_(lin.weight, -bound, bound, generator=rng)
        assert lin.bias is not None  # built with a bias
        nn.init.uniform_(lin.bias, -bound, bound, generator=rng)
        layers.append(lin)
        if k < len(sizes) - 2:
            layers.append(catalogue.lookup(catalogue.ACTIVATIONS, activation, "activation").build())
            if dropout > 0:
                layers.append(nn.Dropout(dropout, generator=rng))
    return nn.Sequential(*layers)


def linears(model) -> list:
    """The network's Linear layers, input side first."""
    from .. import nn

    return [m for m in model if isinstance(m, nn.Linear)]


def hidden_outputs(model, x) -> tuple[Any, list]:
    """Run ``model`` on ``x``; return the output and every hidden activation (after the
    activation function, before dropout), as the page shows them."""
    from .. import nn

    outs = []
    h = x
    for layer in model:
        h = layer(h)
        if not isinstance(layer, (nn.Linear, nn.Dropout)):
            outs.append(h)
    return h, outs


def make_optimizer(name: str, model, lr: float, l2: float):
    """The catalogue's optimizer; L2 (weight decay) on weights, not biases."""
    from .. import catalogue

    lins = linears(model)
    groups = [{"params": [lin.weight for lin in lins], "weight_decay": l2},
              {"params": [lin.bias for lin in lins], "weight_decay": 0.0}]
    return catalogue.lookup(catalogue.OPTIMIZERS, name, "optimizer").build(groups, lr=lr)


class FrameClock:
    """Decides when the next frame may go out so that frames stay at or under ``max_fps``."""

    def __init__(self, max_fps: float = protocol.MAX_FPS, clock: Callable[[], float] = time.monotonic):
        if not (0 < max_fps <= protocol.MAX_FPS):
            raise ConfigError(f"max_fps must be in (0, {protocol.MAX_FPS:g}], got {max_fps}")
        self.interval = 1.0 / max_fps
        self.clock = clock
        self.last: float | None = None

    def wait_time(self) -> float:
        """Seconds to wait before a frame may be sent (0 when one may go now)."""
        if self.last is None:
            return 0.0
        return max(0.0, self.last + self.interval - self.clock())

    def sent(self) -> None:
        """Record that a frame went out now.

        Frames keep to a grid of ``interval`` (the time spent computing one does not stretch
        the period, so the page gets ``max_fps`` frames a second, not fewer); after a stall of
        more than one interval the grid restarts from now, so there is never a burst.
        """
        now = self.clock()
        if self.last is None or now - (self.last + self.interval) >= self.interval:
            self.last = now
        else:
            self.last = max(self.last + self.interval, now - self.interval)


class Session:
    """One trainable model behind a page; subclasses fill in data, loss and frame.

    Class attributes a subclass sets: ``mode`` (the tab it drives), ``fields`` (the protocol's
    table of settings), ``defaults``, ``config_message`` (the message type that changes it),
    and which keys rebuild data (``data_keys``) or the network (``net_keys``).
    """

    mode: ClassVar[str]
    fields: ClassVar[dict]
    defaults: ClassVar[dict]
    config_message: ClassVar[str] = "config"
    data_keys: ClassVar[frozenset] = frozenset()
    net_keys: ClassVar[frozenset] = frozenset({"hidden", "activation"})
    opt_keys: ClassVar[frozenset] = frozenset({"optimizer", "lr", "l2"})

    def __init__(self, config: dict | None = None):
        self.config = dict(self.defaults)
        if config:
            self.config.update(validate_config(config, self.fields))
        self.check(self.config)
        self.make_data()
        self.resets = -1
        self.run_id = 0
        self.reset()

    # ---- what subclasses provide ---------------------------------------------------------
    def check(self, cfg: dict) -> None:
        """Raise ConfigError for settings that pass field by field but not together."""

    def make_data(self) -> None:
        """(Re)build the data from the settings."""

    def seed(self) -> list[int]:
        """Entropy for this reset's generator (weights, shuffling, dropout)."""
        return [self.resets]

    def layer_sizes(self) -> list[int]:
        raise NotImplementedError

    def n_train(self) -> int:
        raise NotImplementedError

    def loss_on(self, idx: np.ndarray):
        """(loss tensor, logits tensor) of the training rows ``idx``, in training mode."""
        raise NotImplementedError

    def after_step(self, idx: np.ndarray, loss: float, logits) -> None:
        """Bookkeeping after a step (gradients already computed, weights already updated)."""

    def frame(self, evaluate: bool = True) -> dict:
        """Everything the page draws now; ``evaluate=False`` may skip slow held-out scoring."""
        raise NotImplementedError

    def opening(self) -> list[dict]:
        """Messages a page needs when this session starts (data, first frame...)."""
        return [self.frame(True)]

    def after_configure(self, rebuilt: str) -> list[dict]:
        """Messages that follow a settings change, besides the echo and a new frame."""
        return []

    @classmethod
    def loading(cls) -> dict | None:
        """A message to send before a slow construction (None: it is quick)."""
        return None

    # ---- shared behaviour ----------------------------------------------------------------
    def reset(self) -> None:
        """Fresh weights (from the seed and the reset count), step 0, empty history."""
        cfg = self.config
        self.resets += 1
        self.rng = np.random.default_rng(self.seed())
        self.model = build_mlp(self.layer_sizes(), cfg["activation"], cfg["dropout"], self.rng)
        self.linears = linears(self.model)
        self.optimizer = make_optimizer(cfg["optimizer"], self.model, cfg["lr"], cfg["l2"])
        self.cursor = BatchCursor(self.n_train(), self.rng)
        self.steps = 0
        self.last_loss: float | None = None
        self.history = History()
        self.run_id += 1

    def restart(self) -> None:
        """The page's reset button: new starting weights (subclasses may record which)."""
        self.reset()

    def configure(self, **values: Any) -> str:
        """Apply validated settings; return what was rebuilt: 'data', 'network', 'optimizer',
        'settings' (carried on with the same weights) or '' (nothing changed)."""
        values = validate_config(values, self.fields)
        changed = {k for k, v in values.items() if self.config.get(k) != v}
        if not changed:
            return ""
        new = {**self.config, **values}
        self.check(new)
        self.config = new
        if changed & self.data_keys:
            self.make_data()
            self.reset()
            return "data"
        if changed & self.net_keys:
            self.reset()
            return "network"
        if "dropout" in changed:
            self._set_dropout(new["dropout"])
        if changed & self.opt_keys:
            if "optimizer" in changed:
                self.optimizer = make_optimizer(new["optimizer"], self.model, new["lr"], new["l2"])
            else:  # keep the optimizer's state (momentum, Adam's moments)
                weights, biases = self.optimizer.param_groups
                weights["lr"] = biases["lr"] = new["lr"]
                weights["weight_decay"] = new["l2"]
            return "optimizer"
        return "settings"

    def _set_dropout(self, p: float) -> None:
        """Change the dropout rate in place, adding or removing Dropout layers, same weights."""
        from .. import nn

        out: list = []
        for m in self.model:
            if isinstance(m, nn.Dropout):
                continue
            out.append(m)
            if p > 0 and not isinstance(m, nn.Linear):  # after each activation
                out.append(nn.Dropout(p, generator=self.rng))
        self.model = nn.Sequential(*out)

    def step(self, n: int = 1) -> float | None:
        """Run ``n`` optimizer steps on minibatches; return the last minibatch loss.

        Stops early at a loss that is not a number. A model whose weights are no longer
        numbers refuses (ConfigError) until reset."""
        why = self.refusal()
        if why:
            raise ConfigError(why)
        self._train(int(n))
        return self.last_loss

    def _train(self, n: int) -> None:
        """``n`` steps in training mode, stopping after the first loss that is not finite.

        Only the loss is looked at per step (a scalar); the full check of every weight
        (``refusal``) runs once per call of ``step`` or ``advance``, not per step.
        """
        self.model.train()
        with np.errstate(all="ignore"):  # overflow shows on the page (NaN loss, hints), not the terminal
            for _ in range(n):
                idx = self.cursor.next(self.config["batch_size"])
                self.optimizer.zero_grad()
                loss, logits = self.loss_on(idx)
                loss.backward()
                self.optimizer.step()
                self.steps += 1
                self.last_loss = float(loss.item())
                self.after_step(idx, self.last_loss, logits)
                if not math.isfinite(self.last_loss):
                    break
        self.model.eval()

    @property
    def diverged(self) -> bool:
        """Whether some weight or bias is no longer a finite number (NaN or ±inf)."""
        return not all(np.isfinite(p.data).all() for p in self.model.parameters())

    def refusal(self) -> str | None:
        """Why this session will not train now (its weights are not numbers), or None."""
        if self.diverged:
            return ("the network's weights are not numbers any more (training diverged): "
                    "press reset, and lower the learning rate")
        return None

    def advance(self, budget: float, evaluate: bool) -> tuple[float | None, dict]:
        """Pacing: up to ``steps_per_frame`` steps, stopping once ``budget`` seconds have
        gone (or the session refuses to go on), then the frame. The server calls this once
        per tick, in a worker thread; a session that refuses from the start raises."""
        why = self.refusal()
        if why:
            raise ConfigError(why)
        start = time.perf_counter()
        loss = None
        for _ in range(self.config["steps_per_frame"]):
            self._train(1)
            loss = self.last_loss
            if loss is None or not math.isfinite(loss) or time.perf_counter() - start > budget:
                break
        return loss, self.frame(evaluate)

    @property
    def epoch(self) -> float:
        n = self.n_train()
        return self.steps * min(self.config["batch_size"], n) / max(1, n)
