"""The item-key columns a row may identify its SKU with (see drops.md, Item keys)."""

from pipelines.domain.item_keys import IDS_SET, STYLE_SET, UPC_SET
from schemas.columns import CODE, IDENTIFIER, Column

ITEM_KEY_COLUMNS = {
    "upc": Column(CODE),
    "style_number": Column(CODE),
    "style_identifier": Column(IDENTIFIER),
    "color_code": Column(CODE),
    "size_name": Column(IDENTIFIER),
    "style_id": Column(CODE),
    "style_color_id": Column(CODE),
    "size_code": Column(CODE),
}
assert set(ITEM_KEY_COLUMNS) == set(UPC_SET + STYLE_SET + IDS_SET)
