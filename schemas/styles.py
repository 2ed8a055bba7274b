"""`styles` files (the catalog, one row per SKU): upsert by (style_number, style_identifier, color_code, size_name)."""
from typing import Optional

import pandera.polars as pa

from schemas import checks

KIND = "styles"
CASTS = {"continue_selling": "bool", "skip_push": "bool", "skip_joor": "bool", "created_by": "lower"}


class StylesFile(pa.DataFrameModel):
    style_id: Optional[str] = pa.Field(nullable=True)
    style_number: str = pa.Field(nullable=False)
    style_identifier: str = pa.Field(nullable=False)
    style_color_id: Optional[str] = pa.Field(nullable=True)
    color_code: str = pa.Field(nullable=False)
    color_name: Optional[str] = pa.Field(nullable=True)
    size_code: Optional[str] = pa.Field(nullable=True)
    size_name: str = pa.Field(nullable=False)
    upc: Optional[str] = pa.Field(nullable=True)
    continue_selling: Optional[str] = pa.Field(nullable=True)
    created_by: Optional[str] = pa.Field(nullable=True)
    skip_push: Optional[str] = pa.Field(nullable=True)
    skip_joor: Optional[str] = pa.Field(nullable=True)
    inventory_item_id: Optional[str] = pa.Field(nullable=True)  # Shopify inventory item (for the shopify channel)

    @pa.check("upc", "style_id", "style_color_id", "size_code", "color_code", "style_number",
              name="identifier in scientific notation")
    def _identifier(cls, data):
        return checks.identifier(data)

    @pa.check("continue_selling", "skip_push", "skip_joor", name="not a boolean (true/false)")
    def _bool(cls, data):
        return checks.boolean(data)

    class Config:
        strict = False


MODEL = StylesFile
