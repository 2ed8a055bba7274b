"""The Shopify channel: Admin GraphQL `inventorySetQuantities` (API 2026-04 and later), and reading levels back.

What is sent (channels.md "What each channel must be sent"; shopify.dev changelog "New compare
and swap syntax for the inventorySetQuantities mutation" and "Making idempotency mandatory for
inventory adjustments"): the mutation carries `@idempotent(key:)` with the batch's key; every
quantity carries `changeFromQuantity`, the value we believe Shopify holds (what it last
acknowledged from us, or what drift found since), explicit `null` when we never set it; the
removed `compareQuantity`/`ignoreCompareQuantity` are never sent; at most 250 quantities a
request. Which items: those the catalog marks `created_by: shopify`, in IMMEDIATE warehouses
mapped to a location, with an `inventory_item_id` (see `domain.channel_items`). Bare numeric ids
become gids. The key also goes out as the group's `referenceDocumentUri`, so the change is
traceable in Shopify's inventory history.

How answers are read: HTTP status first (401/403/404: the request failed as a whole); then
GraphQL `errors` (THROTTLED is retried once the cost bucket refills; any other error names no
item, so the request failed as a whole); then `userErrors`, mapped to their quantity by the
`field` path (`["input", "quantities", "7", …]`): `CHANGE_FROM_QUANTITY_STALE` is drift, any
other code refuses that item. Shopify applies nothing of a request with userErrors.

Pacing follows the cost-based limit reported in every answer (`extensions.cost`), not JOOR's
credits.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable

import httpx
import polars as pl

from pipelines.adapters.channels.http_push import (
    Answer,
    ChannelConfigError,
    CostLimiter,
    HttpPushClient,
    PushOutcome,
    PushRequest,
    Verdict,
    effective_min_interval,
    status_verdict,
    whole_request_problem,
)
from pipelines.domain import json_text
from pipelines.domain.channel_items import Batch
from pipelines.domain.partners import ChannelSpec

log = logging.getLogger(__name__)

MIN_API_VERSION = "2026-04"
MUTATION = (
    "mutation inventorySetQuantities($input: InventorySetQuantitiesInput!, $idempotencyKey: String!) {"
    " inventorySetQuantities(input: $input) @idempotent(key: $idempotencyKey) {"
    " inventoryAdjustmentGroup { id }"
    " userErrors { field message code } } }"
)
LEVELS_QUERY = (
    "query levels($ids: [ID!]!, $locationId: ID!) {"
    " nodes(ids: $ids) { ... on InventoryItem { id"
    ' inventoryLevel(locationId: $locationId) { quantities(names: ["available"]) { name quantity } } } } }'
)
STALE = "CHANGE_FROM_QUANTITY_STALE"
REFERENCE_PREFIX = "gid://stockdrop/Push/"
ITEM_GID = "gid://shopify/InventoryItem/"
LOCATION_GID = "gid://shopify/Location/"
MAX_IDS_PER_QUERY = 250  # Shopify: `nodes(ids:)` takes at most 250 ids
_VERSION = re.compile(r"/admin/api/([0-9]{4}-[0-9]{2})/graphql\.json$")


class ShopifyChannel:
    """Encodes batches as `inventorySetQuantities` requests and reads Shopify's answers."""

    name = "shopify"
    reads_levels = True

    def __init__(self, spec: ChannelSpec) -> None:
        self.spec = spec
        self.api_version = api_version(spec.base_url)
        self.envelope_bytes = len(self._encode([], "0" * 64))

    def auth_headers(self, token: str) -> dict[str, str]:
        return {"X-Shopify-Access-Token": token} if token else {}

    def secrets(self, token: str) -> tuple[str, ...]:
        return (token,)

    def limiter(self, clock, sleep) -> CostLimiter:
        return CostLimiter(min_interval_s=effective_min_interval(self.spec), clock=clock, sleep=sleep)

    def item_text(self) -> pl.Expr:
        """Each item's quantity input, over `ITEM_SCHEMA` rows:
        `{"inventoryItemId":…,"locationId":…,"quantity":…,"changeFromQuantity":…|null}`."""
        return json_text.concat(
            [
                '{"inventoryItemId":"',
                json_text.escaped(gid(pl.col("inventory_item_id"), ITEM_GID)),
                '","locationId":"',
                json_text.escaped(gid(pl.col("location_id"), LOCATION_GID)),
                '","quantity":',
                json_text.integer(pl.col("inventory")),
                ',"changeFromQuantity":',
                json_text.integer(pl.col("change_from")),
                "}",
            ]
        )

    def request(self, batch: Batch) -> PushRequest:
        return PushRequest(
            url=self.spec.base_url,
            params={},
            headers=_JSON_HEADERS,
            content=self._encode(
                (batch.wire if batch.wire is not None else batch.rows.select(self.item_text()).to_series()).to_list(),
                batch.idempotency_key,
            ),
            idempotency_key=batch.idempotency_key,
        )

    @staticmethod
    def verdict(response: httpx.Response) -> Verdict:
        """HTTP status first, then THROTTLED inside a 200 (retried once the bucket refills)."""
        judged = status_verdict(response)
        if judged != "ok":
            return judged
        try:
            errors = response.json().get("errors") or []
        except (ValueError, AttributeError):
            return "ok"
        if any((e.get("extensions") or {}).get("code") == "THROTTLED" for e in errors if isinstance(e, dict)):
            return "retry"
        return "ok"

    def answer(self, batch: Batch, outcome: PushOutcome) -> Answer:
        """What the answer says about each quantity of `batch` (see the module docstring)."""
        self._note_version(outcome)
        if outcome.response_status == 400:  # GraphQL: the document itself was refused
            return Answer("unanswered", problem=f"400 Bad Request — {outcome.response_body[:200]}")
        problem = whole_request_problem(outcome)
        if problem:
            return Answer("unanswered", problem=problem)
        payload, problem = _read(outcome)
        if problem:
            return Answer("unanswered", problem=problem)
        result = (payload.get("data") or {}).get("inventorySetQuantities")
        if not isinstance(result, dict):
            return Answer("unanswered", problem="the answer holds no inventorySetQuantities result")
        refused: dict[int, str] = {}
        stale: list[int] = []
        for error in result.get("userErrors") or []:
            position = _quantity_position(error.get("field"), batch.size)
            message = f"{error.get('code') or 'ERROR'}: {error.get('message') or ''}".strip()
            if position is None:
                return Answer("unanswered", problem=f"Shopify refused the request: {message}")
            if error.get("code") == STALE:
                stale.append(position)
            else:
                refused.setdefault(position, message)
        if not refused and not stale:
            return Answer("acknowledged")
        return Answer("per_item", refused=refused, stale=tuple(sorted(set(stale) - set(refused))))

    def read_available(self, client: HttpPushClient, items: pl.DataFrame) -> tuple[list[int | None], int, str | None]:
        """What Shopify holds (`available`) for each item row (`ITEM_SCHEMA`), in row order: None
        when the item is not stocked at its location. One query per location and at most 250
        items, paced by cost. Returns (values, requests made, problem or None)."""
        keys = items.select(
            gid(pl.col("location_id"), LOCATION_GID).alias("location"),
            gid(pl.col("inventory_item_id"), ITEM_GID).alias("item"),
        )
        levels: dict[tuple[str, str], int | None] = {}
        requests = 0
        for (location,), group in keys.unique(maintain_order=True).group_by("location", maintain_order=True):
            gids = group.get_column("item").to_list()
            for start in range(0, len(gids), MAX_IDS_PER_QUERY):
                chunk = gids[start : start + MAX_IDS_PER_QUERY]
                body = {"query": LEVELS_QUERY, "variables": {"ids": chunk, "locationId": location}}
                content = json.dumps(body, separators=(",", ":")).encode()
                outcome = client.send(PushRequest(self.spec.base_url, {}, _JSON_HEADERS, content, ""), self.verdict)
                requests += outcome.attempts
                read, problem = self._levels(outcome)
                if problem:
                    return [], requests, problem
                levels.update({(str(location), g): read.get(g) for g in chunk})
        return [levels.get((loc, item)) for loc, item in keys.rows()], requests, None

    def _levels(self, outcome: PushOutcome) -> tuple[dict[str, int | None], str | None]:
        """(item gid -> `available` at the queried location, None when not stocked there), or a problem."""
        self._note_version(outcome)
        problem = whole_request_problem(outcome)
        if problem:
            return {}, problem
        payload, problem = _read(outcome)
        if problem:
            return {}, problem
        levels: dict[str, int | None] = {}
        for node in (payload.get("data") or {}).get("nodes") or []:
            if not isinstance(node, dict) or "id" not in node:
                continue
            level = node.get("inventoryLevel")
            quantities = (level or {}).get("quantities") or []
            available = [q.get("quantity") for q in quantities if q.get("name") == "available"]
            levels[node["id"]] = int(available[0]) if level is not None and available else None
        return levels, None

    def _note_version(self, outcome: PushOutcome) -> None:
        answered = {k.lower(): v for k, v in outcome.headers.items()}.get("x-shopify-api-version")
        if answered and answered != self.api_version:
            log.warning("shopify answered with API version %s, asked for %s", answered, self.api_version)

    def _encode(self, quantities: list[str], idempotency_key: str) -> bytes:
        head = {"name": "available", "reason": "correction", "referenceDocumentUri": REFERENCE_PREFIX + idempotency_key}
        # The input object with its quantities last, as the items' own texts.
        inner = json.dumps(head, separators=(",", ":"), ensure_ascii=False)[:-1]
        variables = f'{{"input":{inner},"quantities":[{",".join(quantities)}]}},"idempotencyKey":"{idempotency_key}"}}'
        return f'{{"query":{json.dumps(MUTATION)},"variables":{variables}}}'.encode()


_JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


def api_version(base_url: str) -> str:
    """The Admin API version named in `base_url` (`…/admin/api/2026-10/graphql.json`).

    Raises:
        ChannelConfigError: no version in the URL, or one older than 2026-04.
    """
    match = _VERSION.search(base_url.split("?")[0].rstrip("/"))
    if not match:
        raise ChannelConfigError(
            f"channel shopify: base_url must end in /admin/api/<version>/graphql.json (version {MIN_API_VERSION} or later)"
        )
    version = match.group(1)
    if version < MIN_API_VERSION:
        raise ChannelConfigError(
            f"channel shopify: API version {version} is older than {MIN_API_VERSION}, the minimum "
            "(inventorySetQuantities needs changeFromQuantity and @idempotent)"
        )
    return version


def gid(value: pl.Expr, prefix: str) -> pl.Expr:
    """A Shopify global id: the value itself when it is one, else `prefix + value` (a missing id as empty)."""
    text = value.fill_null("")
    return pl.when(text.str.starts_with("gid://")).then(text).otherwise(pl.lit(prefix) + text)


def _quantity_position(path: Iterable | None, size: int) -> int | None:
    """The quantity a userError's `field` points at (`["input", "quantities", "7", …]`), or None."""
    parts = [str(p) for p in (path or [])]
    if len(parts) >= 3 and parts[:2] == ["input", "quantities"] and parts[2].isascii() and parts[2].isdigit():
        position = int(parts[2])
        return position if position < size else None
    return None


def _read(outcome: PushOutcome) -> tuple[dict, str | None]:
    """The answer as JSON, or a problem line: unreadable, or GraphQL errors (none names an item)."""
    try:
        payload = json.loads(outcome.payload)
    except ValueError:
        return {}, f"the answer cannot be read (HTTP {outcome.response_status}, not JSON)"
    if not isinstance(payload, dict):
        return {}, "the answer cannot be read (not a JSON object)"
    errors = [e for e in payload.get("errors") or [] if isinstance(e, dict)] or (
        [{"message": str(payload["errors"])}] if payload.get("errors") else []
    )
    if errors:
        return payload, f"GraphQL error: {errors[0].get('message', '')}"[:300]
    return payload, None
