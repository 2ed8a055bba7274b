"""Alerts (alerts.md v1.2) against real receivers on loopback: an HTTP server and an SMTP server
(aiosmtpd). Each event reaches each destination once, signed; a failing destination gets it on a
later pass and stops no other; re-runs, re-folds and concurrent passes repeat nothing; a crash
between finding and delivering loses nothing. On SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.adapters.alerting import alert_pass, deliveries_of, find, record
from pipelines.domain.alerts import AlertSettings, Destination
from pipelines.domain.guard import GuardLimits
from pipelines.domain.partners import EnvRef
from tests.drop_histories import DropVersion

pytestmark = pytest.mark.integration

SECRET = "hook-s3cret"
STYLES = DropVersion(
    "styles_20210301T000000.csv",
    "style_number,style_identifier,color_code,size_name,upc\n"
    + "".join(f"TS{n},FW21,BLK,S,0000000000{n:02d}\n" for n in range(10)),
)
FIRST = DropVersion(
    "inventory_20210302T000000.csv", "upc,quantity\n" + "".join(f"0000000000{n:02d},10\n" for n in range(10))
)
BROKEN = DropVersion("inventory_20210302T060000.csv", "upc,quantity,Quantity\n1,2,3\n")
WIPE = DropVersion("inventory_20210303T000000_overwrite.csv", "upc,quantity\n000000000000,10\n")
GUARD = GuardLimits(max_ats_drop_pct=50, max_zeroed_pct=25, min_overwrite_rows_pct=50)


class Receiver:
    """A webhook receiver: records every request; answers `fail_first` requests with 500."""

    def __init__(self, fail_first: int = 0) -> None:
        self.requests: list[dict] = []
        self.fail_first = fail_first
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with owner.lock:
                    failing = owner.fail_first > 0
                    owner.fail_first -= 1 if failing else 0
                    if not failing:
                        owner.requests.append({"headers": dict(self.headers), "body": body})
                code = 500 if failing else 200
                self.send_response(code)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def bodies(self) -> list[dict]:
        return [json.loads(r["body"]) for r in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Mailbox:
    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        self.messages.append(envelope.content.decode())
        return "250 OK"

    def __init__(self) -> None:
        self.messages: list[str] = []


@pytest.fixture
def receivers():
    made: list[Receiver] = []

    def make(fail_first: int = 0) -> Receiver:
        made.append(Receiver(fail_first))
        return made[-1]

    yield make
    for r in made:
        r.close()


def webhook(url: str, on, secret: bool = True, fmt: str = "json") -> Destination:
    return Destination(
        key=f"webhook:{url}", on=tuple(on), webhook=url, format=fmt, secret=EnvRef("HOOK_SECRET") if secret else None
    )


@pytest.fixture(autouse=True)
def hook_secret(monkeypatch):
    monkeypatch.setenv("HOOK_SECRET", SECRET)


def test_each_event_reaches_each_destination_once_signed_and_a_failing_one_later(new_inbox, receivers):
    inbox = new_inbox(guard=GUARD)
    for v in (STYLES, FIRST, BROKEN, WIPE):
        inbox.drop(v)
    ops, slack = receivers(), receivers(fail_first=3)  # 500 to every try of the first pass
    alerts = AlertSettings(
        (webhook(ops.url, ["file_rejected", "file_held"]), webhook(slack.url, ["file_rejected"], False, "slack"))
    )
    specs = {inbox.partner.name: inbox.partner}

    first = alert_pass(inbox.store, specs, alerts)

    assert sorted(a.event for a in first.found) == ["file_held", "file_rejected"]
    assert sorted(b["event"] for b in ops.bodies()) == ["file_held", "file_rejected"]
    for request in ops.requests:  # signed with the secret, and the id as the idempotency key
        expected = "sha256=" + hmac.new(SECRET.encode(), request["body"], hashlib.sha256).hexdigest()
        assert request["headers"]["X-Stockdrop-Signature"] == expected
        assert request["headers"]["Idempotency-Key"] == json.loads(request["body"])["id"]
    held = next(b for b in ops.bodies() if b["event"] == "file_held")
    assert held["id"].startswith(f"file_held:{inbox.partner.name}/{WIPE.name}:")
    assert f"stockdrop approve {inbox.partner.name}/{WIPE.name}" in held["text"]
    assert held["details"]["ats_change_by_warehouse"] == {"DEFAULT": -90}
    # The Slack receiver answered 500 to each of the client's 3 tries: failed, and the other
    # destination was unaffected; the next pass delivers it, with the same id.
    assert slack.requests == [] and first.failed == {f"webhook:{slack.url}": 1}
    assert "HTTP 500" in first.errors[f"webhook:{slack.url}"]
    second = alert_pass(inbox.store, specs, alerts)
    assert second.delivered == {f"webhook:{slack.url}": 1}
    third = alert_pass(inbox.store, specs, alerts)
    assert [b["text"].split(":")[1].strip() for b in slack.bodies()] == [f"{inbox.partner.name}/{BROKEN.name}"]
    assert "duplicate column" in slack.bodies()[0]["text"]
    assert len(ops.requests) == 2 and not second.found and not third.found
    assert {(r["destination"], r["status"]) for r in deliveries_of(inbox.store)} == {
        (f"webhook:{ops.url}", "delivered"),
        (f"webhook:{slack.url}", "delivered"),
    }
    assert SECRET not in json.dumps(deliveries_of(inbox.store), default=str)


def test_a_crash_between_finding_and_delivering_loses_nothing(new_inbox, receivers):
    inbox = new_inbox()
    for v in (STYLES, BROKEN):
        inbox.drop(v)
    hook = receivers()
    alerts = AlertSettings((webhook(hook.url, ["file_rejected"]),))
    specs = {inbox.partner.name: inbox.partner}
    # The process that found it died before delivering: recorded, owed, not sent.
    assert (
        len(record(inbox.store, find(inbox.store, specs, alerts, dt.datetime(2026, 12, 6)), alerts.destinations)) == 1
    )
    assert hook.requests == []

    alert_pass(inbox.store, specs, alerts)
    alert_pass(inbox.store, specs, alerts)

    assert [b["event"] for b in hook.bodies()] == ["file_rejected"]


def test_a_late_partner_once_per_window_and_recovered_once(new_inbox, receivers):
    inbox = new_inbox(expect_every_h=1)
    inbox.drop(STYLES)
    hook = receivers()
    alerts = AlertSettings((webhook(hook.url, ["partner_late", "recovered"]),))
    specs = {inbox.partner.name: inbox.partner}
    later = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(hours=3)

    for _ in range(3):
        alert_pass(inbox.store, specs, alerts, now=later)
    assert [b["event"] for b in hook.bodies()] == ["partner_late"]

    inbox.drop(FIRST)  # it delivers again
    for _ in range(2):
        alert_pass(inbox.store, specs, alerts)
    assert [b["event"] for b in hook.bodies()] == ["partner_late", "recovered"]


def test_push_failed_once_until_the_channel_acknowledges_again(new_inbox, receivers):
    from pipelines.adapters.push_ledger import push_account
    from pipelines.domain.partners import ChannelSpec
    from tests.integration.channel_standins import JoorStandIn
    from tests.snapshots import snapshot_frame, snapshot_row

    inbox = new_inbox()
    joor = JoorStandIn("good", {f"{n:012d}" for n in range(3)}, {"NYC"})
    hook = receivers()
    alerts = AlertSettings((webhook(hook.url, ["push_failed", "recovered"]),))
    specs = {inbox.partner.name: inbox.partner}
    spec = ChannelSpec(name="joor", base_url=joor.url, max_attempts=1, rate_credits=10_000)
    snapshot = snapshot_frame([snapshot_row(n) for n in range(3)])
    try:
        for _ in range(2):
            push_account(inbox.store.engine, snapshot, inbox.partner, spec, "expired")
            alert_pass(inbox.store, specs, alerts)
        assert [b["event"] for b in hook.bodies()] == ["push_failed"]
        assert hook.bodies()[0]["channel"] == "joor" and "HTTP 401" in hook.bodies()[0]["reason"]

        assert push_account(inbox.store.engine, snapshot, inbox.partner, spec, "good").ok
        alert_pass(inbox.store, specs, alerts)
        alert_pass(inbox.store, specs, alerts)
        assert [b["event"] for b in hook.bodies()] == ["push_failed", "recovered"]
    finally:
        joor.close()


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.sampled_from(["drop", "pass", "two_passes_at_once", "refold"]), min_size=1, max_size=8))
def test_no_interleaving_of_runs_refolds_and_passes_repeats_an_alert(new_inbox, receivers, steps):
    inbox = new_inbox(guard=GUARD)
    hook = receivers()
    alerts = AlertSettings((webhook(hook.url, ["file_rejected", "file_held"]),))
    specs = {inbox.partner.name: inbox.partner}
    pending = [STYLES, FIRST, BROKEN, WIPE]
    for step in [*steps, "drop", "drop", "drop", "drop", "pass"]:
        if step == "drop" and pending:
            inbox.drop(pending.pop(0))
        elif step == "pass":
            alert_pass(inbox.store, specs, alerts)
        elif step == "two_passes_at_once":
            threads = [threading.Thread(target=alert_pass, args=(inbox.store, specs, alerts)) for _ in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        elif step == "refold":
            inbox.drop(DropVersion("inventory_20210301T120000.csv", "upc,quantity\n000000000001,3\n"))  # a late file
    ids = [b["id"] for b in hook.bodies()]
    assert len(ids) == len(set(ids)) == 2


def test_sync_delivers_at_its_end_and_the_digest_goes_by_email(tmp_path, receivers):
    mailbox = Mailbox()
    with socket.socket() as probe:  # a free port (aiosmtpd's Controller cannot take port 0)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    smtp = Controller(mailbox, hostname="127.0.0.1", port=port)
    smtp.start()
    hook = receivers()
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for v in (STYLES, BROKEN):
        (inbox / v.name).write_text(v.text)
    partners = tmp_path / "partners.yaml"
    partners.write_text(
        f"partners:\n  acme: {{account: acme, source: {inbox}, settle_s: 0}}\n"
        "alerts:\n"
        f"  - to: {{webhook: {{env: OPS_HOOK}}, format: slack}}\n    on: [file_rejected]\n"
        "  - to: {email: ops@brand.example}\n    on: [digest]\n"
        "alerts_digest_at: '00:00'\n"
    )
    env = {
        **os.environ,
        "OPS_HOOK": hook.url,
        "STOCKDROP_SMTP_URL": f"smtp://127.0.0.1:{port}?from=stockdrop@brand.example",
        "STOCKDROP_DATA_DIR": str(tmp_path / "data"),
    }
    store = f"sqlite:///{tmp_path}/s.db"
    try:
        for _ in range(2):
            result = subprocess.run(
                [sys.executable, "-m", "pipelines", "sync", "--partners", str(partners), "--store", store],
                capture_output=True,
                text=True,
                env=env,
                timeout=300,
            )
            assert result.returncode == 0, result.stderr
            assert hook.url not in result.stderr
        listed = subprocess.run(
            [sys.executable, "-m", "pipelines", "alerts", "--store", store, "--format", "json"],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
    finally:
        smtp.stop()
    assert [b["text"] for b in hook.bodies()] == [
        f"stockdrop: acme/{BROKEN.name}: rejected whole: duplicate column 'quantity' — fix the file and drop it again "
        "under the same name"
    ]
    (mail,) = mailbox.messages
    assert "Subject: [stockdrop] digest" in mail and "1 file_rejected" in mail and BROKEN.name in mail
    rows = json.loads(listed.stdout)
    assert {(r["event"], r["status"]) for r in rows} == {("file_rejected", "delivered"), ("digest", "delivered")}
    assert hook.url not in listed.stdout
