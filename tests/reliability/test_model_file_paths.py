"""A model file's strings never become paths: ``evaluate`` and ``predict`` take only registered
data set names from its metadata, and paths only from the user's own flags.

Each command runs in a subprocess under an audit hook that reports every ``open`` of the
canary file the hostile metadata points at, so "nothing of it was read" is checked directly,
not only by looking at what was printed.
"""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

import chainrule as cr
from chainrule import nn

from .conftest import COMMAND_TIMEOUT, cli_env

SECRET = "root-secret-line-7f3a,x,y"

AUDITED = """
import os, sys
canary = os.path.realpath(sys.argv[1])
def hook(event, args):
    if event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
        try:
            if os.path.realpath(os.fsdecode(args[0])) == canary:
                os.write(2, b"CANARY-OPENED\\n")
        except Exception:
            pass
sys.addaudithook(hook)
from chainrule.cli import main
sys.exit(main(sys.argv[2:]))
"""


def _iris_like_model(path, dataset: str, data_dir: str | None = None) -> None:
    model = nn.Sequential(nn.Linear(4, 3))
    meta = {"preprocessing": {"dataset": dataset, "task": "classification", "num_features": 4,
                              "num_classes": 3, "class_names": ["a", "b", "c"],
                              "mean": [0.0] * 4, "std": [1.0] * 4, "columns": None},
            "data_dir": data_dir}
    cr.save(model, str(path), metadata=meta)


def _run(home, canary, *args):
    return subprocess.run([sys.executable, "-c", AUDITED, str(canary), *args], capture_output=True,
                          text=True, env=cli_env(home), cwd=home, timeout=COMMAND_TIMEOUT)


@pytest.fixture
def canary(tmp_path):
    path = tmp_path / "secret" / "passwd"
    path.parent.mkdir()
    path.write_text(SECRET + "\nsecond,line\n")
    return path


def _traversal(home, target) -> str:
    """``../../..`` up to the root from ``home``, then down to ``target``."""
    return os.path.join(*([".."] * len(home.resolve().parts)), *target.resolve().parts[1:])


@pytest.mark.parametrize("kind", ["relative", "absolute", "as data_dir"])
def test_evaluate_never_opens_a_path_from_the_metadata(home, canary, kind):
    model = home / "model.safetensors"
    if kind == "relative":
        _iris_like_model(model, _traversal(home, canary))
    elif kind == "absolute":
        _iris_like_model(model, str(canary))
    else:  # a registered name, but a data folder chosen by whoever wrote the file
        _iris_like_model(model, "mnist", data_dir=str(canary.parent))
        (canary.parent / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b" + b"\0" * 30)
    r = _run(home, canary, "evaluate", str(model))
    assert r.returncode == 2, r.stderr
    assert "CANARY-OPENED" not in r.stderr
    assert "root-secret" not in r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("chainrule: error:"), r.stderr
    if kind != "as data_dir":
        assert "--dataset NAME or --csv PATH" in lines[0]
    else:  # the MNIST loader looked in the cache (empty here), not in the file's folder
        assert str(canary.parent) not in lines[0]


def test_a_registered_name_in_the_metadata_is_still_used(home, canary):
    model = home / "model.safetensors"
    _iris_like_model(model, "iris")
    r = _run(home, canary, "evaluate", str(model))
    assert r.returncode == 0, r.stderr
    assert "iris test split" in r.stdout


def test_predict_reads_only_the_files_the_user_named(home, canary):
    model = home / "model.safetensors"
    _iris_like_model(model, str(canary))
    rows = home / "rows.csv"
    rows.write_text("5.1,3.5,1.4,0.2\n6.2,2.9,4.3,1.3\n")
    r = _run(home, canary, "predict", str(model), str(rows))
    assert r.returncode == 0, r.stderr
    assert "CANARY-OPENED" not in r.stderr
    assert r.stdout.splitlines()[0] == "prediction,p_a,p_b,p_c" and len(r.stdout.splitlines()) == 3
