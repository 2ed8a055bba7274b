"""Stand-ins for Shopify and JOOR that behave as their documentation says, not as our code expects.

`ShopifyStandIn` executes real GraphQL (graphql-core) against the part of the Admin API 2026-10
schema Stockdrop touches, so an unknown field (`ignoreCompareQuantity`, removed in 2026-04) is a
validation error, as on Shopify. As documented for 2026-04 and later: `inventorySetQuantities`
requires the `@idempotent(key:)` directive and `changeFromQuantity` on every quantity (explicit
null opts out of the check); input lists hold at most 250 entries; a quantity whose
`changeFromQuantity` differs from the current value is a `CHANGE_FROM_QUANTITY_STALE` userError,
and a request with any userError applies nothing. A key seen before answers what it answered
then (and applies nothing again); a key reused with other input is an error. Every answer
carries `extensions.cost` from a leaky bucket; a request over it is THROTTLED. Reads:
`nodes(ids:)` (at most 250) → `InventoryItem.inventoryLevel(locationId:)` →
`quantities(names:)`. `sell`/`edit` change a level as a sale or a merchant would.

`JoorStandIn` keeps one account's inventory as JOOR's bulk inventory API documents it: `overwrite=1`
replaces the account's inventory, `overwrite=0` sets the items listed; it answers per item in a
200, an `inventory_log` with `sku_count` and one pass/fail entry per item in request order
(unknown UPC, unknown warehouse: `fail`), applying the items that pass.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from graphql import GraphQLError, build_schema, execute, parse, validate
from graphql.execution.values import get_variable_values

SCHEMA = build_schema(
    """
    directive @idempotent(key: String!) on FIELD
    scalar URL
    interface Node { id: ID! }
    type Query { nodes(ids: [ID!]!): [Node]! }
    type InventoryItem implements Node {
      id: ID!
      inventoryLevel(locationId: ID!): InventoryLevel
    }
    type InventoryLevel implements Node {
      id: ID!
      quantities(names: [String!]!): [InventoryQuantity!]!
    }
    type InventoryQuantity { name: String! quantity: Int! }
    type Mutation {
      inventorySetQuantities(input: InventorySetQuantitiesInput!): InventorySetQuantitiesPayload
    }
    input InventorySetQuantitiesInput {
      name: String!
      reason: String!
      referenceDocumentUri: URL
      quantities: [InventoryQuantityInput!]!
    }
    input InventoryQuantityInput {
      inventoryItemId: ID!
      locationId: ID!
      quantity: Int!
      changeFromQuantity: Int
    }
    type InventorySetQuantitiesPayload {
      inventoryAdjustmentGroup: InventoryAdjustmentGroup
      userErrors: [InventorySetQuantitiesUserError!]!
    }
    type InventoryAdjustmentGroup { id: ID! reason: String! referenceDocumentUri: URL }
    enum InventorySetQuantitiesUserErrorCode {
      CHANGE_FROM_QUANTITY_STALE INVALID_INVENTORY_ITEM INVALID_LOCATION ITEM_NOT_STOCKED_AT_LOCATION
      INVALID_QUANTITY_NEGATIVE INVALID_QUANTITY_TOO_HIGH INVALID_NAME INVALID_REASON
    }
    type InventorySetQuantitiesUserError {
      code: InventorySetQuantitiesUserErrorCode
      field: [String!]
      message: String!
    }
    """
)
MAX_INPUT = 250
MIN_VERSION = "2026-04"


class _Server:
    """A threaded loopback HTTP server handing each request to `handle`."""

    def __init__(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, headers, payload = owner.handle(self.path, dict(self.headers), body)
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.lock = threading.RLock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def handle(self, path: str, headers: dict, body: bytes) -> tuple[int, dict, bytes]:
        raise NotImplementedError


class ShopItem:
    __typename = "InventoryItem"

    def __init__(self, shop: ShopifyStandIn, gid: str) -> None:
        self.shop, self.id = shop, gid

    def inventoryLevel(self, info, locationId: str):  # noqa: N802 - GraphQL's name
        if (self.id, locationId) not in self.shop.levels:
            return None
        return ShopLevel(self.shop.levels[(self.id, locationId)], f"{self.id}@{locationId}")


class ShopLevel:
    __typename = "InventoryLevel"

    def __init__(self, available: int, gid: str) -> None:
        self.available, self.id = available, gid

    def quantities(self, info, names: list[str]):
        return [{"name": n, "quantity": self.available} for n in names if n == "available"]


class ShopifyStandIn(_Server):
    """One shop: `levels[(item gid, location gid)] = available` for the items stocked at a location."""

    def __init__(
        self, token: str, items: dict[tuple[str, str], int], *, bucket: float = 2000.0, restore_rate: float = 1e6
    ) -> None:
        self.token = token
        self.levels = dict(items)
        self.locations = {loc for _, loc in items}
        self.bucket_max, self.restore_rate = bucket, restore_rate
        self.available, self.bucket_at = bucket, time.monotonic()
        self.mutations: list[dict] = []  # every mutation executed: {"key", "quantities", "applied"}
        self.queries: int = 0
        self.throttled: int = 0
        self.applied: Counter[str] = Counter()  # idempotency key -> times applied
        self.remembered: dict[str, tuple[str, dict]] = {}  # key -> (input digest, result)
        self.answer_version: str | None = None  # answer another X-Shopify-API-Version than asked
        self.fail_next: list[tuple[int, dict]] = []  # (status, body) answered before anything else
        super().__init__()

    @property
    def endpoint(self) -> str:
        return self.url + "/admin/api/2026-10/graphql.json"

    def sell(self, item: str, location: str, units: int) -> None:
        """A sale in the shop: the level drops (not below zero)."""
        with self.lock:
            self.levels[(item, location)] = max(self.levels[(item, location)] - units, 0)

    def edit(self, item: str, location: str, value: int) -> None:
        """A merchant sets a level by hand."""
        with self.lock:
            self.levels[(item, location)] = value

    def handle(self, path, headers, body):
        version = path.split("/admin/api/", 1)[-1].split("/", 1)[0]
        answered = {"X-Shopify-API-Version": self.answer_version or max(version, MIN_VERSION)}
        with self.lock:
            if self.fail_next:
                status, payload = self.fail_next.pop(0)
                return status, answered, json.dumps(payload).encode()
            if {k.lower(): v for k, v in headers.items()}.get("x-shopify-access-token") != self.token:
                error = {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}
                return 401, answered, json.dumps(error).encode()
            try:
                request = json.loads(body)
            except ValueError:
                return 400, answered, b'{"errors":{"query":"Required parameter missing or invalid"}}'
            return 200, answered, json.dumps(self._graphql(request)).encode()

    def _cost(self, requested: float) -> dict:
        now = time.monotonic()
        self.available = min(self.bucket_max, self.available + (now - self.bucket_at) * self.restore_rate)
        self.bucket_at = now
        return {
            "requestedQueryCost": requested,
            "throttleStatus": {
                "maximumAvailable": self.bucket_max,
                "currentlyAvailable": self.available,
                "restoreRate": self.restore_rate,
            },
        }

    def _graphql(self, request: dict) -> dict:
        try:
            document = parse(request.get("query") or "")
        except GraphQLError as error:
            return {"errors": [error.formatted]}
        errors = validate(SCHEMA, document)
        if errors:
            return {"errors": [e.formatted for e in errors]}
        variables = request.get("variables") or {}
        operation = document.definitions[0]
        coerced = get_variable_values(SCHEMA, operation.variable_definitions or [], variables)
        if isinstance(coerced, list):  # unknown input fields, wrong types: refused before anything runs
            return {"errors": [e.formatted for e in coerced]}
        is_mutation = operation.operation.value == "mutation"
        ids = variables.get("ids") or []
        requested = 10.0 if is_mutation else 2.0 + 3.0 * len(ids)
        cost = self._cost(requested)
        if requested > self.available:
            self.throttled += 1
            return {
                "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
                "extensions": {"cost": cost},
            }
        if len(ids) > MAX_INPUT:
            return _input_too_large(len(ids), cost)
        context: dict = {}
        if is_mutation:
            field = operation.selection_set.selections[0]
            directive = next((d for d in field.directives or [] if d.name.value == "idempotent"), None)
            if directive is None:
                return {
                    "errors": [
                        {
                            "message": "The @idempotent directive is required for this mutation.",
                            "extensions": {"code": "BAD_REQUEST"},
                        }
                    ],
                    "extensions": {"cost": cost},
                }
            argument = directive.arguments[0].value
            context["key"] = (
                variables.get(argument.name.value) if argument.kind == "variable" else getattr(argument, "value", None)
            )
            quantities = ((variables.get("input") or {}).get("quantities")) or []
            if len(quantities) > MAX_INPUT:
                return _input_too_large(len(quantities), cost)
            missing = [n for n, q in enumerate(quantities) if isinstance(q, dict) and "changeFromQuantity" not in q]
            if missing:
                return {
                    "errors": [
                        {
                            "message": f"Variable $input.quantities.{missing[0]}.changeFromQuantity must be provided "
                            "(use null to opt out of the compare-and-swap check).",
                            "extensions": {"code": "INVALID_VARIABLE"},
                        }
                    ],
                    "extensions": {"cost": cost},
                }
        else:
            self.queries += 1
        self.available -= requested
        cost["throttleStatus"]["currentlyAvailable"] = self.available  # what is left after this request
        result = execute(SCHEMA, document, root_value=_Root(self), variable_values=variables, context_value=context)
        out: dict = {"data": result.data, "extensions": {"cost": {**cost, "actualQueryCost": requested}}}
        if result.errors:
            out["errors"] = [e.formatted for e in result.errors]
        return out

    def set_quantities(self, key: str, input: dict) -> dict:
        digest = hashlib.sha256(json.dumps(input, sort_keys=True).encode()).hexdigest()
        if key in self.remembered:
            seen, answer = self.remembered[key]
            if seen != digest:
                raise GraphQLError("Idempotency key was already used with a different request.")
            return answer
        errors = []
        for n, q in enumerate(input["quantities"]):
            where = ["input", "quantities", str(n)]
            item, location = q["inventoryItemId"], q["locationId"]
            if location not in self.locations:
                errors.append(
                    {
                        "code": "INVALID_LOCATION",
                        "field": [*where, "locationId"],
                        "message": "The specified location could not be found.",
                    }
                )
            elif not any(i == item for i, _ in self.levels):
                errors.append(
                    {
                        "code": "INVALID_INVENTORY_ITEM",
                        "field": [*where, "inventoryItemId"],
                        "message": "The specified inventory item could not be found.",
                    }
                )
            elif (item, location) not in self.levels:
                errors.append(
                    {
                        "code": "ITEM_NOT_STOCKED_AT_LOCATION",
                        "field": [*where, "locationId"],
                        "message": "The item is not stocked at the location.",
                    }
                )
            elif q["quantity"] < 0:
                errors.append(
                    {
                        "code": "INVALID_QUANTITY_NEGATIVE",
                        "field": [*where, "quantity"],
                        "message": "The quantity can't be negative.",
                    }
                )
            elif q["changeFromQuantity"] is not None and q["changeFromQuantity"] != self.levels[(item, location)]:
                errors.append(
                    {
                        "code": "CHANGE_FROM_QUANTITY_STALE",
                        "field": [*where, "changeFromQuantity"],
                        "message": "The specified compare quantity does not match the current quantity.",
                    }
                )
        applied = not errors
        if applied:
            for q in input["quantities"]:
                self.levels[(q["inventoryItemId"], q["locationId"])] = q["quantity"]
            self.applied[key] += 1
        self.mutations.append({"key": key, "quantities": input["quantities"], "applied": applied})
        group = (
            {
                "id": f"gid://shopify/InventoryAdjustmentGroup/{len(self.mutations)}",
                "reason": input["reason"],
                "referenceDocumentUri": input.get("referenceDocumentUri"),
            }
            if applied
            else None
        )
        answer = {"inventoryAdjustmentGroup": group, "userErrors": errors}
        self.remembered[key] = (digest, answer)
        return answer


class _Root:
    def __init__(self, shop: ShopifyStandIn) -> None:
        self.shop = shop

    def nodes(self, info, ids: list[str]):
        known = {i for i, _ in self.shop.levels}
        return [ShopItem(self.shop, i) if i in known else None for i in ids]

    def inventorySetQuantities(self, info, input: dict):  # noqa: N802 - GraphQL's name
        return self.shop.set_quantities(info.context["key"], input)


def _input_too_large(size: int, cost: dict) -> dict:
    return {
        "errors": [
            {
                "message": f"The input array size of {size} is greater than the maximum allowed of {MAX_INPUT}.",
                "extensions": {"code": "MAX_INPUT_SIZE_EXCEEDED"},
            }
        ],
        "extensions": {"cost": cost},
    }


class JoorStandIn(_Server):
    """One JOOR account: `inventory[(warehouse, upc)] = units`; `upcs` and `warehouses` it knows."""

    def __init__(self, token: str, upcs: set[str], warehouses: set[str]) -> None:
        self.token = token
        self.upcs, self.warehouses = set(upcs), set(warehouses)
        self.inventory: dict[tuple[str, str], int] = {}
        self.requests: list[dict] = []
        self.fail_next: list[tuple[int, dict, bytes]] = []  # (status, headers, body)
        super().__init__()

    def handle(self, path, headers, body):
        split = urlsplit(path)
        query = {k: v[0] for k, v in parse_qs(split.query).items()}
        with self.lock:
            self.requests.append({"query": query, "body": body, "at": time.monotonic()})
            if self.fail_next:
                return self.fail_next.pop(0)
            expected = "OAuth2 " + base64.b64encode(self.token.encode()).decode()
            if {k.lower(): v for k, v in headers.items()}.get("authorization") != expected:
                return 401, {}, b'{"success": false, "message": "Unauthorized"}'
            items = json.loads(body)["inventory_items"]["inventory_item"]
            if query.get("overwrite") == "1":
                self.inventory = {}
            log = []
            for item in items:
                if item.get("upc") not in self.upcs:
                    log.append({"upc": item.get("upc"), "status": "fail", "message": "Style not found for UPC"})
                elif item["warehouse"] not in self.warehouses:
                    log.append(
                        {
                            "upc": item["upc"],
                            "status": "fail",
                            "message": f"Warehouse {item['warehouse']} is not set up",
                        }
                    )
                else:
                    self.inventory[(item["warehouse"], item["upc"])] = int(item["inventory"])
                    log.append({"upc": item["upc"], "status": "pass"})
            answer = {"success": True, "inventory_log": {"sku_count": len(items), "items": log}}
            return 200, {}, json.dumps(answer).encode()
