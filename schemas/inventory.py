"""`inventory` files: item keys, warehouse_code, quantity, optional available_date."""
from typing import Optional

import pandera.polars as pa

from schemas import checks
from schemas.item_keys import ItemKeyColumns

KIND = "inventory"
CASTS = {"quantity": "count", "available_date": "date"}


class InventoryFile(ItemKeyColumns):
    warehouse_code: Optional[str] = pa.Field(nullable=True)
    quantity: str = pa.Field(nullable=False)
    available_date: Optional[str] = pa.Field(nullable=True)

    @pa.check("quantity", name="quantity must be a whole number >= 0")
    def _quantity(cls, data):
        return checks.count(data)

    @pa.check("available_date", name="not an ISO date (YYYY-MM-DD)")
    def _date(cls, data):
        return checks.iso_date(data)

    class Config:
        strict = False


MODEL = InventoryFile
