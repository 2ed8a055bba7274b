"""`styles` files (the catalog, one row per SKU): upsert by (style_number, style_identifier, color_code, size_name)."""

from dataclasses import replace

from schemas.columns import BOOLEAN, CODE, IDENTIFIER, TEXT, Column
from schemas.item_keys import ITEM_KEY_COLUMNS

KIND = "styles"
COLUMNS = {
    **ITEM_KEY_COLUMNS,
    "style_number": Column(CODE, required=True),
    "style_identifier": Column(IDENTIFIER, required=True),
    "color_code": Column(CODE, required=True),
    "size_name": Column(IDENTIFIER, required=True),
    "color_name": Column(TEXT),
    "continue_selling": Column(BOOLEAN),
    "created_by": Column(replace(TEXT, cast=lambda c: c.str.to_lowercase())),  # e.g. shopify, joor
    "skip_push": Column(BOOLEAN),
    "skip_joor": Column(BOOLEAN),
    "inventory_item_id": Column(CODE),  # Shopify inventory item (for the shopify channel)
}
