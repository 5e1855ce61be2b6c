"""Every layer the library registers either exports (it has a rule, and a small instance of it
round-trips through onnxruntime here) or is on the documented refusal list, and export
refuses it with a ConfigError that names it, says why and lists what does export."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn.language_models import MLP, Block
from chainrule.onnx.graph import call_one
from chainrule.onnx.rules import REFUSED, RULES

from .roundtrip import close, run, x_of

_IDS = np.array([[1, 4, 0, 2], [3, 3, 1, 0]])

#: rule class name -> (a small instance, an example input): one per class in RULES
EXAMPLES: dict[str, tuple[Callable[[], Any], np.ndarray]] = {
    "Linear": (lambda: nn.Linear(4, 3), x_of(2, 4)),
    "Flatten": (lambda: nn.Flatten(), x_of(2, 3, 4)),
    "Unflatten": (lambda: nn.Unflatten(1, (2, 3)), x_of(2, 6)),
    "Identity": (lambda: nn.Identity(), x_of(2, 4)),
    "Dropout": (lambda: nn.Dropout(0.5), x_of(2, 4)),
    "ReLU": (lambda: nn.ReLU(), x_of(2, 4)),
    "Sigmoid": (lambda: nn.Sigmoid(), x_of(2, 4)),
    "Tanh": (lambda: nn.Tanh(), x_of(2, 4)),
    "LeakyReLU": (lambda: nn.LeakyReLU(0.1), x_of(2, 4)),
    "GELU": (lambda: nn.GELU(), x_of(2, 4)),
    "Softplus": (lambda: nn.Softplus(), x_of(2, 4)),
    "Softmax": (lambda: nn.Softmax(), x_of(2, 4)),
    "Conv2d": (lambda: nn.Conv2d(2, 3, 3, padding=1), x_of(2, 2, 5, 5)),
    "MaxPool2d": (lambda: nn.MaxPool2d(2), x_of(2, 2, 4, 4)),
    "AvgPool2d": (lambda: nn.AvgPool2d(2), x_of(2, 2, 4, 4)),
    "BatchNorm1d": (lambda: nn.BatchNorm1d(4), x_of(2, 4)),
    "BatchNorm2d": (lambda: nn.BatchNorm2d(2), x_of(2, 2, 3, 3)),
    "LayerNorm": (lambda: nn.LayerNorm(4), x_of(2, 3, 4)),
    "Embedding": (lambda: nn.Embedding(5, 3), _IDS),
    "Sequential": (lambda: nn.Sequential(nn.Linear(4, 4), nn.ReLU()), x_of(2, 4)),
    "Residual": (lambda: nn.Residual(nn.Linear(4, 4)), x_of(2, 4)),
    "MultiheadAttention": (lambda: nn.MultiheadAttention(4, 2, batch_first=True), x_of(2, 3, 4)),
    "RNN": (lambda: nn.RNN(4, 3, batch_first=True), x_of(2, 3, 4)),
    "GRU": (lambda: nn.GRU(4, 3, batch_first=True), x_of(2, 3, 4)),
    "LSTM": (lambda: nn.LSTM(4, 3, batch_first=True), x_of(2, 3, 4)),
    "MLP": (lambda: MLP(4), x_of(2, 3, 4)),
    "Block": (lambda: Block(4, 2), x_of(2, 3, 4)),
    "GPT": (lambda: nn.gpt(5, 4, n_layer=1, n_head=2, n_embd=8), _IDS),
    "CharRNN": (lambda: nn.char_rnn(5, 6, cell="gru"), _IDS),
}


def test_every_registered_layer_exports_or_is_refused_with_a_reason():
    exported = {c.__name__ for c in RULES}
    registered = set(nn.LAYERS)
    missing = registered - exported - set(REFUSED)
    assert not missing, (f"{sorted(missing)}: registered in chainrule.nn but neither exported nor refused; "
                         "give it a rule (chainrule/onnx/feedforward.py or sequence.py, and an EXAMPLES "
                         "entry here) or a reason in chainrule/onnx/rules.py REFUSED")
    assert set(REFUSED) <= registered, "REFUSED names a layer chainrule.nn no longer registers"
    assert not exported & set(REFUSED)
    assert all(len(why) > 20 for why in REFUSED.values())


def test_every_rule_has_a_round_trip_example():
    assert set(EXAMPLES) == {c.__name__ for c in RULES}


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_each_layer_alone_matches_onnxruntime(tmp_path, name):
    make, x = EXAMPLES[name]
    cr.manual_seed(0)
    layer = make()
    path = tmp_path / f"{name}.onnx"
    cr.onnx.export(layer, x, path)
    layer.eval()
    feed = x.astype(np.int64) if x.dtype.kind == "i" else x
    close(run(path, {"input": feed})[0], call_one(layer, feed))


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_each_refused_layer_is_named_with_its_reason(tmp_path, name):
    args = {"ModuleList": ([nn.Linear(2, 2)],), "ModuleDict": ({"a": nn.Linear(2, 2)},)}.get(name, ())
    layer = nn.LAYERS[name](*args)
    with pytest.raises(cr.ConfigError, match=f"cannot export {name} to ONNX: ") as err:
        cr.onnx.export(nn.Sequential(nn.Linear(2, 2), layer), x_of(1, 2), tmp_path / "m.onnx")
    assert REFUSED[name] in str(err.value) and "layers that export: " in str(err.value)
    assert "GPT" in str(err.value) and not (tmp_path / "m.onnx").exists()
