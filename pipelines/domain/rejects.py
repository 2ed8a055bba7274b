"""Reject rows: what was wrong with a line of a file, in one shape everywhere."""

from __future__ import annotations

import polars as pl

REJECT_SCHEMA = pl.Schema({"line": pl.Int64, "column": pl.String, "value": pl.String, "reason": pl.String})

# Reasons the contract names; tests and operators grep for these words.
UNKNOWN_WAREHOUSE = "unknown warehouse"
UNKNOWN_ITEM = "unknown item"
CONFLICTING_IDENTIFIERS = "conflicting identifiers"
CONFLICTING_DUPLICATE = "conflicting duplicate"
STALE_UPDATE = "stale update"
UNRECOGNISED_FILE_NAME = "unrecognised file name"
AMBIGUOUS = "ambiguous"


def empty_rejects() -> pl.DataFrame:
    return pl.DataFrame(schema=REJECT_SCHEMA)


def rejects_from(rows: pl.DataFrame, column: str | None, reason: str | pl.Expr) -> pl.DataFrame:
    """One reject per row of `rows` (which carries `line`), naming `column` and its value."""
    value = pl.col(column).cast(pl.String) if column and column in rows.columns else pl.lit(None, pl.String)
    reason_expr = reason if isinstance(reason, pl.Expr) else pl.lit(reason)
    return rows.select(
        pl.col("line").cast(pl.Int64),
        pl.lit(column, pl.String).alias("column"),
        value.alias("value"),
        reason_expr.cast(pl.String).alias("reason"),
    )


def concat_rejects(*frames: pl.DataFrame) -> pl.DataFrame:
    filled = [f for f in frames if f.height]
    if not filled:
        return empty_rejects()
    return pl.concat([f.select(list(REJECT_SCHEMA)).cast(REJECT_SCHEMA) for f in filled]).sort(
        "line", "column", nulls_last=True
    )
