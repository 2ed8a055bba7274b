"""Alerts (alerts.md v1.2): what is worth a person's attention, in plain words, with a stable id.

An `Alert` is found from what the store records (a file version's fate, a partner's deliveries,
a channel's batches and drift), never from the run that caused it, so a crashed run still
alerts and a re-run never alerts twice: the id names the event and what it is about. This module
holds the records, the words (JSON, Slack and e-mail bodies, each saying what to do), which
destinations want which alert, and the daily digest. No I/O.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from pipelines.domain.partners import EnvRef

EventKind = Literal[
    "file_rejected", "file_rejects_high", "file_held", "partner_late", "push_failed", "drift", "recovered", "digest"
]
EVENTS: tuple[EventKind, ...] = (
    "file_rejected",
    "file_rejects_high",
    "file_held",
    "partner_late",
    "push_failed",
    "drift",
    "recovered",
    "digest",
)
# Worst first, for the digest.
SEVERITY: dict[str, int] = {
    e: n
    for n, e in enumerate(
        (
            "file_rejected",
            "push_failed",
            "file_held",
            "partner_late",
            "file_rejects_high",
            "drift",
            "recovered",
            "digest",
        )
    )
}
SIGNATURE_HEADER = "X-Stockdrop-Signature"
DEFAULT_DIGEST_AT = dt.time(7, 0)


@dataclass(frozen=True)
class Alert:
    """One thing a person should hear of, once.

    Attributes:
        id: the event and what it is about (`file_held:acme/inventory_….csv:<sha256>`).
        subject: what it is about, for finding it again (a file version id, a partner, account/channel).
        details: further facts (JSON-able), e.g. the ATS change by warehouse of a held file.
    """

    id: str
    event: EventKind
    subject: str
    at: dt.datetime
    reason: str
    account: str | None = None
    partner: str | None = None
    file: str | None = None
    channel: str | None = None
    details: dict = field(default_factory=dict, compare=False, hash=False)

    def text(self) -> str:
        """One line in plain words: who, what, why, and what to do."""
        where = "/".join(p for p in (self.partner, self.file) if p) or "/".join(
            p for p in (self.account, self.channel) if p
        )
        todo = {
            "file_rejected": "fix the file and drop it again under the same name",
            "file_rejects_high": f"see `stockdrop rejects` for {self.file}",
            "file_held": f"look at `stockdrop held`, then `stockdrop approve {where}` or `stockdrop deny {where}`",
            "partner_late": f"ask {self.partner} whether their export still runs",
            "push_failed": "see docs/channels.md, runbook",
            "drift": "see `stockdrop reconcile`",
        }.get(self.event)
        what = {
            "file_rejected": "rejected whole",
            "file_rejects_high": "rejected too many rows",
            "file_held": "held by the guard",
            "partner_late": "is late",
            "push_failed": "push failing",
            "drift": "drift found",
            "recovered": "recovered",
            "digest": "daily digest",
        }[self.event]
        return f"stockdrop: {where}: {what}: {self.reason}" + (f" — {todo}" if todo else "")

    def as_json(self) -> dict:
        body = {
            "id": self.id,
            "event": self.event,
            "account": self.account,
            "partner": self.partner,
            "file": self.file,
            "channel": self.channel,
            "reason": self.reason,
            "at": self.at.replace(tzinfo=dt.UTC).isoformat().replace("+00:00", "Z"),
            "details": self.details,
            "text": self.text(),
        }
        return {k: v for k, v in body.items() if v not in (None, {}) or k in ("id", "event", "reason", "at", "text")}

    @classmethod
    def from_json(cls, body: dict) -> Alert:
        return cls(
            id=body["id"],
            event=body["event"],
            subject=body.get("subject", body["id"]),
            at=dt.datetime.fromisoformat(body["at"].replace("Z", "+00:00")).replace(tzinfo=None),
            reason=body["reason"],
            account=body.get("account"),
            partner=body.get("partner"),
            file=body.get("file"),
            channel=body.get("channel"),
            details=body.get("details") or {},
        )

    def email(self) -> tuple[str, str]:
        """(subject, plain text body)."""
        about = self.file or self.channel or ""
        subject = f"[stockdrop] {self.event} {self.partner or self.account or ''} {about}".strip()
        lines = [self.text(), ""] + [f"{k}: {v}" for k, v in self.as_json().items() if k not in ("text", "details")]
        lines += [f"{k}: {v}" for k, v in self.details.items()]
        return subject, "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Destination:
    """Where alerts go (one entry of the partners file's `alerts:`).

    Attributes:
        key: a stable name (from the configuration, never from a secret's value): the ledger's.
        webhook: a URL, or the environment variable that holds it.
        email: an address (SMTP from `STOCKDROP_SMTP_URL`).
        format: json (default) or slack, for webhooks.
        secret: signs JSON bodies (HMAC-SHA256).
        on: the events it wants.
        partners: only these partners' alerts (None: every partner's).
    """

    key: str
    on: tuple[EventKind, ...]
    webhook: str | EnvRef | None = None
    email: str | None = None
    format: Literal["json", "slack"] = "json"
    secret: EnvRef | None = None
    partners: tuple[str, ...] | None = None

    def wants(self, alert: Alert) -> bool:
        if alert.event not in self.on:
            return False
        return self.partners is None or alert.partner is None or alert.partner in self.partners


@dataclass(frozen=True)
class AlertSettings:
    destinations: tuple[Destination, ...] = ()
    digest_at: dt.time = DEFAULT_DIGEST_AT

    @property
    def any(self) -> bool:
        return bool(self.destinations)


def webhook_body(alert: Alert, format: str) -> bytes:
    """The bytes a webhook is sent: Slack's `{"text": …}`, or the alert as JSON."""
    body = {"text": alert.text()} if format == "slack" else alert.as_json()
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def signature(body: bytes, secret: str) -> str:
    """`sha256=<hex HMAC-SHA256 of the body>`, the `X-Stockdrop-Signature` header."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def digest(day: dt.date, alerts: Iterable[Alert], at: dt.datetime) -> Alert:
    """The day's digest: every alert found in the 24 hours before `at`, worst first."""
    found = sorted(alerts, key=lambda a: (SEVERITY.get(a.event, 99), a.at, a.id))
    counts: dict[str, int] = {}
    for a in found:
        counts[a.event] = counts.get(a.event, 0) + 1
    summary = ", ".join(f"{n} {e}" for e, n in sorted(counts.items(), key=lambda x: SEVERITY.get(x[0], 99)))
    return Alert(
        id=f"digest:{day.isoformat()}",
        event="digest",
        subject=day.isoformat(),
        at=at,
        reason=summary or "nothing happened",
        details={"alerts": [a.text() for a in found][:500]},
    )
