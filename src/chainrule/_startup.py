"""Ctrl-C while the ``chainrule`` command starts up: exit quietly, never a traceback.

Importing NumPy and the command modules takes a good part of a second; a Ctrl-C in that
window used to surface as a ``KeyboardInterrupt`` traceback from deep inside an import (18 of
46 tries) or, caught by accident, was lost (2 runs finished with exit 0). ``chainrule/__init__``
calls :func:`guard` before importing anything heavy; it acts only when this process *is* the
command (``chainrule ...`` or ``python -m chainrule ...``), never for ``import chainrule`` in a
program, whose Ctrl-C stays the program's. :func:`release` (called by ``cli.main`` just before
the subcommand runs) restores Python's handler, so from then on Ctrl-C is a
``KeyboardInterrupt`` that the commands handle (``train`` saves and says how to resume).

Standard library only: this module must import in microseconds.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
from types import FrameType

_guarded = False
# the handler guard() replaces, for release() to put back (None: one set outside Python)
_previous = signal.getsignal(signal.SIGINT)


def is_command() -> bool:
    """Whether this process was started as ``chainrule ...`` or ``python -m chainrule ...``."""
    if os.path.basename(sys.argv[0] if sys.argv else "") in ("chainrule", "chainrule.exe"):
        return True
    argv = getattr(sys, "orig_argv", [])
    for i, arg in enumerate(argv[1:], 1):
        if arg == "-m":
            return i + 1 < len(argv) and argv[i + 1] == "chainrule"
        if arg.startswith("-m"):
            return arg[2:] == "chainrule"
        if not arg.startswith("-"):
            return False
    return False


def _exit_quietly(signum: int, frame: FrameType | None) -> None:
    os.write(2, b"chainrule: interrupted\n")
    os._exit(130)  # nothing has started yet: no file is open for writing, nothing to save


def guard() -> None:
    """Make Ctrl-C end the starting command at once (exit 130), if this process is the command.

    A command started with SIGINT ignored (``nohup chainrule train &`` from a script: the
    shell ignores it for background jobs, and Python keeps it ignored) is left ignoring it."""
    global _guarded, _previous
    if _guarded or not is_command() or threading.current_thread() is not threading.main_thread():
        return
    try:
        previous = signal.getsignal(signal.SIGINT)
        if previous == signal.SIG_IGN:
            return
        signal.signal(signal.SIGINT, _exit_quietly)
        _previous, _guarded = previous, True
    except (ValueError, OSError):  # no signals here (embedded interpreter)
        pass


def release() -> None:
    """From here on Ctrl-C is what it was before :func:`guard`: Python's ``KeyboardInterrupt``
    (the running command handles it)."""
    global _guarded
    if _guarded:
        signal.signal(signal.SIGINT, signal.default_int_handler if _previous is None else _previous)
        _guarded = False
