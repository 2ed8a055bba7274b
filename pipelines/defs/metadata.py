"""Shaping run metadata for the Dagster UI: typed for people and for plots.

Counts are int entries (the UI plots them across materializations), per-warehouse figures are
one numeric entry per warehouse, rejects are tables, and text that quotes a partner is plain text
(not markdown), so the UI shows `<partner>` as it is.
"""

from __future__ import annotations

import dagster as dg
import polars as pl

FIRST_REJECTS = 20
REJECT_COLUMNS = ("line", "column", "value", "reason")


def text(value: object) -> dg.MetadataValue:
    """Plain text shown as written (angle brackets and all)."""
    return dg.MetadataValue.text(str(value))


def rejects_table(rejects: pl.DataFrame | None, limit: int = FIRST_REJECTS) -> dg.MetadataValue:
    """The first rejects as a table (line, column, value, reason)."""
    schema = dg.TableSchema(
        columns=[
            dg.TableColumn("line", "int"),
            dg.TableColumn("column", "string"),
            dg.TableColumn("value", "string"),
            dg.TableColumn("reason", "string"),
        ]
    )
    rows = [] if rejects is None else rejects.head(limit).select(REJECT_COLUMNS).iter_rows(named=True)
    records = [
        dg.TableRecord({k: (v if v is not None else ("" if k != "line" else 0)) for k, v in r.items()}) for r in rows
    ]
    return dg.MetadataValue.table(records, schema=schema)


def per_warehouse(prefix: str, values: dict[str, int]) -> dict[str, dg.MetadataValue]:
    """One int entry per warehouse (`<prefix>/<warehouse>`): numbers the UI can plot."""
    return {f"{prefix}/{warehouse}": dg.MetadataValue.int(int(v)) for warehouse, v in sorted(values.items())}
