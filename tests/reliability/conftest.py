"""Helpers for the reliability tests: run the ``chainrule`` command as a real subprocess."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

# A hang guard for one command; no test asserts on how long anything takes.
COMMAND_TIMEOUT = 120


def cli_env(home: Path) -> dict:
    """An environment in which no cached data set or user configuration is found."""
    env = dict(os.environ)
    env.update(HOME=str(home), CHAINRULE_DATA=str(home / "data"), PYTHONUNBUFFERED="1",
               OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", COLUMNS="200")
    env.pop("PYTHONWARNINGS", None)
    return env


def ctrl_c_as_in_a_terminal() -> None:
    """``preexec_fn`` for a command a test interrupts: SIGINT's default disposition, as a
    command typed in a terminal has it, even when the test run itself was started with SIGINT
    ignored (``nohup pytest &`` from a script), which the command would otherwise inherit."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def ctrl_c_ignored() -> None:
    """``preexec_fn`` for a command started as a script's ``nohup chainrule ... &`` is: SIGINT ignored."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def chainrule_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "chainrule", *args]


def run_cli(args, home: Path, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(chainrule_cmd(*args), capture_output=True, text=True, env=cli_env(home),
                          cwd=cwd or home, timeout=COMMAND_TIMEOUT)


@pytest.fixture
def home(tmp_path) -> Path:
    h = tmp_path / "home"
    h.mkdir()
    return h


PEAK_RSS = """
import json, sys
outcome = {}
try:
    exec(compile(sys.argv[1], "<case>", "exec"), {"__name__": "case"})
    outcome["error"] = None
except BaseException as exc:  # what the case raised, by class name and message
    outcome["error"] = type(exc).__name__
    outcome["message"] = str(exc)[:300]
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the (large) forking test process
with open("/proc/self/status") as f:
    outcome["peak_mb"] = next(int(l.split()[1]) for l in f if l.startswith("VmHWM:")) / 1024
print(json.dumps(outcome))
"""


def peak_rss(code: str, home: Path) -> dict:
    """Run ``code`` in a fresh interpreter; ``{"error", "message", "peak_mb"}`` (peak resident
    memory of that process, in MiB, whatever the code raised)."""
    import json

    r = subprocess.run([sys.executable, "-c", PEAK_RSS, code], capture_output=True, text=True,
                       env=cli_env(home), cwd=home, timeout=COMMAND_TIMEOUT)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])
