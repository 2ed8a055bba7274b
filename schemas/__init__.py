"""The drop files' column declarations, one module per file kind, and their pandera (polars) models.

Each kind module declares `KIND` and `COLUMNS` (name -> `columns.Column`); `MODELS[kind]` is the
`FileModel` built from them: the pandera schema that validates the text, and the casts that make
the typed rows. What a valid value is lives once, in `schemas.columns`.
"""

from schemas import inventory, linesheets, orders, styles, warehouses
from schemas.model import FileModel

MODELS = {
    m.KIND: FileModel.build(m.KIND, m.COLUMNS, getattr(m, "VALUES", ()))
    for m in (warehouses, linesheets, styles, inventory, orders)
}
