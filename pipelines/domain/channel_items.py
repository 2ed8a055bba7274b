"""What to send to an API channel: filtering, the delta against acknowledged pushes, batching, idempotency keys.

Pure rules over the export snapshot (one row per (warehouse, SKU)); no I/O. The push ledger
adapter supplies the acknowledged and rejected values, the channel adapter supplies how many
bytes an item costs on the wire.

Idempotency key of a batch = sha256 of the canonical JSON of (channel, account, mode,
dec_pending, items), where each item carries its identity, the values sent and its *base*: the
idempotency key of the push that acknowledged the item's previous value (null if none). The base
makes a key name a transition, not a value: ats going 5 -> 3 -> 5 gives three different keys, so
an acknowledged batch is never mistaken for a new one with equal values, while planning again
from the same snapshot and ledger state gives byte-identical batches and therefore the same keys.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import polars as pl

from pipelines.domain import outbound
from pipelines.domain.item_keys import KEY_SETS
from pipelines.domain.item_keys import STYLE_SET as SKU_COLUMNS

PUSH_MODES = ("update", "overwrite")

# The ledger's per-item frames: last acknowledged value, and last rejected value (4xx batch).
ACKNOWLEDGED_SCHEMA = pl.Schema(
    {
        "warehouse_code": pl.String,
        **{c: pl.String for c in SKU_COLUMNS},
        "inventory": pl.Int64,
        "inventory_date": pl.String,  # ISO date or null
        "idempotency_key": pl.String,
    }
)
REJECTED_SCHEMA = pl.Schema(
    {
        "warehouse_code": pl.String,
        **{c: pl.String for c in SKU_COLUMNS},
        "inventory": pl.Int64,
        "inventory_date": pl.String,
        "base_key": pl.String,
    }
)

# Skip reasons, as they appear in PushReport.skipped and Dagster metadata.
SKIP_PUSH = "skip_push"
SKIP_JOOR = "skip_joor"
NOT_CREATED_BY_CHANNEL = "not created by channel"
WAREHOUSE_TYPE = "warehouse type not pushed"
NO_LOCATION = "no location for warehouse"
NO_INVENTORY_ITEM_ID = "no inventory_item_id"
MISSING_ITEM_KEYS = "missing item keys"
PREVIOUSLY_REJECTED = "previously rejected"


@dataclass(frozen=True)
class ChannelRules:
    """How a channel differs, as fields (never `if channel == ...`).

    Attributes:
        honours_skip_joor: the `skip_joor` catalog flag keeps items away from this channel.
        created_by: only items whose catalog `created_by` equals this are sent (None: all).
        warehouse_types: warehouse types whose stock is sent.
        keyed_by_item_identifier: items carry the partner's item keys (upc / style / ids);
            otherwise they carry Shopify's (inventory_item_id, location_id).
        sends_inventory_date: FUTURE stock carries its available date.
        overwrite_replaces_account: an overwrite request replaces the account's whole inventory
            with its items (JOOR's Style Inventory API: "inventory can be overwritten completely
            for the account"), so an overwrite must reach it as one replacement.
    """

    honours_skip_joor: bool = False
    created_by: str | None = None
    warehouse_types: tuple[str, ...] = ("IMMEDIATE", "FUTURE")
    keyed_by_item_identifier: bool = True
    sends_inventory_date: bool = True
    overwrite_replaces_account: bool = False


CHANNEL_RULES: dict[str, ChannelRules] = {
    "joor": ChannelRules(honours_skip_joor=True, overwrite_replaces_account=True),
    "shopify": ChannelRules(
        created_by="shopify",
        warehouse_types=("IMMEDIATE",),
        keyed_by_item_identifier=False,
        sends_inventory_date=False,
    ),
}


@dataclass(frozen=True)
class ChannelItem:
    """One (warehouse, SKU) as a channel receives it.

    Attributes:
        warehouse_code: our warehouse code (JOOR's `warehouse`).
        sku: (style_number, style_identifier, color_code, size_name): the ledger's identity.
        keys: identifying fields sent, in business names (e.g. (("upc", "0123"),)).
        inventory: ats clamped at 0.
        inventory_date: ISO date for FUTURE stock on channels that send it, else None.
        location_id: Shopify location gid (Shopify only).
        inventory_item_id: Shopify inventory item gid (Shopify only).
        base_key: idempotency key of the push that acknowledged the previous value, or None.
    """

    warehouse_code: str
    sku: tuple[str, str, str, str]
    keys: tuple[tuple[str, str], ...]
    inventory: int
    inventory_date: str | None = None
    location_id: str | None = None
    inventory_item_id: str | None = None
    base_key: str | None = None

    def canonical(self) -> dict:
        """A JSON-ready dict; the ledger stores it and `from_canonical` rebuilds the item."""
        return {
            "warehouse_code": self.warehouse_code,
            "sku": list(self.sku),
            "keys": [list(k) for k in self.keys],
            "inventory": self.inventory,
            "inventory_date": self.inventory_date,
            "location_id": self.location_id,
            "inventory_item_id": self.inventory_item_id,
            "base_key": self.base_key,
        }

    @classmethod
    def from_canonical(cls, data: dict) -> ChannelItem:
        return cls(
            warehouse_code=data["warehouse_code"],
            sku=tuple(data["sku"]),
            keys=tuple((k, v) for k, v in data["keys"]),
            inventory=int(data["inventory"]),
            inventory_date=data["inventory_date"],
            location_id=data["location_id"],
            inventory_item_id=data["inventory_item_id"],
            base_key=data["base_key"],
        )


@dataclass(frozen=True)
class Selection:
    """What a channel should receive from one snapshot.

    Attributes:
        items: items to send, sorted by (warehouse_code, sku).
        unchanged: rows left out because the channel already acknowledged their value (update mode).
        skipped: rows left out by a filter, counted by reason.
    """

    items: tuple[ChannelItem, ...]
    unchanged: int
    skipped: dict[str, int] = field(default_factory=dict)
    left_scope: tuple[ChannelItem, ...] = ()  # overwrite on a replacing channel: explicit zeros


@dataclass(frozen=True)
class Batch:
    """One request's worth of items, all of one warehouse (`ALL_WAREHOUSES` for a replacing overwrite).

    Attributes:
        idempotency_key: sha256 hex of the canonical batch content (see module docstring).
        channel, account, mode, dec_pending: what the request is for.
        warehouse_code: the one warehouse of the batch.
        items: the items, sorted.
        bytes: estimated request body size.
    """

    idempotency_key: str
    channel: str
    account: str
    mode: str
    dec_pending: bool
    warehouse_code: str
    items: tuple[ChannelItem, ...]
    bytes: int


ALL_WAREHOUSES = "*"


def rules_for(channel: str) -> ChannelRules:
    """The rules of a known channel; a ValueError names the known ones otherwise."""
    try:
        return CHANNEL_RULES[channel]
    except KeyError:
        raise ValueError(f"unknown channel {channel!r} (known: {', '.join(sorted(CHANNEL_RULES))})") from None


def select_items(
    snapshot: pl.DataFrame,
    channel: str,
    item_identifier: str,
    acknowledged: pl.DataFrame,
    mode: str = "update",
    locations: Iterable[tuple[str, str]] = (),
    rejected: pl.DataFrame | None = None,
) -> Selection:
    """Decide which snapshot rows a channel receives (set-based: filters, delta and refusals are
    joins and expressions over the whole snapshot; only the items sent become records).

    Args:
        snapshot: the account's export snapshot (one row per (warehouse, SKU)); an optional
            `inventory_item_id` column carries Shopify inventory item ids from the catalog.
        channel: `joor` or `shopify`.
        item_identifier: auto | upc | style | ids (the partner's).
        acknowledged: last acknowledged values per (warehouse, SKU), `ACKNOWLEDGED_SCHEMA`.
        mode: `update` sends only rows whose pushed value differs from the acknowledged one;
            `overwrite` sends every row of the scope.
        locations: (warehouse_code, Shopify location id) pairs.
        rejected: last rejected values per (warehouse, SKU), `REJECTED_SCHEMA`; a row whose
            value and base equal its rejected ones is not sent again (the API said no to exactly
            this) until something about it changes.

    Returns:
        The items to send, the count left unchanged and the skip counts by reason.
    """
    if mode not in PUSH_MODES:
        raise ValueError(f"unknown push mode {mode!r} ({', '.join(PUSH_MODES)})")
    rules = rules_for(channel)
    chosen = outbound.key_set(item_identifier)
    location_of = dict(locations)
    identity = ["warehouse_code", *SKU_COLUMNS]
    if "inventory_item_id" not in snapshot.columns:
        snapshot = snapshot.with_columns(pl.lit(None, pl.String).alias("inventory_item_id"))
    frame = snapshot.sort(identity).with_columns(chosen.alias("_set"))
    frame = frame.with_columns(
        _filter_reason(rules, location_of).alias("_skip"),
        outbound.available_to_sell().alias("_inventory"),
        (
            outbound.future_date().dt.to_string("%Y-%m-%d") if rules.sends_inventory_date else pl.lit(None, pl.String)
        ).alias("_date"),
    )
    skipped = dict(frame.filter(pl.col("_skip").is_not_null()).group_by("_skip").len().iter_rows())
    acked = acknowledged.select(
        *identity,
        pl.col("inventory").alias("_prev"),
        pl.col("inventory_date").alias("_prev_date"),
        pl.col("idempotency_key").alias("_base"),
        pl.lit(True).alias("_acked"),
    )
    frame = frame.filter(pl.col("_skip").is_null()).join(acked, on=identity, how="left", nulls_equal=True)
    same = (
        pl.col("_acked").fill_null(False)
        & (pl.col("_prev") == pl.col("_inventory"))
        & pl.col("_prev_date").eq_missing(pl.col("_date"))
    )
    unchanged = frame.filter(same).height if mode == "update" else 0
    if mode == "update":
        frame = frame.filter(~same)
    if rejected is not None and rejected.height:
        refused = rejected.select(
            *identity,
            pl.col("inventory").alias("_r_inv"),
            pl.col("inventory_date").alias("_r_date"),
            pl.col("base_key").alias("_r_base"),
            pl.lit(True).alias("_refused"),
        )
        frame = frame.join(refused, on=identity, how="left", nulls_equal=True)
        again = (
            pl.col("_refused").fill_null(False)
            & (pl.col("_r_inv") == pl.col("_inventory"))
            & pl.col("_r_date").eq_missing(pl.col("_date"))
            & pl.col("_r_base").eq_missing(pl.col("_base"))
        )
        if count := frame.filter(again).height:
            skipped[PREVIOUSLY_REJECTED] = count
        frame = frame.filter(~again)
    # The (field, value) pairs of each row's key set, built column-wise.
    if rules.keyed_by_item_identifier:
        pairs = [
            pl.when(pl.col("_set") == name).then(pl.concat_list([pl.col(c) for c in KEY_SETS[name]]))
            for name in KEY_SETS
        ]
        values = frame.select(pl.coalesce(pairs)).to_series().to_list()
        sets = frame["_set"].to_list()
        keys_list = [tuple(zip(KEY_SETS[s], v)) if s is not None else () for s, v in zip(sets, values)]
    else:
        keys_list = [()] * frame.height
    columns = frame.select("warehouse_code", *SKU_COLUMNS, "_inventory", "_date", "_base", "inventory_item_id")
    items = tuple(
        ChannelItem(
            warehouse_code=warehouse,
            sku=(a, b, c, d),
            keys=key_pairs,
            inventory=inventory,
            inventory_date=date,
            location_id=None if rules.keyed_by_item_identifier else location_of[warehouse],
            inventory_item_id=None if rules.keyed_by_item_identifier else item_id,
            base_key=base,
        )
        for (warehouse, a, b, c, d, inventory, date, base, item_id), key_pairs in zip(columns.iter_rows(), keys_list)
    )
    left = _left_scope(items, acknowledged) if mode == "overwrite" and rules.overwrite_replaces_account else ()
    return Selection(items=items, unchanged=unchanged, skipped=dict(sorted(skipped.items())), left_scope=left)


def _left_scope(items: tuple[ChannelItem, ...], acknowledged: pl.DataFrame) -> tuple[ChannelItem, ...]:
    """Zeros for what the channel holds from us (acknowledged above 0) that the overwrite leaves out,
    so a replacement sent in several update requests still replaces (identified by style keys,
    which every catalog row has)."""
    sent = {(i.warehouse_code, i.sku) for i in items}
    held = acknowledged.filter(pl.col("inventory") != 0).sort("warehouse_code", *SKU_COLUMNS)
    out = []
    for row in held.iter_rows(named=True):
        sku = tuple(row[c] for c in SKU_COLUMNS)
        if (row["warehouse_code"], sku) not in sent:
            out.append(
                ChannelItem(
                    warehouse_code=row["warehouse_code"],
                    sku=sku,  # type: ignore[arg-type]
                    keys=tuple(zip(SKU_COLUMNS, sku)),
                    inventory=0,
                    base_key=row["idempotency_key"],
                )
            )
    return tuple(out)


def plan_batches(
    items: Sequence[ChannelItem],
    channel: str,
    account: str,
    mode: str,
    dec_pending: bool,
    max_items: int,
    max_bytes: int,
    item_bytes: Callable[[ChannelItem], int],
    envelope_bytes: int = 0,
) -> list[Batch]:
    """Cut items into batches of one warehouse each, at most `max_items` items and `max_bytes` bytes.

    A single item larger than `max_bytes` on its own still goes out, alone in its batch: it cannot
    be split, and refusing it silently would lose it (the API will answer for it).

    An overwrite on a channel whose overwrite replaces the account (JOOR) is one request holding
    every item when it fits; otherwise it goes as update batches (each `overwrite=1` request
    would wipe the one before), which with the selection's `left_scope` zeros replace the same.

    Args:
        items: items to send (any order; batches are cut from the sorted order).
        item_bytes: bytes one item adds to a request body (the channel adapter knows its encoding).
        envelope_bytes: bytes of a request body with no items.
    """
    if max_items < 1 or max_bytes < 1:
        raise ValueError("batch_items and batch_bytes must be at least 1")
    ordered = sorted(items, key=lambda i: (i.warehouse_code, i.sku))
    if mode == "overwrite" and rules_for(channel).overwrite_replaces_account:
        size = envelope_bytes + sum(item_bytes(i) for i in ordered)
        if ordered and len(ordered) <= max_items and size <= max_bytes:
            return [_batch(ordered, size, channel, account, mode, dec_pending)]
        mode = "update"
    batches: list[Batch] = []
    current: list[ChannelItem] = []
    size = envelope_bytes
    for item in ordered:
        cost = item_bytes(item)
        full = len(current) >= max_items or (current and size + cost > max_bytes)
        if current and (full or item.warehouse_code != current[0].warehouse_code):
            batches.append(_batch(current, size, channel, account, mode, dec_pending))
            current, size = [], envelope_bytes
        current.append(item)
        size += cost
    if current:
        batches.append(_batch(current, size, channel, account, mode, dec_pending))
    return batches


def idempotency_key(channel: str, account: str, mode: str, dec_pending: bool, items: Sequence[ChannelItem]) -> str:
    """sha256 hex of the canonical batch content (sorted keys, no whitespace)."""
    content = {
        "channel": channel,
        "account": account,
        "mode": mode,
        "dec_pending": bool(dec_pending),
        "items": [i.canonical() for i in items],
    }
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def halves(batch: Batch) -> list[Batch]:
    """A refused batch cut in two, to find the items the API refuses while the others go through.

    The halves of a replacing overwrite are updates: two replacements would each wipe the other.
    """
    mode = "update" if batch.mode == "overwrite" and rules_for(batch.channel).overwrite_replaces_account else batch.mode
    middle = len(batch.items) // 2
    return [
        _batch(
            list(part),
            batch.bytes * len(part) // len(batch.items),
            batch.channel,
            batch.account,
            mode,
            batch.dec_pending,
        )
        for part in (batch.items[:middle], batch.items[middle:])
    ]


def _batch(items: list[ChannelItem], size: int, channel: str, account: str, mode: str, dec_pending: bool) -> Batch:
    warehouses = {i.warehouse_code for i in items}
    return Batch(
        idempotency_key=idempotency_key(channel, account, mode, dec_pending, items),
        channel=channel,
        account=account,
        mode=mode,
        dec_pending=bool(dec_pending),
        warehouse_code=warehouses.pop() if len(warehouses) == 1 else ALL_WAREHOUSES,
        items=tuple(items),
        bytes=size,
    )


def _filter_reason(rules: ChannelRules, location_of: dict[str, str]) -> pl.Expr:
    """Why a row is left out (null: it is sent): the first reason that applies, in this order."""
    cases: list[tuple[pl.Expr, str]] = [(pl.col("skip_push"), SKIP_PUSH)]
    if rules.honours_skip_joor:
        cases.append((pl.col("skip_joor"), SKIP_JOOR))
    if rules.created_by is not None:
        cases.append((pl.col("created_by").ne_missing(rules.created_by), NOT_CREATED_BY_CHANNEL))
    cases.append((~pl.col("warehouse_type").is_in(list(rules.warehouse_types)).fill_null(False), WAREHOUSE_TYPE))
    if rules.keyed_by_item_identifier:
        cases.append((pl.col("_set").is_null(), MISSING_ITEM_KEYS))
    else:
        cases.append((~pl.col("warehouse_code").is_in(list(location_of)), NO_LOCATION))
        cases.append((~outbound.filled("inventory_item_id").fill_null(False), NO_INVENTORY_ITEM_ID))
    reason = pl.lit(None, pl.String)
    for condition, why in reversed(cases):
        reason = pl.when(condition.fill_null(False)).then(pl.lit(why)).otherwise(reason)
    return reason
