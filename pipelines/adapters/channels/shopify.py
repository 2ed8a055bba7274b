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

from pipelines.adapters.channels.http_push import PushRequest, Verdict, status_verdict
from pipelines.domain.channel_items import Batch, ChannelItem
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


def as_gid(value: str, prefix: str) -> str:
    """A Shopify global id: `value` itself when it is one, else `prefix + value`."""
    return value if value.startswith("gid://") else prefix + value


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

    def quantity(self, item: ChannelItem) -> dict[str, object]:
        return {
            "inventoryItemId": as_gid(item.inventory_item_id or "", _ITEM_GID),
            "locationId": as_gid(item.location_id or "", _LOCATION_GID),
            "quantity": item.inventory,
        }

    def item_bytes(self, item: ChannelItem) -> int:
        return len(json.dumps(self.quantity(item), separators=(",", ":"))) + 1

    def request(self, batch: Batch) -> PushRequest:
        return PushRequest(
            url=self.spec.base_url,
            params={},
            headers={"Content-Type": "application/json", "Accept": "application/json"},
            content=self._encode([self.quantity(i) for i in batch.items], batch.idempotency_key),
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

    def _encode(self, quantities: list[dict], idempotency_key: str) -> bytes:
        variables = {
            "input": {
                "name": "available",
                "reason": "correction",
                "ignoreCompareQuantity": True,
                "referenceDocumentUri": REFERENCE_PREFIX + idempotency_key,
                "quantities": quantities,
            }
        }
        return json.dumps({"query": MUTATION, "variables": variables}, separators=(",", ":")).encode("utf-8")
