"""`inventory` files: item keys, warehouse_code, quantity, optional available_date."""

from schemas.columns import CODE, DATE, QUANTITY, Column
from schemas.item_keys import ITEM_KEY_COLUMNS

KIND = "inventory"
COLUMNS = {
    **ITEM_KEY_COLUMNS,
    "warehouse_code": Column(CODE),
    "quantity": Column(QUANTITY, required=True),
    "available_date": Column(DATE),
}
# The columns a row sets; the others name it. A row rejected only for one of these still names
# its (warehouse, SKU), so an overwrite counts it as listed (drops.md v1.2).
VALUES = ("quantity", "available_date")
