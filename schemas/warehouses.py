"""`warehouses` files: upsert by warehouse_code."""

from schemas.columns import BOOLEAN, CODE, DATE, TEXT, Column, choice

KIND = "warehouses"
TYPES = ("IMMEDIATE", "FUTURE")
COLUMNS = {
    "warehouse_code": Column(CODE, required=True),
    "name": Column(TEXT),
    "type": Column(choice("type", TYPES, lambda c: c.str.to_uppercase())),
    "available_date": Column(DATE),
    "is_default": Column(BOOLEAN),
}
