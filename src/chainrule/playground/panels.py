"""The teaching panels of one page: what is open, and the messages that answer it.

One :class:`Panels` sits beside each session (toy 2-D or MNIST) and turns the page's requests
into messages built by the panel modules: the chain-rule panel (:mod:`.chain_panel`), the
error mountain (:mod:`.landscape`), the MNIST insides (:mod:`.mnist_insides`) and the
"check yourself" lessons (:mod:`.lessons`). It never changes how a session trains, with one
exception that makes the chain-rule panel honest: the minibatch the panel explains is the one
the next step uses (:class:`PeekCursor` draws it early and hands it out next).

Cost while training: a path point per frame (a projection: a few dot products) and, while the
chain panel is open, one explanation at most every ``refresh`` seconds; the loss slice is
computed only when asked, on a copy of the weights, in a worker thread. On the MNIST tab the
path's loss needs a forward pass over the slice's training images, so the session measures it
in frames spaced so that this takes about ``PATH_SHARE`` of the time (``MnistSession.watch_training_loss``;
under a fluctuating load the measured share came to about twice that).
"""
from __future__ import annotations

import copy
import os
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from ..errors import ConfigError
from ..tensor import Tensor
from .chain_panel import ChainPanel, explain_parameter, step_update, summarise_first_layer
from .landscape import Plane, loss_function, loss_surface, random_plane, weights_plane
from .lessons import lessons_message
from .mnist_insides import first_layer_images, gradient_sizes, saliency, score_test_set

__all__ = ["PATH_SHARE", "Panels", "PeekCursor"]

#: the share of training time the MNIST path's loss measurements aim at (each measurement's
#: own cost spaces the next; 0.04 measured 9 % of the training thread's time at load 8)
PATH_SHARE = 0.02

T = TypeVar("T")


class PeekCursor:
    """A session's batch cursor that can show its next minibatch before the step takes it."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self._pending: np.ndarray | None = None

    def peek(self, batch_size: int) -> np.ndarray:
        if self._pending is None or len(self._pending) != min(int(batch_size), self.inner.n):
            self._pending = self.inner.next(batch_size)
        return self._pending

    def next(self, batch_size: int) -> np.ndarray:
        if self._pending is not None and len(self._pending) == min(int(batch_size), self.inner.n):
            idx, self._pending = self._pending, None
            return idx
        self._pending = None
        return self.inner.next(batch_size)

    def __getattr__(self, name: str) -> Any:  # n, rng, order, pos of the wrapped cursor
        return getattr(self.inner, name)


def _params(session: Any) -> list[Tensor]:
    return [p for lin in session.linears for p in (lin.weight, lin.bias)]


class Panels:
    """The open panels of one session and the messages that draw them."""

    def __init__(self, session: Any, refresh: float = 0.5, max_paths: int = 4,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.session = session
        self.max_paths = max_paths  # paths listed on the page (the sums cover all of them)
        self.refresh = refresh
        self.clock = clock
        self.chain_request: dict[str, Any] | None = None
        self.chain_panel: ChainPanel | None = None
        self._chain_at = -1e9
        self.plane: Plane | None = None
        self._run = getattr(session, "run_id", 0)

    # ---- the session's pieces ---------------------------------------------------------------
    @property
    def toy(self) -> bool:
        return hasattr(self.session, "x_train")

    def _data(self) -> tuple[np.ndarray, np.ndarray]:
        s = self.session
        return (s.x_train, s.y_train) if self.toy else (s.digits.x_train, s.digits.y_train)

    def _loss_fn(self) -> Callable[[Tensor, np.ndarray], Tensor]:
        if self.toy:
            loss: Callable[[Tensor, np.ndarray], Tensor] = self.session.loss
            return loss
        import chainrule.nn.functional as F

        return lambda out, y: F.cross_entropy(out, y)

    def _forward(self) -> Callable[[Tensor], Tensor]:
        model = self.session.model

        def forward(x: Tensor) -> Tensor:
            model.eval()  # no dropout: the explanation and its finite differences agree
            out: Tensor = model(x)
            return out
        return forward

    def _cursor(self) -> PeekCursor:
        s = self.session
        if not isinstance(s.cursor, PeekCursor):  # a reset made a new cursor
            s.cursor = PeekCursor(s.cursor)
        return s.cursor

    def _check_run(self) -> None:
        """A reset or a new network forgets the panels that pointed into the old one."""
        run = getattr(self.session, "run_id", 0)
        if run != self._run:
            self._run = run
            self.chain_request, self.chain_panel, self.plane = None, None, None

    # ---- the chain-rule panel ---------------------------------------------------------------
    def open_chain(self, layer: int, kind: str, index: list[int], scope: str = "batch",
                   point: int = 0) -> dict[str, Any]:
        """Explain one weight or bias now; keep it open so steps update it."""
        self._check_run()
        self.chain_request = {"layer": int(layer), "kind": kind, "index": list(index),
                              "scope": scope, "point": int(point)}
        return self._explain(update=None)

    def close_chain(self) -> None:
        self.chain_request, self.chain_panel = None, None

    def _explain(self, update: Any) -> dict[str, Any]:
        r = self.chain_request
        assert r is not None
        s = self.session
        x, y = self._data()
        if r["scope"] == "point":
            if not 0 <= r["point"] < len(x):
                raise ConfigError(f"chain panel: point must be a training index below {len(x)}")
            examples = [r["point"]]
        else:
            examples = self._cursor().peek(s.config["batch_size"]).tolist()
        if self.toy:
            panel = explain_parameter(self._forward(), self._loss_fn(), _params(s), x, y,
                                      r["layer"], r["kind"], r["index"], examples=examples,
                                      scope=r["scope"], step=s.steps, max_paths=self.max_paths)
        else:
            raise ConfigError("chain panel: on the MNIST tab, ask for a first-layer unit "
                              "(mnist_chain)")
        if update is not None:
            panel = ChainPanel(panel.layer, panel.kind, panel.index, panel.label, panel.scope,
                               panel.examples, panel.step, panel.explanation, update)
        self.chain_panel = panel
        self._chain_at = self.clock()
        return panel.to_message()

    def value(self) -> float | None:
        """The explained element's current value (None without an open panel)."""
        if self.chain_request is None:
            return None
        r = self.chain_request
        p = _params(self.session)[2 * r["layer"] + (r["kind"] == "bias")]
        return float(p.data[tuple(r["index"])])

    def after_step(self, old: float | None, stepped: int) -> dict[str, Any] | None:
        """After ``stepped`` steps (paused, Step pressed): the update line and the panel for
        the next minibatch. ``old`` is :meth:`value` from before the step."""
        self._check_run()
        if self.chain_request is None or old is None:
            return None
        r = self.chain_request
        s = self.session
        p = _params(s)[2 * r["layer"] + (r["kind"] == "bias")]
        grad = float(np.asarray(p.grad)[tuple(r["index"])]) if p.grad is not None else 0.0
        group = s.optimizer.param_groups[r["kind"] == "bias"]
        update = None
        if stepped == 1:
            label = self.chain_panel.label if self.chain_panel else ""
            update = step_update(label, old, grad, float(p.data[tuple(r["index"])]),
                                 float(group["lr"]), s.config["optimizer"],
                                 float(group.get("weight_decay", 0.0)),
                                 float(group.get("momentum", 0.0)))
        return self._explain(update)

    def on_frame(self, frame: dict[str, Any]) -> list[dict[str, Any]]:
        """Messages to send with a training frame: the path point, and a refreshed chain
        panel at most every ``refresh`` seconds."""
        self._check_run()
        out: list[dict[str, Any]] = []
        if self.plane is not None and frame.get("loss_train") is not None:
            pt = self.plane.record(self.session.steps, [p.data for p in _params(self.session)],
                                   frame["loss_train"])
            out.append({"type": "landscape_path", "mode": self.session.mode, "point": vars(pt)})
        if self.chain_request is not None and self.clock() - self._chain_at >= self.refresh:
            out.append(self._explain(update=None))
        return out

    # ---- the error mountain -----------------------------------------------------------------
    def open_landscape(self, kind: str, first: tuple[int, int] | None = None,
                       second: tuple[int, int] | None = None, seed: int = 0, keep: bool = False
                       ) -> Callable[[], dict[str, Any] | None]:
        """Take the plane through the current weights; return the slow part (the grid), for
        the caller to run in a worker thread. ``keep``: the plane already open again, its
        grid widened to cover the path so far (the page asks when the path walks off it)."""
        self._check_run()
        s = self.session
        params = _params(s)
        if keep:
            if self.plane is None:  # a reset or a new network forgot it (see _check_run)
                raise ConfigError("landscape: there is no slice to widen (the network was reset "
                                  "or rebuilt since it was drawn); draw the slice again")
            return self._grid(self.plane)
        if kind == "weights":
            if first is None or second is None:
                raise ConfigError("landscape: choose two weights")
            names = []
            for li, flat in (first, second):
                if not 0 <= li < len(s.linears) or not 0 <= flat < s.linears[li].weight.size:
                    raise ConfigError(f"landscape: no weight {flat} in layer {li + 1}")
                r, c = np.unravel_index(flat, s.linears[li].weight.shape)
                names.append(f"W{li + 1}[{r},{c}]")
            plane = weights_plane(params, (2 * first[0], first[1]), (2 * second[0], second[1]),
                                  (names[0], names[1]), step=s.steps)
        elif kind == "random":
            plane = random_plane(params, seed=seed, step=s.steps)
        else:
            raise ConfigError(f"landscape: kind must be 'weights' or 'random'; got {kind!r}")
        self.plane = plane
        loss_at, n_examples = self._loss_at()
        with_loss = loss_at(plane.point(0.0, 0.0))
        if not self.toy:  # path points as often as PATH_SHARE of the time allows
            s.watch_training_loss(PATH_SHARE)
        plane.record(s.steps, [p.data for p in params], with_loss)
        return self._grid(plane)

    def _loss_at(self) -> tuple[Callable[[Any], float], int]:
        """The loss the slice shows, on a copy of the network (training goes on meanwhile),
        and over how many examples: the training set, or on MNIST a fixed subset of it (the
        one the session's loss_train reports), which keeps the grid to seconds."""
        s = self.session
        x, y = self._data() if self.toy else s.training_subset()
        twin = copy.deepcopy(s.model)
        twin.eval()
        twin_params = [q for m in twin if hasattr(m, "weight") for q in (m.weight, m.bias)]
        return loss_function(twin_params, twin, self._loss_fn(), x, y), len(x)

    def _grid(self, plane: Plane) -> Callable[[], dict[str, Any] | None]:
        loss_at, n_examples = self._loss_at()
        n = 21 if self.toy else 11
        mode = self.session.mode

        def compute() -> dict[str, Any] | None:
            """The grid and the path so far; None when another slice or a new network has
            replaced this plane while it was computed."""
            grid = lambda: loss_surface(plane, loss_at, n=n, n_examples=n_examples)  # noqa: E731
            # MNIST's grid takes seconds of CPU: it yields to training; the 2-D one is instant
            surface = grid() if self.toy else _yielding(grid)
            if self.plane is not plane:
                return None
            return {**surface.to_message(plane), "mode": mode}

        return compute

    # ---- MNIST ------------------------------------------------------------------------------
    def mnist_insides(self) -> dict[str, Any]:
        s = self.session
        d = s.digits
        idx = getattr(s, "_test_idx", np.arange(len(d.x_test)))
        rep = score_test_set(self._forward(), d.x_test[idx], d.y_test[idx])
        msg = rep.to_message(d.x_test[idx])
        for w in msg["wrong"]:
            w["index"] = int(idx[w["index"]])
        return {"type": "mnist_insides", "step": s.steps, "side": d.side,
                "filters": first_layer_images(s.linears[0].weight.data, d.side),
                "grad_norms": gradient_sizes([lin.weight for lin in s.linears]), **msg}

    def mnist_chain(self, unit: int, pixel: int) -> dict[str, Any]:
        s = self.session
        x, y = self._data()
        idx = self._cursor().peek(s.config["batch_size"])
        summary = summarise_first_layer(self._forward(), self._loss_fn(), _params(s), x[idx],
                                        y[idx], unit, pixel)
        return {**summary.to_message(), "step": s.steps}

    def saliency(self, x: np.ndarray, cls: int) -> dict[str, Any]:
        return saliency(self._forward(), x, cls).to_message(self.session.digits.side)

    @staticmethod
    def lessons() -> dict[str, Any]:
        return lessons_message()

    # ---- the protocol's panel messages ----------------------------------------------------------
    def answer(self, msg: dict[str, Any]
               ) -> tuple[list[dict[str, Any]], Callable[[], dict[str, Any] | None] | None]:
        """The replies to one validated panel message, and a slow job (the landscape grid)
        for the caller to run in the background while training goes on, or None; the job
        returns None when its plane was replaced before it finished (send nothing then)."""
        kind = msg["type"]
        if kind == "chain":
            return [self.open_chain(msg["layer"], msg["kind"], msg["index"],
                                    msg.get("scope", "batch"), msg.get("point", 0))], None
        if kind == "chain_close":
            self.close_chain()
            return [], None
        if kind == "landscape":
            job = self.open_landscape(msg["kind"], _pair(msg.get("first")),
                                      _pair(msg.get("second")), msg.get("seed", 0),
                                      msg.get("keep", False))
            return [{"type": "landscape_pending", "kind": msg["kind"], "mode": self.session.mode}], job
        if kind == "lessons":
            return [self.lessons()], None
        if self.toy:
            raise ConfigError(f"'{kind}' is for the MNIST tab")
        if kind == "mnist_insides":
            return [self.mnist_insides()], None
        if kind == "mnist_chain":
            return [self.mnist_chain(msg["unit"], msg["pixel"])], None
        if kind == "saliency":
            from .digits import prepare_drawing

            x = prepare_drawing(msg["pixels"], self.session.digits.side)
            if x is None:
                raise ConfigError("saliency: draw a digit first")
            return [self.saliency(x, msg["class"])], None
        raise ConfigError(f"unknown panel request {kind!r}")


def _yielding(fn: Callable[[], T]) -> T:
    """``fn()`` in a thread of its own at a lower CPU priority (nice +10, where the system
    allows it), so that training keeps the CPU while a slice is computed beside it."""
    out: list[T] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)  # this thread only
        except (AttributeError, OSError):  # not Linux, or not allowed: normal priority
            pass
        try:
            out.append(fn())
        except BaseException as exc:  # handed to the caller's thread below
            errors.append(exc)

    worker = threading.Thread(target=run, name="chainrule-landscape", daemon=True)
    worker.start()
    worker.join()
    if errors:
        raise errors[0]
    return out[0]


def _pair(v: list[int] | None) -> tuple[int, int] | None:
    return None if v is None else (int(v[0]), int(v[1]))
