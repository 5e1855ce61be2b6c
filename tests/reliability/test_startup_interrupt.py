"""Ctrl-C at any moment of the command's start-up: exit non-zero with one line, no traceback,
never a run that carries on and exits 0. (Before the guard: 9 of 30 runs printed a
KeyboardInterrupt traceback from inside an import.)"""
from __future__ import annotations

import random
import signal
import subprocess
import sys
import time

from .conftest import chainrule_cmd, cli_env


def test_sigint_at_random_startup_moments_never_prints_a_traceback(home):
    rng = random.Random(20)
    for _ in range(12):
        delay = rng.uniform(0.0, 1.2)  # from interpreter start-up to the first epochs
        proc = subprocess.Popen(chainrule_cmd("train", "--dataset", "digits", "--epochs", "500", "--cv", "0"),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(home), cwd=home)
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
        assert "Traceback" not in err, (delay, err[-800:])
        assert proc.returncode != 0, (delay, out[-300:], err[-300:])


def test_importing_chainrule_in_a_program_leaves_ctrl_c_alone(home):
    code = "import signal, chainrule; print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=cli_env(home), cwd=home)
    assert r.stdout.strip() == "True", r.stderr
