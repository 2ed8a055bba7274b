"""The account's reference data: warehouses, linesheets and the item catalog, and their upserts.

Also where a row's warehouse is resolved: no warehouse means the account's default; a code the
account has not set up is rejected, never created on the fly.
"""

from __future__ import annotations

import polars as pl

from pipelines.domain.item_keys import item_key_expr
from pipelines.domain.rejects import UNKNOWN_WAREHOUSE, concat_rejects, rejects_from

DEFAULT_WAREHOUSE = "DEFAULT"

WAREHOUSE_SCHEMA = pl.Schema(
    {
        "warehouse_code": pl.String,
        "name": pl.String,
        "type": pl.String,
        "available_date": pl.Date,
        "is_default": pl.Boolean,
    }
)
LINESHEET_SCHEMA = pl.Schema(
    {
        "linesheet_code": pl.String,
        "name": pl.String,
        "made_to_order": pl.Boolean,
        "inventory_policy": pl.String,
    }
)
ITEM_SCHEMA = pl.Schema(
    {
        "item_key": pl.String,
        "style_number": pl.String,
        "style_identifier": pl.String,
        "color_code": pl.String,
        "size_name": pl.String,
        "style_id": pl.String,
        "style_color_id": pl.String,
        "color_name": pl.String,
        "size_code": pl.String,
        "upc": pl.String,
        "continue_selling": pl.Boolean,
        "created_by": pl.String,
        "skip_push": pl.Boolean,
        "skip_joor": pl.Boolean,
        "inventory_item_id": pl.String,
    }
)


def initial_warehouses() -> pl.DataFrame:
    """Every account starts with one IMMEDIATE warehouse, `DEFAULT`."""
    return pl.DataFrame(
        {
            "warehouse_code": [DEFAULT_WAREHOUSE],
            "name": ["Default"],
            "type": ["IMMEDIATE"],
            "available_date": [None],
            "is_default": [False],
        },
        schema=WAREHOUSE_SCHEMA,
    )


def default_warehouse(warehouses: pl.DataFrame) -> str:
    chosen = warehouses.filter(pl.col("is_default"))["warehouse_code"]
    return chosen[0] if chosen.len() else DEFAULT_WAREHOUSE


def _upsert(current: pl.DataFrame, incoming: pl.DataFrame, key: list[str]) -> pl.DataFrame:
    incoming = (
        incoming.select(list(current.schema)).cast(current.schema).unique(subset=key, keep="last", maintain_order=True)
    )
    return pl.concat([current.join(incoming.select(key), on=key, how="anti"), incoming]).sort(key)


def upsert_warehouses(current: pl.DataFrame, rows: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Upsert by warehouse_code; FUTURE needs an available_date; at most one default per account."""
    rows = rows.with_columns(pl.col("type").fill_null("IMMEDIATE"), pl.col("is_default").fill_null(False))
    no_date = rows.filter((pl.col("type") == "FUTURE") & pl.col("available_date").is_null())
    defaults = rows.filter(pl.col("is_default"))
    two_defaults = defaults if defaults.height > 1 else defaults.clear()
    rejects = concat_rejects(
        rejects_from(no_date, "available_date", "available_date is required for a FUTURE warehouse"),
        rejects_from(two_defaults, "is_default", "more than one default warehouse in the file"),
    )
    ok = rows.filter(~pl.col("line").is_in(rejects["line"].implode()))
    if ok.filter(pl.col("is_default")).height:
        current = current.with_columns(pl.lit(False).alias("is_default"))
    return _upsert(current, ok, ["warehouse_code"]), rejects


def upsert_linesheets(current: pl.DataFrame, rows: pl.DataFrame) -> pl.DataFrame:
    return _upsert(current, rows.with_columns(pl.col("made_to_order").fill_null(False)), ["linesheet_code"])


def upsert_items(current: pl.DataFrame, rows: pl.DataFrame) -> pl.DataFrame:
    rows = rows.with_columns(
        item_key_expr().alias("item_key"),
        pl.col("skip_push").fill_null(False),
        pl.col("skip_joor").fill_null(False),
    )
    return _upsert(current, rows, ["item_key"])


def resolve_warehouses(rows: pl.DataFrame, warehouses: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Fill the default warehouse where none is named; reject codes the account has not set up."""
    rows = rows.with_columns(pl.col("warehouse_code").fill_null(default_warehouse(warehouses)))
    known = pl.col("warehouse_code").is_in(warehouses["warehouse_code"].implode())
    unknown = rows.filter(~known)
    return rows.filter(known), rejects_from(unknown, "warehouse_code", UNKNOWN_WAREHOUSE)
