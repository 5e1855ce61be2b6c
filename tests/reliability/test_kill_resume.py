"""SIGKILL ``chainrule train`` at random moments, 20 times: every time the newest checkpoint
loads, and resuming finishes with exactly the weights of an uninterrupted run.

Kills land anywhere: during start-up, inside an epoch, or while a checkpoint is being
written (checkpoints go to a temporary file, are fsynced and renamed into place, so a kill
can only ever leave the previous complete checkpoint). The delays are seeded and scaled to
the time an uninterrupted run takes here, so they spread over the whole run on a fast or a
loaded machine alike. Killed runs are resumed (``--resume``) in the same folder and killed
again; whenever a run gets to the end, its final model is compared with the reference and a
new folder starts.
"""
from __future__ import annotations

import random
import subprocess
import time
from pathlib import Path

import numpy as np

import chainrule as cr
from chainrule.io import read_safetensors

from .conftest import COMMAND_TIMEOUT, chainrule_cmd, cli_env

KILLS = 20
EPOCHS = 100  # training, not start-up, is most of a run, so most kills land inside it
TRAIN = ["train", "--dataset", "xor", "--epochs", str(EPOCHS), "--seed", "3", "--quiet"]


def _tensors(path: Path) -> dict[str, np.ndarray]:
    return read_safetensors(path)[0]


def _assert_same(a: dict, b: dict, what: str) -> None:
    assert a.keys() == b.keys(), what
    for k in a:
        assert a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]), f"{what}: {k} differs"


def test_sigkill_at_random_moments_then_resume_matches_an_unbroken_run(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = cli_env(home)

    t0 = time.monotonic()
    ref_dir = tmp_path / "reference"
    r = subprocess.run(chainrule_cmd(*TRAIN, "--out", str(ref_dir)), env=env, capture_output=True, text=True,
                       timeout=COMMAND_TIMEOUT)
    ref_seconds = time.monotonic() - t0
    assert r.returncode == 0, r.stderr
    ref_model = _tensors(ref_dir / "model.safetensors")
    ref_ckpt = _tensors(ref_dir / "checkpoint.safetensors")

    rng = random.Random(20261124)
    chain = 0
    out = tmp_path / f"run{chain}"
    kills = completed = 0
    epochs_seen: list[int] = []  # checkpoint epoch after each kill that found one
    last_epoch = 0
    while kills < KILLS:
        ckpt = out / "checkpoint.safetensors"
        args = [*TRAIN, "--out", str(out)] + (["--resume"] if ckpt.exists() else [])
        err = tmp_path / "stderr.txt"
        with open(err, "w") as ef:
            proc = subprocess.Popen(chainrule_cmd(*args), env=env, stdout=subprocess.DEVNULL, stderr=ef)
            try:
                proc.wait(timeout=rng.uniform(0.1, 1.1) * ref_seconds)
                finished = True
            except subprocess.TimeoutExpired:
                proc.kill()  # SIGKILL: no handler, no cleanup, no flush
                proc.wait(timeout=COMMAND_TIMEOUT)
                finished = False
        if finished:
            assert proc.returncode == 0, err.read_text()
            _assert_same(_tensors(out / "model.safetensors"), ref_model, f"{out} final model")
            completed += 1
            chain += 1
            out = tmp_path / f"run{chain}"
            last_epoch = 0
            continue
        kills += 1
        if not ckpt.exists():
            assert last_epoch == 0, f"kill {kills}: the checkpoint of epoch {last_epoch} disappeared"
            continue
        # the newest checkpoint loads, as a checkpoint and as a model, and holds a whole epoch
        ck = cr.load_checkpoint(ckpt)
        assert last_epoch <= ck["epoch"] <= EPOCHS, (kills, last_epoch, ck["epoch"])
        assert all(np.isfinite(v).all() for v in ck["model_state"].values())
        cr.load(ckpt)
        last_epoch = ck["epoch"]
        epochs_seen.append(ck["epoch"])

    # finish the last interrupted run without killing it
    ckpt = out / "checkpoint.safetensors"
    args = [*TRAIN, "--out", str(out)] + (["--resume"] if ckpt.exists() else [])
    r = subprocess.run(chainrule_cmd(*args), env=env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
    assert r.returncode == 0, r.stderr
    _assert_same(_tensors(out / "model.safetensors"), ref_model, f"{out} final model")
    _assert_same(_tensors(ckpt), ref_ckpt, f"{out} final checkpoint")
    completed += 1
    assert not list(out.glob(".checkpoint.safetensors.*.tmp")), "temporary files left behind"

    assert kills == KILLS
    print(f"{kills} kills, {completed} runs completed, checkpoint epochs found after kills: {epochs_seen}")
    # the kills were not all during start-up: some found a checkpoint part-way through
    assert any(0 < e < EPOCHS for e in epochs_seen), epochs_seen


def test_a_new_run_removes_temporaries_left_by_a_killed_checkpoint_write(tmp_path):
    # found by the kill test: SIGKILL between writing the temporary file and renaming it
    # left .checkpoint.safetensors.<random>.tmp files behind, one per such kill
    from chainrule import nn, optim
    from chainrule.data import toy2d
    from chainrule.training import fit

    ckpt = tmp_path / "checkpoint.safetensors"
    stale = [tmp_path / ".checkpoint.safetensors.abc123.tmp", tmp_path / ".checkpoint.safetensors.x.tmp"]
    for s in stale:
        s.write_bytes(b"half a checkpoint")
    other = tmp_path / ".model.safetensors.abc123.tmp"  # not this checkpoint's: left alone
    other.write_bytes(b"x")
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 2))
    fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), toy2d("xor", n=40).train,
        epochs=1, progress=False, checkpoint=ckpt)
    assert ckpt.exists() and other.exists()
    assert not any(s.exists() for s in stale)


def test_train_out_removes_temporaries_left_by_a_killed_model_save(tmp_path):
    from chainrule.cli import main

    stale = tmp_path / ".model.safetensors.k1ll3d.tmp"  # SIGKILL while the final model was written
    stale.write_bytes(b"half a model")
    assert main(["train", "--dataset", "xor", "--epochs", "1", "--quiet", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "model.safetensors").exists() and not stale.exists()
