"""Resolving a row's item keys (UPC, style, JOOR ids) to one SKU of the account's catalog.

A SKU is identified by (style_number, style_identifier, color_code, size_name); inside the
domain it travels as one `item_key` column: the four values, each escaped so that it holds no
separator, joined by a unit separator. The escaping makes the key injective whatever the cells
contain (two different SKUs never share a key), and leaves ordinary values unchanged.
"""

from __future__ import annotations

import polars as pl

from pipelines.domain.rejects import AMBIGUOUS, CONFLICTING_IDENTIFIERS, UNKNOWN_ITEM, concat_rejects

UPC_SET = ("upc",)
STYLE_SET = ("style_number", "style_identifier", "color_code", "size_name")
IDS_SET = ("style_id", "style_color_id", "size_code")
KEY_SETS = {"upc": UPC_SET, "style": STYLE_SET, "ids": IDS_SET}
KEY_COLUMNS = UPC_SET + STYLE_SET + IDS_SET

SKU_COLUMNS = STYLE_SET
SEPARATOR = "\x1f"
# Inside a part, `%` is written `%25` and the separator `%1F`: every `%` then starts one of the
# two escapes, so decoding `%1F` first and `%25` second restores the part exactly.
_ESCAPES = (("%", "%25"), (SEPARATOR, "%1F"))
SET_ORDER = ("upc", "style", "ids")


def _escaped(column: str) -> pl.Expr:
    c = pl.col(column)
    for raw, escaped in _ESCAPES:
        c = c.str.replace_all(raw, escaped, literal=True)
    return c


def _unescaped(part: pl.Expr) -> pl.Expr:
    for raw, escaped in reversed(_ESCAPES):
        part = part.str.replace_all(escaped, raw, literal=True)
    return part


def item_key_expr(columns=SKU_COLUMNS) -> pl.Expr:
    return pl.concat_str([_escaped(c) for c in columns], separator=SEPARATOR)


def split_item_key(frame: pl.DataFrame) -> pl.DataFrame:
    """Add the four SKU columns back from `item_key`."""
    parts = pl.col("item_key").str.split_exact(SEPARATOR, len(SKU_COLUMNS) - 1)
    return frame.with_columns(_unescaped(parts.struct.field(f"field_{i}")).alias(c) for i, c in enumerate(SKU_COLUMNS))


def _set_lookup(items: pl.DataFrame, columns: tuple[str, ...], name: str) -> pl.DataFrame:
    """Catalog key set -> item_key, or for values that name more than one SKU, how many (`many_<set>`)."""
    lookup = items.select(*columns, pl.col("item_key").alias(f"sku_{name}")).drop_nulls(list(columns))
    return (
        lookup.group_by(list(columns))
        .agg(pl.col(f"sku_{name}").first(), pl.col(f"sku_{name}").n_unique().alias(f"many_{name}"))
        .with_columns(
            pl.when(pl.col(f"many_{name}") == 1).then(pl.col(f"sku_{name}")).alias(f"sku_{name}"),
            pl.when(pl.col(f"many_{name}") > 1).then(pl.col(f"many_{name}")).alias(f"many_{name}"),
        )
    )


def resolve_items(rows: pl.DataFrame, items: pl.DataFrame, item_identifier: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Give every row its `item_key`; reject rows whose keys conflict or resolve to nothing.

    Returns (resolved rows without the raw key columns, rejects).
    """
    sets = (item_identifier,) if item_identifier in KEY_SETS else SET_ORDER
    frame = rows
    for name in sets:
        columns = KEY_SETS[name]
        present = [c for c in columns if c in frame.columns]
        if len(present) < len(columns):
            frame = frame.with_columns(
                pl.lit(None, pl.String).alias(f"sku_{name}"),
                pl.lit(None, pl.UInt32).alias(f"many_{name}"),
                pl.lit(False).alias(f"has_{name}"),
            )
            continue
        frame = frame.with_columns(pl.all_horizontal(pl.col(c).is_not_null() for c in columns).alias(f"has_{name}"))
        frame = frame.join(_set_lookup(items, columns, name), on=list(columns), how="left", nulls_equal=False)
    found = [pl.col(f"sku_{n}") for n in sets]
    frame = frame.with_columns(pl.coalesce(found).alias("item_key")).with_columns(
        # the first resolving set decides; any other set resolving elsewhere is a conflict
        pl.any_horizontal((f.is_not_null() & (f != pl.col("item_key"))) for f in found).alias("_conflict"),
        pl.any_horizontal(pl.col(f"has_{n}") for n in sets).alias("_has_key"),
    )
    conflicting = frame.filter(pl.col("_conflict"))
    unknown = frame.filter(pl.col("item_key").is_null())
    first_set = pl.coalesce([pl.when(pl.col(f"has_{n}")).then(pl.lit(KEY_SETS[n][0])) for n in sets])
    first_value = pl.coalesce([pl.when(pl.col(f"has_{n}")).then(pl.col(KEY_SETS[n][0])) for n in sets])
    # The first set whose values name several SKUs (look-alike catalog rows): ambiguous, not unknown.
    ambiguous = pl.coalesce(
        [
            pl.when(pl.col(f"many_{n}").is_not_null()).then(
                pl.format(f"{AMBIGUOUS} {n}: names {{}} SKUs", pl.col(f"many_{n}"))
            )
            for n in sets
        ]
    )
    rejects = concat_rejects(
        conflicting.select(
            "line",
            pl.lit(None, pl.String).alias("column"),
            pl.lit(None, pl.String).alias("value"),
            pl.lit(f"{CONFLICTING_IDENTIFIERS}: the row's key sets resolve to different SKUs").alias("reason"),
        ),
        unknown.select(
            "line",
            first_set.alias("column"),
            first_value.alias("value"),
            pl.when(ambiguous.is_not_null())
            .then(ambiguous)
            .when(pl.col("_has_key"))
            .then(pl.lit(f"{UNKNOWN_ITEM}: not in the account's catalog"))
            .otherwise(
                pl.lit(
                    f"{UNKNOWN_ITEM}: no complete item key (upc | style_number+style_identifier"
                    "+color_code+size_name | style_id+style_color_id+size_code)"
                )
            )
            .alias("reason"),
        ),
    )
    resolved = frame.filter(~pl.col("_conflict") & pl.col("item_key").is_not_null())
    drop = [c for c in resolved.columns if c.startswith(("sku_", "has_", "many_", "_")) or c in KEY_COLUMNS]
    return resolved.drop(drop).sort("line"), rejects
