"""`inventory` files: item keys, warehouse_code, quantity, optional available_date."""
from typing import Optional

import pandera.polars as pa

from schemas import checks

KIND = "inventory"
CASTS = {"quantity": "count", "available_date": "date"}


class InventoryFile(pa.DataFrameModel):
    upc: Optional[str] = pa.Field(nullable=True)
    style_number: Optional[str] = pa.Field(nullable=True)
    style_identifier: Optional[str] = pa.Field(nullable=True)
    color_code: Optional[str] = pa.Field(nullable=True)
    size_name: Optional[str] = pa.Field(nullable=True)
    style_id: Optional[str] = pa.Field(nullable=True)
    style_color_id: Optional[str] = pa.Field(nullable=True)
    size_code: Optional[str] = pa.Field(nullable=True)
    warehouse_code: Optional[str] = pa.Field(nullable=True)
    quantity: str = pa.Field(nullable=False)
    available_date: Optional[str] = pa.Field(nullable=True)

    @pa.check("upc", "style_id", "style_color_id", "size_code", "color_code", "style_number",
              name="identifier in scientific notation")
    def _identifier(cls, data):
        return checks.identifier(data)

    @pa.check("quantity", name="quantity must be a whole number >= 0")
    def _quantity(cls, data):
        return checks.count(data)

    @pa.check("available_date", name="not an ISO date (YYYY-MM-DD)")
    def _date(cls, data):
        return checks.iso_date(data)

    class Config:
        strict = False


MODEL = InventoryFile
