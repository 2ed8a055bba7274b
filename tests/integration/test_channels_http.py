"""API pushes against a real HTTP server on loopback: request shape, deltas, filters, faults, exactly-once.

`FakeApi` plays JOOR and Shopify the way an idempotent API behaves: it applies each idempotency
key once and answers a repeated key with the stored answer. Faults are queued per request.
"""

from __future__ import annotations

import base64
import json
import socket
import struct
import threading
import time
from collections import Counter, deque
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit
from xml.etree import ElementTree

import polars as pl
import pytest
import sqlalchemy as sa

from pipelines.adapters.channels import ChannelConfigError, channel_for
from pipelines.adapters.channels.http_push import RateLimiter, retry_after_seconds
from pipelines.adapters.push_ledger import acknowledged_values, push_account, push_tables
from pipelines.adapters.store_schema import create_engine, migrate
from pipelines.domain.partners import ChannelSpec, PartnerSpec
from tests.snapshots import FUTURE_DATE, snapshot_frame, snapshot_row

pytestmark = pytest.mark.integration

TOKEN = "s3cr3t-token"
OK_SHOPIFY = {"data": {"inventorySetQuantities": {"inventoryAdjustmentGroup": {"id": "gid://x/1"}, "userErrors": []}}}


class FakeApi:
    """A threaded HTTP server that records requests, applies each idempotency key once, and injects faults.

    Faults (queued, one per incoming request): ("status", code, headers, body) answers without
    applying; ("slow", seconds) applies, then answers too late; ("reset",) drops the connection
    with a TCP reset before applying. `refuse(predicate)` answers 400 with a JSON error body to
    requests whose items match, echoing the Authorization header (to prove redaction).
    """

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.applied: Counter[str] = Counter()
        self.applied_items: dict[str, list[dict]] = {}
        self.answers: dict[str, tuple[int, bytes]] = {}
        self.faults: deque[tuple] = deque()
        self.refuse_item = lambda item: False
        self.lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                api.handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.handle_error = lambda request, address: None  # resets are on purpose
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        body = handler.rfile.read(int(handler.headers.get("Content-Length", 0)))
        split = urlsplit(handler.path)
        key = handler.headers.get("Idempotency-Key")
        record = {
            "path": split.path,
            "query": {k: v[0] for k, v in parse_qs(split.query).items()},
            "headers": dict(handler.headers),
            "body": body,
            "key": key,
            "at": time.monotonic(),
            "items": self.items_of(split.path, handler.headers.get("Content-Type", ""), body),
        }
        with self.lock:
            self.requests.append(record)
            fault = self.faults.popleft() if self.faults else None
        if fault and fault[0] == "reset":
            handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            handler.connection.close()
            handler.close_connection = True
            return
        if fault and fault[0] == "status":
            _, code, headers, payload = fault
            self.answer(handler, code, payload, headers)
            return
        status, payload = self.apply(key, record, handler.headers.get("Authorization", ""))
        if fault and fault[0] == "slow":
            time.sleep(fault[1])
        self.answer(handler, status, payload)

    def apply(self, key: str, record: dict, authorization: str) -> tuple[int, bytes]:
        with self.lock:
            if key in self.answers:
                return self.answers[key]
            if any(self.refuse_item(i) for i in record["items"]):
                error = {"errors": [{"message": "unknown style", "echo": authorization}]}
                answer = (400, json.dumps(error).encode())
            else:
                self.applied[key] += 1
                self.applied_items[key] = record["items"]
                ok = OK_SHOPIFY if record["path"].endswith("graphql.json") else {"status": "ok"}
                answer = (200, json.dumps(ok).encode())
            self.answers[key] = answer
            return answer

    @staticmethod
    def answer(handler: BaseHTTPRequestHandler, code: int, payload: bytes, headers: dict | None = None) -> None:
        try:
            handler.send_response(code)
            for name, value in (headers or {}).items():
                handler.send_header(name, value)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
        except OSError:
            handler.close_connection = True  # the client gave up waiting (timeout test)

    @staticmethod
    def items_of(path: str, content_type: str, body: bytes) -> list[dict]:
        if path.endswith("graphql.json"):
            return json.loads(body)["variables"]["input"]["quantities"]
        if "xml" in content_type:
            root = ElementTree.fromstring(body)
            return [{child.tag: child.text for child in item} for item in root]
        return json.loads(body)["inventory_items"]["inventory_item"]


@pytest.fixture
def api():
    server = FakeApi()
    yield server
    server.close()


@pytest.fixture
def engine(store_url):
    """A migrated store on each backend (SQLite, then PostgreSQL): the ledger SQL must be portable."""
    migrate(store_url)
    engine = create_engine(store_url)
    yield engine
    engine.dispose()


@pytest.fixture
def make_spec(api):
    """A channel spec pointed at the fake API with test-sized limits (tiny timeouts and backoff)."""

    def make(name: str = "joor", **overrides) -> ChannelSpec:
        settings = dict(
            name=name,
            base_url=api.url + ("/admin/api/2026-10/graphql.json" if name == "shopify" else ""),
            batch_items=3,
            timeout_s=0.3,
            max_attempts=4,
            backoff_initial_s=0.01,
            backoff_max_s=0.05,
            rate_credits=10_000,
            rate_window_s=1.0,
        )
        settings.update(overrides)
        return ChannelSpec(**settings)

    return make


@pytest.fixture
def push(engine):
    def run(snapshot, spec, item_identifier="auto", **kwargs):
        partner = PartnerSpec(account="acme", item_identifier=item_identifier)
        return push_account(engine, snapshot, partner, spec, TOKEN, **kwargs)

    return run


def rows(count: int, **overrides) -> list[dict]:
    return [snapshot_row(n, **overrides) for n in range(count)]


def test_joor_request_has_auth_params_idempotency_key_and_body_shape(api, make_spec, push):
    snapshot = snapshot_frame(
        [
            snapshot_row(1),
            snapshot_row(2, warehouse_code="FUT", warehouse_type="FUTURE", available_date=FUTURE_DATE, ats=-2),
        ]
    )

    report = push(snapshot, make_spec(), mode="overwrite", dec_pending=True)

    # An overwrite replaces JOOR's whole account: one request with every warehouse's items.
    assert report.ok and report.batches_acknowledged == 1
    (first,) = api.requests
    assert first["path"] == "/v2/bulk-inventory"
    assert first["query"] == {"overwrite": "1", "dec_pending": "1"}
    assert first["headers"]["Authorization"] == "OAuth2 " + base64.b64encode(TOKEN.encode()).decode()
    assert first["headers"]["Content-Type"] == "application/json"
    assert len(first["key"]) == 64
    body = json.loads(first["body"])
    assert body == {
        "inventory_items": {
            "inventory_item": [
                {"upc": "000000000002", "warehouse": "FUT", "inventory": 0, "inventory_date": "2027-03-01"},
                {"upc": "000000000001", "warehouse": "NYC", "inventory": 11},
            ]
        }
    }


@pytest.mark.parametrize(
    "identifier, keys",
    [
        ("upc", {"upc": "000000000001"}),
        ("style", {"style_number": "ST-0000", "style_identifier": "SS27", "color_code": "001", "size": "1"}),
        ("ids", {"style_id": "S0", "style_color_id": "C0", "size_code": "Z1"}),
    ],
)
def test_joor_item_keys_follow_item_identifier(api, make_spec, push, identifier, keys):
    push(snapshot_frame([snapshot_row(1)]), make_spec(), item_identifier=identifier)

    (item,) = api.requests[0]["items"]
    assert item == {**keys, "warehouse": "NYC", "inventory": 11}


def test_joor_xml_body(api, make_spec, push):
    push(snapshot_frame([snapshot_row(1)]), make_spec(body_format="xml"))

    request = api.requests[0]
    assert request["headers"]["Content-Type"] == "application/xml"
    root = ElementTree.fromstring(request["body"])
    assert root.tag == "inventory_items" and root[0].tag == "inventory_item"
    assert request["items"] == [{"upc": "000000000001", "warehouse": "NYC", "inventory": "11"}]


def test_update_push_sends_only_the_delta_and_nothing_when_unchanged(api, make_spec, push, engine):
    spec = make_spec()
    push(snapshot_frame(rows(7)), spec)
    sent_first = len(api.requests)
    changed = rows(7)
    changed[4]["ats"] = 2

    second = push(snapshot_frame(changed), spec)
    third = push(snapshot_frame(changed), spec)

    assert sent_first == 3
    assert [r["items"] for r in api.requests[sent_first:]] == [
        [{"upc": "000000000004", "warehouse": "NYC", "inventory": 2}]
    ]
    assert (second.items_unchanged, second.batches_sent) == (6, 1)
    assert (third.items_unchanged, third.batches_sent) == (7, 0)
    acked = acknowledged_values(engine, "joor", "acme")
    assert acked.filter(pl.col("size_name") == "4")["inventory"].to_list() == [2]


def test_overwrite_too_big_for_one_request_sends_the_full_snapshot_as_updates(api, make_spec, push):
    spec = make_spec()
    push(snapshot_frame(rows(4)), spec)

    report = push(snapshot_frame(rows(4)), spec, mode="overwrite")

    assert report.items_selected == 4
    # Two requests with overwrite=1 would each replace the account: the replacement goes as updates.
    assert [r["query"]["overwrite"] for r in api.requests] == ["0", "0", "0", "0"]
    assert len({r["key"] for r in api.requests}) == 4


def test_skip_flags_keep_items_away(api, make_spec, push):
    snapshot = snapshot_frame(
        [
            snapshot_row(1, skip_push=True, created_by="shopify", inventory_item_id="1"),
            snapshot_row(2, skip_joor=True, created_by="shopify", inventory_item_id="2"),
            snapshot_row(3, created_by="shopify", inventory_item_id="3"),
        ],
        with_inventory_item_ids=True,
    )

    joor = push(snapshot, make_spec())
    shopify = push(snapshot, make_spec("shopify", locations=(("NYC", "77"),)))

    joor_items = [i for r in api.requests if r["path"] == "/v2/bulk-inventory" for i in r["items"]]
    shopify_items = [i for r in api.requests if r["path"].endswith("graphql.json") for i in r["items"]]
    assert [i["upc"] for i in joor_items] == ["000000000003"]
    assert [i["inventoryItemId"] for i in shopify_items] == [
        "gid://shopify/InventoryItem/2",
        "gid://shopify/InventoryItem/3",
    ]
    assert joor.skipped == {"skip_joor": 1, "skip_push": 1}
    assert shopify.skipped == {"skip_push": 1}


def test_shopify_mutation_only_for_shopify_items_in_immediate_mapped_warehouses(api, make_spec, push):
    snapshot = snapshot_frame(
        [
            snapshot_row(1, created_by="shopify", inventory_item_id="gid://shopify/InventoryItem/11", ats=-1),
            snapshot_row(2, created_by="joor", inventory_item_id="12"),
            snapshot_row(
                3, created_by="shopify", inventory_item_id="13", warehouse_code="FUT", warehouse_type="FUTURE"
            ),
            snapshot_row(4, created_by="shopify", inventory_item_id="14", warehouse_code="LA"),
        ],
        with_inventory_item_ids=True,
    )

    report = push(snapshot, make_spec("shopify", locations=(("NYC", "gid://shopify/Location/1"),)))

    (request,) = api.requests
    assert request["headers"]["X-Shopify-Access-Token"] == TOKEN
    payload = json.loads(request["body"])
    assert "inventorySetQuantities" in payload["query"]
    assert payload["variables"]["input"]["name"] == "available"
    assert payload["variables"]["input"]["referenceDocumentUri"].endswith(request["key"])
    assert request["items"] == [
        {
            "inventoryItemId": "gid://shopify/InventoryItem/11",
            "locationId": "gid://shopify/Location/1",
            "quantity": 0,
            "changeFromQuantity": None,
        }
    ]
    assert report.skipped == {
        "no location for warehouse": 1,
        "not created by channel": 1,
        "warehouse type not pushed": 1,
    }


def test_shopify_throttled_then_a_user_error_naming_no_quantity(api, make_spec, push, engine):
    snapshot = snapshot_frame(
        [snapshot_row(1, created_by="shopify", inventory_item_id="1")], with_inventory_item_ids=True
    )
    throttled = json.dumps({"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}]}).encode()
    refused = json.dumps({"data": {"inventorySetQuantities": {"userErrors": [{"message": "no such item"}]}}}).encode()
    api.faults.extend([("status", 200, {}, throttled), ("status", 200, {}, refused)])

    report = push(snapshot, make_spec("shopify", locations=(("NYC", "1"),)))

    # A userError that points at no quantity refuses no item: the batch stays pending.
    assert (report.requests, report.batches_pending, report.items_failed) == (2, 1, 0)
    assert report.problem == "Shopify refused the request: ERROR: no such item"
    with engine.connect() as conn:
        pushes = push_tables(engine).pushes
        status, body = conn.execute(sa.select(pushes.c.status, pushes.c.response_body)).one()
    assert status == "pending" and "no such item" in body


def test_faults_then_rerun_acknowledge_every_row_exactly_once_or_record_it_failed(api, make_spec, push, engine):
    # 8 batches of 3, in upc order: batch k holds rows 3k..3k+2.
    snapshot = snapshot_frame([snapshot_row(n, style_number=f"ST-{n:04d}") for n in range(24)])
    poisoned = "000000000013"
    api.refuse_item = lambda item: item.get("upc") == poisoned
    api.faults.extend(
        [
            ("status", 500, {}, b"boom"),
            ("status", 429, {"Retry-After": "0"}, b"slow down"),
            ("status", 429, {}, b"slow down"),
            None,  # batch 0 goes through on its 4th and last attempt
            ("slow", 0.6),  # batch 1 is applied but the answer comes too late: a lost acknowledgement
            ("reset",),  # ...its retry is reset mid-request
            None,  # ...and the next retry gets the stored answer
            None,  # batch 2
            None,  # batch 3
            None,  # batch 4 holds the poisoned upc: a 400 with a JSON body, not retried but cut in two
            ("status", 503, {}, b""),
            ("status", 503, {}, b""),
            ("status", 503, {}, b""),
            ("status", 503, {}, b""),  # its first half (row 12) runs out of attempts: the run stops here
        ]
    )
    spec = make_spec()

    first = push(snapshot, spec)
    acknowledged_in_first_run = {
        r["key"] for r in api.requests if api.answers.get(r["key"], (0,))[0] == 200 and api.applied[r["key"]]
    }
    requests_in_first_run = len(api.requests)
    second = push(snapshot, spec)

    assert not api.faults and first.requests == 14
    assert first.stopped_early and (first.batches_acknowledged, first.batches_failed, first.batches_pending) == (
        4,
        0,
        1,
    )
    assert first.batches_split == 1
    # The second run resends row 12, then plans rows 13..23 afresh: [13, 14, 15] is refused and cut
    # into [13] (refused: failed) and [14, 15] (acknowledged); the rest go through.
    assert second.batches_resent == 1 and second.batches_split == 1
    assert (second.batches_acknowledged, second.batches_failed) == (5, 1) and not second.batches_pending
    assert second.skipped == {}
    # Zero duplicates: every key applied at most once; no acknowledged batch was sent again.
    assert set(api.applied.values()) == {1}
    later_keys = [r["key"] for r in api.requests[requests_in_first_run:]]
    assert not acknowledged_in_first_run & set(later_keys)
    # Zero lost: every row is applied exactly once, or sits in the one failed batch.
    applied = Counter(i["upc"] for items in api.applied_items.values() for i in items)
    t = push_tables(engine)
    with engine.connect() as conn:
        failed = conn.execute(sa.select(t.pushes).where(t.pushes.c.status == "failed")).one()
        statuses = Counter(conn.execute(sa.select(t.pushes.c.status)).scalars())
        acked_rows = conn.execute(sa.select(sa.func.count()).select_from(t.pushed_items)).scalar_one()
    failed_upcs = {poisoned}
    assert set(applied.values()) == {1}
    assert set(applied) | failed_upcs == {f"{n:012d}" for n in range(24)} and not set(applied) & failed_upcs
    assert statuses == {"acknowledged": 9, "failed": 1}
    assert acked_rows == 23
    assert failed.response_status == 400 and "unknown style" in failed.response_body
    assert TOKEN not in failed.response_body and base64.b64encode(TOKEN.encode()).decode() not in failed.response_body

    third = push(snapshot, spec)
    assert third.batches_sent == 0 and len(api.requests) == requests_in_first_run + len(later_keys)
    assert third.skipped == {"previously rejected": 1}


def test_retry_after_is_honoured(api, make_spec, engine):
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(min(seconds, 0.02))

    api.faults.append(("status", 429, {"Retry-After": "7"}, b""))
    partner = PartnerSpec(account="acme")

    report = push_account(engine, snapshot_frame(rows(1)), partner, make_spec(), TOKEN, sleep=sleep)

    assert report.ok and report.requests == 2
    assert 7.0 in waits
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0


def test_a_min_interval_below_the_channel_floor_is_a_config_error(make_spec):
    with pytest.raises(ChannelConfigError, match="below the minimum 0.1 s"):
        channel_for(make_spec(min_interval_s=0.01))


def test_requests_keep_the_min_interval_apart(api, make_spec, push):
    push(snapshot_frame(rows(9)), make_spec(min_interval_s=0.3))

    # Arrival times at the server: the client's spacing less scheduling jitter on a busy machine
    # (without the limit the gaps are milliseconds).
    arrivals = [r["at"] for r in api.requests]
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
    assert len(gaps) == 2 and min(gaps) >= 0.25


def test_rate_budget_waits_for_the_window():
    now = [0.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(credits=300, window_s=300.0, cost=5, min_interval_s=0.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(61):
        limiter.acquire()

    assert waits == [300.0]  # 60 writes fit the budget; the 61st waits for the first to leave the window
    with pytest.raises(ChannelConfigError):
        RateLimiter(credits=4, window_s=1.0, cost=5, min_interval_s=0.0)


class JoorAccount(FakeApi):
    """A receiver that keeps one account's inventory the way JOOR's bulk inventory API documents it:
    `overwrite=1` replaces the account's whole inventory with the request's items, `overwrite=0`
    sets only the items listed. Items are identified by UPC or by style keys (`catalog`)."""

    def __init__(self, catalog: list[dict]) -> None:
        super().__init__()
        self.by_upc = {
            r["upc"]: (r["style_number"], r["style_identifier"], r["color_code"], r["size_name"]) for r in catalog
        }
        self.inventory: dict[tuple, int] = {}

    def apply(self, key, record, authorization):
        answer = super().apply(key, record, authorization)
        if answer[0] == 200 and self.applied_items.get(key) is record["items"]:
            with self.lock:
                if record["query"].get("overwrite") == "1":
                    self.inventory = {}
                for item in record["items"]:
                    sku = (
                        self.by_upc[item["upc"]]
                        if "upc" in item
                        else (item["style_number"], item["style_identifier"], item["color_code"], item["size"])
                    )
                    self.inventory[(item["warehouse"], sku)] = int(item["inventory"])
        return answer


def _held(rows_: list[dict]) -> dict:
    """What JOOR should hold: every row in scope at its ats (at least 0), the others at 0."""
    return {
        (r["warehouse_code"], (r["style_number"], r["style_identifier"], r["color_code"], r["size_name"])): 0
        if r["skip_joor"]
        else max(r["ats"], 0)
        for r in rows_
    }


@pytest.mark.parametrize("batch_items", [100, 2])
def test_an_overwrite_leaves_joor_holding_exactly_the_account_whatever_the_batching(engine, make_spec, batch_items):
    catalog = [snapshot_row(n, warehouse_code="NYC" if n % 2 else "LA") for n in range(7)]
    joor = JoorAccount(catalog)
    try:
        spec = replace(make_spec(), base_url=joor.url, batch_items=batch_items)
        partner = PartnerSpec(account="acme")
        assert push_account(engine, snapshot_frame(catalog), partner, spec, TOKEN, mode="overwrite").ok
        assert joor.inventory == _held(catalog)

        # A row leaves the scope, another changes, one goes oversold: the next overwrite replaces it all.
        later = [dict(r) for r in catalog]
        later[2]["skip_joor"], later[3]["ats"], later[4]["ats"] = True, 99, -5
        report = push_account(engine, snapshot_frame(later), partner, spec, TOKEN, mode="overwrite")
        assert report.ok
        assert joor.inventory == _held(later)
        queries = [r["query"]["overwrite"] for r in joor.requests]
        assert queries == (["1", "1"] if batch_items == 100 else ["0"] * len(queries))
    finally:
        joor.close()


def test_a_refused_item_is_found_by_splitting_and_the_others_still_go(api, make_spec, push, engine):
    api.refuse_item = lambda item: item.get("upc") == "000000000004"
    report = push(snapshot_frame(rows(6)), make_spec(batch_items=6))

    # [0..5] -> [0, 1, 2] ok + [3, 4, 5] -> [3] ok + [4, 5] -> [4] refused + [5] ok: three cuts
    assert (report.batches_split, report.batches_failed, report.items_failed) == (3, 1, 1)
    applied = {i["upc"] for items in api.applied_items.values() for i in items}
    assert applied == {f"{n:012d}" for n in range(6)} - {"000000000004"}
    t = push_tables(engine)
    with engine.connect() as conn:
        failed = (
            conn.execute(
                sa.select(t.push_items.c.size_name)
                .join(t.pushes, t.pushes.c.idempotency_key == t.push_items.c.idempotency_key)
                .where(t.pushes.c.status == "failed")
            )
            .scalars()
            .all()
        )
    assert failed == ["4"]
