"""The JOOR channel: `POST {base_url}/v2/bulk-inventory?overwrite=0|1&dec_pending=0|1`, JSON or XML.

Body: ``{"inventory_items": {"inventory_item": [{...}, ...]}}``; each item carries the partner's
item keys, `warehouse`, `inventory` (ats clamped at 0) and, for FUTURE stock, `inventory_date`.
Field names come from `domain.joor_fields`. Auth: ``Authorization: OAuth2 <base64 token>``.

Answers (channels.md "JOOR"): JOOR answers per item inside a 2xx, with an `inventory_log`
holding `sku_count` and one entry per item in request order, `status` `pass` or `fail` (with a
`message`). A `fail` refuses that item; the others were applied. A 2xx whose `sku_count` (or
list of entries) does not match the items sent, or whose body says the request failed
(`"success": false`, an `error` or `errors` member), acknowledges nothing. A 2xx with none of
these acknowledges the whole batch. JOOR's documentation does not name the member holding the
entries: the one list inside `inventory_log` is taken (or `inventory_log` itself when it is one).

Bodies are built column-wise from the batch's item rows (`item_text`), so the bytes an item
adds when batches are planned are the bytes it adds to the request. JSON is UTF-8 (non-ASCII
text as is); XML text is escaped as ElementTree escapes it.
"""

from __future__ import annotations

import json

import polars as pl

from pipelines.adapters.channels.http_push import (
    BAD_REQUEST,
    Answer,
    ChannelConfigError,
    PushOutcome,
    PushRequest,
    RateLimiter,
    base64_token,
    status_verdict,
    whole_request_problem,
)
from pipelines.domain import joor_fields, json_text
from pipelines.domain.channel_items import ITEM_SCHEMA, Batch
from pipelines.domain.partners import ChannelSpec

BODY_FORMATS = ("json", "xml")
_XML_DECLARATION = "<?xml version='1.0' encoding='utf-8'?>\n"
_JSON_HEAD = f'{{"{joor_fields.ENVELOPE}":{{"{joor_fields.ITEM_ELEMENT}":['
_JSON_TAIL = "]}}"


class JoorChannel:
    """Encodes batches as JOOR bulk-inventory requests."""

    name = "joor"
    verdict = staticmethod(status_verdict)
    reads_levels = False  # JOOR's inventory API documents no read of what it holds

    def __init__(self, spec: ChannelSpec) -> None:
        if spec.body_format not in BODY_FORMATS:
            raise ChannelConfigError(f"channel joor: body_format {spec.body_format!r} is not one of json, xml")
        self.spec = spec
        self.envelope_bytes = len(self.encode(pl.DataFrame(schema=ITEM_SCHEMA)))

    def auth_headers(self, token: str) -> dict[str, str]:
        # No token configured: no header at all (an empty "OAuth2 " is not even a valid header).
        return {"Authorization": f"OAuth2 {base64_token(token)}"} if token else {}

    def secrets(self, token: str) -> tuple[str, ...]:
        return (token, base64_token(token))

    def limiter(self, clock, sleep) -> RateLimiter:
        """JOOR's credit budget (300 credits per 300 s, 5 a write), counted client-side."""
        return RateLimiter.for_spec(self.spec, clock, sleep)

    def answer(self, batch: Batch, outcome: PushOutcome) -> Answer:
        """What JOOR's answer says about each item of `batch` (see the module docstring)."""
        problem = whole_request_problem(outcome)
        if problem:
            return Answer("unanswered", problem=problem)
        if outcome.response_status == BAD_REQUEST:
            return Answer("bad_request")
        if not outcome.payload.strip():
            return Answer("acknowledged")
        try:
            body = json.loads(outcome.payload)
        except ValueError:
            return Answer("unanswered", problem=f"the answer cannot be read (HTTP {outcome.response_status}, not JSON)")
        if not isinstance(body, dict):
            return Answer("unanswered", problem="the answer cannot be read (not a JSON object)")
        if body.get("success") is False or body.get("error") or body.get("errors"):
            said = body.get("message") or body.get("error") or body.get("errors") or "success: false"
            return Answer("unanswered", problem=f"JOOR said the request failed: {str(said)[:200]}")
        log = body.get("inventory_log")
        if log is None:
            return Answer("acknowledged")
        entries = log if isinstance(log, list) else next((v for v in log.values() if isinstance(v, list)), None)
        count = log.get("sku_count") if isinstance(log, dict) else len(log)
        if entries is None or count != batch.size or len(entries) != batch.size:
            return Answer(
                "unanswered",
                problem=f"JOOR's inventory_log counts {count} item(s), {batch.size} were sent: nothing taken as acknowledged",
            )
        refused = {
            n: str(e.get("message") or "fail")
            for n, e in enumerate(entries)
            if isinstance(e, dict) and str(e.get("status", "")).lower() == "fail"
        }
        return Answer("per_item", refused=refused) if refused else Answer("acknowledged")

    def item_text(self) -> pl.Expr:
        """Each item's text in the body, over `ITEM_SCHEMA` rows: its key set's fields in JOOR's
        names, then warehouse, inventory and, for FUTURE stock, inventory_date."""
        member = _xml_member if self.spec.body_format == "xml" else _json_member
        keys = pl.coalesce(
            pl.when(pl.col("key_set") == name).then(
                json_text.concat([p for n, (ours, wire) in enumerate(pairs) for p in member(wire, ours, n > 0)])
            )
            for name, pairs in joor_fields.ITEM_KEY_FIELDS.items()
        )
        date = pl.when(pl.col("inventory_date").is_not_null()).then(
            json_text.concat(member(joor_fields.INVENTORY_DATE, "inventory_date", True))
        )
        parts = [
            keys,
            *member(joor_fields.WAREHOUSE, "warehouse_code", True),
            *member(joor_fields.INVENTORY, "inventory", True),
            date,
        ]
        if self.spec.body_format == "xml":
            parts = [f"<{joor_fields.ITEM_ELEMENT}>", *parts, f"</{joor_fields.ITEM_ELEMENT}>"]
        else:
            parts = ["{", *parts, "}"]
        return json_text.concat(parts, skip_nulls=True)

    def encode(self, rows: pl.DataFrame, wire: pl.Series | None = None) -> bytes:
        """The request body for `rows`; `wire` their texts when the plan already made them."""
        items = (wire if wire is not None else rows.select(self.item_text()).to_series()).to_list()
        if self.spec.body_format == "xml":
            envelope = joor_fields.ENVELOPE
            inner = f"<{envelope}>{''.join(items)}</{envelope}>" if items else f"<{envelope} />"
            return (_XML_DECLARATION + inner).encode("utf-8")
        return (_JSON_HEAD + ",".join(items) + _JSON_TAIL).encode("utf-8")

    def request(self, batch: Batch) -> PushRequest:
        content_type = "application/xml" if self.spec.body_format == "xml" else "application/json"
        return PushRequest(
            url=self.spec.base_url.rstrip("/") + joor_fields.BULK_INVENTORY_PATH,
            params={
                joor_fields.OVERWRITE_PARAM: "1" if batch.mode == "overwrite" else "0",
                joor_fields.DEC_PENDING_PARAM: "1" if batch.dec_pending else "0",
            },
            headers={"Content-Type": content_type, "Accept": "application/json"},
            content=self.encode(batch.rows, batch.wire),
            idempotency_key=batch.idempotency_key,
        )


def _json_member(wire: str, column: str, comma: bool) -> list[str | pl.Expr]:
    """`"wire":value` pieces: a number for inventory, else a string (key values are never null)."""
    head = ("," if comma else "") + json_text.literal(wire) + ":"
    if column == "inventory":
        return [head, json_text.integer(pl.col(column))]
    return [head + '"', json_text.escaped(pl.col(column)), '"']


def _xml_member(wire: str, column: str, comma: bool) -> list[str | pl.Expr]:
    """`<wire>text</wire>` pieces, the text escaped as ElementTree escapes it (XML has no
    separators: `comma` is there to match `_json_member`)."""
    text = pl.col(column).cast(pl.String).str.replace_many(["&", "<", ">"], ["&amp;", "&lt;", "&gt;"])
    return [f"<{wire}>", text, f"</{wire}>"]
