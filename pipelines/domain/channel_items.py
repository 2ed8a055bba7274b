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

Items travel as frames (`ITEM_SCHEMA`) from selection to the request: a first push of a million
rows is planned column-wise (sizes, canonical JSON, keys), and records (`ChannelItem`) are made
only where one batch's items are read one by one.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import itertools
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

import polars as pl

from pipelines.domain import json_text, outbound
from pipelines.domain.item_keys import KEY_COLUMNS, KEY_SETS
from pipelines.domain.item_keys import STYLE_SET as SKU_COLUMNS
from pipelines.domain.quantity_rules import QuantityRules, shown_and_held_back

PUSH_MODES = ("update", "overwrite")

IDENTITY = ("warehouse_code", *SKU_COLUMNS)
# The items a channel receives, one row per (warehouse, SKU): every key column (`key_set` names
# the ones sent; null on channels not keyed by the partner's keys) and the values sent.
ITEM_SCHEMA = pl.Schema(
    {
        "warehouse_code": pl.String,
        **{c: pl.String for c in KEY_COLUMNS},
        "key_set": pl.String,
        "inventory": pl.Int64,
        "inventory_date": pl.String,  # ISO date or null
        "location_id": pl.String,
        "inventory_item_id": pl.String,
        "base_key": pl.String,
        # Compare-and-swap channels (Shopify): the value the channel holds as far as we know (what
        # it last acknowledged, or what drift found since); null when we never set it.
        "change_from": pl.Int64,
    }
)

# The ledger's per-item frames: last acknowledged value (and what drift found in the channel
# since, if anything), and last refused value.
ACKNOWLEDGED_SCHEMA = pl.Schema(
    {
        "warehouse_code": pl.String,
        **{c: pl.String for c in SKU_COLUMNS},
        "inventory": pl.Int64,
        "inventory_date": pl.String,  # ISO date or null
        "idempotency_key": pl.String,
        "found": pl.Int64,  # what the channel was found holding after that acknowledgement (drift), or null
        "found_ours": pl.Int64,  # what it should have shown when that was found
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

OnDrift = Literal["ours", "report"]
ON_DRIFT: tuple[OnDrift, ...] = ("ours", "report")


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
        compare_and_swap: every quantity carries the value we believe the channel holds
            (`change_from`), and the channel refuses it when that is stale (Shopify 2026-04+).
        applies_the_rest: an answer that refuses some items applied the others (JOOR's per-item
            `inventory_log`); otherwise nothing of the request was applied (Shopify's userErrors)
            and the others are sent again without the refused ones.
        max_batch_items: the channel's own cap on items a request (None: none); `batch_items`
            above it is a config error.
        default_batch_items: `batch_items` when the partner sets none.
    """

    honours_skip_joor: bool = False
    created_by: str | None = None
    warehouse_types: tuple[str, ...] = ("IMMEDIATE", "FUTURE")
    keyed_by_item_identifier: bool = True
    sends_inventory_date: bool = True
    overwrite_replaces_account: bool = False
    compare_and_swap: bool = False
    applies_the_rest: bool = True
    max_batch_items: int | None = None
    default_batch_items: int = 1000


CHANNEL_RULES: dict[str, ChannelRules] = {
    "joor": ChannelRules(honours_skip_joor=True, overwrite_replaces_account=True),
    "shopify": ChannelRules(
        created_by="shopify",
        warehouse_types=("IMMEDIATE",),
        keyed_by_item_identifier=False,
        sends_inventory_date=False,
        compare_and_swap=True,
        applies_the_rest=False,
        # Shopify: "input arrays … are limited to 250 items".
        max_batch_items=250,
        default_batch_items=250,
    ),
}


@dataclass(frozen=True)
class ChannelItem:
    """One (warehouse, SKU) as a channel receives it: a row of `ITEM_SCHEMA`, as a record.

    Attributes:
        warehouse_code: our warehouse code (JOOR's `warehouse`).
        sku: (style_number, style_identifier, color_code, size_name): the ledger's identity.
        keys: identifying fields sent, in business names (e.g. (("upc", "0123"),)).
        inventory: ats clamped at 0.
        inventory_date: ISO date for FUTURE stock on channels that send it, else None.
        location_id: Shopify location gid (Shopify only).
        inventory_item_id: Shopify inventory item gid (Shopify only).
        base_key: idempotency key of the push that acknowledged the previous value, or None.
        change_from: compare-and-swap channels: the value we believe the channel holds (None:
            we never set it).
    """

    warehouse_code: str
    sku: tuple[str, str, str, str]
    keys: tuple[tuple[str, str], ...]
    inventory: int
    inventory_date: str | None = None
    location_id: str | None = None
    inventory_item_id: str | None = None
    base_key: str | None = None
    change_from: int | None = None

    @classmethod
    def from_row(cls, row: dict) -> ChannelItem:
        fields = KEY_SETS[row["key_set"]] if row["key_set"] else ()
        return cls(
            warehouse_code=row["warehouse_code"],
            sku=tuple(row[c] for c in SKU_COLUMNS),  # type: ignore[arg-type]
            keys=tuple((f, row[f]) for f in fields),
            inventory=row["inventory"],
            inventory_date=row["inventory_date"],
            location_id=row["location_id"],
            inventory_item_id=row["inventory_item_id"],
            base_key=row["base_key"],
            change_from=row["change_from"],
        )


def records(rows: pl.DataFrame) -> tuple[ChannelItem, ...]:
    """The rows of an item frame as records, in frame order."""
    return tuple(ChannelItem.from_row(r) for r in rows.iter_rows(named=True))


@dataclass(frozen=True)
class Selection:
    """What a channel should receive from one snapshot.

    Attributes:
        rows: items to send (`ITEM_SCHEMA`), sorted by (warehouse_code, sku).
        unchanged: rows left out because the channel already acknowledged their value (update mode).
        skipped: rows left out by a filter, counted by reason.
        left_rows: overwrite on a replacing channel: explicit zeros for what it holds from us
            that the snapshot no longer has (`ITEM_SCHEMA`).
        held_back: units the channel's quantity rules keep from it over every item it is sent
            (`total` and by step), whether due now or not.
    """

    rows: pl.DataFrame = field(compare=False)
    unchanged: int
    skipped: dict[str, int] = field(default_factory=dict)
    left_rows: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=ITEM_SCHEMA), compare=False)
    held_back: dict[str, int] = field(default_factory=dict)

    @property
    def items(self) -> tuple[ChannelItem, ...]:
        return records(self.rows)

    def to_send(self) -> pl.DataFrame:
        """Every item the selection sends: the rows, then the zeros left out of an overwrite."""
        return pl.concat([self.rows, self.left_rows])


@dataclass(frozen=True)
class Batch:
    """One request's worth of items, all of one warehouse (`ALL_WAREHOUSES` for a replacing overwrite).

    Attributes:
        idempotency_key: sha256 hex of the canonical batch content (see module docstring).
        channel, account, mode, dec_pending: what the request is for.
        warehouse_code: the one warehouse of the batch.
        rows: the items (`ITEM_SCHEMA`), sorted; `items` gives them as records.
        bytes: estimated request body size.
        texts: each row's `canonical_item` text, made once when the batch was planned (what its
            key hashes and what the ledger records).
        wire: each row's text in the request body, when the plan made it (None: the channel
            makes it from `rows`).
    """

    idempotency_key: str
    channel: str
    account: str
    mode: str
    dec_pending: bool
    warehouse_code: str
    rows: pl.DataFrame = field(compare=False, repr=False)
    bytes: int
    texts: pl.Series = field(compare=False, repr=False)
    wire: pl.Series | None = field(default=None, compare=False, repr=False)

    @property
    def size(self) -> int:
        """How many items the batch holds."""
        return self.rows.height

    @functools.cached_property
    def items(self) -> tuple[ChannelItem, ...]:
        return records(self.rows)


ALL_WAREHOUSES = "*"


def rules_for(channel: str) -> ChannelRules:
    """The rules of a known channel; a ValueError names the known ones otherwise."""
    try:
        return CHANNEL_RULES[channel]
    except KeyError:
        raise ValueError(f"unknown channel {channel!r} (known: {', '.join(sorted(CHANNEL_RULES))})") from None


def items_per_batch(channel: str, configured: int | None) -> int:
    """Items a request holds: the partner's `batch_items`, else the channel's default."""
    return configured if configured is not None else rules_for(channel).default_batch_items


def select_items(
    snapshot: pl.DataFrame,
    channel: str,
    item_identifier: str,
    acknowledged: pl.DataFrame,
    mode: str = "update",
    locations: Iterable[tuple[str, str]] = (),
    rejected: pl.DataFrame | None = None,
    on_drift: OnDrift = "ours",
    quantity_rules: QuantityRules | None = None,
) -> Selection:
    """Decide which snapshot rows a channel receives (set-based: filters, delta and refusals are
    joins and expressions over the whole snapshot).

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
            this) until something about it changes. None (`push --retry-failed`): send them again.
        on_drift: compare-and-swap channels: `ours` sends an item again when the channel was found
            holding something else since it acknowledged ours (drift); `report` leaves it until
            ours changes. Either way the value sent is compared against the last value known.
        quantity_rules: the channel's quantity rules: what it is shown (and so what is due) is the clamped
            ats after them (`domain.quantity_rules`).

    Returns:
        The items to send, the count left unchanged and the skip counts by reason.
    """
    if mode not in PUSH_MODES:
        raise ValueError(f"unknown push mode {mode!r} ({', '.join(PUSH_MODES)})")
    rules = rules_for(channel)
    chosen = outbound.key_set(item_identifier)
    location_of = dict(locations)
    identity = list(IDENTITY)
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
    frame, withheld = shown_and_held_back(frame, quantity_rules, "_inventory", counted=pl.col("_skip").is_null())
    skipped = dict(frame.filter(pl.col("_skip").is_not_null()).group_by("_skip").len().iter_rows())
    if on_drift not in ON_DRIFT:
        raise ValueError(f"unknown on_drift {on_drift!r} ({', '.join(ON_DRIFT)})")
    acked = acknowledged.select(
        *identity,
        pl.col("inventory").alias("_prev"),
        pl.col("inventory_date").alias("_prev_date"),
        pl.col("idempotency_key").alias("_base"),
        pl.col("found").alias("_found"),
        pl.col("found_ours").alias("_found_ours"),
        pl.lit(True).alias("_acked"),
    )
    frame = frame.filter(pl.col("_skip").is_null()).join(acked, on=identity, how="left", nulls_equal=True)
    # What a compare-and-swap channel holds as far as we know: drift found since the
    # acknowledgement wins. It is what an item is compared against, and (under `ours`) what due is.
    known = pl.coalesce("_found", "_prev")
    acked_same = pl.col("_acked").fill_null(False) & pl.col("_prev_date").eq_missing(pl.col("_date"))
    if rules.compare_and_swap and on_drift == "ours":
        same = acked_same & (known == pl.col("_inventory"))
    elif rules.compare_and_swap:
        # `report`: drift found for this very value of ours is left as found until ours changes.
        same = acked_same & (
            (pl.col("_prev") == pl.col("_inventory")) | pl.col("_found_ours").eq_missing(pl.col("_inventory"))
        )
    else:
        same = acked_same & (pl.col("_prev") == pl.col("_inventory"))
    same = same.fill_null(False)
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
    keyed = rules.keyed_by_item_identifier
    rows = frame.select(
        "warehouse_code",
        *KEY_COLUMNS,
        (pl.col("_set") if keyed else pl.lit(None, pl.String)).alias("key_set"),
        pl.col("_inventory").alias("inventory"),
        pl.col("_date").alias("inventory_date"),
        (
            pl.lit(None, pl.String)
            if keyed
            else pl.col("warehouse_code").replace_strict(location_of, default=None, return_dtype=pl.String)
        ).alias("location_id"),
        (pl.lit(None, pl.String) if keyed else pl.col("inventory_item_id")).alias("inventory_item_id"),
        pl.col("_base").alias("base_key"),
        (known if rules.compare_and_swap else pl.lit(None, pl.Int64)).alias("change_from"),
    ).cast(ITEM_SCHEMA)
    left = _left_scope(rows, acknowledged) if mode == "overwrite" and rules.overwrite_replaces_account else None
    return Selection(
        rows=rows,
        unchanged=unchanged,
        skipped=dict(sorted(skipped.items())),
        left_rows=left if left is not None else pl.DataFrame(schema=ITEM_SCHEMA),
        held_back=withheld,
    )


@dataclass(frozen=True)
class ChannelView:
    """What a channel is shown against what the warehouses hold for it, by warehouse code.

    Attributes:
        held: units (clamped ats) of every item the channel is sent.
        shown: the same items after the channel's quantity rules.
        held_back: units the rules keep from it, in total and by step.
    """

    held: dict[str, int]
    shown: dict[str, int]
    held_back: dict[str, int]


def channel_view(
    snapshot: pl.DataFrame,
    channel: str,
    item_identifier: str,
    locations: Iterable[tuple[str, str]] = (),
    quantity_rules: QuantityRules | None = None,
) -> ChannelView:
    """Every item `channel` is sent (whatever it acknowledged), before and after its rules."""
    none = pl.DataFrame(schema=ACKNOWLEDGED_SCHEMA)
    items = select_items(snapshot, channel, item_identifier, none, mode="overwrite", locations=locations).rows
    shown, held_back = shown_and_held_back(items, quantity_rules)

    def by_warehouse(frame: pl.DataFrame) -> dict[str, int]:
        return dict(frame.group_by("warehouse_code").agg(pl.col("inventory").sum()).iter_rows())

    return ChannelView(by_warehouse(items), by_warehouse(shown), held_back)


def _left_scope(rows: pl.DataFrame, acknowledged: pl.DataFrame) -> pl.DataFrame:
    """Zeros for what the channel holds from us (acknowledged above 0) that the overwrite leaves out,
    so a replacement sent in several update requests still replaces (identified by style keys,
    which every catalog row has)."""
    held = acknowledged.filter(pl.col("inventory") != 0).join(
        rows.select(IDENTITY), on=list(IDENTITY), how="anti", nulls_equal=True
    )
    return (
        held.sort(IDENTITY)
        .select(
            "warehouse_code",
            *(pl.col(c) if c in SKU_COLUMNS else pl.lit(None, pl.String).alias(c) for c in KEY_COLUMNS),
            pl.lit("style").alias("key_set"),
            pl.lit(0).alias("inventory"),
            *(pl.lit(None, pl.String).alias(c) for c in ("inventory_date", "location_id", "inventory_item_id")),
            pl.col("idempotency_key").alias("base_key"),
            pl.lit(None, pl.Int64).alias("change_from"),
        )
        .cast(ITEM_SCHEMA)
    )


def canonical_item(key_sets: Iterable[str | None] | None = None) -> pl.Expr:
    """Each item row's canonical JSON (sorted names, no spaces): what its batch's idempotency key
    is made of and what the ledger records; `items_from_canonical` reads it back. (Identity
    columns are never null: they are the tables' keys.)

    Args:
        key_sets: the `key_set` values the rows hold, when known: the text of the others is not
            built (polars evaluates every branch of a `when` on every row), the result is the same.
    """
    present = set(KEY_SETS) if key_sets is None else set(key_sets)
    keys = pl.lit("[]")
    for name, fields in reversed(KEY_SETS.items()):
        if name not in present:
            continue
        pairs: list[str | pl.Expr] = ["["]
        for n, f in enumerate(fields):
            pairs += [("," if n else "") + "[" + json_text.literal(f) + ",", json_text.string(pl.col(f)), "]"]
        keys = pl.when(pl.col("key_set") == name).then(json_text.concat([*pairs, "]"])).otherwise(keys)
    sku: list[str | pl.Expr] = []
    for n, c in enumerate(SKU_COLUMNS):
        sku += [("," if n else "") + '"', json_text.escaped(pl.col(c)), '"']
    return json_text.concat(
        [
            '{"base_key":',
            json_text.string(pl.col("base_key")),
            ',"change_from":',
            json_text.integer(pl.col("change_from")),
            ',"inventory":',
            json_text.integer(pl.col("inventory")),
            ',"inventory_date":',
            json_text.string(pl.col("inventory_date")),
            ',"inventory_item_id":',
            json_text.string(pl.col("inventory_item_id")),
            ',"keys":',
            keys,
            ',"location_id":',
            json_text.string(pl.col("location_id")),
            ',"sku":[',
            *sku,
            '],"warehouse_code":"',
            json_text.escaped(pl.col("warehouse_code")),
            '"}',
        ]
    )


_SET_OF_FIELDS = {fields: name for name, fields in KEY_SETS.items()}


def items_from_canonical(texts: Iterable[str]) -> pl.DataFrame:
    """Item rows (`ITEM_SCHEMA`) from their canonical JSON, in the order given."""
    out = []
    for text in texts:
        data = json.loads(text)
        keys = {f: v for f, v in data["keys"]}
        row = dict.fromkeys(ITEM_SCHEMA)
        row.update(keys)
        row.update(
            warehouse_code=data["warehouse_code"],
            **dict(zip(SKU_COLUMNS, data["sku"], strict=True)),
            key_set=_SET_OF_FIELDS.get(tuple(keys)),
            inventory=int(data["inventory"]),
            inventory_date=data["inventory_date"],
            location_id=data["location_id"],
            inventory_item_id=data["inventory_item_id"],
            base_key=data["base_key"],
            change_from=data.get("change_from"),  # absent in batches recorded before v1.2
        )
        out.append(row)
    return pl.DataFrame(out, schema=ITEM_SCHEMA, orient="row") if out else pl.DataFrame(schema=ITEM_SCHEMA)


def plan_batches(
    items: pl.DataFrame,
    channel: str,
    account: str,
    mode: str,
    dec_pending: bool,
    max_items: int,
    max_bytes: int,
    item_text: pl.Expr,
    envelope_bytes: int = 0,
    retry: str | None = None,
) -> list[Batch]:
    """Cut items into batches of one warehouse each, at most `max_items` items and `max_bytes` bytes.

    A single item larger than `max_bytes` on its own still goes out, alone in its batch: it cannot
    be split, and refusing it silently would lose it (the API will answer for it).

    An overwrite on a channel whose overwrite replaces the account (JOOR) is one request holding
    every item when it fits; otherwise it goes as update batches (each `overwrite=1` request
    would wipe the one before), which with the selection's `left_rows` zeros replace the same.

    Set-based: the items' wire texts (and so their sizes) and canonical texts are one pass over
    all of them; a batch keeps both, so its request body is a join of texts already made. The
    cuts are strides of `max_items` when no stride can pass `max_bytes`, else found batch by batch.

    Args:
        items: items to send (`ITEM_SCHEMA`, any order; batches are cut from the sorted order).
        item_text: each item's text in a request body, an expression over `ITEM_SCHEMA` rows (the
            channel adapter knows its encoding); an item adds its bytes plus one separator.
        envelope_bytes: bytes of a request body with no items.
        retry: `push --retry-failed`: a mark (when it was asked) that makes the keys new, so a
            channel that remembers a refused key does not answer a retry from its memory.
    """
    if max_items < 1 or max_bytes < 1:
        raise ValueError("batch_items and batch_bytes must be at least 1")
    ordered = items.sort(IDENTITY)
    key_sets = ordered.get_column("key_set").unique().to_list()
    texts = ordered.select(item_text.alias("wire"), canonical_item(key_sets).alias("text"))
    sizes = texts.get_column("wire").str.len_bytes().cast(pl.Int64) + 1
    # at[k] = bytes of items [0, k): a batch [i, j) costs envelope + at[j] - at[i].
    at = [0, *itertools.accumulate(sizes.to_list())]
    runs = _warehouse_runs(ordered)
    if mode == "overwrite" and rules_for(channel).overwrite_replaces_account:
        if ordered.height and ordered.height <= max_items and envelope_bytes + at[-1] <= max_bytes:
            whole = len(runs) == 1 and runs[0][2] or ALL_WAREHOUSES
            return _batches(
                ordered,
                texts,
                [(0, ordered.height, whole)],
                at,
                envelope_bytes,
                channel,
                account,
                mode,
                dec_pending,
                retry,
            )
        mode = "update"
    cuts = []
    largest: int = sizes.max() or 0  # type: ignore[assignment]  # an Int64 column's max
    strides = envelope_bytes + max_items * largest <= max_bytes
    for start, stop, warehouse in runs:
        if strides:
            cuts += [(i, min(i + max_items, stop), warehouse) for i in range(start, stop, max_items)]
            continue
        i = start
        while i < stop:
            # The furthest end that keeps both limits (`at` never decreases); at least one item.
            fits = bisect.bisect_right(at, at[i] + max_bytes - envelope_bytes) - 1
            j = min(max(fits, i + 1), stop, i + max_items)
            cuts.append((i, j, warehouse))
            i = j
    return _batches(ordered, texts, cuts, at, envelope_bytes, channel, account, mode, dec_pending, retry)


def _warehouse_runs(ordered: pl.DataFrame) -> list[tuple[int, int, str]]:
    """(start, stop, warehouse_code) of each warehouse's rows in a frame sorted by warehouse."""
    runs = ordered.select(pl.col("warehouse_code").rle()).unnest("warehouse_code")
    starts = [0, *itertools.accumulate(runs.get_column("len").to_list())]
    return [(i, j, code) for (i, j), code in zip(itertools.pairwise(starts), runs.get_column("value"), strict=True)]


def _batches(
    ordered: pl.DataFrame,
    texts: pl.DataFrame,
    cuts: list[tuple[int, int, str]],
    at: list[int],
    envelope_bytes: int,
    channel: str,
    account: str,
    mode: str,
    dec_pending: bool,
    retry: str | None,
) -> list[Batch]:
    canonical, wire = texts.get_column("text"), texts.get_column("wire")
    keys = idempotency_keys(canonical, [(i, j) for i, j, _ in cuts], channel, account, mode, dec_pending, retry)
    return [
        _batch(
            ordered.slice(i, j - i),
            canonical.slice(i, j - i),
            key,
            envelope_bytes + at[j] - at[i],
            channel,
            account,
            mode,
            dec_pending,
            warehouse,
            wire.slice(i, j - i),
        )
        for (i, j, warehouse), key in zip(cuts, keys, strict=True)
    ]


def idempotency_keys(
    texts: pl.Series,
    cuts: list[tuple[int, int]],
    channel: str,
    account: str,
    mode: str,
    dec_pending: bool,
    retry: str | None = None,
) -> list[str]:
    """The key of each batch [i, j) of items whose `canonical_item` texts are `texts`: sha256 hex
    of the canonical JSON of (account, channel, dec_pending, items, mode[, retry]), names sorted,
    no spaces (`retry` only when set, so ordinary keys do not depend on it)."""
    if not cuts:
        return []
    head = (
        f'{{"account":{json_text.literal(account)},"channel":{json_text.literal(channel)},'
        f'"dec_pending":{"true" if dec_pending else "false"},"items":['
    )
    tail = f'],"mode":{json_text.literal(mode)}' + (f',"retry":{json_text.literal(retry)}' if retry else "") + "}"
    # One batch's texts at a time: a million Python strings at once cost more than their batches.
    return [
        hashlib.sha256((head + ",".join(texts.slice(i, j - i).to_list()) + tail).encode("utf-8")).hexdigest()
        for i, j in cuts
    ]


def halves(batch: Batch) -> list[Batch]:
    """A refused batch cut in two, to find the items the API refuses while the others go through.

    The halves of a replacing overwrite are updates: two replacements would each wipe the other.
    """
    mode = "update" if batch.mode == "overwrite" and rules_for(batch.channel).overwrite_replaces_account else batch.mode
    middle = batch.size // 2
    cuts = [(0, middle), (middle, batch.size)]
    keys = idempotency_keys(batch.texts, cuts, batch.channel, batch.account, mode, batch.dec_pending)
    return [
        _batch(
            batch.rows.slice(i, j - i),
            batch.texts.slice(i, j - i),
            key,
            batch.bytes * (j - i) // batch.size,
            batch.channel,
            batch.account,
            mode,
            batch.dec_pending,
        )
        for (i, j), key in zip(cuts, keys, strict=True)
    ]


def remainder(batch: Batch, rows: pl.DataFrame) -> Batch:
    """A batch of `rows` (some of `batch`'s items, values possibly changed) to send again after
    the channel refused the request for others' sake: its own key, as its content is its own."""
    rows = rows.cast(ITEM_SCHEMA)
    texts = rows.select(canonical_item()).to_series()
    (key,) = idempotency_keys(texts, [(0, rows.height)], batch.channel, batch.account, batch.mode, batch.dec_pending)
    size = batch.bytes * rows.height // max(batch.size, 1)
    return _batch(rows, texts, key, size, batch.channel, batch.account, batch.mode, batch.dec_pending)


def _batch(
    rows: pl.DataFrame,
    texts: pl.Series,
    key: str,
    size: int,
    channel: str,
    account: str,
    mode: str,
    dec_pending: bool,
    warehouse: str | None = None,
    wire: pl.Series | None = None,
) -> Batch:
    """A batch of `rows`; `warehouse` when the caller knows it (else found from the rows)."""
    if warehouse is None:
        warehouses = rows.get_column("warehouse_code").unique()
        warehouse = warehouses[0] if warehouses.len() == 1 else ALL_WAREHOUSES
    return Batch(
        idempotency_key=key,
        channel=channel,
        account=account,
        mode=mode,
        dec_pending=bool(dec_pending),
        warehouse_code=warehouse,
        rows=rows,
        bytes=size,
        texts=texts,
        wire=wire,
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
