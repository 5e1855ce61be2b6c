"""The ``chainrule`` command: ``chainrule train``, ``evaluate``, ``predict``, ``playground`` ...

Each subcommand lives in its own module under ``chainrule.commands`` (see that package's
docstring for the protocol); this file only assembles them and turns errors into one line:

* a bad argument (argparse) or any ``ChainruleError``/``OSError`` -> ``chainrule: error: ...``
  on stderr, exit status 2, never a traceback;
* Ctrl-C -> exit status 130 (``train`` first says how to resume).
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from types import ModuleType

from . import __version__, _startup
from .errors import ChainruleError

#: Subcommand modules in the order ``chainrule -h`` lists them; missing ones are skipped,
#: so each engineer's command appears as soon as its file exists.
COMMAND_MODULES = ("train", "evaluate", "predict", "generate", "playground", "explain", "graph", "plot", "export")


def one_line(message: object) -> str:
    """Squash a message onto one line (error output must be a single line)."""
    return " ".join(str(message).split())


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (``chainrule: error: ...``) and exit 2."""

    def error(self, message: str) -> NoReturn:  # type: ignore[name-defined]  # noqa: F821
        prog = self.prog.split()[0] if self.prog else "chainrule"
        self.exit(2, f"{prog}: error: {one_line(message)} (see '{self.prog} -h')\n")


def load_commands() -> list[ModuleType]:
    """Import the subcommand modules that exist. Only the absence of the module itself is
    tolerated; an ImportError inside an existing module is a bug and propagates."""
    mods = []
    for name in COMMAND_MODULES:
        modname = f"chainrule.commands.{name}"
        try:
            mods.append(importlib.import_module(modname))
        except ModuleNotFoundError as e:
            if e.name != modname:
                raise
    return mods


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="chainrule",
        description="Train, evaluate and explore neural networks built on chainrule's own backpropagation.",
    )
    parser.add_argument("--version", action="version", version=f"chainrule {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    for mod in load_commands():
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=getattr(mod, "DESCRIPTION", mod.HELP),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def _unknown_arguments(parser: ArgumentParser, command: str | None, unknown: list[str]) -> None:
    """Exit with ``unrecognized arguments`` from the subcommand's parser, with a "did you mean"
    for a flag that is one typo away from a real one (``--epcohs`` -> ``--epochs``)."""
    import difflib

    target: argparse.ArgumentParser = parser
    if command is not None and parser._subparsers is not None:
        choices = parser._subparsers._group_actions[0].choices
        if isinstance(choices, dict):
            target = choices.get(command, parser)
    flags = [o for a in target._actions for o in a.option_strings if o.startswith("--")]
    message = f"unrecognized arguments: {' '.join(unknown)}"
    for arg in unknown:
        if arg.startswith("--"):
            close = difflib.get_close_matches(arg.split("=", 1)[0], flags, n=1, cutoff=0.6)
            if close:
                message += f"; did you mean {close[0]}?"
                break
    target.error(message)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args, unknown = parser.parse_known_args(argv)
        if unknown:  # reported by the subcommand's parser, so the hint names its own -h
            _unknown_arguments(parser, getattr(args, "command", None), unknown)
    except SystemExit as e:  # -h, --version (0) or a usage error (2), already printed
        return int(e.code) if isinstance(e.code, int) else (0 if e.code is None else 2)
    if getattr(args, "_run", None) is None:
        names = ", ".join(a.dest for a in parser._subparsers._group_actions[0]._choices_actions)  # type: ignore[union-attr]
        print(f"chainrule: error: choose a command: {names} (see 'chainrule -h')", file=sys.stderr)
        return 2
    args._argv = argv  # so a command can print itself again (train's "resume with: ...")
    try:
        _startup.release()  # Ctrl-C is now a KeyboardInterrupt, handled below or by the command
        return int(args._run(args) or 0)
    except ChainruleError as e:
        print(f"chainrule: error: {one_line(e)}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `chainrule evaluate ... | head`: the reader left; say nothing
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit flush
        except (OSError, ValueError):
            pass
        return 1
    except OSError as e:  # unreadable file, permission denied, disk full ...
        where = f"{e.filename}: " if getattr(e, "filename", None) else ""
        print(f"chainrule: error: {where}{one_line(e.strerror or e)}", file=sys.stderr)
        return 2
    except MemoryError as e:  # NumPy's message names the size: "Unable to allocate 3.7 GiB for an array ..."
        detail = one_line(e) or "an allocation failed"
        print(f"chainrule: error: out of memory: {detail}; try a smaller model, batch or data set", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("chainrule: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
