"""`linesheets` files: upsert by linesheet_code."""
from typing import Optional

import pandera.polars as pa

from schemas import checks

KIND = "linesheets"
POLICIES = ("deny", "continue")
CASTS = {"made_to_order": "bool", "inventory_policy": "lower"}


class LinesheetsFile(pa.DataFrameModel):
    linesheet_code: str = pa.Field(nullable=False)
    name: Optional[str] = pa.Field(nullable=True)
    made_to_order: Optional[str] = pa.Field(nullable=True)
    inventory_policy: Optional[str] = pa.Field(nullable=True)

    @pa.check("made_to_order", name="not a boolean (true/false)")
    def _bool(cls, data):
        return checks.boolean(data)

    @pa.check("inventory_policy", name="inventory_policy must be deny or continue")
    def _policy(cls, data):
        return checks.one_of(data, POLICIES)

    class Config:
        strict = False


MODEL = LinesheetsFile
