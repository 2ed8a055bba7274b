"""Pandera (polars) models of the drop files, one module per file kind: declarations only.

Every column is validated as text (ids keep their leading zeros); each model's `CASTS` says what
its typed columns become once valid, and `KIND` names the file kind it describes.
"""
from schemas import inventory, linesheets, orders, styles, warehouses

MODELS = {m.KIND: m for m in (warehouses, linesheets, styles, inventory, orders)}
