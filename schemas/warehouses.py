"""`warehouses` files: upsert by warehouse_code."""
from typing import Optional

import pandera.polars as pa

from schemas import checks

KIND = "warehouses"
TYPES = ("IMMEDIATE", "FUTURE")
CASTS = {"available_date": "date", "is_default": "bool", "type": "upper"}


class WarehousesFile(pa.DataFrameModel):
    warehouse_code: str = pa.Field(nullable=False)
    name: Optional[str] = pa.Field(nullable=True)
    type: Optional[str] = pa.Field(nullable=True)
    available_date: Optional[str] = pa.Field(nullable=True)
    is_default: Optional[str] = pa.Field(nullable=True)

    @pa.check("warehouse_code", name="identifier in scientific notation")
    def _identifier(cls, data):
        return checks.identifier(data)

    @pa.check("type", name="type must be IMMEDIATE or FUTURE")
    def _type(cls, data):
        return checks.one_of(data, TYPES)

    @pa.check("available_date", name="not an ISO date (YYYY-MM-DD)")
    def _date(cls, data):
        return checks.iso_date(data)

    @pa.check("is_default", name="not a boolean (true/false)")
    def _bool(cls, data):
        return checks.boolean(data)

    class Config:
        strict = False


MODEL = WarehousesFile
