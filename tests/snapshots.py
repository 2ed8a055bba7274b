"""Export snapshot frames for tests of exports and channel pushes: a row needs only what it changes."""

from __future__ import annotations

import datetime as dt

import polars as pl

from pipelines.domain.export_rows import EXPORT_SNAPSHOT_SCHEMA

SHOPIFY_ITEM_PREFIX = "gid://shopify/InventoryItem/"


def snapshot_row(n: int, **overrides) -> dict:
    """A plausible (warehouse, SKU) row numbered `n`; keyword arguments replace any column."""
    row = {
        "account": "acme",
        "warehouse_code": "NYC",
        "warehouse_type": "IMMEDIATE",
        "upc": f"{n:012d}",
        "style_id": f"S{n // 10}",
        "style_number": f"ST-{n // 10:04d}",
        "style_identifier": "SS27",
        "style_color_id": f"C{n // 5}",
        "color_code": f"{n % 5:03d}",
        "color_name": "Navy",
        "size_code": f"Z{n % 10}",
        "size_name": f"{n % 10}",
        "on_hand": 10 + n,
        "pending": 0,
        "ats": 10 + n,
        "available_date": None,
        "created_by": "joor",
        "skip_push": False,
        "skip_joor": False,
    }
    row.update(overrides)
    return row


def snapshot_frame(rows: list[dict], with_inventory_item_ids: bool = False) -> pl.DataFrame:
    """A frame with exactly the export snapshot columns (plus `inventory_item_id` when asked)."""
    schema = dict(EXPORT_SNAPSHOT_SCHEMA)
    if with_inventory_item_ids:
        schema["inventory_item_id"] = pl.String
    return pl.DataFrame([{c: r.get(c) for c in schema} for r in rows], schema=schema, orient="row")


FUTURE_DATE = dt.date(2027, 3, 1)
