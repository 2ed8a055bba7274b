"""Channels (issue 23): planning a first Shopify push of a million items against rendering the same
items' export files, and how many queries reconciling 100k items takes.

1. Planning (no network): selection against the ledger's acknowledged values, the compare-and-swap
   value of every quantity, the cut into batches of 250, the idempotency keys, and every request
   body — against `export_tables` on the same snapshot (the stock, JOOR and quantity files'
   rows), the floor that renders the same items. Twice: a first push (nothing acknowledged:
   every `changeFromQuantity` null) and a full re-push of a million acknowledged items (every one
   changed, so each carries the value acknowledged before). Target ≤ 1.5×. And the first push
   with quantity rules at all three levels against the same without them: target ≤ 1.10×.
2. Reconcile: 100k items at one location, read from the Shopify stand-in (real GraphQL over
   HTTP on loopback): the number of queries. Target ≤ 400 (250 ids a query).

Usage: python benchmarks/channel_planning.py [--items 1000000] [--reconcile 100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipelines.adapters.channels import channel_for  # noqa: E402
from pipelines.domain.channel_items import (  # noqa: E402
    ACKNOWLEDGED_SCHEMA,
    items_per_batch,
    plan_batches,
    select_items,
)
from pipelines.domain.export_rows import EXPORT_SNAPSHOT_SCHEMA, export_tables  # noqa: E402
from pipelines.domain.partners import ChannelSpec  # noqa: E402
from pipelines.domain.quantity_rules import QuantityRules, RuleLevel  # noqa: E402

LOCATION = "gid://shopify/Location/1"


def snapshot(items: int) -> pl.DataFrame:
    n = pl.int_range(items, eager=True)
    frame = pl.DataFrame({"n": n}).select(
        pl.lit("acme").alias("account"),
        pl.lit("NYC").alias("warehouse_code"),
        pl.lit("IMMEDIATE").alias("warehouse_type"),
        pl.col("n").cast(pl.String).str.zfill(12).alias("upc"),
        (pl.lit("S") + (pl.col("n") // 20).cast(pl.String)).alias("style_id"),
        (pl.lit("ST-") + (pl.col("n") // 20).cast(pl.String)).alias("style_number"),
        pl.lit("SS27").alias("style_identifier"),
        (pl.lit("C") + (pl.col("n") // 5).cast(pl.String)).alias("style_color_id"),
        ((pl.col("n") // 5) % 4).cast(pl.String).str.zfill(3).alias("color_code"),
        pl.lit("Navy").alias("color_name"),
        (pl.lit("Z") + (pl.col("n") % 5).cast(pl.String)).alias("size_code"),
        (pl.col("n") % 5).cast(pl.String).alias("size_name"),
        (pl.col("n") % 50).alias("on_hand"),
        pl.lit(0, pl.Int64).alias("pending"),
        (pl.col("n") % 50).alias("ats"),
        pl.lit(None, pl.Date).alias("available_date"),
        pl.lit("shopify").alias("created_by"),
        pl.lit(False).alias("skip_push"),
        pl.lit(False).alias("skip_joor"),
        (pl.col("n") + 1).cast(pl.String).alias("inventory_item_id"),
    )
    return frame.cast({**EXPORT_SNAPSHOT_SCHEMA, "inventory_item_id": pl.String})


def acknowledged_all(snap: pl.DataFrame) -> pl.DataFrame:
    """Every item acknowledged before at another value (so a full re-push carries CAS values)."""
    return snap.select(
        "warehouse_code",
        "style_number",
        "style_identifier",
        "color_code",
        "size_name",
        (pl.col("ats") + 1).alias("inventory"),
        pl.lit(None, pl.String).alias("inventory_date"),
        pl.lit("0" * 64).alias("idempotency_key"),
        pl.lit(None, pl.Int64).alias("found"),
        pl.lit(None, pl.Int64).alias("found_ours"),
    ).cast(ACKNOWLEDGED_SCHEMA)


RULES = QuantityRules(
    RuleLevel(buffer=2, percent_bp=8000, zero_below=3, max=500),
    warehouses=(("NYC", RuleLevel(buffer=5)),),
    styles=tuple((f"ST-{n}", RuleLevel(percent_bp=5000, max=20)) for n in range(0, 50_000, 7)),
)


def plan(snap: pl.DataFrame, acknowledged: pl.DataFrame, rules: QuantityRules | None = None) -> tuple[int, int]:
    spec = ChannelSpec(
        name="shopify",
        base_url="https://a.myshopify.com/admin/api/2026-10/graphql.json",
        locations=(("NYC", LOCATION),),
    )
    channel = channel_for(spec)
    selection = select_items(snap, "shopify", "auto", acknowledged, locations=spec.locations, quantity_rules=rules)
    batches = plan_batches(
        selection.to_send(),
        "shopify",
        "acme",
        "update",
        False,
        max_items=items_per_batch("shopify", spec.batch_items),
        max_bytes=spec.batch_bytes,
        item_text=channel.item_text(),
        envelope_bytes=channel.envelope_bytes,
    )
    body_bytes = sum(len(channel.request(b).content) for b in batches)
    return len(batches), body_bytes


def timed(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def reconcile_queries(items: int) -> tuple[int, int, float]:
    from pipelines.adapters.reconcile import reconcile_channel
    from pipelines.adapters.store_schema import create_engine, migrate
    from pipelines.domain.partners import PartnerSpec
    from tests.integration.channel_standins import ShopifyStandIn

    snap = snapshot(items)
    shop = ShopifyStandIn("t", {(f"gid://shopify/InventoryItem/{n + 1}", LOCATION): n % 50 for n in range(items)})
    shop.edit(f"gid://shopify/InventoryItem/{items // 2}", LOCATION, 999)  # one item changed by hand
    try:
        with tempfile.TemporaryDirectory() as scratch:
            url = f"sqlite:///{scratch}/s.db"
            migrate(url)
            engine = create_engine(url)
            spec = ChannelSpec(name="shopify", base_url=shop.endpoint, locations=(("NYC", LOCATION),))
            t = time.perf_counter()
            result = reconcile_channel(engine, snap, PartnerSpec(account="acme"), spec, "t")
            seconds = time.perf_counter() - t
            engine.dispose()
    finally:
        shop.close()
    assert result.problem is None, result.problem
    return shop.queries, result.differences.height, seconds


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--reconcile", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    snap = snapshot(args.items)
    none = pl.DataFrame(schema=ACKNOWLEDGED_SCHEMA)
    acked = acknowledged_all(snap)
    # Pair by pair (floor, first push, full re-push, first push with rules), so a slow moment of
    # the machine hits each alike; ratios are the medians of the per-round ratios.
    rounds = []
    for _ in range(args.repeat):
        floor, _ = timed(lambda: export_tables(snap), 1)
        first, (batches, size) = timed(lambda: plan(snap, none), 1)
        again, (batches_again, _) = timed(lambda: plan(snap, acked), 1)
        ruled, _ = timed(lambda: plan(snap, none, RULES), 1)
        rounds.append((floor, first, again, ruled))

    def median(i: int) -> float:
        return statistics.median(r[i] for r in rounds)

    def ratio(i: int, j: int) -> float:
        return statistics.median(r[i] / r[j] for r in rounds)

    print(f"planning {args.items:,} Shopify items (median of {args.repeat} rounds):")
    print(f"  floor: export_tables on the same snapshot  {median(0):.2f} s")
    print(
        f"  first push: {batches:,} batches, {size / 1e6:.0f} MB of bodies  {median(1):.2f} s = {ratio(1, 0):.2f}x (target <= 1.5x)"
    )
    print(
        f"  full re-push with CAS values: {batches_again:,} batches  {median(2):.2f} s = {ratio(2, 0):.2f}x (target <= 1.5x)"
    )
    print(
        f"  first push with quantity rules (3 levels, {len(RULES.styles):,} style rules): {median(3):.2f} s = "
        f"{ratio(3, 1):.2f}x planning without them (target <= 1.10x)"
    )
    queries, differences, seconds = reconcile_queries(args.reconcile)
    print(
        f"reconcile {args.reconcile:,} items: {queries} queries (target <= 400), {differences} difference(s), {seconds:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
