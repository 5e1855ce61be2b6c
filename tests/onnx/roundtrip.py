"""What every ONNX test compares: onnxruntime's outputs against chainrule's, to 1e-5 relative
(per element: |ort − chainrule| ≤ 1e-5·(|chainrule| + max|chainrule|))."""
from __future__ import annotations

import numpy as np
import onnxruntime as ort


def close(got: np.ndarray, ref: np.ndarray) -> None:
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5 * float(np.max(np.abs(ref))))


def run(path, feeds: dict) -> list:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feeds)


def x_of(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
