"""``train --out DIR`` never loses a previous run, and ``--resume`` continues only the same run:
a folder holding a checkpoint is refused without --resume/--overwrite, every setting that shapes
the run is stored in the checkpoint and a difference is refused naming the flag, ``--out ""``
is refused, and a failed write (a full disk) names the file."""
from __future__ import annotations

import errno
import os

import pytest

from chainrule.cli import main

from .conftest import run_cli

BASE = ["train", "--dataset", "iris", "--cv", "0", "--epochs", "3", "--quiet"]


def _error(r) -> str:
    assert r.returncode == 2, (r.returncode, r.stderr[-500:])
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("chainrule: error:"), r.stderr
    return lines[0]


@pytest.fixture
def first_run(home):
    out = home / "run"
    r = run_cli(BASE + ["--out", str(out)], home)
    assert r.returncode == 0, r.stderr
    return out


def test_a_folder_holding_a_run_is_not_overwritten_unasked(home, first_run):
    before = (first_run / "checkpoint.safetensors").read_bytes()
    line = _error(run_cli(BASE + ["--out", str(first_run), "--epochs", "1"], home))
    assert "already holds a run" in line and "--resume" in line and "--overwrite" in line
    assert (first_run / "checkpoint.safetensors").read_bytes() == before


def test_overwrite_replaces_the_run(home, first_run):
    r = run_cli(BASE + ["--out", str(first_run), "--overwrite", "--epochs", "1"], home)
    assert r.returncode == 0, r.stderr
    assert "after 1 epoch" in r.stdout


def test_resume_with_the_same_settings_continues(home, first_run):
    r = run_cli(BASE + ["--out", str(first_run), "--resume"], home)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("flag, value", [("--seed", "1"), ("--batch-size", "8"), ("--val-fraction", "0.2"),
                                         ("--schedule", "step"), ("--early-stopping", "2"), ("--lr", "0.5"),
                                         ("--hidden", "7"), ("--activation", "relu"), ("--weight-decay", "0.01")])
def test_resume_refuses_a_different_setting_by_name(home, first_run, flag, value):
    line = _error(run_cli(BASE + ["--out", str(first_run), "--resume", flag, value], home))
    assert flag in line and "then" in line and "now" in line
    others = [f for f in ("--seed", "--batch-size", "--val-fraction", "--schedule", "--early-stopping", "--lr",
                          "--hidden", "--activation", "--weight-decay") if f != flag]
    assert not any(f + " " in line for f in others), line  # only the flag that really differs


def test_resume_on_another_data_set_names_the_data_not_the_defaults(home, first_run):
    args = [a if a != "iris" else "digits" for a in BASE]
    line = _error(run_cli(args + ["--out", str(first_run), "--resume"], home))
    assert "other data" in line and "iris" in line and "digits" in line
    assert not any(f in line for f in ("--lr", "--batch-size", "--hidden", "--epochs")), line


def test_an_empty_out_is_refused(home):
    assert "--out needs a folder name" in _error(run_cli(BASE + ["--out", ""], home))


def test_a_full_disk_names_the_file(tmp_path, monkeypatch, capsys):
    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    out = tmp_path / "run"
    assert main(BASE + ["--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "No space left on device" in err[0] and str(out / "checkpoint.safetensors") in err[0]
