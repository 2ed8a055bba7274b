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


def key_set_for(row: dict, item_identifier: str) -> str | None:
    """Which key set identifies the row: the pinned one, or for `auto` upc when present, else style.

    Returns None when the pinned set is incomplete on this row (it cannot be identified).
    """
    if item_identifier == "auto":
        return "upc" if row.get("upc") else "style"
    if item_identifier not in KEY_SETS:
        raise ValueError(f"unknown item_identifier {item_identifier!r} (auto, upc, style, ids)")
    columns = KEY_SETS[item_identifier]
    return item_identifier if all(row.get(c) for c in columns) else None


def item_keys(row: dict, item_identifier: str) -> tuple[tuple[str, str], ...]:
    """The identifying (field, value) pairs for a row, or () when it cannot be identified."""
    chosen = key_set_for(row, item_identifier)
    if chosen is None:
        return ()
    return tuple((c, row[c]) for c in KEY_SETS[chosen])


def pushed_inventory(ats: int) -> int:
    """Channels get available-to-sell, never negative: an oversold SKU is 0, not -3."""
    return max(int(ats), 0)


def select_items(
    snapshot: pl.DataFrame,
    channel: str,
    item_identifier: str,
    acknowledged: pl.DataFrame,
    mode: str = "update",
    locations: Iterable[tuple[str, str]] = (),
    rejected: pl.DataFrame | None = None,
) -> Selection:
    """Decide which snapshot rows a channel receives.

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
    location_of = dict(locations)
    acked = {_identity(r): r for r in acknowledged.iter_rows(named=True)}
    refused = {_identity(r): r for r in (rejected.iter_rows(named=True) if rejected is not None else ())}
    skipped: dict[str, int] = {}
    items: list[ChannelItem] = []
    unchanged = 0
    for row in snapshot.sort(["warehouse_code", *SKU_COLUMNS]).iter_rows(named=True):
        reason = _filter_reason(row, rules, item_identifier, location_of)
        if reason is not None:
            skipped[reason] = skipped.get(reason, 0) + 1
            continue
        identity = _identity(row)
        previous = acked.get(identity)
        inventory = pushed_inventory(row["ats"])
        inventory_date = _inventory_date(row, rules)
        if (
            mode == "update"
            and previous is not None
            and (previous["inventory"], previous["inventory_date"])
            == (
                inventory,
                inventory_date,
            )
        ):
            unchanged += 1
            continue
        base_key = previous["idempotency_key"] if previous is not None else None
        refusal = refused.get(identity)
        if refusal is not None and (refusal["inventory"], refusal["inventory_date"], refusal["base_key"]) == (
            inventory,
            inventory_date,
            base_key,
        ):
            skipped[PREVIOUSLY_REJECTED] = skipped.get(PREVIOUSLY_REJECTED, 0) + 1
            continue
        items.append(
            ChannelItem(
                warehouse_code=row["warehouse_code"],
                sku=identity[1],
                keys=item_keys(row, item_identifier) if rules.keyed_by_item_identifier else (),
                inventory=inventory,
                inventory_date=inventory_date,
                location_id=None if rules.keyed_by_item_identifier else location_of[row["warehouse_code"]],
                inventory_item_id=None if rules.keyed_by_item_identifier else row["inventory_item_id"],
                base_key=base_key,
            )
        )
    left = _left_scope(items, acked) if mode == "overwrite" and rules.overwrite_replaces_account else ()
    return Selection(items=tuple(items), unchanged=unchanged, skipped=dict(sorted(skipped.items())), left_scope=left)


def _left_scope(items: list[ChannelItem], acked: dict) -> tuple[ChannelItem, ...]:
    """Zeros for what the channel holds from us (acknowledged above 0) that the overwrite leaves out,
    so a replacement sent in several update requests still replaces (identified by style keys,
    which every catalog row has)."""
    sent = {(i.warehouse_code, i.sku) for i in items}
    return tuple(
        ChannelItem(
            warehouse_code=warehouse,
            sku=sku,
            keys=tuple(zip(SKU_COLUMNS, sku)),
            inventory=0,
            base_key=previous["idempotency_key"],
        )
        for (warehouse, sku), previous in sorted(acked.items())
        if (warehouse, sku) not in sent and previous["inventory"] != 0
    )


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


def _identity(row: dict) -> tuple[str, tuple[str, str, str, str]]:
    return row["warehouse_code"], tuple(row[c] for c in SKU_COLUMNS)  # type: ignore[return-value]


def _inventory_date(row: dict, rules: ChannelRules) -> str | None:
    # Only FUTURE stock has a date worth sending; IMMEDIATE stock is available now.
    if not rules.sends_inventory_date or row["warehouse_type"] != "FUTURE" or row["available_date"] is None:
        return None
    return row["available_date"].isoformat()


def _filter_reason(row: dict, rules: ChannelRules, item_identifier: str, location_of: dict[str, str]) -> str | None:
    if row["skip_push"]:
        return SKIP_PUSH
    if rules.honours_skip_joor and row["skip_joor"]:
        return SKIP_JOOR
    if rules.created_by is not None and row["created_by"] != rules.created_by:
        return NOT_CREATED_BY_CHANNEL
    if row["warehouse_type"] not in rules.warehouse_types:
        return WAREHOUSE_TYPE
    if rules.keyed_by_item_identifier:
        return None if item_keys(row, item_identifier) else MISSING_ITEM_KEYS
    if row["warehouse_code"] not in location_of:
        return NO_LOCATION
    if not row.get("inventory_item_id"):
        return NO_INVENTORY_ITEM_ID
    return None
