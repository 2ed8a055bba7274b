"""`reconcile`: read what a channel holds for every item we send it, list the differences, and
(`--apply`) set ours against what was found (channels.md "Drift").

Reading is the channel's (`read_available`: Shopify's `nodes(ids:)` → `inventoryLevel` →
`quantities(names: ["available"])`, 250 ids a query, paced by cost). A channel whose API offers
no read (JOOR) raises `NoChannelRead`. Applying records each difference as drift found by
reconcile, then pushes with `on_drift: ours`, so every change is compared against the value read.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import polars as pl
import sqlalchemy as sa

from pipelines.adapters.channels import channel_for
from pipelines.adapters.push_ledger import PushReport, acknowledged_values, channel_client, push_account, record_drift
from pipelines.adapters.store import now_utc
from pipelines.domain.channel_items import select_items
from pipelines.domain.drift import Drift, differences
from pipelines.domain.item_keys import STYLE_SET as SKU_COLUMNS
from pipelines.domain.partners import ChannelSpec, PartnerSpec


class NoChannelRead(ValueError):
    """The channel's API offers no way to read what it holds."""


@dataclass(frozen=True)
class Reconciliation:
    """What one channel holds against ours, for one partner.

    Attributes:
        differences: `domain.drift.DIFFERENCE_COLUMNS` plus `expected`, one row per item that differs.
        items: items compared.
        requests: read requests made.
        problem: why the read stopped, in our words (None: every item was read).
        applied: the push that set ours (`--apply`), or None.
    """

    partner: str
    channel: str
    differences: pl.DataFrame
    items: int
    requests: int
    problem: str | None = None
    applied: PushReport | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None and (self.applied.ok if self.applied else True)


def reconcile_channel(
    engine: sa.Engine,
    snapshot: pl.DataFrame,
    partner: PartnerSpec,
    channel_spec: ChannelSpec,
    token: str,
    apply: bool = False,
    *,
    transport: httpx.BaseTransport | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Reconciliation:
    """Compare what `channel_spec`'s channel holds with what it should be shown; with `apply`, set ours."""
    channel = channel_for(channel_spec)
    if not channel.reads_levels:
        raise NoChannelRead(f"{channel.name}: its API offers no read of what it holds, so it cannot be reconciled")
    # Every item the channel is sent, whatever was acknowledged ("overwrite" selects them all).
    items = select_items(
        snapshot,
        channel.name,
        partner.item_identifier,
        acknowledged_values(engine, channel.name, partner.account),
        mode="overwrite",
        locations=channel_spec.locations,
        rejected=None,
        quantity_rules=partner.rules_for(channel.name),
    ).rows
    with channel_client(channel, token, transport, clock, sleep) as client:
        values, requests, problem = channel.read_available(client, items)
    empty = pl.DataFrame(schema={**items.select("warehouse_code").schema})
    if problem:
        return Reconciliation(partner.name, channel.name, empty, items.height, requests, problem)
    theirs = items.select("inventory_item_id", "location_id").with_columns(pl.Series("theirs", values, pl.Int64))
    found = differences(items, theirs).join(
        items.select("warehouse_code", *SKU_COLUMNS, pl.col("change_from").alias("expected")),
        on=["warehouse_code", *SKU_COLUMNS],
        how="left",
    )
    applied = None
    if apply and found.height:
        now = now_utc()
        record_drift(
            engine,
            [
                Drift(
                    channel=channel.name,
                    account=partner.account,
                    warehouse_code=r["warehouse_code"],
                    sku=tuple(r[c] for c in SKU_COLUMNS),  # type: ignore[arg-type]
                    inventory_item_id=r["inventory_item_id"],
                    location_id=r["location_id"],
                    expected=r["expected"],
                    found=r["theirs"],
                    ours=r["ours"],
                    on_drift="ours",
                    source="reconcile",
                    found_at=now,
                )
                for r in found.iter_rows(named=True)
            ],
        )
        applied = push_account(
            engine,
            snapshot,
            partner,
            channel_spec,
            token,
            on_drift="ours",
            transport=transport,
            clock=clock,
            sleep=sleep,
        )
    return Reconciliation(partner.name, channel.name, found, items.height, requests, None, applied)
