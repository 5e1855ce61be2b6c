"""Every message a page can send is checked: good ones come back clean, bad ones as ProtocolError."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chainrule.errors import ChainruleError
from chainrule.playground import protocol
from chainrule.playground.protocol import ProtocolError, encode, parse_message


def msg(**kw) -> str:
    return json.dumps(kw)


@pytest.mark.parametrize("kind", ["play", "pause", "step", "reset", "ping"])
def test_simple_messages(kind):
    assert parse_message(msg(type=kind)) == {"type": kind}


def test_config_is_normalised():
    out = parse_message(msg(type="config", lr=1, batch_size=10.0, hidden=[4, 2.0], dataset="xor",
                            noise=0, l2=0.001, dropout=0.5, activation="sigmoid", optimizer="adam",
                            test_fraction=0.3, n_points=200, seed=3, steps_per_frame=20))
    assert out["lr"] == 1.0 and isinstance(out["lr"], float)
    assert out["batch_size"] == 10 and isinstance(out["batch_size"], int)
    assert out["hidden"] == [4, 2] and all(type(n) is int for n in out["hidden"])
    assert out["dataset"] == "xor" and out["steps_per_frame"] == 20


def test_zero_hidden_layers_is_allowed():
    assert parse_message(msg(type="config", hidden=[]))["hidden"] == []


@pytest.mark.parametrize("field,value,words", [
    ("lr", 0, "learning rate"),
    ("lr", -0.1, "learning rate"),
    ("lr", 10.5, "learning rate"),
    ("lr", "fast", "learning rate"),
    ("lr", True, "learning rate"),
    ("lr", None, "learning rate"),
    ("batch_size", 0, "batch size"),
    ("batch_size", 513, "batch size"),
    ("batch_size", 2.5, "batch size"),
    ("noise", 0.6, "noise"),
    ("noise", -0.01, "noise"),
    ("test_fraction", 0.95, "test fraction"),
    ("n_points", 10, "number of points"),
    ("n_points", 10**9, "number of points"),
    ("l2", 2, "L2"),
    ("dropout", 1.0, "dropout"),
    ("steps_per_frame", 0, "steps per frame"),
    ("steps_per_frame", 1000, "steps per frame"),
    ("dataset", "mnist", "dataset"),
    ("activation", "swish", "activation"),
    ("optimizer", "lbfgs", "optimizer"),
    ("hidden", [4] * 7, "at most 6 hidden layers"),
    ("hidden", [9], "from 1 to 8 neurons"),
    ("hidden", [0], "from 1 to 8 neurons"),
    ("hidden", [4, "x"], "hidden layer 2"),
    ("hidden", 4, "list of layer sizes"),
    ("seed", -1, "seed"),
    ("dropout", 0.25, "dropout must be a number from its menu"),     # in range, not on the menu
    ("steps_per_frame", 7, "steps per frame must be a number from its menu"),
    ("n_points", 300, "number of points must be a number from its menu"),
    ("l1", 0.002, "L1"),
    ("l2", 0.5, "L2"),
    ("noise", 0.12, "noise"),
    ("test_fraction", 0.35, "test fraction"),
])
def test_out_of_range_config_is_refused_with_a_message(field, value, words):
    with pytest.raises(ProtocolError) as info:
        parse_message(msg(type="config", **{field: value}))
    assert words in str(info.value)
    assert isinstance(info.value, ChainruleError) and isinstance(info.value, ValueError)


def test_non_finite_numbers_are_refused():
    for text in ('{"type":"config","lr":NaN}', '{"type":"config","lr":Infinity}',
                 '{"type":"config","noise":-Infinity}'):
        with pytest.raises(ProtocolError, match="must be a number"):
            parse_message(text)


def test_mnist_limits_differ_from_the_playground():
    assert parse_message(msg(type="mnist_config", hidden=[512, 256, 10]))["hidden"] == [512, 256, 10]
    with pytest.raises(ProtocolError, match="at most 3 hidden layers"):
        parse_message(msg(type="mnist_config", hidden=[8, 8, 8, 8]))
    with pytest.raises(ProtocolError, match="from 1 to 512 neurons"):
        parse_message(msg(type="mnist_config", hidden=[513]))
    with pytest.raises(ProtocolError, match="unknown field"):
        parse_message(msg(type="mnist_config", dataset="circle"))


@pytest.mark.parametrize("raw,words", [
    ("not json", "not valid JSON"),
    ("", "not valid JSON"),
    ("[1, 2]", "JSON object"),
    ('"play"', "JSON object"),
    ("{}", "unknown message type"),
    ('{"type": "shutdown"}', "unknown message type"),
    ('{"type": 3}', "unknown message type"),
    ('{"type": "play", "now": true}', "unknown field"),
    ('{"type": "config", "learning_rate": 0.1}', "unknown field"),
    ('{"type": "mode", "mode": "cifar"}', "mode must be one of"),
    ('{"type": "mode"}', "mode must be one of"),
    ("[" * 5000 + "]" * 5000, "not valid JSON"),
])
def test_malformed_messages_are_refused(raw, words):
    with pytest.raises(ProtocolError, match=words):
        parse_message(raw)


def test_binary_and_missing_messages_are_refused():
    with pytest.raises(ProtocolError, match="binary"):
        parse_message(b'{"type": "play"}')
    with pytest.raises(ProtocolError, match="empty"):
        parse_message(None)


def test_oversized_messages_are_refused_before_parsing():
    big = json.dumps({"type": "config", "dataset": "x" * protocol.MAX_MESSAGE_BYTES})
    with pytest.raises(ProtocolError, match=r"too large: \d+ bytes, the limit is 16384"):
        parse_message(big)
    # the limit counts bytes, not characters
    wide = json.dumps({"type": "ping", "pad": "é" * 9000}, ensure_ascii=False)
    assert len(wide) < protocol.MAX_MESSAGE_BYTES < len(wide.encode())
    with pytest.raises(ProtocolError, match="too large"):
        parse_message(wide)


def test_predict_pixels():
    px = [0] * 784
    px[10] = 255
    assert parse_message(msg(type="predict", pixels=px))["pixels"][10] == 255
    with pytest.raises(ProtocolError, match="784"):
        parse_message(msg(type="predict", pixels=[0] * 783))
    with pytest.raises(ProtocolError, match="0 to 255"):
        parse_message(msg(type="predict", pixels=[0] * 783 + [256]))
    with pytest.raises(ProtocolError, match="0 to 255"):
        parse_message(msg(type="predict", pixels=[0] * 783 + ["a"]))
    # a full pad of the largest values still fits in one message
    assert len(msg(type="predict", pixels=[255] * 784)) < protocol.MAX_MESSAGE_BYTES


def test_encode_is_compact_and_never_emits_nan():
    text = encode({"type": "frame", "loss": math.nan, "x": [1.0, math.inf], "ok": 0.5})
    assert json.loads(text) == {"type": "frame", "loss": None, "x": [1.0, None], "ok": 0.5}
    assert " " not in text


@given(st.text(max_size=300))
def test_any_text_is_either_a_message_or_a_protocol_error(text):
    try:
        out = parse_message(text)
    except ProtocolError:
        return
    assert out["type"] in protocol.MESSAGE_TYPES


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@given(st.sampled_from(protocol.MESSAGE_TYPES),
       st.dictionaries(st.sampled_from([*protocol.CONFIG_FIELDS, "mode", "pixels", "junk"]), json_values,
                       max_size=4))
def test_any_object_is_either_clean_or_refused(kind, fields):
    try:
        out = protocol.validate_message({"type": kind, **fields})
    except ProtocolError as exc:
        assert str(exc)
        return
    assert out["type"] == kind
    table = protocol.CONFIG_FIELDS if kind == "config" else protocol.MNIST_FIELDS
    if kind in ("config", "mnist_config"):
        for key, value in out.items():
            if key != "type":
                assert table[key](value) == value  # already clean: validating again changes nothing


def test_the_menus_are_one_list_each_sent_in_hello_and_checked_by_the_server():
    from chainrule.playground import protocol

    menus = protocol.limits()["menus"]
    fields = {"steps_per_frame": "steps_per_frame", "dropout": "dropout", "noise": "noise",
              "test_fraction": "test_fraction", "n_points": "n_points", "regularization": "l1"}
    for menu, field in fields.items():
        for value in menus[menu]:                      # every entry the page offers is accepted
            assert parse_message(msg(type="config", **{field: value}))[field] == value
    assert parse_message(msg(type="config", l1=0))["l1"] == 0.0     # "none"
    for typed, field in (("lr", "lr"), ("batch_size", "batch_size")):   # typed: the list's ends
        assert protocol.limits()[field][1] == max(menus[typed])
    for slider in ("noise", "test_fraction"):          # sliders need evenly spaced values
        gaps = np.diff(menus[slider])
        np.testing.assert_allclose(gaps, gaps[0])
    assert [name for name, _ in protocol.limits()["grad_views"]] == list(protocol.GRAD_VIEWS)


def test_index_html_types_no_menu_of_its_own():
    import re

    from chainrule.playground.server import STATIC_DIR

    html = (STATIC_DIR / "index.html").read_text()
    assert "<option" not in html                        # every menu is built from hello
    assert not re.search(r'\b(min|max|value)="[0-9.]+"', html), "a number typed into index.html"
