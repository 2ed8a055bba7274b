"""The rows and bytes of the export files, shaped from the export snapshot; no I/O.

Three files per (account, warehouse):

- ``stock_<account>_<warehouse_code>.csv``: our own stock file. Columns `STOCK_COLUMNS`; every
  (warehouse, SKU) with state, including `skip_push` items (it is a report of our state).
- ``joor_<account>_<warehouse_code>.csv``: JOOR-style flat file, one size per row; keys per the
  partner's item_identifier (auto: upc when the row has one, else the style keys; the other
  columns of the row are left empty), then warehouse, inventory, inventory_date (FUTURE stock
  only). Leaves out `skip_push` and `skip_joor` items and rows the pinned key set cannot identify.
  Delimiter: ExportTargets.joor_delimiter.
- ``quantity_<account>_<warehouse_code>.csv``: bulk "quantity update" template `sku,quantity`.
  `sku` is the UPC, or when the SKU has no UPC its style keys joined by `|`
  (style_number|style_identifier|color_code|size_name). Leaves out `skip_push` items.

Quantities are ats clamped at 0 (never negative). Rows are sorted by (style_number,
style_identifier, color_code, size_name), so the same snapshot always gives the same bytes.

CSV formula injection: a cell whose text starts with `=`, `+`, `-`, `@`, tab or carriage return
gets a leading `'` so spreadsheets show it as text instead of evaluating it (OWASP advice).
Numbers never start with `-` here because every quantity written is clamped at 0 or a count.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import polars as pl

from pipelines.domain import joor_fields
from pipelines.domain.channel_items import KEY_SETS, SKU_COLUMNS
from pipelines.domain.item_keys import item_key_expr
from pipelines.domain.name_parts import file_name_part
from pipelines.domain.outbound import available_to_sell, filled, future_date, key_set
from pipelines.domain.quantity_rules import QuantityRules, apply_rules

EXPORT_SNAPSHOT_SCHEMA = pl.Schema(
    {
        "account": pl.String,
        "warehouse_code": pl.String,
        "warehouse_type": pl.String,
        "upc": pl.String,
        "style_id": pl.String,
        "style_number": pl.String,
        "style_identifier": pl.String,
        "style_color_id": pl.String,
        "color_code": pl.String,
        "color_name": pl.String,
        "size_code": pl.String,
        "size_name": pl.String,
        "on_hand": pl.Int64,
        "pending": pl.Int64,
        "ats": pl.Int64,
        "available_date": pl.Date,
        "created_by": pl.String,
        "skip_push": pl.Boolean,
        "skip_joor": pl.Boolean,
    }
)

STOCK_COLUMNS = (
    "upc",
    "style_number",
    "style_identifier",
    "color_code",
    "size_name",
    "warehouse_code",
    "ats",
    "on_hand",
    "pending",
    "available_date",
)
QUANTITY_COLUMNS = ("sku", "quantity")
SKU_SEPARATOR = "|"
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
EXPORT_KINDS = ("stock", "joor", "quantity")


@dataclass(frozen=True)
class ExportTable:
    """One export file's content before it is written.

    Attributes:
        kind: stock | joor | quantity.
        account: the file's account.
        warehouse_code: the one warehouse of the file.
        file_name: e.g. ``stock_acme_NYC.csv``.
        rows: number of data rows (header excluded).
        content: the encoded file (UTF-8, CRLF line ends, header first).
        item_keys: the SKU of each data row, in file order.
    """

    kind: str
    account: str
    warehouse_code: str
    file_name: str
    rows: int
    content: bytes
    item_keys: pl.Series


def safe_cell(value: object) -> str:
    """A cell's text, neutralised against formula injection (leading `'`); None is empty."""
    if value is None:
        return ""
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def render_csv(header: Sequence[str], rows: Iterable[Sequence[object]], delimiter: str = ",") -> bytes:
    """CSV bytes: header then rows, every cell through `safe_cell`, minimal quoting, CRLF line ends."""
    buffer = io.StringIO(newline="")
    # CRLF (RFC 4180) also makes the writer quote cells holding a bare CR, which a `\n` terminator
    # would leave unquoted and a reader would then split into two rows.
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow([safe_cell(h) for h in header])
    writer.writerows([safe_cell(v) for v in row] for row in rows)
    return buffer.getvalue().encode("utf-8")


def _safe(expr: pl.Expr) -> pl.Expr:
    """`safe_cell` as a polars expression: text, with a leading `'` before a formula character."""
    text = expr.cast(pl.String)
    return pl.when(text.str.contains(r"^[=+\-@\t\r]")).then(pl.lit("'") + text).otherwise(text)


def _render(frame: pl.DataFrame, delimiter: str = ",") -> bytes:
    """Like `render_csv` for a frame: every cell neutralised, minimal quoting, CRLF line ends."""
    # Numbers and dates cannot start with a formula character (quantities are clamped at 0).
    text = [c for c, dtype in frame.schema.items() if dtype == pl.String]
    safe = frame.with_columns(_safe(pl.col(c)).alias(c) for c in text)
    safe.columns = [safe_cell(c) for c in frame.columns]
    # Quote every cell holding a bare CR too (polars quotes only separator, quote char and LF).
    if any(safe[safe_cell(c)].str.contains("\r", literal=True).any() for c in text):
        return render_csv(frame.columns, frame.rows(), delimiter)
    rendered = safe.write_csv(separator=delimiter, line_terminator="\r\n", quote_style="necessary", null_value="")
    return rendered.encode("utf-8")


def _ats() -> pl.Expr:
    return available_to_sell().alias("ats")


def stock_frame(rows: pl.DataFrame) -> pl.DataFrame:
    """The stock file: item keys, warehouse, ats (clamped), on_hand, pending, available_date."""
    return rows.select(*(_ats() if c == "ats" else pl.col(c) for c in STOCK_COLUMNS))


def joor_rows(rows: pl.DataFrame, item_identifier: str) -> pl.DataFrame:
    """The rows the JOOR file holds (see the module docstring), with the key set each is sent by (`_set`)."""
    rows = rows.filter(~pl.col("skip_push") & ~pl.col("skip_joor")).with_columns(key_set(item_identifier).alias("_set"))
    return rows.filter(pl.col("_set").is_not_null())


def joor_frame(rows: pl.DataFrame, item_identifier: str, rules: QuantityRules | None = None) -> pl.DataFrame:
    """The JOOR flat file of rows chosen by `joor_rows`: the inventory JOOR is shown (`joor` rules)."""
    key_sets = ("upc", "style") if item_identifier == "auto" else (item_identifier,)
    keys = [
        pl.when(pl.col("_set") == name).then(pl.col(ours)).alias(wire)
        for name in key_sets
        for ours, wire in joor_fields.ITEM_KEY_FIELDS[name]
    ]
    shown = apply_rules(rows.with_columns(available_to_sell().alias("_shown")), rules, "_shown")
    return shown.select(
        *keys,
        pl.col("warehouse_code").alias(joor_fields.WAREHOUSE),
        pl.col("_shown").alias(joor_fields.INVENTORY),
        future_date().alias(joor_fields.INVENTORY_DATE),
    )


def quantity_rows(rows: pl.DataFrame) -> pl.DataFrame:
    return rows.filter(~pl.col("skip_push"))


def quantity_frame(rows: pl.DataFrame) -> pl.DataFrame:
    """The `sku,quantity` template (sku = upc, else the style keys joined by `|`) of `quantity_rows`."""
    sku = (
        pl.when(filled("upc"))
        .then(pl.col("upc"))
        .otherwise(pl.concat_str([pl.col(c) for c in SKU_COLUMNS], separator=SKU_SEPARATOR))
    )
    return rows.select(sku.alias("sku"), _ats().alias("quantity"))


def kind_rows(kind: str, rows: pl.DataFrame, item_identifier: str) -> pl.DataFrame:
    """The rows of a warehouse's snapshot that file `kind` holds, in the same order."""
    if kind == "joor":
        return joor_rows(rows, item_identifier)
    return quantity_rows(rows) if kind == "quantity" else rows


def kind_frame(
    kind: str, rows: pl.DataFrame, item_identifier: str, joor_rules: QuantityRules | None = None
) -> pl.DataFrame:
    """File `kind`'s columns for rows already chosen by `kind_rows`."""
    if kind == "joor":
        return joor_frame(rows, item_identifier, joor_rules)
    return quantity_frame(rows) if kind == "quantity" else stock_frame(rows)


def sorted_for_export(snapshot: pl.DataFrame) -> pl.DataFrame:
    """Snapshot rows in file order, with their `item_key`: by account, warehouse, then SKU.

    Ordering by `item_key` (the SKU columns joined by a unit separator, which sorts below every
    printable character) is ordering by the SKU columns one after another; having it as one
    column lets an export be patched by key (`domain.export_patch`).
    """
    return snapshot.with_columns(item_key_expr().alias("item_key")).sort(["account", "warehouse_code", "item_key"])


def file_name(kind: str, account: str, warehouse_code: str) -> str:
    """e.g. `stock_acme_NYC.csv`; any warehouse code gives a safe name (`name_parts`)."""
    return f"{kind}_{account}_{file_name_part(warehouse_code)}.csv"


@dataclass(frozen=True)
class ExportOptions:
    """A partner's export settings: the JOOR file's keys (`item_identifier`), its delimiter, and the
    `joor` quantity rules (what JOOR is shown, in its file as in its pushes)."""

    item_identifier: str = "auto"
    joor_delimiter: str = ","
    joor_rules: QuantityRules | None = None

    def settings(self) -> dict:
        """As JSON: exports written under other settings are written again in full."""
        rules = dataclasses.asdict(self.joor_rules) if self.joor_rules is not None and self.joor_rules.any else None
        return {"item_identifier": self.item_identifier, "joor_delimiter": self.joor_delimiter, "joor_rules": rules}


def render_kind(kind: str, rows: pl.DataFrame, options: ExportOptions) -> tuple[pl.DataFrame, bytes]:
    """(rows of file `kind` with their item_key, the file's bytes) for one warehouse's sorted rows."""
    chosen = kind_rows(kind, rows, options.item_identifier)
    frame = kind_frame(kind, chosen, options.item_identifier, options.joor_rules)
    content = _render(frame, options.joor_delimiter if kind == "joor" else ",")
    return chosen.select("item_key"), content


def export_tables(snapshot: pl.DataFrame, options: ExportOptions | None = None) -> list[ExportTable]:
    """Every export file of a snapshot, per warehouse and kind, in (warehouse_code, kind) order.

    Args:
        snapshot: one account's export snapshot (`EXPORT_SNAPSHOT_SCHEMA`).
        options: the partner's export settings (default: auto keys, `,`, no rules).
    """
    options = options or ExportOptions()
    if options.item_identifier not in ("auto", *KEY_SETS):
        raise ValueError(f"unknown item_identifier {options.item_identifier!r} (auto, upc, style, ids)")
    tables: list[ExportTable] = []
    ordered = sorted_for_export(snapshot)
    for (account, warehouse_code), rows in ordered.group_by(["account", "warehouse_code"], maintain_order=True):
        for kind in EXPORT_KINDS:
            keys, content = render_kind(kind, rows, options)
            tables.append(
                ExportTable(
                    kind=kind,
                    account=account,
                    warehouse_code=warehouse_code,
                    file_name=file_name(kind, account, warehouse_code),
                    rows=keys.height,
                    content=content,
                    item_keys=keys.get_column("item_key"),
                )
            )
    return tables
