"""Alerts from the store to the people who want them (alerts.md v1.2): find, record, deliver.

One pass (`alert_pass`, run by the `deliver_alerts` sensor and at the end of every `sync`):

1. **Find** what the store records and no alert names yet: file versions rejected whole or held,
   files rejecting too many rows, late partners (once per missed window) and partners delivering
   again, channels failing (once per cause until they acknowledge again) and recovering, drift,
   and the daily digest. Each query is indexed: a pass costs what is new, not what is recorded.
2. **Record** each alert once (its id is its primary key: a second process finding the same
   alert inserts nothing) together with a `due` delivery row for every destination that wants it,
   in one transaction: found means owed, whatever happens to the run that found it.
3. **Deliver** the due (and failed) rows, each claimed first (`due`/`failed` → `sending`, a
   conditional update only one process can win), then marked `delivered` or `failed`. A claim left
   behind by a process that died is taken again after `STALE_CLAIM`; the receiver sees the same
   id (JSON `id`, header `Idempotency-Key`) and can tell. A destination that fails stops nothing.

Webhooks go through the channels' HTTP client (timeouts, retries on 5xx/429); e-mail through
`smtplib` (STARTTLS when the server offers it; `STOCKDROP_SMTP_URL`). Secrets are never stored,
logged or put in an error: errors keep the status or the exception's type only.
"""

from __future__ import annotations

import datetime as dt
import json
import smtplib
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from pipelines.adapters import environment
from pipelines.adapters.channels.http_push import HttpPushClient, PushRequest, redact
from pipelines.adapters.failures import is_machinery
from pipelines.adapters.store import SqlStore, now_utc
from pipelines.domain.alerts import SIGNATURE_HEADER, Alert, AlertSettings, Destination, digest, signature, webhook_body
from pipelines.domain.deliveries import DeliveryStatus
from pipelines.domain.partners import ChannelSpec, EnvRef, PartnerSpec

STALE_CLAIM = dt.timedelta(minutes=10)
MAX_PER_PASS = 500  # deliveries per destination and pass; the rest go next pass


@dataclass
class PassReport:
    """What one pass found and delivered.

    Attributes:
        found: alerts recorded by this pass.
        delivered, failed: deliveries by destination key.
        errors: the last error per failing destination (no secrets).
    """

    found: list[Alert] = field(default_factory=list)
    delivered: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def _tables(store: SqlStore) -> tuple[sa.Table, sa.Table]:
    return store.t["alerts"], store.t["alert_deliveries"]


def alert_pass(
    store: SqlStore,
    specs: dict[str, PartnerSpec],
    settings: AlertSettings,
    *,
    now: dt.datetime | None = None,
    transport=None,
    smtp: Callable[[], smtplib.SMTP] | None = None,
) -> PassReport:
    """Find, record and deliver (see the module docstring). Never raises for a destination."""
    report = PassReport()
    if not settings.any:
        return report
    now = now or now_utc()
    report.found = record(store, find(store, specs, settings, now), settings.destinations)
    if any("digest" in d.on for d in settings.destinations):  # after the others: it sums them up
        report.found += record(store, _digest(store, settings, now), settings.destinations)
    for destination in settings.destinations:
        deliver(store, destination, report, transport=transport, smtp=smtp)
    return report


# --- finding ---------------------------------------------------------------------------------


def find(store: SqlStore, specs: dict[str, PartnerSpec], settings: AlertSettings, now: dt.datetime) -> list[Alert]:
    """Every alert the store's records call for that is not recorded yet (the digest apart)."""
    wanted = {e for d in settings.destinations for e in d.on}
    found: list[Alert] = []
    # Each finder in a short transaction of its own (SQLite's take the write lock: never nest them).
    last = {s.name: store.last_delivery(s.name) for s in specs.values() if s.expect_every_h is not None}
    finders = [
        (wanted & {"file_rejected", "file_held"}, lambda conn: _file_fates(store, conn)),
        ("file_rejects_high" in wanted, lambda conn: _rejects_high(store, conn, specs)),
        (wanted & {"partner_late", "recovered"}, lambda conn: _late_partners(store, conn, specs, last, now)),
        (wanted & {"push_failed", "recovered"}, lambda conn: _failing_channels(store, conn, now)),
        ("drift" in wanted, lambda conn: _drift(store, conn)),
    ]
    for needed, finder in finders:
        if needed:
            with store.transaction() as conn:
                found += finder(conn)
    return found


def _not_alerted(store: SqlStore, event: str, subject) -> sa.ColumnElement[bool]:
    alerts, _ = _tables(store)
    return ~sa.exists().where(alerts.c.event == event, alerts.c.subject == subject)


def _file_fates(store: SqlStore, conn) -> list[Alert]:
    f = store.t["drop_files"]
    out = []
    for status, event in (("rejected", "file_rejected"), ("held", "file_held")):
        rows = conn.execute(sa.select(f).where(f.c.status == status, _not_alerted(store, event, f.c.file_id))).all()
        for r in rows:
            if event == "file_rejected":
                reason = store.file_reject_reason(conn, r.file_id) or "rejected whole"
                details: dict = {"sha256": r.sha256}
            else:
                reason = r.decision_reason or "held by the guard"
                details = {"sha256": r.sha256, **(json.loads(r.effect) if r.effect else {})}
            out.append(
                Alert(
                    id=f"{event}:{r.partner}/{r.name}:{r.sha256}",
                    event=event,  # type: ignore[arg-type]
                    subject=r.file_id,
                    at=r.landed_at,
                    reason=reason,
                    account=r.account,
                    partner=r.partner,
                    file=r.name,
                    details=details,
                )
            )
    return out


def _rejects_high(store: SqlStore, conn, specs: dict[str, PartnerSpec]) -> list[Alert]:
    f = store.t["drop_files"]
    out = []
    for spec in specs.values():
        rows = conn.execute(
            sa.select(f).where(
                f.c.status == "parsed",
                f.c.partner == spec.name,
                f.c.rows_read > 0,
                f.c.rows_rejected > f.c.rows_read * spec.max_reject_ratio,
                _not_alerted(store, "file_rejects_high", f.c.file_id),
            )
        ).all()
        for r in rows:
            share = r.rows_rejected / r.rows_read
            out.append(
                Alert(
                    id=f"file_rejects_high:{r.partner}/{r.name}:{r.sha256}",
                    event="file_rejects_high",
                    subject=r.file_id,
                    at=r.landed_at,
                    reason=f"{r.rows_rejected} of {r.rows_read} rows rejected ({share:.0%}, over max_reject_ratio "
                    f"{spec.max_reject_ratio:g})",
                    account=r.account,
                    partner=r.partner,
                    file=r.name,
                    details={"rows_read": r.rows_read, "rows_rejected": r.rows_rejected},
                )
            )
    return out


def _latest(store: SqlStore, conn, event: str, subject: str):
    alerts, _ = _tables(store)
    return conn.execute(
        sa.select(alerts.c.alert_id, alerts.c.body)
        .where(alerts.c.event == event, alerts.c.subject == subject)
        .order_by(alerts.c.found_at.desc())
        .limit(1)
    ).first()


def _late_partners(
    store: SqlStore, conn, specs: dict[str, PartnerSpec], last_delivery: dict[str, float | None], now: dt.datetime
) -> list[Alert]:
    """`partner_late` once per missed window (the window is named by the last delivery before it),
    `recovered` once when the partner delivers after it."""
    out = []
    for spec in specs.values():
        if spec.expect_every_h is None:
            continue
        last = last_delivery[spec.name]
        status = DeliveryStatus(spec.name, spec.expect_every_h, last, now.replace(tzinfo=dt.UTC).timestamp())
        window = "never" if last is None else dt.datetime.fromtimestamp(last, dt.UTC).strftime("%Y%m%dT%H%M%S.%f")
        subject = f"partner:{spec.name}"
        if status.late:
            out.append(
                Alert(
                    id=f"partner_late:{spec.name}:{window}",
                    event="partner_late",
                    subject=subject,
                    at=now,
                    reason=status.describe(),
                    account=spec.account,
                    partner=spec.name,
                    details={"window": window, "expect_every_h": spec.expect_every_h},
                )
            )
            continue
        previous = _latest(store, conn, "partner_late", subject)
        if previous is not None and json.loads(previous.body)["details"]["window"] != window:
            out.append(
                Alert(
                    id=f"recovered:{previous.alert_id}",
                    event="recovered",
                    subject=f"recovered:{previous.alert_id}",
                    at=now,
                    reason=f"{spec.name} delivered again ({status.describe()})",
                    account=spec.account,
                    partner=spec.name,
                )
            )
    return [a for a in out if not _recorded(store, conn, a.id)]


def _recorded(store: SqlStore, conn, alert_id: str) -> bool:
    alerts, _ = _tables(store)
    return conn.execute(sa.select(alerts.c.alert_id).where(alerts.c.alert_id == alert_id)).first() is not None


def _failing_channels(store: SqlStore, conn, now: dt.datetime) -> list[Alert]:
    """`push_failed` once per (account, channel) and cause until it acknowledges again; then
    `recovered` once. A channel fails while a batch it was sent is unanswered, or items it
    refused are outstanding (not acknowledged since)."""
    p, items, pushed = store.t["pushes"], store.t["push_items"], store.t["pushed_items"]
    failing: dict[tuple[str, str], str] = {}
    stuck = conn.execute(
        sa.select(p.c.account, p.c.channel, p.c.response_status)
        .where(p.c.status == "pending", p.c.attempts > 0)
        .order_by(p.c.created_at)
    ).all()
    for r in stuck:
        failing.setdefault((r.account, r.channel), f"HTTP {r.response_status}" if r.response_status else "no answer")
    acked_since = sa.exists().where(
        pushed.c.channel == p.c.channel,
        pushed.c.account == p.c.account,
        pushed.c.warehouse_code == items.c.warehouse_code,
        *(pushed.c[c] == items.c[c] for c in ("style_number", "style_identifier", "color_code", "size_name")),
        pushed.c.acknowledged_at >= p.c.updated_at,
    )
    refused = conn.execute(
        sa.select(p.c.account, p.c.channel)
        .select_from(items.join(p, p.c.idempotency_key == items.c.idempotency_key))
        .where(items.c.refused, ~acked_since)
        .distinct()
    ).all()
    for r in refused:
        failing.setdefault((r.account, r.channel), "refused items")
    alerts, _ = _tables(store)
    known = conn.execute(sa.select(alerts.c.subject).where(alerts.c.event == "push_failed").distinct()).scalars()
    out = []
    for subject in {*(f"{a}/{c}" for a, c in failing), *known}:
        account, channel = subject.split("/", 1)
        periods = conn.execute(
            sa.select(sa.func.count())
            .select_from(alerts)
            .where(alerts.c.event == "recovered", alerts.c.subject == f"push:{subject}")
        ).scalar_one()
        cause = failing.get((account, channel))
        if cause is not None:
            out.append(
                Alert(
                    id=f"push_failed:{subject}:{cause}:{periods}",
                    event="push_failed",
                    subject=subject,
                    at=now,
                    reason=f"{channel} for account {account}: {cause}",
                    account=account,
                    channel=channel,
                    details={"cause": cause},
                )
            )
            continue
        previous = _latest(store, conn, "push_failed", subject)
        if previous is not None and previous.alert_id.endswith(f":{periods}"):
            out.append(
                Alert(
                    id=f"recovered:push:{subject}:{periods}",
                    event="recovered",
                    subject=f"push:{subject}",
                    at=now,
                    reason=f"{channel} for account {account} acknowledges again",
                    account=account,
                    channel=channel,
                )
            )
    return [a for a in out if not _recorded(store, conn, a.id)]


def _drift(store: SqlStore, conn) -> list[Alert]:
    """One `drift` alert per push or reconcile that found drift: (channel, account, found_at)."""
    d = store.t["channel_drift"]
    alerts, _ = _tables(store)
    # Compared in Python, not as SQL text: a timestamp cast to text reads differently per backend.
    alerted = set(conn.execute(sa.select(alerts.c.subject).where(alerts.c.event == "drift")).scalars())
    rows = conn.execute(
        sa.select(d.c.channel, d.c.account, d.c.found_at, d.c.source, sa.func.count().label("items")).group_by(
            d.c.channel, d.c.account, d.c.found_at, d.c.source
        )
    ).all()
    out = []
    for r in rows:
        about = f"{r.channel}/{r.account}/{r.found_at.isoformat()}"
        if about in alerted:
            continue
        out.append(
            Alert(
                id=f"drift:{about}",
                event="drift",
                subject=about,
                at=r.found_at,
                reason=f"{r.items} item(s) held other values than Stockdrop set (found by {r.source})",
                account=r.account,
                channel=r.channel,
                details={"items": r.items},
            )
        )
    return out


def _digest(store: SqlStore, settings: AlertSettings, now: dt.datetime) -> list[Alert]:
    due = dt.datetime.combine(now.date(), settings.digest_at)
    if now < due:
        return []
    alerts, _ = _tables(store)
    with store.transaction() as conn:
        if _recorded(store, conn, f"digest:{now.date().isoformat()}"):
            return []
        bodies = conn.execute(
            sa.select(alerts.c.body).where(alerts.c.found_at > due - dt.timedelta(days=1), alerts.c.event != "digest")
        ).scalars()
        day = [Alert.from_json(json.loads(b)) for b in bodies]
    return [digest(now.date(), day, now)]


# --- recording -------------------------------------------------------------------------------


def _insert_ignoring_duplicates(store: SqlStore, table: sa.Table):
    dialect = postgresql if store.engine.dialect.name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing()


def record(store: SqlStore, found: list[Alert], destinations: tuple[Destination, ...]) -> list[Alert]:
    """Record new alerts with a `due` delivery per destination that wants each; returns the ones
    this call recorded (another process may have recorded some first)."""
    alerts, deliveries = _tables(store)
    recorded = []
    now = now_utc()
    with store.transaction() as conn:
        for alert in found:
            body = {**alert.as_json(), "subject": alert.subject}
            inserted = conn.execute(
                _insert_ignoring_duplicates(store, alerts),
                {
                    "alert_id": alert.id,
                    "event": alert.event,
                    "subject": alert.subject,
                    "account": alert.account,
                    "partner": alert.partner,
                    "body": json.dumps(body, ensure_ascii=False, sort_keys=True),
                    "found_at": now,
                },
            )
            if not inserted.rowcount:
                continue
            recorded.append(alert)
            rows = [
                {"alert_id": alert.id, "destination": d.key, "status": "due", "attempts": 0, "updated_at": now}
                for d in {d.key: d for d in destinations if d.wants(alert)}.values()
            ]
            if rows:
                conn.execute(_insert_ignoring_duplicates(store, deliveries), rows)
    return recorded


# --- delivering ------------------------------------------------------------------------------


def deliver(
    store: SqlStore,
    destination: Destination,
    report: PassReport,
    *,
    transport=None,
    smtp: Callable[[], smtplib.SMTP] | None = None,
) -> None:
    """Send this destination's due and failed alerts, each claimed first; never raises."""
    alerts, deliveries = _tables(store)
    stale = now_utc() - STALE_CLAIM
    open_ = sa.or_(
        deliveries.c.status.in_(("due", "failed")),
        sa.and_(deliveries.c.status == "sending", deliveries.c.updated_at < stale),
    )
    with store.transaction() as conn:
        due = conn.execute(
            sa.select(deliveries.c.alert_id, deliveries.c.status, alerts.c.body)
            .join(alerts, alerts.c.alert_id == deliveries.c.alert_id)
            .where(deliveries.c.destination == destination.key, open_)
            .order_by(alerts.c.found_at, deliveries.c.alert_id)
            .limit(MAX_PER_PASS)
        ).all()
    if not due:
        return
    try:
        with _webhook_client(destination, transport) as webhook:
            for row in due:
                _deliver_one(store, destination, row, open_, webhook, smtp, report)
    except Exception as e:  # the destination cannot even be set up (a missing secret): stops nothing
        if is_machinery(e):  # the store, the disk: not the destination's
            raise
        report.errors[destination.key] = _without_secrets(f"{type(e).__name__}: {e}", destination)


def _deliver_one(store: SqlStore, destination: Destination, row, open_, webhook, smtp, report: PassReport) -> None:
    """Claim one due delivery, send it, record how it went."""
    _, deliveries = _tables(store)
    with store.transaction() as conn:
        claimed = conn.execute(
            deliveries.update()
            .where(deliveries.c.alert_id == row.alert_id, deliveries.c.destination == destination.key, open_)
            .values(status="sending", attempts=deliveries.c.attempts + 1, updated_at=now_utc())
        ).rowcount
    if not claimed:
        return  # another process has it
    alert = Alert.from_json(json.loads(row.body))
    try:
        error = _send(destination, alert, webhook, smtp)
    except Exception as e:  # a destination that fails stops nothing
        error = f"{type(e).__name__}: {e}"
    if error is not None:
        error = _without_secrets(error, destination)
    with store.transaction() as conn:
        conn.execute(
            deliveries.update()
            .where(deliveries.c.alert_id == row.alert_id, deliveries.c.destination == destination.key)
            .values(status="failed" if error else "delivered", last_error=error, updated_at=now_utc())
        )
    bucket = report.failed if error else report.delivered
    bucket[destination.key] = bucket.get(destination.key, 0) + 1
    if error:
        report.errors[destination.key] = error


def _secret_values(destination: Destination) -> tuple[str, ...]:
    refs = [r for r in (destination.webhook, destination.secret) if isinstance(r, EnvRef)]
    values = []
    for ref in refs:
        try:
            values.append(environment.secret(ref))
        except environment.MissingSecret:
            pass
    return tuple(values)


def _without_secrets(text: str, destination: Destination) -> str:
    return redact(text, _secret_values(destination))[:2000]


@contextmanager
def _webhook_client(destination: Destination, transport) -> Iterator[tuple[str, HttpPushClient] | None]:
    """(URL, the channels' HTTP client) for a webhook destination, one per pass; None for e-mail."""
    if destination.webhook is None:
        yield None
        return
    url = environment.secret(destination.webhook) if isinstance(destination.webhook, EnvRef) else destination.webhook
    spec = ChannelSpec(
        name="webhook",
        base_url=url,
        timeout_s=10.0,
        max_attempts=3,
        backoff_initial_s=0.5,
        backoff_max_s=5.0,
        rate_credits=1_000_000,
        retry_after_max_s=30.0,
    )
    with HttpPushClient(spec, {}, _secret_values(destination), transport=transport) as client:
        yield url, client


def _send(destination: Destination, alert: Alert, webhook: tuple[str, HttpPushClient] | None, smtp) -> str | None:
    """Deliver one alert; None when delivered, else why not (in our words)."""
    if webhook is None:
        assert destination.email is not None
        return _send_email(destination.email, alert, smtp)
    url, client = webhook
    body = webhook_body(alert, destination.format)
    headers = {"Content-Type": "application/json"}
    if destination.secret is not None and destination.format == "json":
        headers[SIGNATURE_HEADER] = signature(body, environment.secret(destination.secret))
    outcome = client.send(PushRequest(url, {}, headers, body, alert.id))
    if outcome.status == "answered" and outcome.response_status is not None and 200 <= outcome.response_status < 300:
        return None
    return f"HTTP {outcome.response_status}" if outcome.response_status else "no answer (retries ran out)"


def _send_email(address: str, alert: Alert, smtp: Callable[[], smtplib.SMTP] | None) -> str | None:
    url = urlsplit(environment.smtp_url())
    sender = parse_qs(url.query).get("from", [f"stockdrop@{socket.gethostname()}"])[0]
    subject, text = alert.email()
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, address, subject
    message["Message-ID"] = f"<{abs(hash(alert.id))}.{int(time.time())}@stockdrop>"
    message["X-Stockdrop-Alert"] = alert.id
    message.set_content(text)
    with smtp() if smtp else smtplib.SMTP(url.hostname or "localhost", url.port or 25, timeout=30) as server:
        server.ehlo()
        if server.has_extn("starttls"):
            server.starttls(context=ssl.create_default_context())
            server.ehlo()
        if url.username:
            server.login(unquote(url.username), unquote(url.password or ""))
        server.send_message(message)
    return None


def deliveries_of(store: SqlStore) -> list[dict]:
    """Every recorded alert with its delivery state per destination (for `stockdrop alerts`)."""
    alerts, deliveries = _tables(store)
    query = (
        sa.select(
            alerts.c.alert_id,
            alerts.c.event,
            alerts.c.partner,
            alerts.c.found_at,
            deliveries.c.destination,
            deliveries.c.status,
            deliveries.c.attempts,
            deliveries.c.last_error,
        )
        .select_from(alerts.outerjoin(deliveries, deliveries.c.alert_id == alerts.c.alert_id))
        .order_by(alerts.c.found_at, alerts.c.alert_id, deliveries.c.destination)
    )
    with store.transaction() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def failing_destinations(store: SqlStore, min_attempts: int = 3) -> dict[str, str]:
    """Destinations with a delivery failed at least `min_attempts` times: their last error."""
    _, deliveries = _tables(store)
    with store.transaction() as conn:
        rows = conn.execute(
            sa.select(deliveries.c.destination, deliveries.c.last_error)
            .where(deliveries.c.status == "failed", deliveries.c.attempts >= min_attempts)
            .order_by(deliveries.c.updated_at)
        ).all()
    return {r.destination: r.last_error or "failed" for r in rows}
