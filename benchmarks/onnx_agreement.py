"""How closely onnxruntime reproduces chainrule on exported sequence models: for each layer
alone and for a GPT and a char-RNN of each cell trained for a few epochs on a toy corpus,
the largest |onnxruntime − chainrule| over all outputs, divided by the largest |chainrule|,
at the example's shape and at another batch size and length (both axes are dynamic).

    python benchmarks/onnx_agreement.py            # the table in docs/ecosystem.md

Needs the ``onnx`` extra. Not a timing benchmark: the figures are exact for a given seed.
"""
from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

import chainrule as cr
from chainrule import nn
from chainrule.training import fit


def _x(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _relative(got: list, ref: list) -> float:
    return max(float(np.max(np.abs(g - r)) / np.max(np.abs(r))) for g, r in zip(got, ref))


def _toy_corpus(vocab: int, n: int, t: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    seq = (rng.integers(0, vocab, (n, 1)) + np.arange(t + 1)) % vocab
    seq = np.where(rng.random(seq.shape) < 0.05, rng.integers(0, vocab, seq.shape), seq)
    return seq[:, :-1], seq[:, 1:]


def _trained(model: nn.Module, vocab: int, t: int) -> nn.Module:
    x, y = _toy_corpus(vocab, 256, t)
    fit(model, nn.CrossEntropyLoss(), cr.optim.Adam(model.parameters(), lr=1e-2), (x, y), epochs=5,
        batch_size=32, metrics=(), progress=False, seed=0)
    return model.eval()


def _layer(m: nn.Module, call: Callable[[np.ndarray], list], shape: tuple[int, ...],
           other: tuple[int, ...], kwargs: dict | None = None) -> tuple[float, float]:
    m.eval()
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "m.onnx")
        cr.onnx.export(m, _x(*shape), path, kwargs=kwargs)
        s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        return tuple(_relative(s.run(None, {"input": x}), call(x))  # type: ignore[return-value]
                     for x in (_x(*shape, seed=1), _x(*other, seed=2)))


def _language_model(m: nn.Module, vocab: int, t: int, other_t: int) -> tuple[float, float]:
    rng = np.random.default_rng(3)
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "lm.onnx")
        cr.onnx.export(m, np.zeros((1, t), np.int64), path)
        s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        return tuple(_relative(s.run(None, {"input": ids}), [m(ids).data])  # type: ignore[return-value]
                     for ids in (rng.integers(0, vocab, (4, t)), rng.integers(0, vocab, (7, other_t))))


def main() -> None:
    cr.manual_seed(0)
    rows: list[tuple[str, Any, tuple[float, float]]] = []

    def outputs(result: Any) -> list:
        items = result if isinstance(result, tuple) else (result,)
        flat = []
        for r in items:
            flat += [np.asarray(s.data) for s in r] if isinstance(r, tuple) else \
                [np.asarray(r.data)] if r is not None else []
        return flat

    mha = nn.MultiheadAttention(64, 4, batch_first=True)
    for causal in (False, True):
        rows.append((f"MultiheadAttention(64, 4), is_causal={causal}, output and weights", "(4, 16, 64) / (7, 29, 64)",
                     _layer(mha, lambda x, c=causal: outputs(mha(x, x, x, is_causal=c)), (4, 16, 64), (7, 29, 64),
                            {"is_causal": causal})))
    for cls, extra in ((nn.RNN, {}), (nn.RNN, {"nonlinearity": "relu"}), (nn.GRU, {}), (nn.LSTM, {})):
        m = cls(32, 64, num_layers=2, batch_first=True, **extra)
        label = f"{cls.__name__}(32, 64, num_layers=2{', relu' if extra else ''}), output and final states"
        rows.append((label, "(4, 16, 32) / (7, 29, 32)",
                     _layer(m, lambda x, m=m: outputs(m(x)), (4, 16, 32), (7, 29, 32))))
    gpt = _trained(nn.gpt(27, block_size=32, n_layer=2, n_head=4, n_embd=64), 27, 32)
    rows.append(("GPT(27, block 32, 2 layers, 4 heads, 64), trained", "ids (4, 32) / (7, 11)",
                 _language_model(gpt, 27, 32, 11)))
    for cell in ("rnn", "gru", "lstm"):
        lm = _trained(nn.char_rnn(27, 64, num_layers=2, cell=cell), 27, 16)
        rows.append((f"char_rnn(27, 64, 2 layers, {cell}), trained", "ids (4, 16) / (7, 40)",
                     _language_model(lm, 27, 16, 40)))
    print("| model | input (example / other) | max rel. diff at the example | at the other shape |")
    print("|---|---|---|---|")
    for label, shapes, (a, b) in rows:
        print(f"| {label} | {shapes} | {a:.1e} | {b:.1e} |")


if __name__ == "__main__":
    main()
