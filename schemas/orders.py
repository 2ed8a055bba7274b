"""`orders` files: one row per order line stating the line's current state."""

from schemas.columns import BOOLEAN, CODE, DATE, DATETIME, IDENTIFIER, ORDER_QUANTITY, Column, choice
from schemas.item_keys import ITEM_KEY_COLUMNS

KIND = "orders"
STATUSES = ("Notes", "Pending", "Approved", "Shipped", "Cancelled")
CANCELLED_BY = ("market", "merchant")
COLUMNS = {
    "order_id": Column(IDENTIFIER, required=True),
    **ITEM_KEY_COLUMNS,
    "quantity": Column(ORDER_QUANTITY, required=True),
    "status": Column(choice("status", STATUSES, lambda c: c.str.to_titlecase()), required=True),
    "order_date": Column(DATETIME, required=True),
    "updated_at": Column(DATETIME),
    "warehouse_code": Column(CODE),
    "linesheet_code": Column(IDENTIFIER),
    "prebook_start": Column(DATE),
    "cancelled_by": Column(choice("cancelled_by", CANCELLED_BY, lambda c: c.str.to_lowercase())),
    "restock": Column(BOOLEAN),
}
