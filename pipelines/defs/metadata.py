"""Shaping run metadata for the Dagster UI: reject tables and per-warehouse figures."""
from __future__ import annotations

import dagster as dg
import polars as pl

FIRST_REJECTS = 20


def rejects_table(rejects: pl.DataFrame | None, limit: int = FIRST_REJECTS) -> dg.MetadataValue:
    """The first rejects as a markdown table (line, column, value, reason)."""
    if rejects is None or not rejects.height:
        return dg.MetadataValue.md("_no rejects_")
    lines = ["| line | column | value | reason |", "|---|---|---|---|"]
    for r in rejects.head(limit).iter_rows(named=True):
        cells = [str(r.get(c) if r.get(c) is not None else "") .replace("|", "\\|") for c in ("line", "column", "value", "reason")]
        lines.append("| " + " | ".join(cells) + " |")
    if rejects.height > limit:
        lines.append(f"\n… and {rejects.height - limit} more (`stockdrop rejects`)")
    return dg.MetadataValue.md("\n".join(lines))


def by_warehouse(values: dict) -> dg.MetadataValue:
    return dg.MetadataValue.json(values or {})
