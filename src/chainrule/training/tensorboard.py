"""``TensorBoard(log_dir)``: a callback writing a training run as TensorBoard event files.

    fit(model, loss_fn, opt, train, val=val, callbacks=[TensorBoard("runs/mlp")])
    # or: chainrule train --dataset digits --tensorboard runs/digits
    # then: tensorboard --logdir runs

What it writes, at step = the epoch number (1, 2, ...; a resumed run continues):

* scalars — every number in the epoch's History record under the same key (``loss``,
  ``accuracy``, ``val_loss``, ``val_accuracy``, ``lr``, ``seconds`` ...) and the per-layer
  gradient norms as ``grad_norm/<parameter>`` (the epoch's mean, as History keeps them);
* histograms — each parameter's values (``weights/<name>``) and its last gradient of the
  epoch (``gradients/<name>``);
* the model graph, once, when the ``onnx`` package is there and the model exports
  (``chainrule.onnx``); otherwise the graph is skipped and a text note says why.

Events are written by tensorboardX (``pip install 'chainrule[tensorboard]'``), imported when
training starts, never by ``import chainrule``.
"""
from __future__ import annotations

import contextlib
import io
import math
import os
import tempfile
from typing import TYPE_CHECKING, Any

import numpy as np

from ..extras import require
from .callbacks import Callback

if TYPE_CHECKING:  # pragma: no cover
    from .fit import Run


class TensorBoard(Callback):
    """Log scalars, histograms and the graph of a ``fit`` run to ``log_dir`` (see module doc).

    Args:
        log_dir: directory of the event files (created if missing).
        histograms: write weight and gradient histograms (the larger part of the files).
        graph: try to add the model's graph (through an ONNX export) at the first epoch.
    """

    def __init__(self, log_dir: str | os.PathLike, histograms: bool = True, graph: bool = True) -> None:
        require("tensorboardX", "TensorBoard logging")  # fail before training, not after
        self.log_dir = os.fspath(log_dir)
        self.histograms = histograms
        self.graph = graph
        self.writer: Any = None
        self.graph_note: str | None = None
        self._graph_done = not graph

    def on_train_begin(self, run: Run) -> None:
        os.makedirs(self.log_dir, exist_ok=True)  # a bad directory fails before training

    def _open_writer(self) -> Any:
        """The event writer, made at the first epoch's end rather than at the start: its
        thread would otherwise be running when chainrule first splits an op over its own
        threads, and OpenBLAS's idle workers are parked only when no other thread runs
        (``chainrule/blas_threads.py``); a CNN's epochs would then be slower with logging on."""
        if self.writer is None:
            tbx = require("tensorboardX", "TensorBoard logging")
            os.makedirs(self.log_dir, exist_ok=True)
            self.writer = tbx.SummaryWriter(logdir=self.log_dir)
        return self.writer

    def on_epoch_end(self, run: Run, epoch: int, logs: dict[str, Any]) -> None:
        w, step = self._open_writer(), int(logs.get("epoch", epoch + 1))
        if not self._graph_done:  # once per run, after the first epoch (the shapes are known)
            self._graph_done = True
            self._add_graph(run)
        for key, value in logs.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and key != "epoch" \
                    and math.isfinite(value):
                w.add_scalar(key, float(value), step)
        for name, value in (logs.get("grad_norms") or {}).items():
            if math.isfinite(value):
                w.add_scalar(f"grad_norm/{name}", float(value), step)
        if self.histograms:
            for name, p in run.model.named_parameters():
                w.add_histogram(f"weights/{name}", np.asarray(p.data, np.float32), step)
                if p.grad is not None and np.all(np.isfinite(p.grad)):
                    w.add_histogram(f"gradients/{name}", np.asarray(p.grad, np.float32), step)
        w.flush()

    def _add_graph(self, run: Run) -> None:
        """The graph as ONNX (tensorboardX reads ONNX files), when it can be exported."""
        try:
            import onnx  # noqa: F401
        except ImportError:
            self.graph_note = "graph skipped: pip install 'chainrule[onnx]' to log it"
        else:
            from ..errors import ChainruleError
            from ..onnx import export

            try:
                # one example read by index: iterating the loader could move its shuffle RNG
                first = run.train_loader.dataset[0]
                # its own dtype: integer token ids stay ids (export makes floats float32)
                x = np.asarray(first[0] if isinstance(first, (tuple, list)) else first)[None]
                with tempfile.TemporaryDirectory() as tmp:
                    path = os.path.join(tmp, "model.onnx")
                    export(run.model, x, path)
                    with contextlib.redirect_stdout(io.StringIO()):  # it prints every node name
                        self.writer.add_onnx_graph(path)
            except (ChainruleError, AttributeError, IndexError, TypeError, ValueError) as exc:
                self.graph_note = f"graph skipped: {exc}"
        if self.graph_note:
            self.writer.add_text("graph", self.graph_note, 0)

    def on_train_end(self, run: Run) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


__all__ = ["TensorBoard"]
