"""`orders` files: one row per order line stating the line's current state."""
from typing import Optional

import pandera.polars as pa

from schemas import checks
from schemas.item_keys import ItemKeyColumns

KIND = "orders"
STATUSES = ("Notes", "Pending", "Approved", "Shipped", "Cancelled")
CANCELLED_BY = ("market", "merchant")
CASTS = {
    "quantity": "count",
    "status": "title",
    "order_date": "datetime",
    "updated_at": "datetime",
    "prebook_start": "date",
    "cancelled_by": "lower",
    "restock": "bool",
}


class OrdersFile(ItemKeyColumns):
    order_id: str = pa.Field(nullable=False)
    quantity: str = pa.Field(nullable=False)
    status: str = pa.Field(nullable=False)
    order_date: str = pa.Field(nullable=False)
    updated_at: Optional[str] = pa.Field(nullable=True)
    warehouse_code: Optional[str] = pa.Field(nullable=True)
    linesheet_code: Optional[str] = pa.Field(nullable=True)
    prebook_start: Optional[str] = pa.Field(nullable=True)
    cancelled_by: Optional[str] = pa.Field(nullable=True)
    restock: Optional[str] = pa.Field(nullable=True)

    @pa.check("quantity", name="quantity must be a whole number > 0")
    def _quantity(cls, data):
        return checks.positive_count(data)

    @pa.check("status", name="unknown status")
    def _status(cls, data):
        return checks.one_of(data, STATUSES)

    @pa.check("order_date", "updated_at", name="not an ISO date or datetime")
    def _datetime(cls, data):
        return checks.iso_datetime(data)

    @pa.check("prebook_start", name="not an ISO date (YYYY-MM-DD)")
    def _date(cls, data):
        return checks.iso_date(data)

    @pa.check("cancelled_by", name="cancelled_by must be market or merchant")
    def _cancelled_by(cls, data):
        return checks.one_of(data, CANCELLED_BY)

    @pa.check("restock", name="not a boolean (true/false)")
    def _bool(cls, data):
        return checks.boolean(data)

    class Config:
        strict = False


MODEL = OrdersFile
