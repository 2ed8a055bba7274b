"""JOOR's field names, in one place: the bulk-inventory API body and the JOOR flat export file.

Our business names (left) map to JOOR's wire names (right). JOOR has renamed fields between
API versions; adjust them here and nowhere else. Pure constants: imported by the domain (flat
file rows) and by the JOOR channel adapter (request bodies).
"""

from __future__ import annotations

# Item keys per `item_identifier` set, in the order they are written.
ITEM_KEY_FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    "upc": (("upc", "upc"),),
    "style": (
        ("style_number", "style_number"),
        ("style_identifier", "style_identifier"),
        ("color_code", "color_code"),
        ("size_name", "size"),
    ),
    "ids": (
        ("style_id", "style_id"),
        ("style_color_id", "style_color_id"),
        ("size_code", "size_code"),
    ),
}

WAREHOUSE = "warehouse"
INVENTORY = "inventory"  # int >= 0: our ats clamped at 0
INVENTORY_DATE = "inventory_date"  # YYYY-MM-DD, only for FUTURE warehouses

# Request envelope: {"inventory_items": {"inventory_item": [...]}} (and the same nesting in XML).
ENVELOPE = "inventory_items"
ITEM_ELEMENT = "inventory_item"

# Query parameters of POST /v2/bulk-inventory.
OVERWRITE_PARAM = "overwrite"
DEC_PENDING_PARAM = "dec_pending"
BULK_INVENTORY_PATH = "/v2/bulk-inventory"
