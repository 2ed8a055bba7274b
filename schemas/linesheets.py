"""`linesheets` files: upsert by linesheet_code."""

from schemas.columns import BOOLEAN, IDENTIFIER, TEXT, Column, choice

KIND = "linesheets"
POLICIES = ("deny", "continue")
COLUMNS = {
    "linesheet_code": Column(IDENTIFIER, required=True),
    "name": Column(TEXT),
    "made_to_order": Column(BOOLEAN),
    "inventory_policy": Column(choice("inventory_policy", POLICIES, lambda c: c.str.to_lowercase())),
}
