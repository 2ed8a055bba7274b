"""The item-key columns a row may identify its SKU with (see drops.md, Item keys)."""
from typing import Optional

import pandera.polars as pa

from schemas import checks

UPC_SET = ("upc",)
STYLE_SET = ("style_number", "style_identifier", "color_code", "size_name")
IDS_SET = ("style_id", "style_color_id", "size_code")
KEY_SETS = {"upc": UPC_SET, "style": STYLE_SET, "ids": IDS_SET}
KEY_COLUMNS = UPC_SET + STYLE_SET + IDS_SET


class ItemKeyColumns(pa.DataFrameModel):
    """The optional item-key columns of inventory and orders files (a row needs one complete set)."""

    upc: Optional[str] = pa.Field(nullable=True)
    style_number: Optional[str] = pa.Field(nullable=True)
    style_identifier: Optional[str] = pa.Field(nullable=True)
    color_code: Optional[str] = pa.Field(nullable=True)
    size_name: Optional[str] = pa.Field(nullable=True)
    style_id: Optional[str] = pa.Field(nullable=True)
    style_color_id: Optional[str] = pa.Field(nullable=True)
    size_code: Optional[str] = pa.Field(nullable=True)

    @pa.check("upc", "style_id", "style_color_id", "size_code", "color_code", "style_number",
              name="identifier in scientific notation")
    def _identifier(cls, data):
        return checks.identifier(data)

    class Config:
        strict = False
