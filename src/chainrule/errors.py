"""The error hierarchy: every mistake a user can make raises a ``ChainruleError``.

Each subclass also derives from the built-in exception a Python user would expect
(``ValueError``, ``FileNotFoundError`` ...), so ``except ValueError`` keeps working.
Messages name the op or file, the values seen, and what was expected.
"""
from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from typing import BinaryIO


class ChainruleError(Exception):
    """Base class of every error a user of chainrule can cause."""


class ChainruleWarning(UserWarning):
    """A warning from chainrule: how training is going (vanishing gradients ...) or how data
    were prepared (unseen categories ...)."""


class ShapeError(ChainruleError, ValueError):
    """An op received operands whose shapes do not fit together."""


class BackwardError(ChainruleError, RuntimeError):
    """``backward()`` was called in a way that cannot produce gradients."""


class GradcheckError(ChainruleError, AssertionError):
    """An analytic gradient disagrees with its finite-difference estimate."""


class AnomalyError(ChainruleError, FloatingPointError):
    """NaN or Inf appeared in a forward or backward pass under ``detect_anomaly()``."""


class ConfigError(ChainruleError, ValueError):
    """A bad argument or hyperparameter (negative learning rate, unknown reduction ...)."""


class DataError(ChainruleError, ValueError):
    """A data file (IDX, CSV ...) is malformed, or data does not fit what was asked."""


class DatasetNotFoundError(ChainruleError, FileNotFoundError):
    """A data set's files are not where they were looked for, and download is off."""


class DownloadError(ChainruleError, OSError):
    """A download failed, or its checksum did not match."""


class ModelFileError(ChainruleError, ValueError):
    """A model or checkpoint file is malformed, hostile, or does not fit the model."""


def open_for_reading(path: str | os.PathLike, what: str, missing: type[ChainruleError],
                     unreadable: type[ChainruleError]) -> BinaryIO:
    """``open(path, "rb")`` for a user's file (``what``: "IDX file", "CSV file", "model file"),
    turning the ways it fails into one-line errors that name the file: ``missing`` when it
    does not exist, ``unreadable`` when it is a directory, not a regular file (a FIFO would
    block for ever, a device never end) or cannot be opened. The file is opened without
    blocking and checked with ``fstat`` before anything is read."""
    name = os.fspath(path)
    article = "an" if what[:1].upper() in "AEIOU" else "a"
    try:
        fd = os.open(name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise missing(f"{name}: no such file") from None
    except IsADirectoryError:
        raise unreadable(f"{name}: is a directory, expected {article} {what}") from None
    except OSError as e:
        raise unreadable(f"{name}: cannot open the {what}: {e.strerror or e}") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise unreadable(f"{name}: is a directory, expected {article} {what}")
        if not stat.S_ISREG(mode):
            raise unreadable(f"{name}: is not a regular file (a pipe, device or socket), expected {article} {what}")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


@contextlib.contextmanager
def naming_file(path: str | os.PathLike) -> Iterator[None]:
    """Give an ``OSError`` that names no file (a write or flush failing on a full disk) the
    name of ``path``, so the one-line error says which file could not be written."""
    try:
        yield
    except OSError as e:
        if e.filename is None and e.errno is not None:
            raise OSError(e.errno, e.strerror or str(e), os.fspath(path)) from None
        raise


__all__ = [
    "ChainruleError",
    "ShapeError",
    "BackwardError",
    "GradcheckError",
    "AnomalyError",
    "ConfigError",
    "DataError",
    "DatasetNotFoundError",
    "DownloadError",
    "ModelFileError",
]

