"""The push ledger (tables `pushes`, `push_items`, `pushed_items`, see sql/002_pushes.sql) and `push_account`.

Guarantees, per (channel, account):

- Every batch's idempotency key goes out as a header; a batch is recorded `pending` (with its
  items) before its first request, so a crash mid-request leaves a trace to finish from.
- A run first resends the batches still `pending` (exactly as recorded: same key, same items),
  in the order they were created; only then does it plan new batches from the snapshot.
- An `acknowledged` batch is never sent again; acknowledging one records its items' values in
  `pushed_items` in the same transaction, so the next `update` push sends only what changed.
- A `failed` batch (a non-retryable answer such as a 400) keeps the response body, with the
  token redacted. Its items are not offered again until their value (or the acknowledged value
  they build on) changes, so a run does not repeat a request the API has already refused.
- When retries run out on retryable errors, the batch stays `pending` and the run stops for
  this channel (the API is unwell; later batches would fail the same way and pile up).

Run one push per (channel, account) at a time: the Dagster asset is the only writer.
"""

from __future__ import annotations

import datetime as dt
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import polars as pl
import sqlalchemy as sa

from pipelines.adapters.channels import channel_for
from pipelines.adapters.channels.http_push import HttpPushClient, PushOutcome
from pipelines.domain.channel_items import (
    ACKNOWLEDGED_SCHEMA,
    PREVIOUSLY_REJECTED,
    REJECTED_SCHEMA,
    SKU_COLUMNS,
    Batch,
    canonical_item,
    halves,
    items_from_canonical,
    plan_batches,
    select_items,
)
from pipelines.domain.partners import ChannelSpec, PartnerSpec

BAD_REQUEST = 400


@dataclass(frozen=True)
class PushTables:
    """The push ledger's tables, as sql/002_pushes.sql declares them (read from the database)."""

    pushes: sa.Table
    push_items: sa.Table
    pushed_items: sa.Table


@functools.cache
def push_tables(engine: sa.Engine) -> PushTables:
    """Reflected once per engine: the DDL in sql/ is the one declaration."""
    metadata = sa.MetaData()
    return PushTables(
        *(sa.Table(name, metadata, autoload_with=engine) for name in ("pushes", "push_items", "pushed_items"))
    )


@dataclass
class PushReport:
    """What one `push_account` run did for one channel and account.

    Attributes:
        channel, account, mode: what was pushed.
        items_selected: items planned for sending this run (excludes resent pending batches).
        items_unchanged: snapshot rows already acknowledged with the same value (update mode).
        skipped: snapshot rows not sent, by reason (skip flags, filters, previously rejected).
        batches_resent: pending batches from earlier runs sent again.
        batches_split: batches answered 400 and cut in two to find the refused items (the
            halves count as batches of their own).
        batches_sent, batches_acknowledged, batches_failed, batches_pending: batch outcomes
            this run (sent counts every batch a request was made for, resent ones included).
        items_acknowledged, items_failed: items in acknowledged / failed batches this run.
        requests: HTTP requests made (retries included).
        stopped_early: retries ran out; the remaining work waits for the next run.
        failures: (idempotency_key, response_status, response_body) of failed batches.
    """

    channel: str
    account: str
    mode: str
    items_selected: int = 0
    items_unchanged: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    batches_resent: int = 0
    batches_sent: int = 0
    batches_acknowledged: int = 0
    batches_failed: int = 0
    batches_pending: int = 0
    items_acknowledged: int = 0
    items_failed: int = 0
    requests: int = 0
    batches_split: int = 0
    stopped_early: bool = False
    failures: list[tuple[str, int | None, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Nothing failed and nothing is left pending."""
        return not (self.batches_failed or self.batches_pending)


def push_account(
    engine: sa.Engine,
    snapshot: pl.DataFrame,
    partner: PartnerSpec,
    channel_spec: ChannelSpec,
    token: str,
    mode: str = "update",
    dec_pending: bool = False,
    *,
    transport: httpx.BaseTransport | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> PushReport:
    """Send one account's snapshot to one channel: finish pending batches, then push the delta.

    Args:
        engine: the store (tables of sql/002_pushes.sql).
        snapshot: the account's export snapshot (one row per (warehouse, SKU)).
        partner: the partner's settings (account, item_identifier).
        channel_spec: the channel's settings (name, base_url, batching, limits).
        token: the channel's resolved secret (read from the environment by the caller).
        mode: `update` (only values changed since the last acknowledged push) or `overwrite`
            (every item of the scope).
        dec_pending: ask the API to subtract its own pending orders (JOOR `dec_pending=1`);
            off by default because `ats` already has our claims subtracted.
        transport, clock, sleep: injectable for tests.

    Returns:
        The run's counts; `report.ok` is False when a batch failed or is still pending.

    Raises:
        ChannelConfigError: the channel's settings are invalid.
    """
    channel = channel_for(channel_spec)
    account = partner.account
    report = PushReport(channel=channel.name, account=account, mode=mode)
    with HttpPushClient(
        channel_spec,
        channel.auth_headers(token),
        channel.secrets(token),
        transport=transport,
        clock=clock,
        sleep=sleep,
    ) as client:
        for batch in pending_batches(engine, channel.name, account):
            report.batches_resent += 1
            if not _send(engine, client, channel, batch, report):
                return report
        selection = select_items(
            snapshot,
            channel.name,
            partner.item_identifier,
            acknowledged_values(engine, channel.name, account),
            mode=mode,
            locations=channel_spec.locations,
            rejected=rejected_values(engine, channel.name, account),
        )
        report.items_unchanged = selection.unchanged
        report.skipped = dict(selection.skipped)
        batches = plan_batches(
            selection.to_send(),
            channel.name,
            account,
            mode,
            dec_pending,
            max_items=channel_spec.batch_items,
            max_bytes=channel_spec.batch_bytes,
            item_bytes=channel.item_bytes(),
            envelope_bytes=channel.envelope_bytes,
        )
        for batch in batches:
            known = batch_status(engine, batch.idempotency_key)
            if known == "acknowledged":
                continue  # cannot happen with base keys in the content; never send twice anyway
            if known == "failed":
                report.skipped[PREVIOUSLY_REJECTED] = report.skipped.get(PREVIOUSLY_REJECTED, 0) + batch.size
                continue
            report.items_selected += batch.size
            if known is None:
                record_planned(engine, batch)
            if not _send(engine, client, channel, batch, report):
                return report
    return report


def _send(engine: sa.Engine, client: HttpPushClient, channel, batch: Batch, report: PushReport) -> bool:
    """Send one batch, record its outcome; False when the run should stop (retries exhausted)."""
    outcome = client.send(channel.request(batch), channel.verdict)
    report.batches_sent += 1
    report.requests += outcome.attempts
    if outcome.status == "failed" and outcome.response_status == BAD_REQUEST and batch.size > 1:
        # Cut in two until the refused items stand alone, so the good ones still go. The halves
        # replace the batch in the ledger: it is no rejection of its items, and if the run stops
        # before a half is recorded, its items are simply selected again next time.
        forget_batch(engine, batch.idempotency_key)
        report.batches_split += 1
        for half in halves(batch):
            if batch_status(engine, half.idempotency_key) is None:
                record_planned(engine, half)
            if not _send(engine, client, channel, half, report):
                return False
        return True
    record_outcome(engine, batch, outcome)
    if outcome.status == "acknowledged":
        report.batches_acknowledged += 1
        report.items_acknowledged += batch.size
        return True
    if outcome.status == "failed":
        report.batches_failed += 1
        report.items_failed += batch.size
        report.failures.append((batch.idempotency_key, outcome.response_status, outcome.response_body))
        return True
    report.batches_pending += 1
    report.stopped_early = True
    return False


def record_planned(engine: sa.Engine, batch: Batch) -> None:
    """Record a batch as `pending`, with its items, before its first request."""
    t = push_tables(engine)
    now = _now()
    with engine.begin() as conn:
        conn.execute(
            t.pushes.insert(),
            {
                "idempotency_key": batch.idempotency_key,
                "channel": batch.channel,
                "account": batch.account,
                "warehouse_code": batch.warehouse_code,
                "mode": batch.mode,
                "dec_pending": batch.dec_pending,
                "status": "pending",
                "items": batch.size,
                "bytes": batch.bytes,
                "attempts": 0,
                "response_status": None,
                "response_body": None,
                "created_at": now,
                "updated_at": now,
            },
        )
        conn.execute(
            t.push_items.insert(),
            [
                {
                    "idempotency_key": batch.idempotency_key,
                    "position": position,
                    "warehouse_code": item.warehouse_code,
                    **dict(zip(SKU_COLUMNS, item.sku)),
                    "inventory": item.inventory,
                    "inventory_date": _date(item.inventory_date),
                    "item": text,
                }
                for position, (item, text) in enumerate(zip(batch.items, batch.texts, strict=True))
            ],
        )


def forget_batch(engine: sa.Engine, key: str) -> None:
    """Remove a planned batch and its items (it was replaced by its halves)."""
    t = push_tables(engine)
    with engine.begin() as conn:
        conn.execute(t.push_items.delete().where(t.push_items.c.idempotency_key == key))
        conn.execute(t.pushes.delete().where(t.pushes.c.idempotency_key == key))


def record_outcome(engine: sa.Engine, batch: Batch, outcome: PushOutcome) -> None:
    """Store a batch's outcome; on acknowledgement also its items' values, in the same transaction."""
    t = push_tables(engine)
    now = _now()
    with engine.begin() as conn:
        conn.execute(
            t.pushes.update()
            .where(t.pushes.c.idempotency_key == batch.idempotency_key)
            .values(
                status=outcome.status,
                attempts=t.pushes.c.attempts + outcome.attempts,
                response_status=outcome.response_status,
                response_body=outcome.response_body,
                updated_at=now,
            )
        )
        if outcome.status != "acknowledged":
            return
        key_columns = ("channel", "account", "warehouse_code", *SKU_COLUMNS)
        rows = [
            {
                "channel": batch.channel,
                "account": batch.account,
                "warehouse_code": item.warehouse_code,
                **dict(zip(SKU_COLUMNS, item.sku)),
                "inventory": item.inventory,
                "inventory_date": _date(item.inventory_date),
                "idempotency_key": batch.idempotency_key,
                "acknowledged_at": now,
            }
            for item in batch.items
        ]
        # Delete-then-insert keeps this portable (no dialect-specific upsert) and is one statement
        # each way per batch; the transaction makes it atomic.
        match = sa.and_(*(t.pushed_items.c[c] == sa.bindparam(f"k_{c}") for c in key_columns))
        conn.execute(t.pushed_items.delete().where(match), [{f"k_{c}": r[c] for c in key_columns} for r in rows])
        conn.execute(t.pushed_items.insert(), rows)


def batch_status(engine: sa.Engine, key: str) -> str | None:
    """A batch's status in the ledger, or None when it was never recorded."""
    t = push_tables(engine)
    with engine.connect() as conn:
        return conn.execute(sa.select(t.pushes.c.status).where(t.pushes.c.idempotency_key == key)).scalar_one_or_none()


def pending_batches(engine: sa.Engine, channel: str, account: str) -> list[Batch]:
    """The batches recorded but not acknowledged or failed, oldest first, rebuilt exactly as recorded."""
    t = push_tables(engine)
    with engine.connect() as conn:
        heads = conn.execute(
            sa.select(t.pushes)
            .where(t.pushes.c.channel == channel, t.pushes.c.account == account, t.pushes.c.status == "pending")
            .order_by(t.pushes.c.created_at, t.pushes.c.idempotency_key)
        ).all()
        batches = []
        for head in heads:
            items = conn.execute(
                sa.select(t.push_items.c.item)
                .where(t.push_items.c.idempotency_key == head.idempotency_key)
                .order_by(t.push_items.c.position)
            ).scalars()
            rows = items_from_canonical(items)
            batches.append(
                Batch(
                    idempotency_key=head.idempotency_key,
                    channel=head.channel,
                    account=head.account,
                    mode=head.mode,
                    dec_pending=bool(head.dec_pending),
                    warehouse_code=head.warehouse_code,
                    rows=rows,
                    bytes=head.bytes,
                    texts=rows.select(canonical_item()).to_series(),
                )
            )
    return batches


def acknowledged_values(engine: sa.Engine, channel: str, account: str) -> pl.DataFrame:
    """Last acknowledged value per (warehouse, SKU) for a channel and account (`ACKNOWLEDGED_SCHEMA`)."""
    t = push_tables(engine)
    query = sa.select(
        t.pushed_items.c.warehouse_code,
        *(t.pushed_items.c[c] for c in SKU_COLUMNS),
        t.pushed_items.c.inventory,
        t.pushed_items.c.inventory_date,
        t.pushed_items.c.idempotency_key,
    ).where(t.pushed_items.c.channel == channel, t.pushed_items.c.account == account)
    with engine.connect() as conn:
        rows = [(*r[:-2], _iso(r[-2]), r[-1]) for r in conn.execute(query)]
    return pl.DataFrame(rows, schema=ACKNOWLEDGED_SCHEMA, orient="row")


def rejected_values(engine: sa.Engine, channel: str, account: str) -> pl.DataFrame:
    """Each (warehouse, SKU)'s value in its most recent failed batch (`REJECTED_SCHEMA`)."""
    t = push_tables(engine)
    query = (
        sa.select(t.push_items.c.item)
        .join(t.pushes, t.pushes.c.idempotency_key == t.push_items.c.idempotency_key)
        .where(t.pushes.c.channel == channel, t.pushes.c.account == account, t.pushes.c.status == "failed")
        .order_by(t.pushes.c.updated_at, t.pushes.c.idempotency_key, t.push_items.c.position)
    )
    with engine.connect() as conn:
        items = items_from_canonical(conn.execute(query).scalars())
    return (
        items.unique(["warehouse_code", *SKU_COLUMNS], keep="last", maintain_order=True)
        .select(REJECTED_SCHEMA.names())
        .cast(REJECTED_SCHEMA)
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _date(iso: str | None) -> dt.date | None:
    return dt.date.fromisoformat(iso) if iso else None


def _iso(value: dt.date | str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return value.isoformat()
