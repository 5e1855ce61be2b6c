"""Run every command and Python block of docs/learn-backpropagation.md, in order, in one
empty folder, and check the sample output the guide shows.

Conventions of the guide that this test reads:
* ```bash blocks: one ``chainrule ...`` command per line; ``# ... exit status N`` after a
  command gives its expected exit status (default 0).
* ```python blocks: executed as they are (each one self-contained).
* a ```text block right after a command shows its output: every line must appear in the
  command's output; a line ending in ``...`` must appear up to the dots; ``...`` alone skips.
* ``../shared/data/mnist`` (the data beside the checkout) is replaced by the real path; MNIST
  commands are skipped when the files are absent. ``chainrule playground`` is started as a
  process, its page fetched, and the process stopped.
"""
from __future__ import annotations

import contextlib
import io
import re
import shlex
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "learn-backpropagation.md"
MNIST_DIR = ROOT.parent / "shared" / "data" / "mnist"


def _blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of every fenced block, in order."""
    return [(m.group(1), m.group(2)) for m in re.finditer(r"^```(\w*)\n(.*?)^```", text, re.S | re.M)]


def _steps() -> list[dict]:
    """The guide as a list of steps: commands (with the text block that follows) and Python."""
    steps: list[dict] = []
    for lang, body in _blocks(GUIDE.read_text(encoding="utf-8")):
        if lang == "bash":
            for line in body.splitlines():
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                cmd, _, comment = line.partition(" #")
                m = re.search(r"exit status (\d+)", comment)
                steps.append({"kind": "cmd", "cmd": cmd.strip(), "exit": int(m.group(1)) if m else 0,
                              "expect": None})
        elif lang == "python":
            steps.append({"kind": "python", "code": body})
        elif lang == "text" and steps and steps[-1]["kind"] == "cmd":
            steps[-1]["expect"] = body
    return steps


STEPS = _steps()


def _id(step: dict) -> str:
    if step["kind"] == "cmd":
        return step["cmd"][:70]
    first = next((ln for ln in step["code"].splitlines() if ln.strip() and not ln.startswith("import")), "")
    return f"python: {first[:60]}"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("guide")


def _check_output(out: str, expect: str | None) -> None:
    if not expect:
        return
    norm = "\n".join(" ".join(line.split()) for line in out.splitlines())
    for line in expect.splitlines():
        want = " ".join(line.split())
        if not want or want == "...":
            continue
        if want.endswith("..."):
            want = want[:-3].rstrip()
        assert want in norm, f"the guide shows {want!r} but the command printed:\n{out}"


def _run_playground(argv: list[str]) -> None:
    from chainrule.cli import build_parser

    parser = build_parser()
    sub = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    if "playground" not in sub:
        pytest.skip("the playground command is not available in this build")
    opts = sub["playground"].format_help()
    extra = [o for o in ("--no-browser",) if o in opts] + (["--port", "0"] if "--port" in opts else [])
    pytest.importorskip("uvicorn")
    proc = subprocess.Popen([sys.executable, "-m", "chainrule", *argv[1:], *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        url = None
        while time.monotonic() < deadline and url is None:
            line = proc.stdout.readline()
            if not line:
                break
            m = re.search(r"(http://\S+)", line)
            url = m.group(1) if m else None
        assert url, "the playground did not print its address"
        with urllib.request.urlopen(url, timeout=30) as resp:
            assert resp.status == 200
            assert b"<html" in resp.read().lower()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _param(step: dict):
    slow = step["kind"] == "cmd" and "mnist" in step["cmd"]
    return pytest.param(step, id=_id(step), marks=[pytest.mark.slow] if slow else [])


@pytest.mark.parametrize("step", [_param(s) for s in STEPS])
def test_guide_step(step: dict, workdir: Path, monkeypatch) -> None:
    monkeypatch.chdir(workdir)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    if step["kind"] == "python":
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            exec(compile(step["code"], str(GUIDE), "exec"), {"__name__": "__guide__"})
        return
    argv = shlex.split(step["cmd"])
    assert argv[0] == "chainrule", f"the guide's commands start with 'chainrule': {step['cmd']}"
    if "../shared/data/mnist" in argv:
        if not MNIST_DIR.is_dir():
            pytest.skip(f"MNIST files not found in {MNIST_DIR}")
        argv = [str(MNIST_DIR) if a == "../shared/data/mnist" else a for a in argv]
    if argv[1] == "playground":
        _run_playground(argv)
        return
    from chainrule.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            code = main(argv[1:])
    assert code == step["exit"], (f"{step['cmd']} exited with {code}, expected {step['exit']}\n"
                                  f"stdout:\n{out.getvalue()}\nstderr:\n{err.getvalue()}")
    _check_output(out.getvalue() + err.getvalue(), step["expect"])


def test_guide_is_linked_and_files_appear(workdir: Path) -> None:
    """After the steps ran: the files the guide talks about exist."""
    if not (workdir / "xor-run").is_dir():
        pytest.skip("the guide's steps did not run in this session")
    for name in ("graph.svg", "model-graph.svg", "noisy.csv", "xor-run/loss.png", "xor-run/grad_norms.png",
                 "xor-run/decision_boundary.png", "deep-sigmoid/grad_norms.png", "noisy-run/loss.png"):
        assert (workdir / name).is_file(), name
