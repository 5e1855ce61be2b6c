"""ONNX export of the sequence layers (MultiheadAttention, RNN/GRU/LSTM) and of the language
models built from them (GPT, CharRNN), alone and through ``chainrule export``: onnxruntime
computes what chainrule computes, also at a batch size and sequence length other than the
example's."""
from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule import nn
from chainrule.cli import main
from chainrule.training import fit

from .roundtrip import close, run, x_of


def _checked(path) -> onnx.ModelProto:
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    assert proto.opset_import[0].version == cr.onnx.OPSET == 19
    return proto


def _names(values) -> list[str]:
    return [v.name for v in values]


# ----------------------------------------------------------------------------- attention
@pytest.mark.parametrize("is_causal", [False, True])
def test_self_attention_and_its_weights_match_at_another_batch_and_length(tmp_path, is_causal):
    cr.manual_seed(0)
    m = nn.MultiheadAttention(8, 2, batch_first=True)
    path = tmp_path / "mha.onnx"
    cr.onnx.export(m, x_of(2, 5, 8), path, kwargs={"is_causal": is_causal})
    proto = _checked(path)
    assert _names(proto.graph.output) == ["output", "attn_weights"]
    for shape in [(2, 5, 8), (3, 9, 8)]:
        x = x_of(*shape, seed=1)
        out, weights = m(x, x, x, is_causal=is_causal)
        got = run(path, {"input": x})
        close(got[0], out.data)
        close(got[1], weights.data)
    if is_causal:  # nothing attends to the future
        assert np.all(np.triu(got[1], 1) == 0)


def test_attention_without_weights_per_head_and_sequence_first(tmp_path):
    cr.manual_seed(1)
    m = nn.MultiheadAttention(12, 3, bias=False)  # batch_first=False: (T, N, E)
    path = tmp_path / "mha.onnx"
    cr.onnx.export(m, x_of(4, 2, 12), path, kwargs={"need_weights": False, "is_causal": True})
    assert _names(_checked(path).graph.output) == ["output"]
    x = x_of(6, 3, 12, seed=2)
    close(run(path, {"input": x})[0], m(x, x, x, need_weights=False, is_causal=True)[0].data)

    cr.onnx.export(m, x_of(4, 2, 12), path, kwargs={"average_attn_weights": False})
    out, weights = m(x, x, x, average_attn_weights=False)
    got = run(path, {"input": x})
    close(got[0], out.data)
    close(got[1], weights.data)
    assert got[1].shape == (3, 3, 6, 6)      # (N, H, T, S)


def test_cross_attention_with_key_padding_and_a_constant_mask(tmp_path):
    cr.manual_seed(2)
    m = nn.MultiheadAttention(8, 4, batch_first=True)
    q, k, v = x_of(2, 3, 8, seed=3), x_of(2, 5, 8, seed=4), x_of(2, 5, 8, seed=5)
    padding = np.array([[False] * 5, [False, False, False, True, True]])
    path = tmp_path / "cross.onnx"
    cr.onnx.export(m, (q, k, v), path, kwargs={"key_padding_mask": padding})
    proto = _checked(path)
    assert _names(proto.graph.input) == ["query", "key", "value", "key_padding_mask"]
    k2, v2 = x_of(3, 7, 8, seed=6), x_of(3, 7, 8, seed=7)      # other N and key length S
    q2 = x_of(3, 4, 8, seed=8)
    pad2 = np.zeros((3, 7), bool)
    pad2[1, 5:] = True
    out, weights = m(q2, k2, v2, key_padding_mask=pad2)
    got = run(path, {"query": q2, "key": k2, "value": v2, "key_padding_mask": pad2})
    close(got[0], out.data)
    close(got[1], weights.data)

    additive = np.where(padding, -1e9, 0.0).astype(np.float32)  # a float padding mask is added
    cr.onnx.export(m, (q, k, v), path, kwargs={"key_padding_mask": additive, "need_weights": False})
    assert _checked(path).graph.input[3].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    close(run(path, {"query": q, "key": k, "value": v, "key_padding_mask": additive})[0],
          m(q, k, v, key_padding_mask=additive, need_weights=False)[0].data)

    mask = np.triu(np.ones((3, 5), bool), 2)                    # a fixed (T, S) mask
    cr.onnx.export(m, (q, k, v), path, kwargs={"attn_mask": mask, "need_weights": False})
    close(run(path, {"query": q, "key": k, "value": v})[0],
          m(q, k, v, attn_mask=mask, need_weights=False)[0].data)


def test_attention_refuses_what_it_cannot_export(tmp_path):
    m = nn.MultiheadAttention(4, 2, batch_first=True)
    x = x_of(2, 3, 4)
    with pytest.raises(cr.ConfigError, match="takes no keyword dropout_p"):
        cr.onnx.export(m, x, tmp_path / "a.onnx", kwargs={"dropout_p": 0.1})
    with pytest.raises(cr.ConfigError, match=r"attn_mask must be \(T, S\)"):
        cr.onnx.export(m, x, tmp_path / "a.onnx", kwargs={"attn_mask": np.zeros((4, 3, 3), bool)})
    with pytest.raises(cr.ConfigError, match="kwargs are for layers"):
        cr.onnx.export(nn.Linear(4, 4), x, tmp_path / "a.onnx", kwargs={"is_causal": True})
    assert not (tmp_path / "a.onnx").exists()


# ----------------------------------------------------------------------------- recurrent
RECURRENT = [(nn.RNN, {}), (nn.RNN, {"nonlinearity": "relu"}), (nn.GRU, {}), (nn.LSTM, {}),
             (nn.GRU, {"bias": False}), (nn.LSTM, {"bias": False})]


@pytest.mark.parametrize("cls,options", RECURRENT)
@pytest.mark.parametrize("batch_first", [True, False])
def test_recurrent_layers_match_with_their_final_states(tmp_path, cls, options, batch_first):
    cr.manual_seed(3)
    m = cls(5, 7, num_layers=2, batch_first=batch_first, **options)
    path = tmp_path / "rnn.onnx"
    example = x_of(2, 4, 5) if batch_first else x_of(4, 2, 5)
    cr.onnx.export(m, example, path)
    expected = ["output", "h_n", "c_n"] if cls is nn.LSTM else ["output", "h_n"]
    assert _names(_checked(path).graph.output) == expected
    x = x_of(3, 11, 5, seed=1) if batch_first else x_of(11, 3, 5, seed=1)  # other N and T
    y, final = m(x)
    refs = [y.data, *(s.data for s in final)] if cls is nn.LSTM else [y.data, final.data]
    for got, ref in zip(run(path, {"input": x}), refs):
        close(got, ref)


@pytest.mark.parametrize("cls", [nn.RNN, nn.GRU, nn.LSTM])
def test_recurrent_layers_take_initial_states(tmp_path, cls):
    cr.manual_seed(4)
    m = cls(3, 4, num_layers=2, batch_first=True)
    x, h0, c0 = x_of(2, 6, 3), x_of(2, 2, 4, seed=1), x_of(2, 2, 4, seed=2)
    hx = (h0, c0) if cls is nn.LSTM else h0
    path = tmp_path / "rnn.onnx"
    cr.onnx.export(m, (x, hx), path)
    feeds = {"input": x, "h0": h0, **({"c0": c0} if cls is nn.LSTM else {})}
    assert _names(_checked(path).graph.input) == list(feeds)
    y, final = m(x, hx)
    refs = [y.data, *(s.data for s in final)] if cls is nn.LSTM else [y.data, final.data]
    for got, ref in zip(run(path, feeds), refs):
        close(got, ref)


# ----------------------------------------------------------------------------- language models
def _windows(vocab: int, n: int, t: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A learnable toy corpus: each next token is (token + 1) mod vocab, with a little noise."""
    rng = np.random.default_rng(seed)
    start = rng.integers(0, vocab, (n, 1))
    seq = (start + np.arange(t + 1)) % vocab
    flip = rng.random(seq.shape) < 0.05
    seq = np.where(flip, rng.integers(0, vocab, seq.shape), seq)
    return seq[:, :-1], seq[:, 1:]


def _train(model: nn.Module, vocab: int, t: int) -> float:
    x, y = _windows(vocab, 64, t)
    history = fit(model, nn.CrossEntropyLoss(), cr.optim.Adam(model.parameters(), lr=1e-2), (x, y),
                  epochs=3, batch_size=16, metrics=(), progress=False, seed=0)
    return history["loss"][-1]


def _compare_language_model(model: nn.Module, path, vocab: int, lengths: list[int]) -> None:
    model.eval()
    rng = np.random.default_rng(9)
    for n, t in zip([2, 5, 1], lengths):
        ids = rng.integers(0, vocab, (n, t))
        close(run(path, {"input": ids.astype(np.int64)})[0], model(ids).data)


def test_trained_gpt_matches_at_every_length_up_to_its_block(tmp_path):
    cr.manual_seed(5)
    model = nn.gpt(13, block_size=12, n_layer=2, n_head=2, n_embd=16, dropout=0.1)
    first = _train(model, 13, 12)
    assert first < np.log(13)                 # it learned something
    path = tmp_path / "gpt.onnx"
    proto = cr.onnx.export(model, np.zeros((1, 12), np.int64), path)
    assert model.training                     # the caller's mode is restored
    _checked(path)
    dims = [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["N", "T"]
    assert [d.dim_param or d.dim_value for d in proto.graph.output[0].type.tensor_type.shape.dim] \
        == ["N", "T", 13]
    _compare_language_model(model, path, 13, [12, 5, 1])


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_trained_char_rnn_matches_at_other_lengths(tmp_path, cell):
    cr.manual_seed(6)
    model = nn.char_rnn(11, hidden_size=12, num_layers=2, cell=cell, embedding_dim=6, dropout=0.1)
    assert _train(model, 11, 8) < np.log(11)
    path = tmp_path / "char.onnx"
    cr.onnx.export(model, np.zeros((2, 8), np.int64), path)
    _checked(path)
    _compare_language_model(model, path, 11, [8, 20, 1])


@pytest.fixture(scope="module")
def text_runs(tmp_path_factory):
    """A GPT and an LSTM char-RNN trained for one epoch on the bundled names by the CLI."""
    root = tmp_path_factory.mktemp("text")
    runs = {"gpt": ["--model", "gpt", "--n-layer", "1", "--n-head", "2", "--n-embd", "16",
                    "--block-size", "16"],
            "rnn": ["--model", "rnn", "--cell", "lstm", "--hidden", "16", "--block-size", "8"]}
    for name, argv in runs.items():
        assert main(["train", "--dataset", "names", *argv, "--epochs", "1", "--quiet",
                     "--out", str(root / name)]) == 0
    return root


@pytest.mark.parametrize("name", ["gpt", "rnn"])
def test_language_model_files_export_through_the_cli(text_runs, tmp_path, capsys, name):
    model_path = text_runs / name / "model.safetensors"
    out = tmp_path / f"{name}.onnx"
    assert main(["export", str(model_path), "--onnx", str(out)]) == 0
    assert "ids (N, T) int64" in capsys.readouterr().err
    proto = _checked(out)
    assert _names(proto.graph.input) == ["ids"] and _names(proto.graph.output) == ["logits"]
    vocab = json.loads({p.key: p.value for p in proto.metadata_props}["vocab"])
    assert vocab == cr.io.read_metadata(str(model_path))["text"]["vocab"]
    model = cr.load(model_path).eval()
    word = [vocab.index(c) for c in "\nmaria"]   # the separator starts every name
    ids = np.array([word, word[::-1]], np.int64)
    close(run(out, {"ids": ids})[0], model(ids).data)


def test_a_saved_gpt_without_training_metadata_takes_ids_by_input_shape(tmp_path, capsys):
    cr.manual_seed(7)
    model = nn.gpt(9, block_size=6, n_layer=1, n_head=1, n_embd=8)
    path = tmp_path / "gpt.safetensors"
    cr.save(model, path)
    assert main(["export", str(path), "--onnx", str(tmp_path / "a.onnx")]) == 0
    assert main(["export", str(path), "--onnx", str(tmp_path / "b.onnx"), "--input-shape", "1,4"]) == 0
    ids = np.array([[1, 2, 3], [8, 0, 4]], np.int64)
    for f in ("a.onnx", "b.onnx"):
        close(run(tmp_path / f, {"ids" if f == "a.onnx" else "input": ids})[0], model.eval()(ids).data)


def test_ids_chainrule_refuses_are_refused_by_onnxruntime_too(tmp_path):
    from onnxruntime.capi.onnxruntime_pybind11_state import Fail, InvalidArgument

    model = nn.gpt(7, block_size=4, n_layer=1, n_head=1, n_embd=8)
    path = tmp_path / "gpt.onnx"
    cr.onnx.export(model, np.zeros((1, 4), np.int64), path)
    for ids in ([[1, -1, 2]], [[1, 7, 2]], [[0, 1, 2, 3, 4]]):  # negative, past the vocabulary, too long
        with pytest.raises(cr.ShapeError):
            model(np.array(ids))
        with pytest.raises((Fail, InvalidArgument)):  # an error, never a wrong answer
            run(path, {"input": np.array(ids, np.int64)})


def test_dynamic_axes_free_the_length_of_a_per_token_model(tmp_path):
    cr.manual_seed(8)
    model = nn.Sequential(nn.Embedding(10, 6), nn.LayerNorm(6), nn.Linear(6, 4), nn.GELU())
    path = tmp_path / "tokens.onnx"
    cr.onnx.export(model, np.zeros((1, 3), np.int64), path, dynamic_axes={0: "N", 1: "T"})
    ids = np.random.default_rng(0).integers(0, 10, (4, 9))
    close(run(path, {"input": ids})[0], model(ids).data)
    for bad in ({2: "T"}, {1: ""}, [0, 1]):
        with pytest.raises(cr.ConfigError, match="dynamic_axes must map axes"):
            cr.onnx.export(model, np.zeros((1, 3), np.int64), path, dynamic_axes=bad)


def test_sequence_first_cross_attention_keeps_its_layout(tmp_path):
    cr.manual_seed(9)
    m = nn.MultiheadAttention(6, 2)                                # (T, N, E), (S, N, E)
    q, kv = x_of(3, 2, 6, seed=1), x_of(5, 2, 6, seed=2)
    path = tmp_path / "cross.onnx"
    cr.onnx.export(m, (q, kv, kv), path, kwargs={"is_causal": True})
    dims = [[d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
            for v in _checked(path).graph.input]
    assert dims == [["T", "N", 6], ["S", "N", 6], ["S", "N", 6]]
    q2, k2, v2 = x_of(4, 3, 6, seed=3), x_of(7, 3, 6, seed=4), x_of(7, 3, 6, seed=5)
    out, weights = m(q2, k2, v2, is_causal=True)
    got = run(path, {"query": q2, "key": k2, "value": v2})
    close(got[0], out.data)
    close(got[1], weights.data)


@settings(deadline=None, max_examples=12)
@given(heads=st.integers(1, 3), width=st.integers(1, 4), n=st.integers(1, 3), t=st.integers(1, 6),
       t2=st.integers(1, 9), causal=st.booleans(), batch_first=st.booleans())
def test_attention_of_any_shape_matches(tmp_path_factory, heads, width, n, t, t2, causal, batch_first):
    cr.manual_seed(t + 10 * t2)
    e = heads * width
    m = nn.MultiheadAttention(e, heads, batch_first=batch_first)
    path = tmp_path_factory.mktemp("mha") / "m.onnx"
    layout = (n, t, e) if batch_first else (t, n, e)
    cr.onnx.export(m, x_of(*layout), path, kwargs={"is_causal": causal})
    x = x_of(*((n + 1, t2, e) if batch_first else (t2, n + 1, e)), seed=t2)
    out, weights = m(x, x, x, is_causal=causal)
    got = run(path, {"input": x})
    close(got[0], out.data)
    close(got[1], weights.data)


@settings(deadline=None, max_examples=12)
@given(kind=st.sampled_from(["RNN", "GRU", "LSTM"]), i=st.integers(1, 5), h=st.integers(1, 6),
       layers=st.integers(1, 3), n=st.integers(1, 3), t=st.integers(1, 12))
def test_recurrent_layer_of_any_shape_matches(tmp_path_factory, kind, i, h, layers, n, t):
    cr.manual_seed(i + 10 * h)
    m = getattr(nn, kind)(i, h, num_layers=layers, batch_first=True)
    path = tmp_path_factory.mktemp("rnn") / "m.onnx"
    cr.onnx.export(m, x_of(1, 2, i), path)
    x = x_of(n, t, i, seed=t)
    y, final = m(x)
    refs = [y.data, *(s.data for s in final)] if kind == "LSTM" else [y.data, final.data]
    for got, ref in zip(run(path, {"input": x}), refs):
        close(got, ref)
