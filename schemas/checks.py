"""Vectorised check expressions shared by the file models; each check's name is the reject reason."""
from __future__ import annotations

import polars as pl

COUNT = r"^\d+(\.0*)?$"
POSITIVE_COUNT = r"^0*[1-9]\d*(\.0*)?$"
SCIENTIFIC = r"^[+-]?\d+(\.\d*)?[eE][+-]?\d+$"
ISO_DATE = r"^\d{4}-\d{2}-\d{2}$"
ISO_DATETIME = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?(Z|[+-]\d{2}:?\d{2})?$"
TRUE_WORDS = ("true", "t", "yes", "y", "1")
FALSE_WORDS = ("false", "f", "no", "n", "0")

# Reasons for pandera's own checks, keyed by its check names.
BUILTIN_REASONS = {
    "not_nullable": "required value is empty",
    "column_in_dataframe": "missing required column",
}


def _ok(data, condition: pl.Expr) -> pl.LazyFrame:
    c = pl.col(data.key)
    return data.lazyframe.select(c.is_null() | condition)


def count(data) -> pl.LazyFrame:
    return _ok(data, pl.col(data.key).str.contains(COUNT))


def positive_count(data) -> pl.LazyFrame:
    return _ok(data, pl.col(data.key).str.contains(POSITIVE_COUNT))


def identifier(data) -> pl.LazyFrame:
    return _ok(data, ~pl.col(data.key).str.contains(SCIENTIFIC))


def iso_date(data) -> pl.LazyFrame:
    c = pl.col(data.key)
    return _ok(data, c.str.contains(ISO_DATE) & c.str.to_date("%Y-%m-%d", strict=False).is_not_null())


def iso_datetime(data) -> pl.LazyFrame:
    return _ok(data, pl.col(data.key).str.contains(ISO_DATETIME))


def boolean(data) -> pl.LazyFrame:
    return _ok(data, pl.col(data.key).str.to_lowercase().is_in(TRUE_WORDS + FALSE_WORDS))


def one_of(data, allowed: tuple[str, ...]) -> pl.LazyFrame:
    return _ok(data, pl.col(data.key).str.to_lowercase().is_in([a.lower() for a in allowed]))
