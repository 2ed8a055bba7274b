"""Merge modes of an inventory file (update, overwrite, seed) and the dec_pending rule.

State grain: one row per (warehouse_code, item_key) that has ever had a quantity or a claim.
`is_set` records whether any file has set the row (seed looks at it; a claim alone does not set).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from pipelines.domain.rejects import CONFLICTING_DUPLICATE, rejects_from

INVENTORY_SCHEMA = pl.Schema(
    {
        "warehouse_code": pl.String,
        "item_key": pl.String,
        "on_hand": pl.Int64,
        "pending": pl.Int64,
        "ats": pl.Int64,
        "available_date": pl.Date,
        "is_set": pl.Boolean,
    }
)
KEY = ["warehouse_code", "item_key"]
# A row that names its (warehouse, SKU) but sets nothing: it was rejected for a value (drops.md
# v1.2, "An overwrite lists what its rows name"). Absent from files parsed before v1.2: False.
LISTED_ONLY = "listed_only"
EMPTY_OVERWRITE = "overwrite lists no rows"


@dataclass(frozen=True)
class MergeOptions:
    mode: str = "update"  # update | overwrite | seed
    dec_pending: bool = False
    overwrite_scope: str = "account"  # account | warehouses_in_file


@dataclass(frozen=True)
class MergeOutcome:
    inventory: pl.DataFrame
    rejects: pl.DataFrame
    rows_set: int
    rows_zeroed: int
    rows_kept_by_seed: int


def empty_inventory() -> pl.DataFrame:
    return pl.DataFrame(schema=INVENTORY_SCHEMA)


def drop_duplicates(rows: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Identical duplicate (warehouse, SKU) rows count once; conflicting ones are all rejected.

    Returns (rows kept, rejects, the (warehouse, SKU) keys of the conflicting rows)."""
    repeated = rows.select(pl.struct(KEY).is_duplicated()).to_series()
    if not repeated.any():
        return rows, rejects_from(rows.clear(), "quantity", CONFLICTING_DUPLICATE), rows.select(KEY).clear()
    variants = pl.struct("quantity", "available_date").n_unique().over(KEY)
    conflicting = rows.filter(variants > 1)
    kept = rows.filter(variants == 1).unique(subset=KEY, keep="first", maintain_order=True)
    reason = pl.format(
        CONFLICTING_DUPLICATE + ": (warehouse {}, SKU) appears with different quantities", pl.col("warehouse_code")
    )
    return kept, rejects_from(conflicting, "quantity", reason), conflicting.select(KEY).unique()


def sets_values() -> pl.Expr:
    """True for the rows that set their (warehouse, SKU); false for those that only name it."""
    return ~pl.col(LISTED_ONLY).fill_null(False)


def merge_inventory(state: pl.DataFrame, rows: pl.DataFrame, options: MergeOptions) -> MergeOutcome:
    """Apply resolved inventory rows (line, warehouse_code, item_key, quantity, available_date[,
    listed_only]).

    An overwrite zeroes what its scope holds and its rows do not name. A row names its
    (warehouse, SKU) when it sets it, when it was rejected for a value (`listed_only`), or when it
    is one of conflicting duplicates: those keep their current values, neither set nor zeroed.
    """
    if LISTED_ONLY not in rows.columns:
        rows = rows.with_columns(pl.lit(False).alias(LISTED_ONLY))
    named = rows.filter(~sets_values()).select(KEY)
    rows, rejects, conflicting = drop_duplicates(rows.filter(sets_values()))
    listed = rows.select(*KEY, "quantity", "available_date")
    zeroed = listed.clear()
    if options.mode == "overwrite":
        names = pl.concat([listed.select(KEY), named, conflicting])
        scope = state
        if options.overwrite_scope == "warehouses_in_file":
            scope = state.filter(pl.col("warehouse_code").is_in(names["warehouse_code"].unique().implode()))
        zeroed = scope.join(names, on=KEY, how="anti").select(
            *KEY, pl.lit(0, pl.Int64).alias("quantity"), pl.lit(None, pl.Date).alias("available_date")
        )
    kept_by_seed = 0
    if options.mode == "seed":
        already = state.filter(pl.col("is_set")).select(KEY)
        before = listed.height
        listed = listed.join(already, on=KEY, how="anti")
        kept_by_seed = before - listed.height
    incoming = pl.concat([listed, zeroed])
    merged = incoming.join(state.select(*KEY, "pending"), on=KEY, how="left").with_columns(
        pl.col("pending").fill_null(0)
    )
    ats = pl.col("quantity") - pl.col("pending") if options.dec_pending else pl.col("quantity")
    updated = merged.select(
        *KEY,
        pl.col("quantity").alias("on_hand"),
        "pending",
        ats.alias("ats"),
        "available_date",
        pl.lit(True).alias("is_set"),
    )
    inventory = pl.concat([state.join(updated.select(KEY), on=KEY, how="anti"), updated.cast(INVENTORY_SCHEMA)])
    return MergeOutcome(inventory, rejects, listed.height, zeroed.height, kept_by_seed)
