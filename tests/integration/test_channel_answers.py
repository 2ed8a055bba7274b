"""Channels that stay right (channels.md v1.2), against stand-ins that behave as Shopify's and JOOR's
documentation says (`channel_standins.py`): what is sent, per-item answers, failures told apart,
drift, reconcile. On SQLite and PostgreSQL (the ledger and the drift table must be portable)."""

from __future__ import annotations

import json

import httpx
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.adapters.push_ledger import drift_findings, push_account, push_tables
from pipelines.adapters.reconcile import NoChannelRead, reconcile_channel
from pipelines.adapters.store_schema import create_engine, migrate
from pipelines.domain.partners import ChannelSpec, PartnerSpec
from tests.integration.channel_standins import JoorStandIn, ShopifyStandIn
from tests.snapshots import SHOPIFY_ITEM_PREFIX, snapshot_frame, snapshot_row

pytestmark = pytest.mark.integration

TOKEN = "shpat-s3cr3t"
LOCATION = "gid://shopify/Location/1"
PARTNER = PartnerSpec(account="acme")
FAST = dict(timeout_s=2.0, max_attempts=3, backoff_initial_s=0.01, backoff_max_s=0.05)


def item(n: int) -> str:
    return f"{SHOPIFY_ITEM_PREFIX}{n}"


def shop_rows(count: int, ats=lambda n: 10 + n) -> list[dict]:
    return [snapshot_row(n, created_by="shopify", inventory_item_id=item(n), ats=ats(n)) for n in range(count)]


def snapshot(rows: list[dict]):
    return snapshot_frame(rows, with_inventory_item_ids=True)


def held(shop: ShopifyStandIn, count: int) -> list[int]:
    return [shop.levels[(item(n), LOCATION)] for n in range(count)]


@pytest.fixture
def engine(store_url):
    migrate(store_url)
    engine = create_engine(store_url)
    yield engine
    engine.dispose()


@pytest.fixture
def shop():
    # 600 items stocked at one location, each at 0 before Stockdrop's first push.
    server = ShopifyStandIn(TOKEN, {(item(n), LOCATION): 0 for n in range(600)})
    yield server
    server.close()


def shopify(shop: ShopifyStandIn, **overrides) -> ChannelSpec:
    return ChannelSpec(name="shopify", base_url=shop.endpoint, locations=(("NYC", LOCATION),), **{**FAST, **overrides})


def test_the_state_reaches_shopify_once_in_batches_of_at_most_250(engine, shop):
    rows = shop_rows(600)

    first = push_account(engine, snapshot(rows), PARTNER, shopify(shop), TOKEN)
    again = push_account(engine, snapshot(rows), PARTNER, shopify(shop), TOKEN)

    assert first.ok and first.items_acknowledged == 600
    assert [len(m["quantities"]) for m in shop.mutations] == [250, 250, 100]
    assert all(m["applied"] for m in shop.mutations) and set(shop.applied.values()) == {1}
    assert held(shop, 600) == [10 + n for n in range(600)]
    # Never set by us before: every quantity opts out of the check with an explicit null.
    assert {q["changeFromQuantity"] for m in shop.mutations for q in m["quantities"]} == {None}
    assert again.ok and again.batches_sent == 0 and len(shop.mutations) == 3


def test_compare_and_swap_uses_the_value_shopify_last_acknowledged(engine, shop):
    rows = shop_rows(3)
    push_account(engine, snapshot(rows), PARTNER, shopify(shop), TOKEN)
    rows[1]["ats"] = 4

    report = push_account(engine, snapshot(rows), PARTNER, shopify(shop), TOKEN)

    assert report.ok and not report.drift
    (quantity,) = shop.mutations[-1]["quantities"]
    assert quantity == {"inventoryItemId": item(1), "locationId": LOCATION, "quantity": 4, "changeFromQuantity": 11}
    assert held(shop, 3) == [10, 4, 12]


@pytest.mark.parametrize("on_drift", ["ours", "report"])
def test_a_sale_in_shopify_is_found_as_drift_and_ends_as_on_drift_says(engine, shop, on_drift):
    rows = shop_rows(4)
    spec = shopify(shop, on_drift=on_drift)
    push_account(engine, snapshot(rows), PARTNER, spec, TOKEN)
    shop.sell(item(2), LOCATION, 3)  # Shopify now holds 9 where we set 12
    rows[2]["ats"], rows[0]["ats"] = 20, 7  # ...and our files change both

    report = push_account(engine, snapshot(rows), PARTNER, spec, TOKEN)

    (finding,) = report.drift
    assert (finding.inventory_item_id, finding.expected, finding.found, finding.ours) == (item(2), 12, 9, 20)
    assert finding.on_drift == on_drift and finding.source == "push"
    assert [d.found for d in drift_findings(engine, "shopify", "acme")] == [9]
    # The stale request applied nothing; the other item went again at once, without it.
    assert held(shop, 4)[0] == 7
    if on_drift == "ours":
        assert report.ok and held(shop, 4)[2] == 20
        assert shop.mutations[-1]["quantities"][-1]["changeFromQuantity"] == 9  # set against the value found
    else:
        assert report.ok and held(shop, 4)[2] == 9
        quiet = push_account(engine, snapshot(rows), PARTNER, spec, TOKEN)
        assert quiet.batches_sent == 0  # left as found until ours changes
        rows[2]["ats"] = 21
        changed = push_account(engine, snapshot(rows), PARTNER, spec, TOKEN)
        assert changed.ok and not changed.drift and held(shop, 4)[2] == 21
        assert shop.mutations[-1]["quantities"][0]["changeFromQuantity"] == 9


def test_reconcile_lists_exactly_the_items_changed_by_hand_and_apply_repairs_them(engine, shop):
    rows = shop_rows(300)
    push_account(engine, snapshot(rows), PARTNER, shopify(shop), TOKEN)
    shop.edit(item(5), LOCATION, 0)
    shop.sell(item(260), LOCATION, 1)
    mutations = len(shop.mutations)

    found = reconcile_channel(engine, snapshot(rows), PARTNER, shopify(shop), TOKEN)

    assert found.ok and found.items == 300 and found.requests == 2  # 250 ids a query
    assert found.differences.select("inventory_item_id", "ours", "theirs").rows() == [
        (item(5), 15, 0),
        (item(260), 270, 269),
    ]
    assert len(shop.mutations) == mutations  # reading changes nothing

    repaired = reconcile_channel(engine, snapshot(rows), PARTNER, shopify(shop), TOKEN, apply=True)

    assert repaired.applied is not None and repaired.applied.ok and repaired.applied.items_acknowledged == 2
    assert held(shop, 300) == [10 + n for n in range(300)]
    assert reconcile_channel(engine, snapshot(rows), PARTNER, shopify(shop), TOKEN).differences.height == 0
    assert {d.source for d in drift_findings(engine, "shopify", "acme")} == {"reconcile"}


def test_a_refused_item_fails_alone_and_retry_failed_delivers_it(engine, shop):
    rows = [*shop_rows(3), snapshot_row(3, created_by="shopify", inventory_item_id=item(9999), ats=5)]

    first = push_account(engine, snapshot(rows), PARTNER, shopify(shop), TOKEN)

    assert (first.items_failed, first.items_acknowledged) == (1, 3) and not first.ok
    assert "INVALID_INVENTORY_ITEM" in first.failures[0][2]
    assert held(shop, 3) == [10, 11, 12]
    t = push_tables(engine)
    with engine.connect() as conn:
        refused = conn.execute(
            sa.select(t.push_items.c.size_name, t.push_items.c.message).where(t.push_items.c.refused)
        ).all()
    assert [r.size_name for r in refused] == ["3"] and "could not be found" in refused[0].message

    later = push_account(engine, snapshot(rows), PARTNER, shopify(shop), TOKEN)
    assert later.batches_sent == 0 and later.items_refused_before == 1 and not later.ok

    shop.edit(item(9999), LOCATION, 0)  # the merchant creates the item
    retried = push_account(engine, snapshot(rows), PARTNER, shopify(shop), TOKEN, retry_failed=True)
    assert retried.ok and retried.items_acknowledged == 1
    assert shop.levels[(item(9999), LOCATION)] == 5
    assert push_account(engine, snapshot(rows), PARTNER, shopify(shop), TOKEN).ok


def test_a_401_refuses_nothing_and_a_later_push_delivers_everything(engine, shop):
    rows = shop_rows(5)

    refused = push_account(engine, snapshot(rows), PARTNER, shopify(shop), "expired-token")

    assert not refused.ok and refused.items_failed == 0 and refused.batches_pending == 1
    assert refused.problem == "401 Unauthorized — check the token"
    assert "expired-token" not in refused.undone()
    again = push_account(engine, snapshot(rows), PARTNER, shopify(shop), "expired-token")
    assert not again.ok and again.batches_resent == 1  # still undone: still says so

    fixed = push_account(engine, snapshot(rows), PARTNER, shopify(shop), TOKEN)

    assert fixed.ok and fixed.batches_resent == 1 and fixed.items_acknowledged == 5
    assert held(shop, 5) == [10, 11, 12, 13, 14]


def test_a_graphql_error_naming_no_item_leaves_the_batch_pending(engine, shop):
    shop.fail_next.append(
        (200, {"errors": [{"message": "Internal error. Looks like something went wrong on our end."}]})
    )

    report = push_account(engine, snapshot(shop_rows(2)), PARTNER, shopify(shop), TOKEN)

    assert report.batches_pending == 1 and report.items_failed == 0
    assert report.problem.startswith("GraphQL error: Internal error")
    assert push_account(engine, snapshot(shop_rows(2)), PARTNER, shopify(shop), TOKEN).ok


def test_the_stand_in_refuses_what_shopify_2026_04_refuses(shop):
    """The stand-in is strict where Shopify is: the pre-2026-04 request shape is refused."""
    old = {
        "query": "mutation s($input: InventorySetQuantitiesInput!) { inventorySetQuantities(input: $input) "
        "{ userErrors { field message } } }",
        "variables": {
            "input": {
                "name": "available",
                "reason": "correction",
                "ignoreCompareQuantity": True,
                "quantities": [{"inventoryItemId": item(1), "locationId": LOCATION, "quantity": 1}],
            }
        },
    }
    headers = {"X-Shopify-Access-Token": TOKEN}
    answer = httpx.post(shop.endpoint, json=old, headers=headers).json()
    assert "ignoreCompareQuantity" in answer["errors"][0]["message"]
    del old["variables"]["input"]["ignoreCompareQuantity"]
    answer = httpx.post(shop.endpoint, json=old, headers=headers).json()
    assert "@idempotent directive is required" in answer["errors"][0]["message"]
    assert shop.levels[(item(1), LOCATION)] == 0


def test_pacing_follows_shopifys_cost_bucket(engine):
    # A bucket of 25 points refilled at 50 a second: each mutation costs 10.
    shop = ShopifyStandIn(TOKEN, {(item(n), LOCATION): 0 for n in range(6)}, bucket=25.0, restore_rate=50.0)
    try:
        report = push_account(engine, snapshot(shop_rows(6)), PARTNER, shopify(shop, batch_items=1), TOKEN)
    finally:
        shop.close()
    assert report.ok and len(shop.mutations) == 6
    assert shop.throttled == 0  # the client waited for the bucket instead of being throttled


def test_joor_per_item_answers(engine):
    joor = JoorStandIn(TOKEN, upcs={f"{n:012d}" for n in range(4)}, warehouses={"NYC"})
    try:
        spec = ChannelSpec(name="joor", base_url=joor.url, rate_credits=10_000, **FAST)
        rows = [snapshot_row(n) for n in range(5)]  # upc 4 is unknown to JOOR

        first = push_account(engine, snapshot_frame(rows), PARTNER, spec, TOKEN)

        assert (first.items_acknowledged, first.items_failed) == (4, 1) and not first.ok
        assert first.failures[0][2] == "Style not found for UPC"
        assert joor.inventory == {("NYC", f"{n:012d}"): 10 + n for n in range(4)}
        assert push_account(engine, snapshot_frame(rows), PARTNER, spec, TOKEN).batches_sent == 0

        joor.upcs.add("000000000004")
        retried = push_account(engine, snapshot_frame(rows), PARTNER, spec, TOKEN, retry_failed=True)
        assert retried.ok and joor.inventory[("NYC", "000000000004")] == 14
        assert len(joor.requests) == 2  # only the refused item went again

        # A 2xx that says the request failed, or counts other items, acknowledges nothing.
        rows[0]["ats"] = 1
        joor.fail_next.append((200, {}, b'{"success": false, "message": "Account locked"}'))
        locked = push_account(engine, snapshot_frame(rows), PARTNER, spec, TOKEN)
        assert locked.batches_pending == 1 and "Account locked" in locked.problem
        joor.fail_next.append((200, {}, json.dumps({"inventory_log": {"sku_count": 7, "items": []}}).encode()))
        miscounted = push_account(engine, snapshot_frame(rows), PARTNER, spec, TOKEN)
        assert miscounted.batches_pending == 1 and "counts 7 item(s), 1 were sent" in miscounted.problem
        assert joor.inventory[("NYC", "000000000000")] == 10
        assert push_account(engine, snapshot_frame(rows), PARTNER, spec, TOKEN).ok
        assert joor.inventory[("NYC", "000000000000")] == 1
    finally:
        joor.close()


def test_joor_offers_no_read(engine):
    spec = ChannelSpec(name="joor", base_url="http://127.0.0.1:9")
    with pytest.raises(NoChannelRead, match="joor: its API offers no read"):
        reconcile_channel(engine, snapshot_frame([snapshot_row(1)]), PARTNER, spec, TOKEN)


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    steps=st.lists(
        st.one_of(
            st.tuples(st.just("ours"), st.integers(0, 5), st.integers(0, 40)),
            st.tuples(st.just("sale"), st.integers(0, 5), st.integers(1, 5)),
            st.tuples(st.just("edit"), st.integers(0, 5), st.integers(0, 40)),
            st.tuples(st.just("push"), st.just(0), st.just(0)),
        ),
        max_size=12,
    ),
    on_drift=st.sampled_from(["ours", "report"]),
)
def test_after_reconcile_apply_the_channel_holds_ours_whatever_happened_before(store_url, steps, on_drift):
    engine_ = create_engine(store_url)
    migrate(store_url)
    with engine_.begin() as conn:  # each example starts from an empty ledger
        for table in ("channel_drift", "pushed_items", "push_items", "pushes"):
            conn.execute(sa.text(f"DELETE FROM {table}"))
    shop = ShopifyStandIn(TOKEN, {(item(n), LOCATION): 3 for n in range(6)})
    try:
        spec = shopify(shop, on_drift=on_drift, batch_items=4)
        rows = shop_rows(6)
        for what, n, value in steps:
            if what == "ours":
                rows[n]["ats"] = value
            elif what == "sale":
                shop.sell(item(n), LOCATION, value)
            elif what == "edit":
                shop.edit(item(n), LOCATION, value)
            else:
                push_account(engine_, snapshot(rows), PARTNER, spec, TOKEN)

        result = reconcile_channel(engine_, snapshot(rows), PARTNER, spec, TOKEN, apply=True)

        assert result.ok, result.applied and result.applied.undone()
        assert held(shop, 6) == [max(r["ats"], 0) for r in rows]
        assert reconcile_channel(engine_, snapshot(rows), PARTNER, spec, TOKEN).differences.height == 0
    finally:
        shop.close()
        engine_.dispose()


def test_joor_429_without_retry_after_waits_for_its_window():
    from pipelines.adapters.channels.http_push import HttpPushClient, PushRequest

    now = [100.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    joor = JoorStandIn(TOKEN, set(), set())
    try:
        joor.fail_next.append((429, {}, b'{"message": "Too Many Requests"}'))
        spec = ChannelSpec(name="joor", base_url=joor.url, max_attempts=3, retry_after_max_s=300.0)
        body = b'{"inventory_items": {"inventory_item": []}}'
        with HttpPushClient(spec, {}, (), clock=lambda: now[0], sleep=sleep) as client:
            outcome = client.send(PushRequest(joor.url + "/v2/bulk-inventory", {}, {}, body, "k"))
    finally:
        joor.close()
    assert outcome.status == "answered" and outcome.response_status == 401  # the retry got through (no token)
    assert any(abs(w - 300.0) < 1e-6 for w in waits), waits


def test_an_answer_in_another_api_version_is_logged(engine, shop, caplog):
    shop.answer_version = "2027-01"
    with caplog.at_level("WARNING", logger="pipelines.adapters.channels.shopify"):
        assert push_account(engine, snapshot(shop_rows(1)), PARTNER, shopify(shop), TOKEN).ok
    assert "shopify answered with API version 2027-01, asked for 2026-10" in caplog.text
