"""Ctrl-C at any moment of the command's start-up: exit non-zero with one line, no traceback,
never a run that carries on and exits 0. (Before the guard: 9 of 30 runs printed a
KeyboardInterrupt traceback from inside an import.)"""
from __future__ import annotations

import random
import signal
import subprocess
import sys
import time

from .conftest import chainrule_cmd, cli_env, ctrl_c_as_in_a_terminal, ctrl_c_ignored


def test_sigint_at_random_startup_moments_never_prints_a_traceback(home):
    rng = random.Random(20)
    for _ in range(12):
        delay = rng.uniform(0.0, 1.2)  # from interpreter start-up to the first epochs
        proc = subprocess.Popen(chainrule_cmd("train", "--dataset", "digits", "--epochs", "500", "--cv", "0"),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(home), cwd=home,
                                preexec_fn=ctrl_c_as_in_a_terminal)
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
        assert "Traceback" not in err, (delay, err[-800:])
        assert proc.returncode != 0, (delay, out[-300:], err[-300:])


def test_importing_chainrule_in_a_program_leaves_ctrl_c_alone(home):
    # the handler before and after the import: whatever this program's Ctrl-C was (Python's
    # KeyboardInterrupt, or ignored when the test run itself was started with SIGINT ignored)
    code = ("import signal; before = signal.getsignal(signal.SIGINT); import chainrule; "
            "print(signal.getsignal(signal.SIGINT) is before)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=cli_env(home), cwd=home)
    assert r.stdout.strip() == "True", (r.returncode, r.stdout, r.stderr)


def test_a_command_started_with_ctrl_c_ignored_keeps_ignoring_it(home):
    # `nohup chainrule train &` in a script: the shell starts background jobs with SIGINT
    # ignored; neither the start-up guard nor the running command may take that back
    proc = subprocess.Popen(chainrule_cmd("train", "--dataset", "digits", "--epochs", "100000", "--cv", "0"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(home), cwd=home,
                            preexec_fn=ctrl_c_ignored)
    try:
        for delay in (0.2, 1.0, 1.0):    # during start-up, then while it trains
            time.sleep(delay)
            proc.send_signal(signal.SIGINT)
        time.sleep(1.0)
        assert proc.poll() is None, proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.communicate(timeout=60)
