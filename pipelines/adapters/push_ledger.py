"""The push ledger (tables `pushes`, `push_items`, `pushed_items`, see sql/002_pushes.sql) and `push_account`.

Guarantees, per (channel, account):

- Every batch's idempotency key goes out as a header; a batch is recorded `pending` (with its
  items) before its first request, so a crash mid-request leaves a trace to finish from.
- A run first resends the batches still `pending` (exactly as recorded: same key, same items),
  in the order they were created; only then does it plan new batches from the snapshot.
- An `acknowledged` batch is never sent again; acknowledging one records its items' values in
  `pushed_items` in the same transaction, so the next `update` push sends only what changed.
- Channels answer per item (channels.md v1.2): an item the channel refused is marked `refused`
  in `push_items` with the channel's words, and is not offered again until its value (or the
  acknowledged value it builds on) changes or `push --retry-failed` asks. JOOR applied the
  others (the batch is `acknowledged` for them); Shopify applied nothing (the batch is
  `failed`) and the others go again at once, as a batch of their own.
- A request that failed as a whole (401/403/404, a GraphQL error naming no item, an unreadable
  answer, retries exhausted) refuses nothing: the batch stays `pending`, the run stops for this
  channel with the reason in our words, and the next push sends it again.
- A Shopify quantity answered stale is drift: what Shopify holds is read and recorded in
  `channel_drift`, then set against it (`on_drift: ours`) or left (`report`).

Run one push per (channel, account) at a time: the Dagster asset is the only writer.
"""

from __future__ import annotations

import datetime as dt
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import httpx
import polars as pl
import sqlalchemy as sa

from pipelines.adapters.channels import Channel, channel_for
from pipelines.adapters.channels.http_push import HttpPushClient, PushOutcome
from pipelines.adapters.store import now_utc
from pipelines.domain.channel_items import (
    ACKNOWLEDGED_SCHEMA,
    PREVIOUSLY_REJECTED,
    REJECTED_SCHEMA,
    SKU_COLUMNS,
    Batch,
    OnDrift,
    canonical_item,
    halves,
    items_from_canonical,
    items_per_batch,
    plan_batches,
    records,
    remainder,
    rules_for,
    select_items,
)
from pipelines.domain.drift import Drift
from pipelines.domain.partners import ChannelSpec, PartnerSpec

MAX_DRIFT_ROUNDS = 3  # sends of one batch's stale items in a run (a sale racing each read)


@dataclass(frozen=True)
class PushTables:
    """The push ledger's tables, as sql/002_pushes.sql and 008 declare them (read from the database)."""

    pushes: sa.Table
    push_items: sa.Table
    pushed_items: sa.Table
    channel_drift: sa.Table


@functools.cache
def push_tables(engine: sa.Engine) -> PushTables:
    """Reflected once per engine: the DDL in sql/ is the one declaration."""
    metadata = sa.MetaData()
    names = ("pushes", "push_items", "pushed_items", "channel_drift")
    return PushTables(*(sa.Table(name, metadata, autoload_with=engine) for name in names))


@dataclass
class PushReport:
    """What one `push_account` run did for one channel and account.

    Attributes:
        channel, account, mode: what was pushed.
        items_selected: items planned for sending this run (excludes resent pending batches).
        items_unchanged: snapshot rows already acknowledged with the same value (update mode).
        skipped: snapshot rows not sent, by reason (skip flags, filters, previously refused).
        batches_resent: pending batches from earlier runs sent again.
        batches_split: batches answered 400 and cut in two to find the refused items (the
            halves count as batches of their own).
        batches_sent, batches_acknowledged, batches_failed, batches_pending: batch outcomes
            this run (sent counts every batch a request was made for, resent ones included;
            failed: a lone item refused with a 400).
        items_acknowledged: items the channel took this run.
        items_failed: items the channel refused this run (each with its message in the ledger).
        requests: HTTP requests made (retries and reads included).
        stopped_early: the request failed as a whole or retries ran out; the remaining work
            waits for the next run.
        problem: why, in our words (`401 Unauthorized — check the token`), when it stopped early.
        drift: what the channel was found holding instead of what we last set, this run.
        failures: (idempotency_key, response_status, message) of refused items' batches.
        held_back: units the channel's quantity rules keep from it (`total` and by step).
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
    problem: str | None = None
    drift: list[Drift] = field(default_factory=list)
    failures: list[tuple[str, int | None, str]] = field(default_factory=list)
    held_back: dict[str, int] = field(default_factory=dict)

    @property
    def items_refused_before(self) -> int:
        """Items refused by an earlier run and not sent again (their value has not changed)."""
        return self.skipped.get(PREVIOUSLY_REJECTED, 0)

    @property
    def ok(self) -> bool:
        """Everything due was acknowledged: nothing refused (now or before), nothing left pending."""
        return not (self.batches_pending or self.items_failed or self.items_refused_before or self.problem)

    def undone(self) -> str:
        """One line saying what is left undone, in our words (empty when `ok`)."""
        parts = [self.problem] if self.problem else []
        if self.batches_pending and not self.problem:
            parts.append(f"{self.batches_pending} batch(es) not acknowledged yet")
        refused = self.items_failed + self.items_refused_before
        if refused:
            last = self.failures[-1][2] if self.failures else ""
            parts.append(
                f"{refused} item(s) refused by the channel"
                + (f" (last: {last[:200]})" if last else "")
                + "; sent again when their value changes or by `stockdrop push --retry-failed`"
            )
        return "; ".join(parts)


def push_account(
    engine: sa.Engine,
    snapshot: pl.DataFrame,
    partner: PartnerSpec,
    channel_spec: ChannelSpec,
    token: str,
    mode: str = "update",
    dec_pending: bool = False,
    *,
    retry_failed: bool = False,
    on_drift: OnDrift | None = None,
    transport: httpx.BaseTransport | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> PushReport:
    """Send one account's snapshot to one channel: finish pending batches, then push the delta.

    Args:
        engine: the store (tables of sql/002_pushes.sql and 008).
        snapshot: the account's export snapshot (one row per (warehouse, SKU)).
        partner: the partner's settings (account, item_identifier).
        channel_spec: the channel's settings (name, base_url, batching, limits, on_drift).
        token: the channel's resolved secret (read from the environment by the caller).
        mode: `update` (only values changed since the last acknowledged push) or `overwrite`
            (every item of the scope).
        dec_pending: ask the API to subtract its own pending orders (JOOR `dec_pending=1`);
            off by default because `ats` already has our claims subtracted.
        retry_failed: send items the channel refused before again (`push --retry-failed`).
        on_drift: overrides the channel's `on_drift` (`reconcile --apply` sets ours).
        transport, clock, sleep: injectable for tests.

    Returns:
        The run's counts; `report.ok` is False when something due was not acknowledged.

    Raises:
        ChannelConfigError: the channel's settings are invalid.
    """
    channel = channel_for(channel_spec)
    report = PushReport(channel=channel.name, account=partner.account, mode=mode)
    drift_rule = on_drift or channel_spec.on_drift
    with channel_client(channel, token, transport, clock, sleep) as client:
        run = _PushRun(engine, client, channel, report, drift_rule)
        for batch in pending_batches(engine, channel.name, partner.account):
            report.batches_resent += 1
            if not run.send(batch):
                return report
        selection = select_items(
            snapshot,
            channel.name,
            partner.item_identifier,
            acknowledged_values(engine, channel.name, partner.account),
            mode=mode,
            locations=channel_spec.locations,
            rejected=None if retry_failed else rejected_values(engine, channel.name, partner.account),
            on_drift=drift_rule,
            quantity_rules=partner.rules_for(channel.name),
        )
        report.items_unchanged = selection.unchanged
        report.skipped = dict(selection.skipped)
        report.held_back = dict(selection.held_back)
        batches = plan_batches(
            selection.to_send(),
            channel.name,
            partner.account,
            mode,
            dec_pending,
            max_items=items_per_batch(channel.name, channel_spec.batch_items),
            max_bytes=channel_spec.batch_bytes,
            item_text=channel.item_text(),
            envelope_bytes=channel.envelope_bytes,
            retry=now_utc().isoformat() if retry_failed else None,
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
            if not run.send(batch):
                return report
    return report


def channel_client(
    channel: Channel,
    token: str,
    transport: httpx.BaseTransport | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> HttpPushClient:
    """The HTTP client for one channel and run: its auth, its secrets redacted, its pacing."""
    return HttpPushClient(
        channel.spec,
        channel.auth_headers(token),
        channel.secrets(token),
        limiter=channel.limiter(clock, sleep),
        transport=transport,
        clock=clock,
        sleep=sleep,
    )


@dataclass
class _PushRun:
    """One run's sending: a batch, its answer, and what follows from it (split, resend, drift)."""

    engine: sa.Engine
    client: HttpPushClient
    channel: Channel
    report: PushReport
    on_drift: OnDrift

    def send(self, batch: Batch, drift_round: int = 0) -> bool:
        """Send one batch and record what the channel said; False when the run should stop
        (the request failed as a whole or retries ran out: the batch stays pending)."""
        report = self.report
        outcome = self.client.send(self.channel.request(batch), self.channel.verdict)
        report.batches_sent += 1
        report.requests += outcome.attempts
        answer = self.channel.answer(batch, outcome)
        if answer.kind == "unanswered":
            record_attempt(self.engine, batch, outcome)
            report.batches_pending += 1
            report.stopped_early = True
            report.problem = answer.problem
            return False
        if answer.kind == "bad_request" and batch.size > 1:
            return self._split(batch)
        if answer.kind == "bad_request":  # a lone item the channel would not take
            message = f"HTTP 400: {outcome.response_body[:500]}"
            record_outcome(self.engine, batch, outcome, "failed", {0: message})
            report.batches_failed += 1
            report.items_failed += 1
            report.failures.append((batch.idempotency_key, outcome.response_status, message))
            return True
        if answer.kind == "acknowledged":
            record_outcome(self.engine, batch, outcome, "acknowledged")
            report.batches_acknowledged += 1
            report.items_acknowledged += batch.size
            return True
        refused, stale = answer.refused, set(answer.stale)
        report.items_failed += len(refused)
        report.failures += [(batch.idempotency_key, outcome.response_status, m) for m in refused.values()]
        if rules_for(batch.channel).applies_the_rest:
            record_outcome(self.engine, batch, outcome, "acknowledged", refused)
            report.batches_acknowledged += 1
            report.items_acknowledged += batch.size - len(refused)
            return True
        record_outcome(self.engine, batch, outcome, "failed", refused)
        # Nothing of the request was applied: send the rest again without the refused items, the
        # stale ones (drift) compared against what the channel holds now when ours is to win.
        rows = batch.rows.with_row_index("_position")
        rest = rows.filter(~pl.col("_position").is_in([*refused, *stale]))
        if stale:
            found, ok = self._drift(batch, sorted(stale))
            if not ok:
                return False
            if self.on_drift == "ours" and drift_round < MAX_DRIFT_ROUNDS:
                again = rows.filter(pl.col("_position").is_in(sorted(stale))).with_columns(
                    pl.col("_position").replace_strict(found, default=None, return_dtype=pl.Int64).alias("change_from")
                )
                rest = pl.concat([rest, again]).sort("_position")
        if not rest.height:
            return True
        again_batch = remainder(batch, rest.drop("_position"))
        if batch_status(self.engine, again_batch.idempotency_key) is None:
            record_planned(self.engine, again_batch)
        return self.send(again_batch, drift_round + (1 if stale else 0))

    def _split(self, batch: Batch) -> bool:
        # Cut in two until the refused items stand alone, so the good ones still go. The halves
        # replace the batch in the ledger: it is no refusal of its items, and if the run stops
        # before a half is recorded, its items are simply selected again next time.
        forget_batch(self.engine, batch.idempotency_key)
        self.report.batches_split += 1
        for half in halves(batch):
            if batch_status(self.engine, half.idempotency_key) is None:
                record_planned(self.engine, half)
            if not self.send(half):
                return False
        return True

    def _drift(self, batch: Batch, positions: list[int]) -> tuple[dict[int, int | None], bool]:
        """Read what the channel holds for the stale items, record each finding; (position -> found, ok)."""
        items = batch.rows[positions]
        values, requests, problem = self.channel.read_available(self.client, items)
        self.report.requests += requests
        if problem:
            self.report.problem = f"reading what it holds after a stale answer: {problem}"
            self.report.stopped_early = True
            return {}, False
        now = now_utc()
        found = dict(zip(positions, values, strict=True))
        findings = [
            Drift(
                channel=batch.channel,
                account=batch.account,
                warehouse_code=item.warehouse_code,
                sku=item.sku,
                inventory_item_id=item.inventory_item_id,
                location_id=item.location_id,
                expected=item.change_from,
                found=found[p],
                ours=item.inventory,
                on_drift=self.on_drift,
                source="push",
                found_at=now,
            )
            for p, item in zip(positions, records(items), strict=True)
        ]
        record_drift(self.engine, findings)
        self.report.drift += findings
        return found, True


def record_planned(engine: sa.Engine, batch: Batch) -> None:
    """Record a batch as `pending`, with its items, before its first request."""
    t = push_tables(engine)
    now = now_utc()
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


def record_attempt(engine: sa.Engine, batch: Batch, outcome: PushOutcome) -> None:
    """A request that was not answered for its items (failed as a whole, retries ran out): the
    batch stays `pending`, with the attempts and the last answer kept."""
    t = push_tables(engine)
    with engine.begin() as conn:
        conn.execute(
            t.pushes.update()
            .where(t.pushes.c.idempotency_key == batch.idempotency_key)
            .values(
                attempts=t.pushes.c.attempts + outcome.attempts,
                response_status=outcome.response_status,
                response_body=outcome.response_body,
                updated_at=now_utc(),
            )
        )


def record_outcome(
    engine: sa.Engine,
    batch: Batch,
    outcome: PushOutcome,
    status: Literal["acknowledged", "failed"],
    refused: dict[int, str] | None = None,
) -> None:
    """Store a batch's answer: its status, the items it refused (with the channel's words) and,
    when acknowledged, the values of the items it took, in one transaction."""
    t = push_tables(engine)
    refused = refused or {}
    now = now_utc()
    with engine.begin() as conn:
        conn.execute(
            t.pushes.update()
            .where(t.pushes.c.idempotency_key == batch.idempotency_key)
            .values(
                status=status,
                attempts=t.pushes.c.attempts + outcome.attempts,
                response_status=outcome.response_status,
                response_body=outcome.response_body,
                updated_at=now,
            )
        )
        if refused:
            conn.execute(
                t.push_items.update()
                .where(
                    t.push_items.c.idempotency_key == batch.idempotency_key,
                    t.push_items.c.position == sa.bindparam("p"),
                )
                .values(refused=True, message=sa.bindparam("m")),
                [{"p": p, "m": m[:2000]} for p, m in sorted(refused.items())],
            )
        if status != "acknowledged":
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
            for position, item in enumerate(batch.items)
            if position not in refused
        ]
        if not rows:
            return
        # Delete-then-insert keeps this portable (no dialect-specific upsert) and is one statement
        # each way per batch; the transaction makes it atomic.
        match = sa.and_(*(t.pushed_items.c[c] == sa.bindparam(f"k_{c}") for c in key_columns))
        conn.execute(t.pushed_items.delete().where(match), [{f"k_{c}": r[c] for c in key_columns} for r in rows])
        conn.execute(t.pushed_items.insert(), rows)


def record_drift(engine: sa.Engine, findings: list[Drift]) -> None:
    """Append drift findings to `channel_drift`."""
    if not findings:
        return
    t = push_tables(engine)
    with engine.begin() as conn:
        conn.execute(
            t.channel_drift.insert(),
            [
                {
                    "channel": d.channel,
                    "account": d.account,
                    "warehouse_code": d.warehouse_code,
                    **dict(zip(SKU_COLUMNS, d.sku)),
                    "inventory_item_id": d.inventory_item_id,
                    "location_id": d.location_id,
                    "expected": d.expected,
                    "found": d.found,
                    "ours": d.ours,
                    "on_drift": d.on_drift,
                    "source": d.source,
                    "found_at": d.found_at,
                }
                for d in findings
            ],
        )


def drift_findings(engine: sa.Engine, channel: str, account: str, since: dt.datetime | None = None) -> list[Drift]:
    """Drift recorded for a channel and account (since a time), oldest first."""
    t = push_tables(engine)
    d = t.channel_drift
    query = sa.select(d).where(d.c.channel == channel, d.c.account == account).order_by(d.c.found_at)
    if since is not None:
        query = query.where(d.c.found_at >= since)
    with engine.connect() as conn:
        return [
            Drift(
                channel=r.channel,
                account=r.account,
                warehouse_code=r.warehouse_code,
                sku=tuple(r._mapping[c] for c in SKU_COLUMNS),  # type: ignore[arg-type]
                inventory_item_id=r.inventory_item_id,
                location_id=r.location_id,
                expected=r.expected,
                found=r.found,
                ours=r.ours,
                on_drift=r.on_drift,
                source=r.source,
                found_at=r.found_at,
            )
            for r in conn.execute(query)
        ]


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
    """Last acknowledged value per (warehouse, SKU) for a channel and account, with what drift
    found in the channel after it, if anything (`ACKNOWLEDGED_SCHEMA`)."""
    t = push_tables(engine)
    identity = ["warehouse_code", *SKU_COLUMNS]
    query = sa.select(
        *(t.pushed_items.c[c] for c in identity),
        t.pushed_items.c.inventory,
        t.pushed_items.c.inventory_date,
        t.pushed_items.c.idempotency_key,
        t.pushed_items.c.acknowledged_at,
    ).where(t.pushed_items.c.channel == channel, t.pushed_items.c.account == account)
    d = t.channel_drift
    drift = sa.select(*(d.c[c] for c in identity), d.c.found, d.c.ours, d.c.found_at).where(
        d.c.channel == channel, d.c.account == account
    )
    with engine.connect() as conn:
        rows = [(*r[:-3], _iso(r[-3]), r[-2], r[-1]) for r in conn.execute(query)]
        found = conn.execute(drift).all()
    drift_columns = ("found", "found_ours")
    schema = {
        **{k: v for k, v in ACKNOWLEDGED_SCHEMA.items() if k not in drift_columns},
        "acknowledged_at": pl.Datetime,
    }
    acked = pl.DataFrame(rows, schema=schema, orient="row")
    if found:
        latest = (
            pl.DataFrame(found, schema=[*identity, *drift_columns, "found_at"], orient="row")
            .sort("found_at")
            .unique(identity, keep="last")
        )
        since_ack = pl.col("found_at") > pl.col("acknowledged_at")
        acked = acked.join(latest, on=identity, how="left").with_columns(
            pl.when(since_ack).then(pl.col(c)).alias(c) for c in drift_columns
        )
    else:
        acked = acked.with_columns(pl.lit(None, pl.Int64).alias(c) for c in drift_columns)
    return acked.select(ACKNOWLEDGED_SCHEMA.names()).cast(ACKNOWLEDGED_SCHEMA)


def rejected_values(engine: sa.Engine, channel: str, account: str) -> pl.DataFrame:
    """Each (warehouse, SKU)'s value when the channel last refused it (`REJECTED_SCHEMA`)."""
    t = push_tables(engine)
    query = (
        sa.select(t.push_items.c.item)
        .join(t.pushes, t.pushes.c.idempotency_key == t.push_items.c.idempotency_key)
        .where(t.pushes.c.channel == channel, t.pushes.c.account == account, t.push_items.c.refused)
        .order_by(t.pushes.c.updated_at, t.pushes.c.idempotency_key, t.push_items.c.position)
    )
    with engine.connect() as conn:
        items = items_from_canonical(conn.execute(query).scalars())
    return (
        items.unique(["warehouse_code", *SKU_COLUMNS], keep="last", maintain_order=True)
        .select(REJECTED_SCHEMA.names())
        .cast(REJECTED_SCHEMA)
    )


def _date(iso: str | None) -> dt.date | None:
    return dt.date.fromisoformat(iso) if iso else None


def _iso(value: dt.date | str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return value.isoformat()
