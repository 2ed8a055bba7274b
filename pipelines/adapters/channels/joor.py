"""The JOOR channel: `POST {base_url}/v2/bulk-inventory?overwrite=0|1&dec_pending=0|1`, JSON or XML.

Body: ``{"inventory_items": {"inventory_item": [{...}, ...]}}``; each item carries the partner's
item keys, `warehouse`, `inventory` (ats clamped at 0) and, for FUTURE stock, `inventory_date`.
Field names come from `domain.joor_fields`. Auth: ``Authorization: OAuth2 <base64 token>``.
"""

from __future__ import annotations

import json
from xml.etree import ElementTree

from pipelines.adapters.channels.http_push import ChannelConfigError, PushRequest, base64_token, status_verdict
from pipelines.domain import joor_fields
from pipelines.domain.channel_items import Batch, ChannelItem
from pipelines.domain.partners import ChannelSpec

BODY_FORMATS = ("json", "xml")
_WIRE_NAME = {ours: wire for pairs in joor_fields.ITEM_KEY_FIELDS.values() for ours, wire in pairs}


class JoorChannel:
    """Encodes batches as JOOR bulk-inventory requests."""

    name = "joor"
    verdict = staticmethod(status_verdict)

    def __init__(self, spec: ChannelSpec) -> None:
        if spec.body_format not in BODY_FORMATS:
            raise ChannelConfigError(f"channel joor: body_format {spec.body_format!r} is not one of json, xml")
        self.spec = spec
        self.envelope_bytes = len(self.encode(()))

    def auth_headers(self, token: str) -> dict[str, str]:
        # No token configured: no header at all (an empty "OAuth2 " is not even a valid header).
        return {"Authorization": f"OAuth2 {base64_token(token)}"} if token else {}

    def secrets(self, token: str) -> tuple[str, ...]:
        return (token, base64_token(token))

    def item_body(self, item: ChannelItem) -> dict[str, object]:
        """One item in JOOR's names, keys first."""
        body: dict[str, object] = {_WIRE_NAME[field]: value for field, value in item.keys}
        body[joor_fields.WAREHOUSE] = item.warehouse_code
        body[joor_fields.INVENTORY] = item.inventory
        if item.inventory_date is not None:
            body[joor_fields.INVENTORY_DATE] = item.inventory_date
        return body

    def item_bytes(self, item: ChannelItem) -> int:
        # One item plus its separator; exact for JSON, exact for XML up to the envelope.
        return len(self._encode_items([self.item_body(item)], wrap=False)) + 1

    def encode(self, items) -> bytes:
        return self._encode_items([self.item_body(i) for i in items], wrap=True)

    def request(self, batch: Batch) -> PushRequest:
        content_type = "application/xml" if self.spec.body_format == "xml" else "application/json"
        return PushRequest(
            url=self.spec.base_url.rstrip("/") + joor_fields.BULK_INVENTORY_PATH,
            params={
                joor_fields.OVERWRITE_PARAM: "1" if batch.mode == "overwrite" else "0",
                joor_fields.DEC_PENDING_PARAM: "1" if batch.dec_pending else "0",
            },
            headers={"Content-Type": content_type, "Accept": "application/json"},
            content=self.encode(batch.items),
            idempotency_key=batch.idempotency_key,
        )

    def _encode_items(self, bodies: list[dict], wrap: bool) -> bytes:
        if self.spec.body_format == "xml":
            elements = []
            for body in bodies:
                element = ElementTree.Element(joor_fields.ITEM_ELEMENT)
                for name, value in body.items():
                    ElementTree.SubElement(element, name).text = str(value)
                elements.append(element)
            if not wrap:
                return b"".join(ElementTree.tostring(e, encoding="utf-8", xml_declaration=False) for e in elements)
            root = ElementTree.Element(joor_fields.ENVELOPE)
            root.extend(elements)
            return ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)
        if not wrap:
            return b",".join(json.dumps(b, separators=(",", ":")).encode("utf-8") for b in bodies)
        envelope = {joor_fields.ENVELOPE: {joor_fields.ITEM_ELEMENT: bodies}}
        return json.dumps(envelope, separators=(",", ":")).encode("utf-8")
