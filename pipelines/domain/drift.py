"""Drift: a channel holding something other than what we last set (channels.md "Drift").

A finding (`Drift`) is recorded when Shopify answers `CHANGE_FROM_QUANTITY_STALE` or when
`reconcile --apply` reads a different value; the selection then compares against what was found
(`channel_items.select_items`). `differences` is reconcile's comparison: pure, over frames.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

import polars as pl

from pipelines.domain.item_keys import STYLE_SET as SKU_COLUMNS

DriftSource = Literal["push", "reconcile"]

# What reconcile compares: per (warehouse, SKU) of the items a channel is sent, ours and theirs.
DIFFERENCE_COLUMNS = ("warehouse_code", *SKU_COLUMNS, "inventory_item_id", "location_id", "ours", "theirs")


@dataclass(frozen=True)
class Drift:
    """One finding of a channel holding something else than we last set.

    Attributes:
        expected: what we believed it held (None: we never set it).
        found: what it held (None: the item is not stocked at the location).
        ours: what it should be shown.
        on_drift: what was done about it (`ours`: set ours against `found`; `report`: left).
    """

    channel: str
    account: str
    warehouse_code: str
    sku: tuple[str, str, str, str]
    inventory_item_id: str | None
    location_id: str | None
    expected: int | None
    found: int | None
    ours: int
    on_drift: Literal["ours", "report"]
    source: DriftSource
    found_at: dt.datetime

    def describe(self) -> str:
        found = "nothing (not stocked there)" if self.found is None else str(self.found)
        item = self.inventory_item_id or "/".join(self.sku)
        action = "set ours against it" if self.on_drift == "ours" else "left as found (on_drift: report)"
        return (
            f"{self.channel}: {item} at {self.location_id or self.warehouse_code} held {found}, "
            f"expected {self.expected if self.expected is not None else 'nothing set by us'}, ours {self.ours}: {action}"
        )


def differences(items: pl.DataFrame, theirs: pl.DataFrame) -> pl.DataFrame:
    """Items whose channel value differs from ours (`DIFFERENCE_COLUMNS`), in item order.

    Args:
        items: what the channel is sent (`channel_items.ITEM_SCHEMA`; `inventory` is ours).
        theirs: (`inventory_item_id`, `location_id`, `theirs`) as read from the channel, ids in the
            items' own form; `theirs` null when the item is not stocked at the location (a
            difference unless ours is 0).
    """
    joined = items.join(theirs, on=["inventory_item_id", "location_id"], how="left", nulls_equal=True)
    not_stocked_and_zero = pl.col("theirs").is_null() & (pl.col("inventory") == 0)
    return joined.filter(pl.col("theirs").ne_missing(pl.col("inventory")) & ~not_stocked_and_zero).select(
        *DIFFERENCE_COLUMNS[:-2], pl.col("inventory").alias("ours"), "theirs"
    )
