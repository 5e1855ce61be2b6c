"""Every bad argument to ``chainrule train`` gives one line on stderr and exit status 2, no
traceback (DESIGN.md §3); Ctrl-C saves nothing half-written and says how to resume; a
learning rate that makes the loss NaN stops training without overwriting a good checkpoint.

All commands run as real subprocesses (``python -m chainrule``). The bad-argument cases are
independent, so they run a few at a time once per module and each test checks its result.
"""
from __future__ import annotations

import gzip
import os
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule.io import read_safetensors

from .conftest import COMMAND_TIMEOUT, chainrule_cmd, cli_env, ctrl_c_as_in_a_terminal, run_cli

# name -> (train arguments; {placeholder} is the case's own folder)
BAD_TRAIN_ARGS = {
    "negative learning rate": ["--lr", "-0.1"],
    "NaN learning rate": ["--lr", "nan"],
    "learning rate not a number": ["--lr", "fast"],
    "zero epochs": ["--epochs", "0"],
    "zero batch size": ["--batch-size", "0"],
    "negative hidden width": ["--hidden", "16,-3"],
    "unknown dataset": ["--dataset", "imagenet"],
    "unknown option": ["--learning-rate", "0.1"],
    "missing data directory": ["--dataset", "mnist", "--data-dir", "{dir}/no-such-dir"],
    "mnist files absent": ["--dataset", "mnist", "--data-dir", "{dir}/empty"],
    "malformed mnist files": ["--dataset", "mnist", "--data-dir", "{dir}/bad-mnist"],
    "missing csv file": ["--csv", "{dir}/no-such.csv"],
    "csv is a directory": ["--csv", "{dir}/empty"],
    "binary csv file": ["--csv", "{dir}/binary.csv"],
    "ragged csv file": ["--csv", "{dir}/ragged.csv"],
    "csv with unknown target": ["--csv", "{dir}/good.csv", "--target", "nope"],
    "empty csv file": ["--csv", "{dir}/empty.csv"],
    "resume without --out": ["--resume"],
    "resume without a checkpoint": ["--out", "{dir}/fresh", "--resume"],
    "resume from a malformed checkpoint": ["--out", "{dir}/garbage-ckpt", "--resume"],
    "resume from a pickle": ["--out", "{dir}/pickle-ckpt", "--resume"],
    "resume from a truncated checkpoint": ["--out", "{dir}/truncated-ckpt", "--resume"],
    "--out is a file": ["--out", "{dir}/good.csv", "--epochs", "1"],
}


def _make_files(d: Path) -> None:
    (d / "empty").mkdir()
    bad = d / "bad-mnist"
    bad.mkdir()
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                 "t10k-labels-idx1-ubyte.gz"):
        (bad / name).write_bytes(gzip.compress(b"\x00\x00\x08\x03" + b"\xff" * 12 + b"short", mtime=0))
    (d / "binary.csv").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe")
    (d / "ragged.csv").write_text("a,b,y\n1,2,0\n3,4\n5,6,1\n")
    (d / "good.csv").write_text("a,b,y\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(20)))
    (d / "empty.csv").write_text("")
    for sub, content in (("garbage-ckpt", b"this is not a checkpoint\n" * 4),
                         ("pickle-ckpt", b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00}\x94.")):
        (d / sub).mkdir()
        (d / sub / "checkpoint.safetensors").write_bytes(content)
    # a real checkpoint, cut in half
    src = d / "full.safetensors"
    from chainrule import nn
    cr.save_checkpoint(src, nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2)), epoch=1)
    (d / "truncated-ckpt").mkdir()
    raw = src.read_bytes()
    (d / "truncated-ckpt" / "checkpoint.safetensors").write_bytes(raw[: len(raw) // 2])


@pytest.fixture(scope="module")
def bad_results(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli-errors")
    home = root / "home"
    home.mkdir()
    _make_files(root)

    def one(args):
        return run_cli(["train", "--quiet", *[a.replace("{dir}", str(root)) for a in args]], home)

    with ThreadPoolExecutor(max_workers=3) as pool:
        results = dict(zip(BAD_TRAIN_ARGS, pool.map(one, BAD_TRAIN_ARGS.values())))
    return results


def assert_one_line_error(r: subprocess.CompletedProcess, what: str) -> None:
    lines = r.stderr.splitlines()
    assert r.returncode == 2, f"{what}: exit status {r.returncode}, stderr:\n{r.stderr}"
    assert "Traceback" not in r.stderr, f"{what}: traceback on stderr:\n{r.stderr}"
    assert len(lines) == 1 and lines[0].strip(), f"{what}: expected one line on stderr, got:\n{r.stderr}"
    assert lines[0].startswith("chainrule"), lines[0]


@pytest.mark.parametrize("case", list(BAD_TRAIN_ARGS))
def test_bad_train_argument_is_one_line_and_exit_2(bad_results, case):
    assert_one_line_error(bad_results[case], case)


def test_errors_name_the_file(bad_results):
    for case, name in (("binary csv file", "binary.csv"), ("ragged csv file", "ragged.csv"),
                       ("malformed mnist files", "bad-mnist"), ("resume from a pickle", "checkpoint.safetensors"),
                       ("resume from a truncated checkpoint", "checkpoint.safetensors")):
        assert name in bad_results[case].stderr, (case, bad_results[case].stderr)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read a file whatever its permissions")
def test_unreadable_csv_is_one_line_and_exit_2(tmp_path, home):
    p = tmp_path / "secret.csv"
    p.write_text("a,y\n1,0\n2,1\n")
    p.chmod(0)
    assert_one_line_error(run_cli(["train", "--quiet", "--csv", str(p)], home), "unreadable csv")


def test_no_command_and_unknown_command(home):
    assert_one_line_error(run_cli([], home), "no command")
    assert_one_line_error(run_cli(["trian"], home), "unknown command")


# ----------------------------------------------------------------------------- Ctrl-C
def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = COMMAND_TIMEOUT) -> None:
    end = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"training ended before {path.name} appeared: {proc.communicate()}")
        if time.monotonic() > end:
            proc.kill()
            raise AssertionError(f"{path} did not appear")
        time.sleep(0.02)


def test_ctrl_c_keeps_a_checkpoint_and_says_how_to_resume(tmp_path, home):
    out = tmp_path / "run"
    ckpt = out / "checkpoint.safetensors"
    proc = subprocess.Popen(chainrule_cmd("train", "--dataset", "xor", "--epochs", "100000", "--out", str(out),
                                          "--quiet"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=cli_env(home), preexec_fn=ctrl_c_as_in_a_terminal)
    try:
        _wait_for(ckpt, proc)
        time.sleep(0.3)  # land somewhere inside a later epoch or checkpoint write
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=COMMAND_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err, err
    assert "--resume" in err and str(out) in err, err
    ck = cr.load_checkpoint(ckpt)
    assert ck["epoch"] >= 1
    assert all(np.isfinite(v).all() for v in ck["model_state"].values())
    # the message's advice works: resume (to a small epoch count) and finish
    r = run_cli(["train", "--dataset", "xor", "--epochs", str(ck["epoch"] + 1), "--out", str(out), "--quiet",
                 "--resume"], home)
    assert r.returncode == 0, r.stderr
    assert cr.load_checkpoint(ckpt)["epoch"] == ck["epoch"] + 1


# ----------------------------------------------------------------------------- NaN
def _weights(path: Path) -> dict:
    tensors, _ = read_safetensors(path)
    return tensors


def test_huge_learning_rate_stops_with_a_message_and_keeps_the_good_checkpoint(tmp_path, home):
    out = tmp_path / "run"
    ckpt = out / "checkpoint.safetensors"
    r = run_cli(["train", "--dataset", "xor", "--epochs", "2", "--out", str(out), "--quiet"], home)
    assert r.returncode == 0, r.stderr
    good = _weights(ckpt)
    assert all(np.isfinite(v).all() for v in good.values())

    args = ["train", "--dataset", "xor", "--epochs", "6", "--out", str(out), "--quiet", "--overwrite",
            "--optimizer", "sgd", "--lr", "1e30"]
    r = run_cli(args, home)
    assert r.returncode != 0, r.stdout
    assert "Traceback" not in r.stderr, r.stderr
    assert r.stderr.strip(), "no message on stderr"
    assert any(w in r.stderr.lower() for w in ("nan", "inf", "diverged")), r.stderr
    assert "learning rate" in r.stderr.lower(), r.stderr
    after = _weights(ckpt)  # still loads, and holds no NaN/Inf
    assert all(np.isfinite(v).all() for v in after.values() if v.dtype.kind == "f")
    ck = cr.load_checkpoint(ckpt)
    if ck["epoch"] == 2:  # diverged within its first epoch: the old checkpoint is untouched
        for k in good:
            np.testing.assert_array_equal(after[k], good[k])
    assert not (out / "model.safetensors").exists() or all(
        np.isfinite(v).all() for v in _weights(out / "model.safetensors").values())


# ----------------------------------------------------------------------------- other commands
# (in-process: cli.main catches what the command line catches, and anything else it lets
# through would fail the test with its traceback, just as it would print one)
class _Result:
    def __init__(self, returncode: int, stderr: str) -> None:
        self.returncode, self.stderr = returncode, stderr


@pytest.fixture
def main_in_process(capsys, monkeypatch, home):
    from chainrule.cli import main

    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("CHAINRULE_DATA", str(home / "data"))

    def run(args):
        capsys.readouterr()
        code = main(args)
        return _Result(code, capsys.readouterr().err)

    return run


def test_plot_of_a_malformed_run_directory_is_one_line_and_exit_2(tmp_path, main_in_process):
    pytest.importorskip("matplotlib")
    cases = {
        "not-utf8": ("epoch,loss\n1,0.5\n\xff\xfe".encode("latin-1"), None),
        "inf-epoch": (b"epoch,loss\ninf,0.5\n", None),
        "nan-epoch": (b"epoch,loss\nnan,0.5\n", None),
        "metrics-list": (b"epoch,loss\n1,0.5\n", b"[1, 2]"),
    }
    for name, (history, metrics) in cases.items():
        d = tmp_path / name
        d.mkdir()
        (d / "history.csv").write_bytes(history)
        if metrics is not None:
            (d / "metrics.json").write_bytes(metrics)
            (d / "model.safetensors").write_bytes(b"garbage")
            r = main_in_process(["plot", str(d), "--out", str(tmp_path / "png")])
            assert r.returncode in (0, 2), (name, r.stderr)
            continue
        assert_one_line_error(main_in_process(["plot", str(d)]), f"plot {name}")


def test_evaluate_predict_and_graph_reject_hostile_model_files(tmp_path, main_in_process):
    pickled = tmp_path / "model.safetensors"
    pickled.write_bytes(b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00}\x94.")
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\xff" * 8 + b"{}")
    table = tmp_path / "rows.csv"
    table.write_text("a,b\n1,2\n")
    for model in (pickled, garbage):
        for args in (["evaluate", str(model)], ["predict", str(model), str(table)],
                     ["graph", "--model", str(model), "--out", str(tmp_path / "g.svg")]):
            assert_one_line_error(main_in_process(args), " ".join(args))


@pytest.mark.parametrize("tamper", [
    {"preprocessing": {"num_features": "x"}},
    {"preprocessing": {"mean": "abc"}},
    {"preprocessing": {"mean": [0.0]}},
    {"preprocessing": {"columns": [1, 2]}},
    {"preprocessing": {"class_names": 5}},
    {"preprocessing": {"feature_names": [1, 2], "num_features": 3, "mean": [0.0] * 3, "std": [1.0] * 3}},
    {"preprocessing": {"feature_names": ["x1", "x2", "x1"]}},  # all in the CSV header: 3 columns for 2
    {"preprocessing": {"task": "regression"}, "target_scale": {"std": "x"}},
], ids=["num_features", "mean-type", "mean-length", "columns", "class_names", "feature_names",
    "feature_names-too-many", "target_scale"])
def test_tampered_model_metadata_is_one_line_and_exit_2(tmp_path, main_in_process, tamper):
    # found while probing the commands: predict/evaluate trusted the JSON metadata of a model
    # file (int("x"), float("abc"), 5 iterated ...) and died with a traceback
    from chainrule import nn
    from chainrule.io import save

    prep = {"dataset": "xor", "task": "classification", "num_features": 2, "num_classes": 2,
            "class_names": ["0", "1"], "feature_names": ["x1", "x2"], "mean": [0.0, 0.0], "std": [1.0, 1.0],
            "columns": None, "target_name": None}
    meta = {"preprocessing": {**prep, **tamper["preprocessing"]}, "target_scale": tamper.get("target_scale")}
    model = tmp_path / "model.safetensors"
    save(nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 2)), model, metadata=meta)
    rows = tmp_path / "rows.csv"
    rows.write_text("x1,x2\n0.1,0.2\n")
    for args in (["predict", str(model), str(rows)], ["evaluate", str(model)]):
        r = main_in_process(args)
        assert_one_line_error(r, " ".join(args))
        assert "model.safetensors" in r.stderr


@pytest.mark.parametrize("value", ["inf", "1e400", "3e38x"])
def test_evaluate_rejects_a_non_finite_regression_target(tmp_path, main_in_process, value):
    # found while probing evaluate --csv: a NaN/Inf target gave "RMSE nan" and exit 0
    table = tmp_path / "t.csv"
    table.write_text("a,b,y\n" + "".join(f"{i},{i % 3},{i * 0.5}\n" for i in range(30)))
    out = tmp_path / "run"
    args = ["train", "--csv", str(table), "--epochs", "1", "--out", str(out), "--quiet"]
    assert main_in_process(args).returncode == 0
    bad = tmp_path / "bad.csv"
    bad.write_text(f"a,b,y\n1,2,3\n1,2,{value}\n")
    r = main_in_process(["evaluate", str(out / "model.safetensors"), "--csv", str(bad)])
    assert_one_line_error(r, f"evaluate target {value}")
    assert "bad.csv, line 3" in r.stderr


def test_evaluate_skips_rows_whose_target_is_missing_and_says_so(tmp_path, main_in_process, capsys):
    table = tmp_path / "t.csv"
    table.write_text("a,b,y\n" + "".join(f"{i},{i % 3},{i * 0.5}\n" for i in range(30)))
    out = tmp_path / "run"
    trained = main_in_process(["train", "--csv", str(table), "--epochs", "1", "--out", str(out), "--quiet"])
    assert trained.returncode == 0
    gappy = tmp_path / "gappy.csv"
    gappy.write_text("a,b,y\n1,2,3\n1,2,NaN\n4,1,\n")
    from chainrule.cli import main

    capsys.readouterr()
    assert main(["evaluate", str(out / "model.safetensors"), "--csv", str(gappy)]) == 0
    printed = capsys.readouterr().out
    assert "1 examples" in printed and "2 row(s) whose target is missing skipped" in printed
