"""Channel item selection, deltas, batching and idempotency keys (pure domain)."""

from __future__ import annotations

import hashlib
import json

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.domain.channel_items import (
    ACKNOWLEDGED_SCHEMA,
    ITEM_SCHEMA,
    MISSING_ITEM_KEYS,
    NO_INVENTORY_ITEM_ID,
    NO_LOCATION,
    NOT_CREATED_BY_CHANNEL,
    PREVIOUSLY_REJECTED,
    REJECTED_SCHEMA,
    SKIP_JOOR,
    SKIP_PUSH,
    WAREHOUSE_TYPE,
    canonical_item,
    idempotency_keys,
    items_from_canonical,
    plan_batches,
    records,
    select_items,
)
from tests.snapshots import FUTURE_DATE, snapshot_frame, snapshot_row

NONE_ACKED = pl.DataFrame(schema=ACKNOWLEDGED_SCHEMA)


@pytest.fixture
def make_snapshot():
    def make(*rows: dict, ids: bool = False) -> pl.DataFrame:
        return snapshot_frame(list(rows), with_inventory_item_ids=ids)

    return make


def acknowledge(items, key: str = "k1") -> pl.DataFrame:
    """The ledger's view after `items` were acknowledged in a batch keyed `key`."""
    rows = [(i.warehouse_code, *i.sku, i.inventory, i.inventory_date, key, None, None) for i in items]
    return pl.DataFrame(rows, schema=ACKNOWLEDGED_SCHEMA, orient="row")


def test_items_carry_keys_per_item_identifier(make_snapshot):
    snap = make_snapshot(snapshot_row(1), snapshot_row(2, upc=None))

    auto = select_items(snap, "joor", "auto", NONE_ACKED).items
    style = select_items(snap, "joor", "style", NONE_ACKED).items
    ids = select_items(snap, "joor", "ids", NONE_ACKED).items

    assert [dict(i.keys) for i in auto] == [
        {"upc": "000000000001"},
        {"style_number": "ST-0000", "style_identifier": "SS27", "color_code": "002", "size_name": "2"},
    ]
    assert [k for k, _ in style[0].keys] == ["style_number", "style_identifier", "color_code", "size_name"]
    assert dict(ids[0].keys) == {"style_id": "S0", "style_color_id": "C0", "size_code": "Z1"}


def test_a_pinned_key_set_missing_on_a_row_skips_the_row(make_snapshot):
    snap = make_snapshot(snapshot_row(1), snapshot_row(2, upc=None))

    selection = select_items(snap, "joor", "upc", NONE_ACKED)

    assert len(selection.items) == 1
    assert selection.skipped == {MISSING_ITEM_KEYS: 1}


def test_negative_ats_is_sent_as_zero_and_future_stock_carries_its_date(make_snapshot):
    snap = make_snapshot(
        snapshot_row(1, ats=-3),
        snapshot_row(2, warehouse_code="FUT", warehouse_type="FUTURE", available_date=FUTURE_DATE),
    )

    items = {i.warehouse_code: i for i in select_items(snap, "joor", "auto", NONE_ACKED).items}

    assert items["NYC"].inventory == 0 and items["NYC"].inventory_date is None
    assert items["FUT"].inventory_date == "2027-03-01"


def test_update_sends_only_changed_values_and_overwrite_sends_all(make_snapshot):
    before = make_snapshot(snapshot_row(1), snapshot_row(2), snapshot_row(3))
    acked = acknowledge(select_items(before, "joor", "auto", NONE_ACKED).items)
    after = make_snapshot(snapshot_row(1), snapshot_row(2, ats=0), snapshot_row(3))

    update = select_items(after, "joor", "auto", acked, mode="update")
    overwrite = select_items(after, "joor", "auto", acked, mode="overwrite")

    assert [(i.sku, i.inventory, i.base_key) for i in update.items] == [(("ST-0000", "SS27", "002", "2"), 0, "k1")]
    assert update.unchanged == 2
    assert len(overwrite.items) == 3 and overwrite.unchanged == 0


def test_skip_flags_and_joor_filters(make_snapshot):
    snap = make_snapshot(snapshot_row(1, skip_push=True), snapshot_row(2, skip_joor=True), snapshot_row(3))

    selection = select_items(snap, "joor", "auto", NONE_ACKED)

    assert [i.sku[3] for i in selection.items] == ["3"]
    assert selection.skipped == {SKIP_JOOR: 1, SKIP_PUSH: 1}


def test_shopify_takes_only_its_own_immediate_items_with_location_and_item_id(make_snapshot):
    snap = make_snapshot(
        snapshot_row(1, created_by="shopify", inventory_item_id="111"),
        snapshot_row(2, created_by="joor", inventory_item_id="222"),
        snapshot_row(3, created_by="shopify", warehouse_code="FUT", warehouse_type="FUTURE", inventory_item_id="3"),
        snapshot_row(4, created_by="shopify", warehouse_code="LA", inventory_item_id="444"),
        snapshot_row(5, created_by="shopify", inventory_item_id=None),
        snapshot_row(6, created_by="shopify", skip_joor=True, inventory_item_id="666"),
        snapshot_row(7, created_by="shopify", skip_push=True, inventory_item_id="777"),
        ids=True,
    )

    selection = select_items(snap, "shopify", "auto", NONE_ACKED, locations=(("NYC", "gid://shopify/Location/1"),))

    assert [(i.inventory_item_id, i.location_id) for i in selection.items] == [
        ("111", "gid://shopify/Location/1"),
        ("666", "gid://shopify/Location/1"),
    ]
    assert selection.skipped == {
        NO_INVENTORY_ITEM_ID: 1,
        NO_LOCATION: 1,
        NOT_CREATED_BY_CHANNEL: 1,
        SKIP_PUSH: 1,
        WAREHOUSE_TYPE: 1,
    }


def test_a_value_rejected_before_is_not_offered_again_until_it_changes(make_snapshot):
    snap = make_snapshot(snapshot_row(1), snapshot_row(2))
    first = select_items(snap, "joor", "auto", NONE_ACKED).items
    rejected = pl.DataFrame(
        [(first[0].warehouse_code, *first[0].sku, first[0].inventory, None, None)], schema=REJECTED_SCHEMA, orient="row"
    )

    again = select_items(snap, "joor", "auto", NONE_ACKED, rejected=rejected)
    changed = select_items(
        make_snapshot(snapshot_row(1, ats=1), snapshot_row(2)), "joor", "auto", NONE_ACKED, rejected=rejected
    )

    assert [i.sku for i in again.items] == [first[1].sku]
    assert again.skipped == {PREVIOUSLY_REJECTED: 1}
    assert len(changed.items) == 2


def test_unknown_mode_channel_or_identifier_is_refused(make_snapshot):
    snap = make_snapshot(snapshot_row(1))
    with pytest.raises(ValueError, match="push mode"):
        select_items(snap, "joor", "auto", NONE_ACKED, mode="seed")
    with pytest.raises(ValueError, match="unknown channel"):
        select_items(snap, "faire", "auto", NONE_ACKED)
    with pytest.raises(ValueError, match="item_identifier"):
        select_items(snap, "joor", "sku", NONE_ACKED)


_json_bytes = canonical_item()  # an item's text: the canonical JSON (its size plus a separator)


def _bytes_each(n: int) -> pl.Expr:
    return pl.lit("x" * (n - 1))


def test_batches_respect_item_and_byte_limits_and_never_mix_warehouses(make_snapshot):
    rows = [snapshot_row(n) for n in range(7)] + [snapshot_row(n, warehouse_code="LA") for n in range(3)]
    items = select_items(make_snapshot(*rows), "joor", "auto", NONE_ACKED).rows
    by_count = plan_batches(items, "joor", "acme", "update", False, 3, 10**6, _json_bytes)
    by_bytes = plan_batches(items, "joor", "acme", "update", False, 100, 250, _bytes_each(100), envelope_bytes=10)

    assert [len(b.items) for b in by_count] == [3, 3, 3, 1]
    assert [b.warehouse_code for b in by_count] == ["LA", "NYC", "NYC", "NYC"]
    assert [(b.warehouse_code, len(b.items), b.bytes) for b in by_bytes] == [
        ("LA", 2, 210),
        ("LA", 1, 110),
        ("NYC", 2, 210),
        ("NYC", 2, 210),
        ("NYC", 2, 210),
        ("NYC", 1, 110),
    ]


def test_an_item_larger_than_the_byte_limit_goes_alone(make_snapshot):
    items = select_items(make_snapshot(snapshot_row(1), snapshot_row(2)), "joor", "auto", NONE_ACKED).rows

    batches = plan_batches(items, "joor", "acme", "update", False, 10, 5, _json_bytes)

    assert [len(b.items) for b in batches] == [1, 1]


def test_keys_name_transitions_so_a_value_returning_gets_a_new_key(make_snapshot):
    def keys(snapshot, acked):
        selection = select_items(snapshot, "joor", "auto", acked)
        batches = plan_batches(selection.rows, "joor", "acme", "update", False, 10, 10**6, _json_bytes)
        return selection.items, [b.idempotency_key for b in batches]

    five = make_snapshot(snapshot_row(1, ats=5))
    items_5, (k1,) = keys(five, NONE_ACKED)
    items_3, (k2,) = keys(make_snapshot(snapshot_row(1, ats=3)), acknowledge(items_5, k1))
    _, (k3,) = keys(five, acknowledge(items_3, k2))
    _, (k1_again,) = keys(five, NONE_ACKED)

    assert len({k1, k2, k3}) == 3
    assert k1_again == k1  # same snapshot, same ledger state: same batch, same key


def test_keys_differ_by_channel_account_and_mode(make_snapshot):
    items = select_items(make_snapshot(snapshot_row(1)), "joor", "auto", NONE_ACKED).rows

    keys = {
        plan_batches(items, ch, acct, mode, False, 10, 10**6, _json_bytes)[0].idempotency_key
        for ch, acct, mode in [
            ("joor", "a", "update"),
            ("shopify", "a", "update"),
            ("joor", "b", "update"),
            ("joor", "a", "overwrite"),
        ]
    }

    assert len(keys) == 4


row_numbers = st.lists(st.integers(0, 400), min_size=0, max_size=60, unique=True)


@settings(max_examples=60, deadline=None)
@given(numbers=row_numbers, max_items=st.integers(1, 12), max_bytes=st.integers(1, 2000), data=st.data())
def test_batches_partition_the_items_exactly(numbers, max_items, max_bytes, data):
    warehouses = data.draw(
        st.lists(st.sampled_from(["NYC", "LA", "FUT"]), min_size=len(numbers), max_size=len(numbers))
    )
    rows = [snapshot_row(n, warehouse_code=w, ats=n % 7 - 2) for n, w in zip(numbers, warehouses)]
    selection = select_items(snapshot_frame(rows), "joor", "auto", NONE_ACKED)
    items = selection.items

    batches = plan_batches(selection.rows, "joor", "acme", "update", False, max_items, max_bytes, _json_bytes)

    sent = [i for b in batches for i in b.items]
    assert sorted(sent, key=lambda i: (i.warehouse_code, i.sku)) == sorted(
        items, key=lambda i: (i.warehouse_code, i.sku)
    )
    assert len(sent) == len(set(sent))
    assert all(len(b.items) <= max_items for b in batches)
    assert all(b.bytes <= max_bytes or len(b.items) == 1 for b in batches)
    assert all(len({i.warehouse_code for i in b.items}) == 1 for b in batches)
    assert len({b.idempotency_key for b in batches}) == len(batches)


@settings(max_examples=60, deadline=None)
@given(numbers=row_numbers, identifier=st.sampled_from(["auto", "upc", "style", "ids"]), data=st.data())
def test_the_delta_of_a_snapshot_against_itself_is_empty(numbers, identifier, data):
    ats = data.draw(st.lists(st.integers(-50, 50), min_size=len(numbers), max_size=len(numbers)))
    rows = [snapshot_row(n, ats=a, upc=None if n % 3 == 0 else f"{n:012d}") for n, a in zip(numbers, ats)]
    snap = snapshot_frame(rows)
    first = select_items(snap, "joor", identifier, NONE_ACKED)

    again = select_items(snap, "joor", identifier, acknowledge(first.items))

    assert again.items == ()
    assert again.unchanged == len(first.items)


# -- the canonical form, column-wise, against the record-by-record form it replaced ---------------

wild_text = st.text(st.characters(codec="utf-8"), min_size=1, max_size=12)


@st.composite
def item_rows(draw) -> pl.DataFrame:
    n = draw(st.integers(1, 8))
    rows = []
    for _ in range(n):
        key_set = draw(st.sampled_from([None, "upc", "style", "ids"]))
        row = {c: draw(wild_text) for c in ITEM_SCHEMA if c not in ("key_set", "inventory", "change_from")}
        row |= {"key_set": key_set, "inventory": draw(st.integers(0, 10**9))}
        row["change_from"] = draw(st.none() | st.integers(0, 10**9))
        for c in ("inventory_date", "location_id", "inventory_item_id", "base_key"):
            row[c] = draw(st.none() | wild_text)
        rows.append(row)
    return pl.DataFrame(rows, schema=ITEM_SCHEMA)


def _record_by_record_key(channel, account, mode, dec_pending, items) -> str:
    """The idempotency key as the previous release computed it, one item record at a time (with
    v1.2's compare-and-swap value)."""
    content = {
        "channel": channel,
        "account": account,
        "mode": mode,
        "dec_pending": bool(dec_pending),
        "items": [
            {
                "warehouse_code": i.warehouse_code,
                "sku": list(i.sku),
                "keys": [list(k) for k in i.keys],
                "inventory": i.inventory,
                "inventory_date": i.inventory_date,
                "location_id": i.location_id,
                "inventory_item_id": i.inventory_item_id,
                "base_key": i.base_key,
                "change_from": i.change_from,
            }
            for i in items
        ],
    }
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@settings(max_examples=100, deadline=None)
@given(rows=item_rows(), account=wild_text, dec_pending=st.booleans(), data=st.data())
def test_keys_are_those_of_the_record_by_record_form_and_the_ledger_text_reads_back(rows, account, dec_pending, data):
    cut = data.draw(st.integers(0, rows.height))
    cuts = [(0, cut), (cut, rows.height)] if 0 < cut < rows.height else [(0, rows.height)]
    items = records(rows)

    texts = rows.select(canonical_item()).to_series()
    keys = idempotency_keys(texts, cuts, "joor", account, "update", dec_pending)

    assert keys == [_record_by_record_key("joor", account, "update", dec_pending, items[i:j]) for i, j in cuts]
    back = items_from_canonical(rows.select(canonical_item()).to_series())
    assert records(back) == items
