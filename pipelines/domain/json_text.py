"""JSON text built column by column: the same bytes as `json.dumps(..., ensure_ascii=False,
separators=(",", ":"))`, for a whole frame at once.

Push batches are planned over every item of an account (a first push of a million rows), so
encoding them one `json.dumps` call at a time would cost more than the rest of the plan. A row's
text is written as one flat `concat` of literal pieces and escaped columns (nested
concatenations copy every string again at each level). `tests/unit/test_json_text.py` holds
these equal to `json.dumps` for any text.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

# What `json.dumps(ensure_ascii=False)` escapes inside a string, and how.
_SHORT = {"\\": "\\\\", '"': '\\"', "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_ESCAPES = {chr(c): _SHORT.get(chr(c), f"\\u{c:04x}") for c in range(0x20)} | _SHORT


def escaped(expr: pl.Expr) -> pl.Expr:
    """A text column's content as inside a JSON string literal, without the quotes (null stays null)."""
    return expr.cast(pl.String).str.replace_many(list(_ESCAPES), list(_ESCAPES.values()))


def string(expr: pl.Expr) -> pl.Expr:
    """A text column as JSON string literals (`"..."`), null as `null`."""
    return concat(['"', escaped(expr), '"']).fill_null("null")


def integer(expr: pl.Expr) -> pl.Expr:
    """An integer column as JSON numbers, null as `null`."""
    return expr.cast(pl.String).fill_null("null")


def literal(value: str | None) -> str:
    """One Python text as a JSON string literal (the same escapes as `string`)."""
    if value is None:
        return "null"
    return '"' + "".join(_ESCAPES.get(ch, ch) for ch in value) + '"'


def concat(parts: Sequence[str | pl.Expr], skip_nulls: bool = False) -> pl.Expr:
    """Texts and columns end to end, in one pass. A null part makes the row null, or with
    `skip_nulls` is left out (how optional members are written)."""
    merged: list[str | pl.Expr] = []
    for part in parts:
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] += part
        else:
            merged.append(part)
    return pl.concat_str([pl.lit(p) if isinstance(p, str) else p for p in merged], ignore_nulls=skip_nulls)
