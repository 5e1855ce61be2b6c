"""Fuzz ``cr.load`` and ``cr.load_checkpoint`` (safetensors model files and checkpoints).

An input is one option byte followed by the file's bytes. Option bits 0-1 choose the call:
0 ``cr.load(path)``, 1 ``cr.load_checkpoint(path)``, 2 ``cr.load_checkpoint(path, model,
optimizer, scheduler, restore_rng=True)`` into a fresh 3-4-2 MLP, 3 ``cr.load(path,
model=...)``; bit 2 also calls ``read_metadata`` and ``describe``; bit 3 uses SGD with
momentum instead of Adam; bit 4 also prepares a CSV of new rows from the file's metadata as
``chainrule predict``/``evaluate`` do (``preprocessing``, ``model_inputs``, ``unscale``);
bit 5 resumes a small training run from the file as ``chainrule train --resume`` does
(``fit(..., checkpoint=path, resume=True)`` with EarlyStopping and a StepLR schedule); bit 6 runs
``chainrule evaluate FILE`` in-process under an audit hook: opening anything under /etc, /proc,
/sys or /dev while it runs is a finding (a string in the file became a path). Seeds are real
files written by ``cr.save`` and ``cr.save_checkpoint`` plus a pickle whose unpickling would create a
marker file, and the hostile files of issue #20 (architectures declaring gigabytes, NaN weights,
metadata naming /etc/passwd); any input after which the marker exists is a finding (a loader ran code from the file).

    python fuzz/fuzz_load.py --seconds 600
"""
from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
from pathlib import Path

from _formats import PICKLE_MARKER, hostile_model_seeds, hostile_pickle, mutate_safetensors
from _harness import Target, main


def _fresh(sgd: bool, n_in: int = 3):
    from chainrule import nn, optim

    model = nn.Sequential(nn.Linear(n_in, 4), nn.ReLU(), nn.Linear(4, 2))
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9) if sgd else optim.Adam(model.parameters(), lr=0.01)
    return model, opt, optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)


_XOR_PREP = {"dataset": "xor", "task": "classification", "num_features": 2, "num_classes": 2,
             "class_names": ["0", "1"], "feature_names": ["x1", "x2"], "mean": [0.0, 0.0], "std": [1.0, 1.0],
             "columns": None, "target_name": None}
_TABLE_PREP = {"dataset": "t.csv", "task": "regression", "num_features": 3, "num_classes": None,
               "class_names": None, "feature_names": ["a", "c=red", "c=blue"], "mean": [0.5, 0.5, 0.5],
               "std": [1.0, 0.5, 0.5], "target_name": "y",
               "columns": [{"name": "a", "kind": "numeric"},
                           {"name": "c", "kind": "categorical", "categories": ["blue", "red"]}]}
_ROWS = "x1,x2,a,c,y\n0.1,0.2,0.3,red,1\n0.5,-1,2,blue,0\n"


def seeds() -> list[bytes]:
    import numpy as np

    import chainrule as cr
    from chainrule import nn

    cr.manual_seed(0)
    out = []
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "f.safetensors"
        for sgd in (False, True):
            model, opt, sched = _fresh(sgd)
            x = cr.tensor(np.ones((2, 3), np.float32))
            model(x).sum().backward()
            opt.step()
            sched.step()
            cr.save(model, p, metadata={"classes": ["a", "b"], "mean": np.zeros(3)})
            out.append(bytes([0b100]) + p.read_bytes())
            cr.save_checkpoint(p, model, opt, epoch=3, scheduler=sched, extra={"best": 0.5})
            out.append(bytes([2 | (8 if sgd else 0)]) + p.read_bytes())
            out.append(bytes([1]) + p.read_bytes())
        for prep in (_XOR_PREP, _TABLE_PREP):
            cr.save(nn.Sequential(nn.Linear(prep["num_features"], 4), nn.Tanh(), nn.Linear(4, 2)), p,
                    metadata={"preprocessing": prep, "target_scale": {"mean": 1.5, "std": 2.0}})
            out.append(bytes([0b10100]) + p.read_bytes())
        for sgd in (False, True):
            if p.exists():
                p.unlink()
            _resume(p, sgd)
            out.append(bytes([0x20 | (8 if sgd else 0)]) + p.read_bytes())
        cr.save({"w": np.arange(6, dtype=np.float64).reshape(2, 3), "b": np.zeros(0, np.int64)}, p)
        out.append(bytes([0]) + p.read_bytes())
        cnn = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                            nn.Linear(2, 2), nn.Dropout(0.5), nn.Tanh())
        cr.save(cnn, p)
        out.append(bytes([0]) + p.read_bytes())
    out.append(bytes([0]) + hostile_pickle())
    out.append(bytes([1]) + hostile_pickle())
    out += [bytes([0b1010100]) + f for f in hostile_model_seeds()]
    return out


_FORBIDDEN = ("/etc/", "/proc/", "/sys/", "/dev/")
_opened: list[str] = []
_watching: str | None = None  # the input's own folder while evaluate runs (scratch may be in /dev/shm)


def _audit(event: str, args: tuple) -> None:
    if _watching and event == "open" and args and isinstance(args[0], (str, bytes)):
        path = os.path.abspath(os.fsdecode(args[0]))
        if path.startswith(_FORBIDDEN) and not path.startswith(_watching):
            _opened.append(path)


sys.addaudithook(_audit)


def _evaluate(p: Path) -> None:
    """``chainrule evaluate p`` as the command line runs it; any path opened outside the input's
    own folder under /etc, /proc, /sys or /dev means the file's metadata became a path."""
    global _watching
    from chainrule.cli import main as cli

    _opened.clear()
    _watching = str(p.parent) + os.sep
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            cli(["evaluate", str(p)])
    finally:
        _watching = None
    if _opened:
        raise AssertionError(f"evaluate {p} opened {_opened[:3]}: a string in the model file became a path")


def _as_the_cli_would(p: Path, scratch: Path) -> None:
    import numpy as np

    from chainrule.commands._common import model_inputs, preprocessing, unscale
    from chainrule.io import read_metadata

    meta = read_metadata(p)
    prep = preprocessing(meta, str(p))
    rows = scratch / "rows.csv"
    rows.write_text(_ROWS)
    model_inputs(str(rows), prep)
    unscale(np.zeros((2, 1), np.float32), meta)


_TINY = None


def _resume(p: Path, sgd: bool, epochs: int = 2) -> object:
    import warnings

    import chainrule as cr
    from chainrule import nn
    from chainrule.data import toy2d
    from chainrule.training import EarlyStopping, fit

    global _TINY
    if _TINY is None:
        _TINY = toy2d("xor", n=24)
    cr.manual_seed(0)
    model, opt, sched = _fresh(sgd, n_in=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit(model, nn.CrossEntropyLoss(), opt, _TINY.train, val=_TINY.test, epochs=epochs, batch_size=8,
                   progress=False, callbacks=[EarlyStopping(patience=3)], scheduler=sched, checkpoint=p,
                   resume=True)


def run(data: bytes, scratch: Path) -> object:
    import chainrule as cr
    from chainrule.io import describe, read_metadata

    flags = data[0] if data else 0
    p = scratch / "input.safetensors"
    p.write_bytes(data[1:])
    mode = flags & 3
    try:
        if mode == 0:
            result = cr.load(p)
        elif mode == 1:
            result = cr.load_checkpoint(p)
        elif mode == 2:
            model, opt, sched = _fresh(bool(flags & 8))
            result = cr.load_checkpoint(p, model, opt, scheduler=sched, restore_rng=True)
        else:
            model, _, _ = _fresh(False)
            result = cr.load(p, model=model)
        if flags & 4:
            read_metadata(p)
            describe(p)
        if flags & 16:
            _as_the_cli_would(p, scratch)
        if flags & 32:
            _resume(p, bool(flags & 8), epochs=3)
        if flags & 64:
            _evaluate(p)
        return result
    finally:
        if PICKLE_MARKER.exists():
            PICKLE_MARKER.unlink()
            raise AssertionError(f"loading {p} ran code from a pickle (created {PICKLE_MARKER})")


TARGET = Target(name="load", suffix=".safetensors", seeds=seeds, run=run, mutate=mutate_safetensors,
                modules=("chainrule.io", "chainrule.nn", "chainrule.optim", "chainrule.commands._common",
                         "chainrule.commands.evaluate", "chainrule.cli"))

if __name__ == "__main__":
    main(TARGET)
