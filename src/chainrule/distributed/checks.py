"""Failing together: ranks launched differently are refused at start, and a rank that raises
ends the whole job with its message instead of leaving the others waiting in a collective."""
from __future__ import annotations

import contextlib
import os
import sys
import time
import zlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from . import comm


class RanksDiffer(comm.DistributedError):
    """The ranks were started with different configurations or data (raised on every rank)."""

    all_ranks = True


def data_digest(*arrays: Any) -> str:
    """A short fingerprint of arrays: shape, dtype and a CRC-32 of (a strided sample of) the
    bytes — at most ~64k values per array are read, so it is cheap for any data set."""
    parts = []
    for a in arrays:
        a = np.asarray(a)
        flat = a.reshape(-1)
        step = max(1, flat.size // 65536)
        crc = zlib.crc32(np.ascontiguousarray(flat[::step]).tobytes())
        parts.append(f"{a.shape} {a.dtype} crc {crc:08x}")
    return "; ".join(parts)


def check_same(config: dict[str, Any], what: str = "configuration") -> None:
    """Raise :class:`RanksDiffer` on every rank unless ``config`` (a JSON-able dict: argument
    values, data fingerprints) is equal on all ranks. The message names the first field
    that differs, its value on rank 0 and on the first rank that disagrees."""
    if comm.world_size() == 1:
        return
    configs = comm.allgather_json(config, f"comparing the ranks' {what}")
    base = configs[0]
    for r, other in enumerate(configs[1:], 1):
        for key in sorted(set(base) | set(other)):
            if base.get(key) != other.get(key):
                raise RanksDiffer(
                    f"the ranks were launched differently: {key} is {_show(other.get(key))} on rank {r} but "
                    f"{_show(base.get(key))} on rank 0; every rank must run the same command on the same data")


def _show(v: Any) -> str:
    s = repr(v)
    return s if len(s) <= 80 else s[:77] + "..."


@contextlib.contextmanager
def fail_together() -> Iterator[None]:
    """Run a distributed command so that no rank is ever left waiting for a dead one.

    Only rank 0 keeps stdout (the others print nothing but errors). An exception raised on
    every rank at once (:class:`RanksDiffer`) is printed once, by rank 0, as
    ``chainrule: error: ...``, and every rank ends with status 2 without finalising MPI.
    Any other exception on a rank prints ``chainrule: error: rank R: ...`` and aborts the job
    (``MPI_Abort``), so every rank stops with a non-zero status instead of hanging in its next
    collective.
    """
    me = comm.rank()
    if me != 0:
        sys.stdout = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - lives as long as the process
    try:
        yield
    except SystemExit as e:
        if e.code in (0, None):
            raise
        _abort_with(f"exited with status {e.code}", e.code if isinstance(e.code, int) else 1)
    except RanksDiffer as e:
        # every rank met the same difference: rank 0 reports it once, and no rank enters
        # MPI_Finalize at exit (the other ranks may be gone already, and MPICH's finalize can
        # then wait for them until the launcher's kill: a hang seen 1 run in ~40)
        if me == 0:
            print(f"chainrule: error: {' '.join(str(e).split())}", file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(2)
    except KeyboardInterrupt:
        _abort_with("interrupted", 130)
    except BaseException as e:  # noqa: BLE001 - every failure must end the whole job
        from ..errors import ChainruleError

        code = 2 if isinstance(e, (ChainruleError, OSError)) else 1
        text = str(e) if isinstance(e, ChainruleError) else f"{type(e).__name__}: {e}"
        if isinstance(e, OSError) and getattr(e, "filename", None):
            text = f"{e.filename}: {e.strerror or e}"
        if not isinstance(e, (ChainruleError, OSError)):
            import traceback

            traceback.print_exc(file=sys.stderr)
        _abort_with(" ".join(text.split()), code)


def _abort_with(message: str, code: int) -> None:
    if comm.rank() != 0:
        # an error every rank meets (a bad argument value) is reported once: rank 0 prints
        # at once and ends the job within the abort grace, before the others get to print;
        # an error of this rank alone is printed after the pause, then ends the job
        time.sleep(2 * comm.ABORT_GRACE_SECONDS)
    print(f"chainrule: error: rank {comm.rank()}: {message}; stopping all {comm.world_size()} ranks",
          file=sys.stderr, flush=True)
    comm.abort(code)


__all__ = ["RanksDiffer", "check_same", "data_digest", "fail_together"]
