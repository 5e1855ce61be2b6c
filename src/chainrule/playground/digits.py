"""Digits for the playground's MNIST tab: loading them once, and preparing a drawing.

:func:`load_digits` reads MNIST (from ``--data-dir`` or the cache) once per process and shares
it read-only between sessions; without MNIST it falls back to the bundled 8x8 digits.
:func:`prepare_drawing` turns a 28x28 drawing from the page into a model input the way MNIST
itself was made (bounding box to 20x20, centre of mass in the middle).
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import numpy as np

from ..errors import ChainruleError


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
