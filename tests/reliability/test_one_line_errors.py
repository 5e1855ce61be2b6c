"""Cases that printed a traceback where one line was promised (``chainrule: error: ...``, exit 2):
a model whose output width disagrees with its metadata, an empty MNIST training set, a model
too large for the machine, an out-of-memory error, and a FIFO or device given as a file."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.data.idx import write_idx
from chainrule.errors import ChainruleError

from .conftest import COMMAND_TIMEOUT, cli_env, run_cli

PREP = {"dataset": "iris", "task": "classification", "num_features": 4, "num_classes": 3,
        "class_names": ["a", "b", "c"], "mean": [0.0] * 4, "std": [1.0] * 4}


def _one_line(r, *words):
    assert r.returncode == 2, (r.returncode, r.stderr[-500:])
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("chainrule: error:"), r.stderr[-800:]
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("width, prep, words", [
    (2, PREP, ["2 output(s) per example", "3 classes"]),
    (5, PREP, ["5 output(s) per example", "3 classes"]),
    (3, dict(PREP, task="regression", class_names=None, num_classes=None), ["3 output(s)", "regression"]),
])
@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_output_width_that_disagrees_with_the_metadata(home, width, prep, words, command):
    model = home / "m.safetensors"
    cr.save(nn.Sequential(nn.Linear(4, width)), str(model), metadata={"preprocessing": prep})
    rows = home / "rows.csv"
    rows.write_text("5.1,3.5,1.4,0.2\n6.0,3.0,4.0,1.0\n")
    r = run_cli([command, str(model)] + ([str(rows)] if command == "predict" else []), home)
    _one_line(r, str(model), *words)


def test_an_empty_mnist_training_set(home):
    d = home / "mnist"
    d.mkdir()
    write_idx(d / "train-images-idx3-ubyte.gz", np.zeros((0, 28, 28), np.uint8))
    write_idx(d / "train-labels-idx1-ubyte.gz", np.zeros(0, np.uint8))
    write_idx(d / "t10k-images-idx3-ubyte.gz", np.zeros((3, 28, 28), np.uint8))
    write_idx(d / "t10k-labels-idx1-ubyte.gz", np.zeros(3, np.uint8))
    r = run_cli(["train", "--dataset", "mnist", "--data-dir", str(d), "--epochs", "1"], home)
    _one_line(r, "no training images")


def test_a_model_too_large_for_the_machine_is_refused_before_it_is_built(home):
    r = run_cli(["train", "--dataset", "iris", "--hidden", "1000000000", "--epochs", "1", "--cv", "0"], home)
    _one_line(r, "8,000,000,003 parameters", "GB", "--hidden")


def test_memory_error_at_the_top_is_one_line_naming_the_size(home):
    code = ("import sys, numpy as np\nfrom chainrule import cli\nimport chainrule.commands.evaluate as ev\n"
            "ev.run = lambda args: np.empty((10**7, 10**7), np.float32)\n"
            "sys.exit(cli.main(['evaluate', sys.argv[1]]))")
    model = home / "m.safetensors"
    cr.save(nn.Sequential(nn.Linear(4, 3)), str(model), metadata={"preprocessing": PREP})
    r = subprocess.run([sys.executable, "-c", code, str(model)], capture_output=True, text=True, env=cli_env(home),
                       cwd=home, timeout=COMMAND_TIMEOUT)
    _one_line(r, "out of memory", "364. TiB")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
@pytest.mark.parametrize("args", [["evaluate", "{fifo}"], ["predict", "m.safetensors", "{fifo}"],
                                  ["train", "--csv", "{fifo}"], ["evaluate", "m.safetensors", "--csv", "{fifo}"]])
def test_a_fifo_given_as_a_file_is_refused_not_waited_on(home, args):
    fifo = home / "pipe"
    os.mkfifo(fifo)
    cr.save(nn.Sequential(nn.Linear(4, 3)), str(home / "m.safetensors"), metadata={"preprocessing": PREP})
    r = run_cli([a.format(fifo=fifo) for a in args], home)  # would hang for ever (COMMAND_TIMEOUT guards)
    assert r.returncode == 2 and "not a regular file" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_library_readers_refuse_fifos_and_devices(tmp_path):
    from chainrule.data import csv, read_idx

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    for read in (lambda: cr.load(fifo), lambda: csv(fifo), lambda: read_idx(fifo), lambda: read_idx("/dev/zero")):
        with pytest.raises(ChainruleError, match="not a regular file"):
            read()
