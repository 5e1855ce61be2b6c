"""Inputs the fuzzers (fuzz/) found that made a loader raise something other than a
ChainruleError, each written out by hand so the bug is readable. The raw inputs are also
kept in tests/fuzz_corpus/ and replayed by test_fuzz_corpus.py."""
from __future__ import annotations

import struct

import pytest

from chainrule.data import read_idx
from chainrule.errors import DataError


@pytest.mark.parametrize("shape", [(0, 2**32 - 1, 2**32 - 1, 2**32 - 1), (2**32 - 1, 2**32 - 1, 2**32 - 1, 0)])
def test_idx_empty_shape_whose_other_sides_overflow_is_a_data_error(tmp_path, shape):
    # found by fuzz_read_idx: zero bytes of data passed the size check, then numpy's
    # reshape raised ValueError("array is too big")
    p = tmp_path / "zero-but-huge.idx"
    p.write_bytes(bytes([0, 0, 0x08, len(shape)]) + struct.pack(f">{len(shape)}I", *shape))
    with pytest.raises(DataError, match="zero-but-huge.idx.*too large"):
        read_idx(p)


def test_csv_sniffer_sees_a_bounded_sample(tmp_path, monkeypatch):
    # found while fuzzing csv: csv.Sniffer's quote regexes are quadratic in the sample, and
    # 8 KB of '"\n' lines took 10 s; the sniffer now sees at most 20 lines / 2048 characters
    import csv as stdlib_csv

    from chainrule.data import csv, tabular

    seen = []
    real = stdlib_csv.Sniffer.sniff

    def spy(self, sample, delimiters=None):
        seen.append(len(sample))
        return real(self, sample, delimiters)

    monkeypatch.setattr(stdlib_csv.Sniffer, "sniff", spy)
    p = tmp_path / "quotes.csv"
    p.write_text('"\n' * 4000)
    with pytest.raises(DataError, match="quotes.csv"):
        csv(p)
    assert seen and max(seen) <= tabular._SNIFF_CHARS
    # a normal table is still sniffed right
    p.write_text("a;b;y\n" + "".join(f"{i};{i * 2};{i % 2}\n" for i in range(50)))
    assert csv(p).num_features == 2


# ----------------------------------------------------------------------------- checkpoints
def _training_checkpoint(tmp_path):
    """A checkpoint as `chainrule train --early-stopping 3 --schedule step` writes it."""
    import chainrule as cr
    from chainrule import nn, optim
    from chainrule.data import toy2d
    from chainrule.training import EarlyStopping, fit

    def make():
        cr.manual_seed(0)
        model = nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 2))
        opt = optim.SGD(model.parameters(), lr=0.1)
        return model, opt, optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)

    ds = toy2d("xor", n=60)
    ckpt = tmp_path / "checkpoint.safetensors"

    def resume(epochs=3):
        model, opt, sched = make()
        return fit(model, nn.CrossEntropyLoss(), opt, ds.train, val=ds.test, epochs=epochs, progress=False,
                   callbacks=[EarlyStopping(patience=3)], scheduler=sched, checkpoint=ckpt, resume=True)

    resume(epochs=2)
    return ckpt, resume


def _edit_extra(path, edit):
    import json
    import struct

    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    extra = json.loads(header["__metadata__"]["extra"])
    edit(extra)
    header["__metadata__"]["extra"] = json.dumps(extra)
    blob = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(blob)) + blob + raw[8 + n:])


def _set(*keys_and_value):
    *keys, value = keys_and_value

    def edit(d):
        for k in keys[:-1]:
            d = d[k]
        d[keys[-1]] = value
    return edit


def _callback(extra, prefix):
    return next(k for k in extra["callbacks"] if k.startswith(prefix))


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("edit", [
    _set("history", 5),
    _set("history", "epochs", "ReLU"),
    _set("history", "epochs", [[1, 2]]),
    lambda e: e["history"]["epochs"][0].update(loss="abc"),
    lambda e: e["callbacks"].update({_callback(e, "EarlyStopping"): 7}),
    lambda e: e["callbacks"][_callback(e, "EarlyStopping")].update(best="x"),
    lambda e: e["callbacks"][_callback(e, "EarlyStopping")].update(wait={"a": 1}),
    lambda e: e["callbacks"][_callback(e, "Diagnostics")].update(reference_loss=[1, 2]),
    lambda e: e["callbacks"][_callback(e, "Diagnostics")].update(above="many"),
    lambda e: e["callbacks"][_callback(e, "LRScheduler")]["scheduler"].update(step_size=0),
    lambda e: e["callbacks"][_callback(e, "LRScheduler")]["scheduler"].update(step_size=0.5),
], ids=["history-int", "epochs-str", "epoch-list", "loss-str", "earlystop-int", "best-str", "wait-dict",
        "reference-loss-list", "above-str", "step-size-0", "step-size-half"])
def test_tampered_training_checkpoint_is_a_model_file_error_on_resume(tmp_path, edit):
    # found by mutating the JSON of real training checkpoints and resuming from them: the
    # history and callback states were trusted (AttributeError, TypeError, ValueError in
    # history.py, callbacks.py, diagnostics.py; ZeroDivisionError in lr_scheduler.py)
    from chainrule.errors import ModelFileError

    ckpt, resume = _training_checkpoint(tmp_path)
    resume(epochs=2)  # untampered: resumes (nothing left to do) without complaint
    _edit_extra(ckpt, edit)
    with pytest.raises(ModelFileError, match="checkpoint.safetensors"):
        resume()


@pytest.mark.parametrize("shape", [[0, 2**62, 2**62], [2**40, 2**40, 0], [0] + [2**20] * 5])
def test_safetensors_empty_tensor_whose_other_sides_overflow_is_a_model_file_error(tmp_path, shape):
    # found by fuzz_load: a zero-size shape passed the size check (0 bytes == 0 bytes), then
    # np.empty raised ValueError("Maximum allowed dimension exceeded")
    import json

    import chainrule as cr
    from chainrule.errors import ModelFileError

    blob = json.dumps({"w": {"dtype": "F32", "shape": shape, "data_offsets": [0, 0]}}).encode()
    p = tmp_path / "empty-but-huge.safetensors"
    p.write_bytes(struct.pack("<Q", len(blob)) + blob)
    with pytest.raises(ModelFileError, match="empty-but-huge.safetensors.*too large"):
        cr.load(p)
