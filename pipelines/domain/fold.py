"""The fold: an account's state is a deterministic fold of its files' rows in contract order.

This is the one place the merge rules are put together: catalog upserts, key and warehouse
resolution against the catalog *as of the file*, inventory merge modes, order allocation and
pre-book release. Replaying the same files in the same order always gives the same state.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import datetime

import polars as pl

from pipelines.domain import allocation, catalog
from pipelines.domain.allocation import LINE_KEY
from pipelines.domain.drop_names import FOLD_KIND_ORDER
from pipelines.domain.inventory_merge import INVENTORY_SCHEMA, LISTED_ONLY, MergeOptions, merge_inventory, sets_values
from pipelines.domain.inventory_merge import KEY as INVENTORY_KEY
from pipelines.domain.item_keys import resolve_items
from pipelines.domain.outbound import available_date_in_force
from pipelines.domain.rejects import concat_rejects, empty_rejects


@dataclass(frozen=True)
class FoldState:
    """Everything the fold carries from one file to the next, for one account."""

    warehouses: pl.DataFrame
    linesheets: pl.DataFrame
    items: pl.DataFrame
    inventory: pl.DataFrame
    order_lines: pl.DataFrame

    FRAMES = ("warehouses", "linesheets", "items", "inventory", "order_lines")


FRAME_SCHEMAS = {
    "warehouses": catalog.WAREHOUSE_SCHEMA,
    "linesheets": catalog.LINESHEET_SCHEMA,
    "items": catalog.ITEM_SCHEMA,
    "inventory": INVENTORY_SCHEMA,
    "order_lines": allocation.ORDER_LINE_SCHEMA,
}
FRAME_KEYS = {
    "warehouses": ["warehouse_code"],
    "linesheets": ["linesheet_code"],
    "items": ["item_key"],
    "inventory": INVENTORY_KEY,
    "order_lines": LINE_KEY,
}


def initial_state() -> FoldState:
    """An account before its first file: no rows but the `DEFAULT` warehouse."""
    return replace(empty_state(), warehouses=catalog.initial_warehouses())


def empty_state() -> FoldState:
    return FoldState(**{name: pl.DataFrame(schema=schema) for name, schema in FRAME_SCHEMAS.items()})


@dataclass(frozen=True)
class FileToApply:
    """One parsed file version with the options that were in force for it."""

    file_id: str
    partner: str
    name: str
    sha256: str
    kind: str
    as_of: datetime  # naive UTC
    rows: pl.DataFrame
    mode: str = "update"
    dec_pending: bool = False
    overwrite_scope: str = "account"
    item_identifier: str = "auto"
    inventory_policy: str = "continue"

    @property
    def order_key(self) -> tuple:
        return (self.as_of, FOLD_KIND_ORDER[self.kind], self.name, self.partner)


@dataclass
class Applied:
    """The result of applying one file: new state, its fold-time rejects, and what it did."""

    state: FoldState
    rejects: pl.DataFrame
    metrics: dict = field(default_factory=dict)


def resolve_rows(state: FoldState, f: FileToApply) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The file's rows with their SKU and warehouse, resolved against the catalog as of the file."""
    rows, key_rejects = resolve_items(f.rows, state.items, f.item_identifier)
    rows, wh_rejects = catalog.resolve_warehouses(rows, state.warehouses)
    return rows, concat_rejects(key_rejects, wh_rejects)


def _with_policy(rows: pl.DataFrame, state: FoldState, partner_policy: str) -> pl.DataFrame:
    """Policy precedence: style continue_selling > linesheet inventory_policy > partner policy."""
    items = state.items.select("item_key", "continue_selling")
    sheets = state.linesheets.select("linesheet_code", "inventory_policy", pl.col("made_to_order").alias("_mto"))
    rows = rows.join(items, on="item_key", how="left").join(sheets, on="linesheet_code", how="left")
    style_policy = (
        pl.when(pl.col("continue_selling"))
        .then(pl.lit("continue"))
        .when(pl.col("continue_selling").not_())
        .then(pl.lit("deny"))
    )
    return rows.with_columns(
        pl.coalesce(style_policy, pl.col("inventory_policy"), pl.lit(partner_policy)).alias("policy"),
        (
            pl.col("_mto").fill_null(False)
            | (pl.col("linesheet_code") == allocation.MADE_TO_ORDER_CODE).fill_null(False)
        ).alias("made_to_order"),
    ).drop("continue_selling", "inventory_policy", "_mto")


def apply_file(state: FoldState, f: FileToApply) -> Applied:
    """Apply one file at its as-of time (releasing due pre-book lines first)."""
    inventory, lines, release = allocation.release_prebook(state.inventory, state.order_lines, f.as_of)
    applied = _apply_kind(replace(state, inventory=inventory, order_lines=lines), f)
    if release.units:
        applied.metrics["prebook_released"] = release.as_dict()
    return applied


def _apply_kind(state: FoldState, f: FileToApply) -> Applied:
    if f.kind == "release":
        return Applied(state, empty_rejects())
    if f.kind == "warehouses":
        warehouses, rejects = catalog.upsert_warehouses(state.warehouses, f.rows)
        return Applied(replace(state, warehouses=warehouses), rejects)
    if f.kind == "linesheets":
        return Applied(replace(state, linesheets=catalog.upsert_linesheets(state.linesheets, f.rows)), empty_rejects())
    if f.kind == "styles":
        return Applied(replace(state, items=catalog.upsert_items(state.items, f.rows)), empty_rejects())
    rows, rejects = resolve_rows(state, f)
    if f.kind == "inventory" and LISTED_ONLY in f.rows.columns:
        # A row rejected for its value was reported when parsed; resolving it only finds what it names.
        named_only = f.rows.filter(~sets_values()).get_column("line")
        rejects = rejects.filter(~pl.col("line").is_in(named_only.implode()))
    if f.kind == "inventory":
        outcome = merge_inventory(state.inventory, rows, MergeOptions(f.mode, f.dec_pending, f.overwrite_scope))
        metrics = dict(
            rows_set=outcome.rows_set,
            rows_zeroed=outcome.rows_zeroed,
            rows_kept_by_seed=outcome.rows_kept_by_seed,
            mode=f.mode,
            dec_pending=f.dec_pending,
        )
        return Applied(replace(state, inventory=outcome.inventory), concat_rejects(rejects, outcome.rejects), metrics)
    if f.kind == "orders":
        rows = _with_policy(rows, state, f.inventory_policy).with_columns(
            pl.col("updated_at").fill_null(f.as_of),
            pl.col("cancelled_by").fill_null("market"),
        )
        inventory, lines, stale, report = allocation.apply_orders(state.inventory, state.order_lines, rows, f.as_of)
        return Applied(
            replace(state, inventory=inventory, order_lines=lines), concat_rejects(rejects, stale), report.as_dict()
        )
    raise ValueError(f"unknown kind {f.kind!r}")


def prefix_hashes(files: list[FileToApply]) -> list[str]:
    """hashes[i] identifies the ordered sequence files[:i] (hashes[0] is the empty history)."""
    h = hashlib.sha256(b"stockdrop-fold-v1")
    out = [h.hexdigest()]
    for f in files:
        h.update(
            f"{f.partner}\0{f.name}\0{f.sha256}\0{f.mode}\0{f.dec_pending}\0{f.overwrite_scope}"
            f"\0{f.item_identifier}\0{f.inventory_policy}\n".encode()
        )
        out.append(h.hexdigest())
    return out


def effective_inventory(state: FoldState) -> pl.DataFrame:
    """Inventory with the available_date in force (what `stockdrop state` shows)."""
    wh = state.warehouses.select(
        "warehouse_code",
        pl.col("type").alias("warehouse_type"),
        pl.col("available_date").alias("warehouse_available_date"),
    )
    return (
        state.inventory.join(wh, on="warehouse_code", how="left")
        .with_columns(available_date_in_force().alias("available_date"))
        .select(list(INVENTORY_SCHEMA))
    )
