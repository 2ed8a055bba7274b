"""Telling a failure of the machinery from a file that cannot be applied, and saying either in one line.

drops.md (v1.1): a file whose content cannot be applied is rejected whole and the account goes
on without it; a failure of the machinery (database unreachable, disk full) fails the run with
a one-line reason, rejects nothing, and a re-run finishes the job. Everything that decides which
is which lives here, so parsing, the fold, the assets and the CLI agree.
"""

from __future__ import annotations

import errno

import polars as pl
import sqlalchemy as sa

# Errors that say nothing about a file: the database, the disk, the network or our own SQL.
_MACHINERY = (
    OSError,
    MemoryError,
    sa.exc.OperationalError,
    sa.exc.InterfaceError,
    sa.exc.ProgrammingError,
    sa.exc.TimeoutError,
    sa.exc.DisconnectionError,
    sa.exc.ResourceClosedError,
)
# What applying a file's rows can raise besides Python's own exceptions (polars panics are BaseException).
CONTENT_ERRORS = (Exception, pl.exceptions.PanicException)


class PipelineFailed(RuntimeError):
    """A Dagster run of the pipeline failed (the message names the step and why, in one line)."""


class MachineryFailure(RuntimeError):
    """The run failed for a reason outside the files; the message is one line in our words."""


def is_machinery(error: BaseException) -> bool:
    return isinstance(error, _MACHINERY)


def one_line(error: BaseException) -> str:
    """The error as one line an operator can act on: no traceback, no library links."""
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        return f"disk full: no space left writing {error.filename or 'a file'}"
    if isinstance(error, OSError) and error.strerror:
        where = f" ({error.filename})" if error.filename else ""
        return f"file system error: {error.strerror}{where}"
    if isinstance(error, sa.exc.DBAPIError) and error.orig is not None:
        text = _first_line(str(error.orig))
        what = (
            "the store is unreachable or refused the request"
            if isinstance(error, (sa.exc.OperationalError, sa.exc.InterfaceError))
            else "the store refused a value"
        )
        return f"{what}: {text}"
    if isinstance(error, MemoryError):
        return "out of memory"
    return _first_line(str(error)) or type(error).__name__


def _first_line(text: str) -> str:
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("(Background on this error"):
            return line
    return ""
