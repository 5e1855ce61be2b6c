"""The playground's websocket protocol: every message from a page is checked here.

A page talks to the server in small JSON objects, each with a ``"type"``. This module turns
raw text into a validated ``dict`` or raises :class:`ProtocolError` whose message is fit to show
on the page ("learning rate must be a number in (0, 10], got -1"). Nothing here touches the
network or the engine, so it is quick to test and safe to call on hostile input.

Messages from the page::

    {"type": "config", <any of CONFIG_FIELDS>}        change the 2-D playground
    {"type": "mnist_config", <any of MNIST_FIELDS>}   change the MNIST model
    {"type": "mode", "mode": "playground" | "mnist"}  which model the buttons drive
    {"type": "play"} {"type": "pause"} {"type": "step"} {"type": "reset"}
    {"type": "predict", "pixels": [784 ints 0..255]}  a drawn digit, 28x28, row by row
    {"type": "set", "layer": l, "row": j, "col": i | null, "value": v}
                                                      set weight[j, i] (or bias j) of layer l
    {"type": "ping"}

Messages to the page: ``hello``, ``data``, ``frame``, ``state``, ``mnist_status``,
``mnist_frame``, ``prediction``, ``error``, ``pong``, ``closing`` (see ``server.py``).
"""
from __future__ import annotations

import json
import math
from typing import Any

from .. import catalogue
from ..errors import ChainruleError
from .features import FEATURES as FEATURE_TABLE
from .features import NAMES as FEATURES

MAX_MESSAGE_BYTES = 16 * 1024
MAX_FPS = 20.0          # frames a second a session may stream, at most

# the names come from the catalogue; the page builds its menus from the hello message
CLASSIFICATION_PROBLEMS = catalogue.names(catalogue.DATASETS, kind="toy2d")
REGRESSION_PROBLEMS = catalogue.names(catalogue.DATASETS, kind="toy2d_regression")
DATASETS = CLASSIFICATION_PROBLEMS + REGRESSION_PROBLEMS
ACTIVATIONS = catalogue.names(catalogue.ACTIVATIONS)
OPTIMIZERS = catalogue.names(catalogue.OPTIMIZERS)
MODES = ("playground", "mnist")
# which dL/dw the page shows (see toy.ToySession), with the words its menu uses
GRAD_VIEWS_SHOWN = {"average": "averaged over ~50 steps", "full": "full batch", "last": "last minibatch"}
GRAD_VIEWS = tuple(GRAD_VIEWS_SHOWN)

# The numbers the page offers, in the order it offers them: the page builds every menu from
# these (sent in ``hello``, see ``limits``), and the server accepts exactly these values for
# the menus, so a menu and its check can never disagree. The two typed fields (learning rate,
# batch size) accept any number between their list's ends; their lists are the suggestions.
LEARNING_RATES = (0.00001, 0.0001, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)  # TF Playground's
BATCH_SIZES = (1, 2, 5, 10, 16, 32, 64, 128, 256, 512)
SPEEDS = (1, 2, 5, 10, 20, 50, 100)                       # optimizer steps per frame
DROPOUT_RATES = (0.0, 0.1, 0.2, 0.3, 0.5, 0.7)
REGULARIZATION_RATES = (0.0001, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)   # 0 is "none"
REGULARIZERS = {"none": "none", "l1": "L1", "l2": "L2"}  # which of l1 / l2 the rate goes to
NOISE_LEVELS = tuple(round(0.05 * k, 2) for k in range(11))           # 0, 0.05, ..., 0.5
TEST_FRACTIONS = tuple(round(0.1 * k, 1) for k in range(1, 10))       # 0.1, ..., 0.9
POINTS = (50, 100, 200, 400, 800, 1600)

MAX_HIDDEN_LAYERS = 6
MAX_NEURONS = 8
MNIST_MAX_HIDDEN_LAYERS = 3
MNIST_MAX_NEURONS = 512


class ProtocolError(ChainruleError, ValueError):
    """A message from the page is malformed or holds a value out of range."""


def _number(name: str, label: str, lo: float, hi: float, *, lo_open: bool = False):
    def check(value: Any) -> float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if ok:
            ok = (value > lo if lo_open else value >= lo) and value <= hi
        if not ok:
            lo_b = "(" if lo_open else "["
            raise ProtocolError(f"{label} must be a number in {lo_b}{lo:g}, {hi:g}], got {_show(value)}")
        return float(value)

    check.__name__ = name
    check.bounds = [lo, hi]  # type: ignore[attr-defined]
    return check


def _integer(name: str, label: str, lo: int, hi: int):
    def check(value: Any) -> int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not (isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi):
            raise ProtocolError(f"{label} must be a whole number from {lo} to {hi}, got {_show(value)}")
        return int(value)

    check.__name__ = name
    check.bounds = [lo, hi]  # type: ignore[attr-defined]
    return check


def _choice(name: str, label: str, options: tuple[str, ...]):
    def check(value: Any) -> str:
        if not (isinstance(value, str) and value in options):
            raise ProtocolError(f"{label} must be one of {', '.join(options)}; got {_show(value)}")
        return value

    check.__name__ = name
    check.options = options  # type: ignore[attr-defined]
    return check


def _menu(name: str, label: str, values: tuple[float, ...], *, integer: bool = False):
    """One of a menu's numbers (compared as numbers: 1 and 1.0 are the same entry)."""
    def check(value: Any) -> float | int:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value in values
        if not ok:
            raise ProtocolError(f"{label} must be a number from its menu: "
                                f"{', '.join(f'{v:g}' for v in values)}; got {_show(value)}")
        return int(value) if integer else float(value)

    check.__name__ = name
    check.bounds = [min(values), max(values)]  # type: ignore[attr-defined]
    check.menu = values  # type: ignore[attr-defined]
    return check


def _hidden(label: str, max_layers: int, max_neurons: int):
    def check(value: Any) -> list[int]:
        if not isinstance(value, list):
            raise ProtocolError(f"{label} must be a list of layer sizes, got {_show(value)}")
        if len(value) > max_layers:
            raise ProtocolError(
                f"{label}: at most {max_layers} hidden layers, got {len(value)}")
        out = []
        for i, n in enumerate(value):
            if isinstance(n, float) and n.is_integer():
                n = int(n)
            if not (isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= max_neurons):
                raise ProtocolError(
                    f"{label}: hidden layer {i + 1} must have from 1 to {max_neurons} neurons, "
                    f"got {_show(n)}")
            out.append(int(n))
        return out

    check.layers = [0, max_layers]  # type: ignore[attr-defined]
    check.neurons = [1, max_neurons]  # type: ignore[attr-defined]
    return check


def _subset(name: str, label: str, options: tuple[str, ...]):
    """A non-empty list of distinct names from ``options``, returned in ``options`` order."""
    def check(value: Any) -> list[str]:
        ok = isinstance(value, list) and value and all(isinstance(v, str) and v in options for v in value)
        if not ok or len(set(value)) != len(value):
            raise ProtocolError(f"{label} must be a non-empty list of distinct names from "
                                f"{', '.join(options)}; got {_show(value)}")
        return [o for o in options if o in value]

    check.__name__ = name
    check.options = options  # type: ignore[attr-defined]
    return check


def _show(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# 2-D playground settings: name -> checker. Ranges are the bounds a page may ask for.
# the optimisation settings both views share
_TRAINING_FIELDS = {
    "activation": _choice("activation", "activation", ACTIVATIONS),
    "lr": _number("lr", "learning rate", 0.0, max(LEARNING_RATES), lo_open=True),
    "batch_size": _integer("batch_size", "batch size", min(BATCH_SIZES), max(BATCH_SIZES)),
    "optimizer": _choice("optimizer", "optimizer", OPTIMIZERS),
    "l2": _menu("l2", "L2 (weight decay)", (0.0, *REGULARIZATION_RATES)),
    "dropout": _menu("dropout", "dropout", DROPOUT_RATES),
    "steps_per_frame": _menu("steps_per_frame", "steps per frame", SPEEDS, integer=True),
}

CONFIG_FIELDS = {
    "dataset": _choice("dataset", "dataset", DATASETS),
    "noise": _menu("noise", "noise", NOISE_LEVELS),
    "test_fraction": _menu("test_fraction", "test fraction", TEST_FRACTIONS),
    "n_points": _menu("n_points", "number of points", POINTS, integer=True),
    "seed": _integer("seed", "seed", 0, 2**31 - 1),
    "init": _integer("init", "starting weights", 0, 2**31 - 1),
    "hidden": _hidden("network", MAX_HIDDEN_LAYERS, MAX_NEURONS),
    "features": _subset("features", "input features", FEATURES),
    "l1": _menu("l1", "L1 (lasso)", (0.0, *REGULARIZATION_RATES)),
    "grad_view": _choice("grad_view", "gradient view", GRAD_VIEWS),
    **_TRAINING_FIELDS,
}

MNIST_FIELDS = {
    "hidden": _hidden("MNIST network", MNIST_MAX_HIDDEN_LAYERS, MNIST_MAX_NEURONS),
    **_TRAINING_FIELDS,
}

# settings messages -> the mode whose session they change
CONFIG_MESSAGES = {"config": "playground", "mnist_config": "mnist"}

PIXELS = 28 * 28


def _cell(name: str, label: str, hi: int):
    """A ``[layer, flat index]`` pair naming one weight (bounds checked again by the session)."""
    pick = _integer(name, label, 0, hi)

    def check(value: Any) -> list[int]:
        if not isinstance(value, list) or len(value) != 2:
            raise ProtocolError(f"{label} must be [layer, index], got {_show(value)}")
        return [pick(v) for v in value]
    return check


def _flag(name: str, label: str):
    def check(value: Any) -> bool:
        if not isinstance(value, bool):
            raise ProtocolError(f"{label} must be true or false, got {_show(value)}")
        return value

    check.__name__ = name
    return check


def _index(value: Any) -> list[int]:
    if not isinstance(value, list) or not 1 <= len(value) <= 2:
        raise ProtocolError(f"index must be a list of 1 or 2 whole numbers, got {_show(value)}")
    return [_integer("index", "index", 0, 10_000)(v) for v in value]


# the teaching panels' requests (playground/panels.py answers them): type -> field table
PANEL_FIELDS: dict[str, dict[str, Any]] = {
    "chain": {"layer": _integer("layer", "layer", 0, MNIST_MAX_HIDDEN_LAYERS + MAX_HIDDEN_LAYERS),
              "kind": _choice("kind", "kind", ("weight", "bias")), "index": _index,
              "scope": _choice("scope", "scope", ("batch", "point")),
              "point": _integer("point", "point", 0, 100_000)},
    "chain_close": {},
    "landscape": {"kind": _choice("kind", "kind", ("weights", "random")),
                  "first": _cell("first", "first weight", 1_000_000),
                  "second": _cell("second", "second weight", 1_000_000),
                  "seed": _integer("seed", "seed", 0, 2**31 - 1),
                  # true: the same plane again, its grid widened to cover the path so far
                  "keep": _flag("keep", "keep")},
    "mnist_insides": {},
    "mnist_chain": {"unit": _integer("unit", "unit", 0, MNIST_MAX_NEURONS - 1),
                    "pixel": _integer("pixel", "pixel", 0, PIXELS - 1)},
    "saliency": {"pixels": lambda v: _pixels(v),
                 "class": _integer("class", "class", 0, 9)},
    "lessons": {},
}
_REQUIRED = {"chain": ("layer", "kind", "index"), "landscape": ("kind",),
             "mnist_chain": ("unit", "pixel"), "saliency": ("pixels", "class")}

# message type -> fields it may carry besides "type" (None: the field table decides)
_SIMPLE = {"play", "pause", "step", "reset", "ping"}
MESSAGE_TYPES = ("config", "mnist_config", "mode", "predict", "set", *sorted(_SIMPLE), *PANEL_FIELDS)
MAX_SET_VALUE = 10.0    # a weight or bias a page may type in, at most in size


def parse_message(raw: str | bytes | None, max_bytes: int = MAX_MESSAGE_BYTES) -> dict:
    """Decode and validate one message; return a clean ``dict`` or raise ``ProtocolError``.

    The returned dict holds ``"type"`` plus only validated, normalised values (ints as
    ``int``, numbers as ``float``) -- never anything the page sent that was not checked.
    """
    if raw is None:
        raise ProtocolError("empty message")
    if isinstance(raw, (bytes, bytearray)):
        raise ProtocolError("binary messages are not understood; send JSON text")
    if not isinstance(raw, str):
        raise ProtocolError("messages must be JSON text")
    size = len(raw.encode("utf-8", "surrogatepass")) if len(raw) * 4 > max_bytes else len(raw)
    if size > max_bytes:
        raise ProtocolError(f"message too large: {size} bytes, the limit is {max_bytes}")
    try:
        msg = json.loads(raw)
    except (ValueError, RecursionError):
        raise ProtocolError("message is not valid JSON") from None
    return validate_message(msg)


def validate_message(msg: Any) -> dict:
    """Validate an already decoded message (see :func:`parse_message`)."""
    if not isinstance(msg, dict):
        raise ProtocolError("a message must be a JSON object with a \"type\"")
    kind = msg.get("type")
    if not isinstance(kind, str) or kind not in MESSAGE_TYPES:
        raise ProtocolError(
            f"unknown message type {_show(kind)}; expected one of {', '.join(MESSAGE_TYPES)}")
    rest = {k: v for k, v in msg.items() if k != "type"}

    if kind in _SIMPLE:
        _no_extra(kind, rest, ())
        return {"type": kind}
    if kind == "mode":
        _no_extra(kind, rest, ("mode",))
        return {"type": kind, "mode": _choice("mode", "mode", MODES)(rest.get("mode"))}
    if kind == "set":
        _no_extra(kind, rest, ("layer", "row", "col", "value"))
        width = max(MAX_NEURONS, len(FEATURES))
        col = rest.get("col")
        return {"type": kind,
                "layer": _integer("layer", "layer", 0, MAX_HIDDEN_LAYERS)(rest.get("layer")),
                "row": _integer("row", "neuron", 0, MAX_NEURONS - 1)(rest.get("row")),
                "col": None if col is None else _integer("col", "input", 0, width - 1)(col),
                "value": _number("value", "value", -MAX_SET_VALUE, MAX_SET_VALUE)(rest.get("value"))}
    if kind == "predict":
        _no_extra(kind, rest, ("pixels",))
        return {"type": kind, "pixels": _pixels(rest.get("pixels"))}
    if kind in PANEL_FIELDS:
        table = PANEL_FIELDS[kind]
        _no_extra(kind, rest, tuple(table))
        missing = [k for k in _REQUIRED.get(kind, ()) if k not in rest]
        if missing:
            raise ProtocolError(f"'{kind}' message needs {', '.join(missing)}")
        return {"type": kind, **{k: table[k](v) for k, v in rest.items()}}
    table = CONFIG_FIELDS if kind == "config" else MNIST_FIELDS
    _no_extra(kind, rest, tuple(table))
    out: dict[str, Any] = {"type": kind}
    for key, value in rest.items():
        out[key] = table[key](value)
    return out


def validate_config(values: dict, table: dict = CONFIG_FIELDS) -> dict:
    """Check a dict of settings against ``table`` (``CONFIG_FIELDS`` or ``MNIST_FIELDS``)."""
    unknown = sorted(set(values) - set(table))
    if unknown:
        raise ProtocolError(f"unknown setting {unknown[0]!r}; known: {', '.join(table)}")
    return {k: table[k](v) for k, v in values.items()}


def _no_extra(kind: str, rest: dict, allowed: tuple[str, ...]) -> None:
    extra = sorted(k for k in rest if k not in allowed)
    if extra:
        what = f"; it takes {', '.join(allowed)}" if allowed else " besides its type"
        raise ProtocolError(f"'{kind}' message has unknown field {_show(extra[0])}{what}")


def _pixels(value: Any) -> list[int]:
    if not isinstance(value, list) or len(value) != PIXELS:
        n = len(value) if isinstance(value, list) else _show(value)
        raise ProtocolError(f"pixels must be a list of {PIXELS} numbers (28x28), got {n}")
    for v in value:
        if not (isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 255):
            raise ProtocolError(f"pixel values must be numbers from 0 to 255, got {_show(v)}")
    return [int(v) for v in value]


_TABLES = {"activation": catalogue.ACTIVATIONS, "optimizer": catalogue.OPTIMIZERS,
           "dataset": catalogue.DATASETS}


def limits() -> dict:
    """What the page may ask for, read off the field tables above (the only copy).

    ``[lo, hi]`` per numeric setting, layer and neuron bounds for both views, and the names of
    every choice; ``choices`` adds each name's one-line description for the page's menus.
    """
    out: dict[str, Any] = {}
    for key, check in CONFIG_FIELDS.items():
        if hasattr(check, "bounds"):
            out[key] = list(check.bounds)
    for prefix, table in (("", CONFIG_FIELDS), ("mnist_", MNIST_FIELDS)):
        out[prefix + "hidden_layers"] = list(table["hidden"].layers)
        out[prefix + "neurons"] = list(table["hidden"].neurons)
    out["max_message_bytes"] = MAX_MESSAGE_BYTES
    out["max_fps"] = MAX_FPS
    out["datasets"] = list(DATASETS)
    out["activations"] = list(ACTIVATIONS)
    out["optimizers"] = list(OPTIMIZERS)
    out["regression"] = list(REGRESSION_PROBLEMS)
    out["features"] = [[n, FEATURE_TABLE[n][0]] for n in FEATURES]
    out["grad_views"] = [[name, words] for name, words in GRAD_VIEWS_SHOWN.items()]
    out["regularizers"] = [[name, words] for name, words in REGULARIZERS.items()]
    out["menus"] = {"lr": list(LEARNING_RATES), "batch_size": list(BATCH_SIZES),
                    "steps_per_frame": list(SPEEDS), "dropout": list(DROPOUT_RATES),
                    "regularization": list(REGULARIZATION_RATES), "noise": list(NOISE_LEVELS),
                    "test_fraction": list(TEST_FRACTIONS), "n_points": list(POINTS)}
    out["choices"] = {
        key: [[name, _TABLES[key][name].description] for name in CONFIG_FIELDS[key].options]
        for key in _TABLES
    }
    return out


def encode(msg: dict) -> str:
    """Serialise a message for the page (compact JSON, no NaN: those become null)."""
    return json.dumps(_finite(msg), separators=(",", ":"), allow_nan=False)


def _finite(x: Any) -> Any:
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    return x


def error(message: str) -> dict:
    return {"type": "error", "message": message}
