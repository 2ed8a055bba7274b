"""Machinery failures inside an asset step become a Dagster Failure whose description is one line."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from pipelines.adapters.failures import MachineryFailure, is_machinery, one_line


@contextmanager
def in_one_line() -> Iterator[None]:
    """Re-raise a store, disk or network failure as `dg.Failure` saying what happened in our words
    (the UI and `stockdrop` show the description, not a traceback of library frames)."""
    try:
        yield
    except MachineryFailure as e:
        raise dg.Failure(description=str(e)) from e
    except Exception as e:
        if is_machinery(e):
            raise dg.Failure(description=one_line(e)) from e
        raise
