"""The Shopify channel: the Admin GraphQL `inventorySetQuantities` mutation, `available` per (item, location).

We are the source of truth for these quantities, so the mutation sets absolute values with
`ignoreCompareQuantity: true`. Which items: those the catalog marks `created_by: shopify`, in
IMMEDIATE warehouses mapped to a location (ChannelSpec.locations), with an `inventory_item_id`
from the catalog (see `domain.channel_items`). Bare numeric ids become Shopify gids. The batch's
idempotency key goes out as a header and as the adjustment's `referenceDocumentUri`, so the
change is traceable in Shopify's inventory history.

GraphQL answers 200 even when it refuses: top-level `errors` with code THROTTLED are retried,
other top-level errors and any `userErrors` fail the batch.
"""

from __future__ import annotations

import json

import httpx
import polars as pl

from pipelines.adapters.channels.http_push import PushRequest, Verdict, status_verdict
from pipelines.domain import json_text
from pipelines.domain.channel_items import Batch
from pipelines.domain.partners import ChannelSpec

MUTATION = (
    "mutation inventorySetQuantities($input: InventorySetQuantitiesInput!) {"
    " inventorySetQuantities(input: $input) {"
    " inventoryAdjustmentGroup { id }"
    " userErrors { field message code } } }"
)
REFERENCE_PREFIX = "gid://stockdrop/Push/"
_ITEM_GID = "gid://shopify/InventoryItem/"
_LOCATION_GID = "gid://shopify/Location/"


class ShopifyChannel:
    """Encodes batches as `inventorySetQuantities` GraphQL requests."""

    name = "shopify"

    def __init__(self, spec: ChannelSpec) -> None:
        self.spec = spec
        self.envelope_bytes = len(self._encode([], "0" * 64))

    def auth_headers(self, token: str) -> dict[str, str]:
        return {"X-Shopify-Access-Token": token} if token else {}

    def secrets(self, token: str) -> tuple[str, ...]:
        return (token,)

    def item_text(self) -> pl.Expr:
        """Each item's `{"inventoryItemId":…,"locationId":…,"quantity":…}`, over `ITEM_SCHEMA` rows."""
        return json_text.concat(
            [
                '{"inventoryItemId":"',
                json_text.escaped(_gid(pl.col("inventory_item_id"), _ITEM_GID)),
                '","locationId":"',
                json_text.escaped(_gid(pl.col("location_id"), _LOCATION_GID)),
                '","quantity":',
                json_text.integer(pl.col("inventory")),
                "}",
            ]
        )

    def item_bytes(self) -> pl.Expr:
        return self.item_text().str.len_bytes().cast(pl.Int64) + 1

    def request(self, batch: Batch) -> PushRequest:
        return PushRequest(
            url=self.spec.base_url,
            params={},
            headers={"Content-Type": "application/json", "Accept": "application/json"},
            content=self._encode(batch.rows.select(self.item_text()).to_series().to_list(), batch.idempotency_key),
            idempotency_key=batch.idempotency_key,
        )

    @staticmethod
    def verdict(response: httpx.Response) -> Verdict:
        """HTTP status first, then GraphQL errors inside a 200."""
        judged = status_verdict(response)
        if judged != "ok":
            return judged
        try:
            payload = response.json()
        except ValueError:
            return "fail"
        errors = payload.get("errors") or []
        if any((e.get("extensions") or {}).get("code") == "THROTTLED" for e in errors):
            return "retry"
        result = ((payload.get("data") or {}).get("inventorySetQuantities")) or {}
        if errors or result.get("userErrors") or not result:
            return "fail"
        return "ok"

    def _encode(self, quantities: list[str], idempotency_key: str) -> bytes:
        head = {
            "name": "available",
            "reason": "correction",
            "ignoreCompareQuantity": True,
            "referenceDocumentUri": REFERENCE_PREFIX + idempotency_key,
        }
        # The input object with its quantities last, as the items' own texts.
        inner = json.dumps(head, separators=(",", ":"), ensure_ascii=False)[:-1]
        body = f'{{"query":{json.dumps(MUTATION)},"variables":{{"input":{inner},"quantities":[{",".join(quantities)}]}}}}}}'
        return body.encode("utf-8")


def _gid(value: pl.Expr, prefix: str) -> pl.Expr:
    """A Shopify global id: the value itself when it is one, else `prefix + value` (a missing id as empty)."""
    text = value.fill_null("")
    return pl.when(text.str.starts_with("gid://")).then(text).otherwise(pl.lit(prefix) + text)
