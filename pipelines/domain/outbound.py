"""What goes out, one home for the rules the export files and the API channels share.

Over a snapshot (one row per (warehouse, SKU), `export_rows.EXPORT_SNAPSHOT_SCHEMA`): which key
set identifies a row, the stock a receiver is told (available-to-sell, never negative), and the
date FUTURE stock carries. Polars expressions, so both sides apply them to whole frames.
"""

from __future__ import annotations

import polars as pl

from pipelines.domain.item_keys import KEY_SETS


def filled(column: str) -> pl.Expr:
    return pl.col(column).is_not_null() & (pl.col(column) != "")


def key_set(item_identifier: str) -> pl.Expr:
    """The key set identifying each row: the pinned one when complete (else null, the row cannot be
    identified), or for `auto` the UPC when present, else the style keys (which every SKU has)."""
    if item_identifier == "auto":
        return pl.when(filled("upc")).then(pl.lit("upc")).otherwise(pl.lit("style"))
    if item_identifier not in KEY_SETS:
        raise ValueError(f"unknown item_identifier {item_identifier!r} (auto, upc, style, ids)")
    return pl.when(pl.all_horizontal(filled(c) for c in KEY_SETS[item_identifier])).then(pl.lit(item_identifier))


def available_to_sell() -> pl.Expr:
    """Receivers get ats, never negative: an oversold SKU is 0, not -3."""
    return pl.max_horizontal(pl.col("ats"), pl.lit(0))


def future_date() -> pl.Expr:
    """The available date FUTURE stock carries (IMMEDIATE stock is available now: null)."""
    return pl.when(pl.col("warehouse_type") == "FUTURE").then(pl.col("available_date"))


def available_date_in_force() -> pl.Expr:
    """A row's own available_date, else its FUTURE warehouse's (`warehouse_type`,
    `warehouse_available_date` joined from the row's warehouse)."""
    return pl.coalesce(
        "available_date", pl.when(pl.col("warehouse_type") == "FUTURE").then(pl.col("warehouse_available_date"))
    )
