"""Partner profiles (drops.md v1.2): what a partner sends, mapped onto the contract.

Pure rules over names and polars frames. A file read through a profile becomes exactly the frame
of text cells the equivalent contract CSV gives (our column names, a `line` per row), before the
value limits judge it; `Mapped` keeps what is needed to report a reject in the partner's words
(its own header, the cell as it wrote it).
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

import polars as pl

from pipelines.domain.drop_names import DropName, UnrecognisedFileName, parse_drop_name

CANNOT_READ_AS_OF = "cannot read as-of from the name"
_TEMPLATE_FIELD = re.compile(r"\{([^{}]*)\}")
# Quantities and identifiers get the value rules that apply to them.
QUANTITY_COLUMNS = ("quantity", "on_hand", "pending")


def header_key(text: str) -> str:
    """A header as matched (drops.md v1.2): lower case, trimmed, every run of characters other
    than letters and digits one `_` (`Qty On-Hand` = `qty_on_hand`). Underscores at either end
    are dropped too, so `(Qty)` matches `qty`."""
    return re.sub(r"[\W_]+", "_", text.replace("\ufeff", "").strip().lower()).strip("_")


@dataclass(frozen=True)
class TableOptions:
    """How a text or XLSX file is laid out; None fields take the partner's (then the default)."""

    delimiter: str | None = None
    encoding: str | None = None
    header_row: int | None = None  # 1-based; rows above it are skipped, line numbers count them
    sheet: str | int | None = None  # XLSX: a name (case-insensitive) or a 1-based index

    def over(self, base: TableOptions) -> TableOptions:
        """These options where set, `base`'s elsewhere."""
        return TableOptions(
            *(mine if mine is not None else theirs for mine, theirs in zip(self._values(), base._values(), strict=True))
        )

    def _values(self) -> tuple:
        return (self.delimiter, self.encoding, self.header_row, self.sheet)


@dataclass(frozen=True)
class AsOfFromName:
    regex: str  # group 1 is the as-of
    format: str  # strptime format of group 1, read as UTC


@dataclass(frozen=True)
class FileRule:
    """Names that are not ours: the first rule whose glob matches gives kind, as-of and label."""

    match: str
    kind: str
    as_of: AsOfFromName | Literal["mtime"]
    label: str = ""
    csv: TableOptions = field(default_factory=TableOptions)
    xlsx: TableOptions = field(default_factory=TableOptions)

    def matches(self, name: str) -> bool:
        return fnmatch.fnmatchcase(name, self.match)


@dataclass(frozen=True)
class ColumnSource:
    """Where one of our columns is in the partner's file: headers (first present wins), a
    constant, or a template over the partner's headers."""

    aliases: tuple[str, ...] = ()
    value: str | None = None
    template: str | None = None

    @property
    def template_headers(self) -> list[str]:
        return _TEMPLATE_FIELD.findall(self.template or "")


@dataclass(frozen=True)
class ValueRules:
    """Applied in this order before the value limits: map, pattern, negative, zero_pad."""

    map: tuple[tuple[str, str], ...] = ()  # trimmed cell (compared case-insensitively) -> value
    pattern: str | None = None  # one group, matched against the whole cell: the group replaces it
    negative: Literal["reject", "zero"] = "reject"  # quantities: a negative whole number -> 0
    zero_pad: int | None = None  # identifiers: all digits and shorter -> left-padded with 0


@dataclass(frozen=True)
class Profile:
    """A partner's profile; every key optional (an empty profile reads our dialect only)."""

    files: tuple[FileRule, ...] = ()
    csv: TableOptions = field(default_factory=TableOptions)  # only what the partner set explicitly
    xlsx: TableOptions = field(default_factory=TableOptions)
    columns: tuple[tuple[str, tuple[tuple[str, ColumnSource], ...]], ...] = ()  # kind -> our column -> source
    values: tuple[tuple[str, ValueRules], ...] = ()  # our column -> rules

    def rule_for(self, name: str) -> FileRule | None:
        return next((r for r in self.files if r.matches(name)), None)

    def columns_of(self, kind: str) -> dict[str, ColumnSource]:
        return dict(dict(self.columns).get(kind, ()))

    def maps(self, kind: str) -> bool:
        """Whether files of `kind` are read through the profile (else exactly as the contract says)."""
        return bool(self.columns_of(kind) or self.values)

    def table_options(self, name: str) -> TableOptions:
        """How `name` is laid out: its rule's options, then the partner's, then the defaults (a
        `.tsv` is tab-separated unless a `csv.delimiter` says otherwise)."""
        rule = self.rule_for(name)
        if name.lower().endswith(".xlsx"):
            return (rule.xlsx if rule else TableOptions()).over(self.xlsx).over(TableOptions(header_row=1))
        default = TableOptions(delimiter="\t" if name.lower().endswith(".tsv") else ",", encoding="utf-8", header_row=1)
        return (rule.csv if rule else TableOptions()).over(self.csv).over(default)


def rule_name(rule: FileRule, name: str, mtime: float | None) -> DropName:
    """The contract reading of a name a rule matched; UnrecognisedFileName when its as-of cannot
    be read (`cannot read as-of from the name`)."""
    ext = "xlsx" if name.lower().endswith(".xlsx") else name.rsplit(".", 1)[-1].lower()
    if rule.as_of == "mtime":
        if mtime is None:
            raise UnrecognisedFileName(f"{CANNOT_READ_AS_OF}: {name!r} has no modification time")
        as_of = datetime.fromtimestamp(int(mtime), UTC)
    else:
        found = re.search(rule.as_of.regex, name)
        try:
            if not found:
                raise ValueError(name)
            as_of = datetime.strptime(found.group(1), rule.as_of.format).replace(tzinfo=UTC)
        except (ValueError, IndexError):
            raise UnrecognisedFileName(f"{CANNOT_READ_AS_OF}: {name!r} (rule {rule.match!r})") from None
    return DropName(name=name, kind=rule.kind, as_of=as_of, label=rule.label, ext=ext)


def read_name(profile: Profile, name: str, mtime: float | None) -> DropName:
    """A dropped name read through the partner's `files` rules, else as the contract names files."""
    rule = profile.rule_for(name)
    return rule_name(rule, name, mtime) if rule else parse_drop_name(name)


Layout = Literal["text", "xlsx", "xls"]


def layout_of(name: str) -> Layout:
    """How a file is read, by its extension."""
    lower = name.lower()
    return "xlsx" if lower.endswith(".xlsx") else "xls" if lower.endswith(".xls") else "text"


class ProfileMismatch(ValueError):
    """The file cannot be read through the profile: rejected whole, with this reason."""

    def __init__(self, reason: str, column: str | None = None):
        super().__init__(reason)
        self.reason, self.column = reason, column


@dataclass(frozen=True)
class Mapped:
    """A partner's frame as the contract's: `frame` holds our columns (text, values ruled) and
    `line`; `raw` the same cells as the partner wrote them; `shown` names, per our column, what
    a reject calls it (the partner's header, or our name for a constant or template)."""

    frame: pl.DataFrame
    raw: pl.DataFrame
    shown: dict[str, str]


def to_contract(
    frame: pl.DataFrame,
    headers: dict[str, str],
    sources: dict[str, ColumnSource],
    values: dict[str, ValueRules],
    ours: list[str],
    required: list[str],
) -> Mapped:
    """Our columns (`ours`) out of a partner's `frame` of text cells keyed by `header_key`
    (`headers`: key -> the header as written), through `sources`, then `values`."""
    picked, shown = [], {}
    for column in ours:
        source = sources.get(column)
        if source is None or source.aliases:
            tried = [column] if source is None else [*source.aliases, column]
            key = next((header_key(a) for a in tried if header_key(a) in headers), None)
            if key is None:
                if column in required:
                    raise ProfileMismatch(f"missing required column {column!r} (tried {', '.join(tried)})", column)
                continue
            picked.append(pl.col(key).alias(column))
            shown[column] = headers[key]
        elif source.value is not None:
            picked.append(pl.lit(source.value, pl.String).alias(column))
            shown[column] = column
        else:
            keys = [header_key(h) for h in source.template_headers]
            missing = [h for h, k in zip(source.template_headers, keys, strict=True) if k not in headers]
            if missing:
                raise ProfileMismatch(f"template for {column!r} names {missing[0]!r}, which the file lacks", column)
            pieces = _TEMPLATE_FIELD.split(source.template or "")
            parts = [pl.lit(p) if i % 2 == 0 else pl.col(header_key(p)) for i, p in enumerate(pieces) if p or i % 2]
            picked.append(pl.concat_str(parts).alias(column))  # an empty (null) cell: the value is missing
            shown[column] = column
    raw = frame.select("line", *picked)
    ruled = raw.with_columns(_ruled_column(raw[c], values[c]) for c in raw.columns if c in values)
    return Mapped(ruled, raw, shown)


def _ruled_column(cells: pl.Series, rules: ValueRules) -> pl.Series:
    """The column through its value rules. A column of few distinct values (quantities, warehouse
    codes) is ruled once per distinct value, then mapped back: the rules' regexes run over a
    handful of values instead of every row."""
    quantity = cells.name in QUANTITY_COLUMNS
    sample = cells.head(_SAMPLE)
    if sample.len() == _SAMPLE and sample.n_unique() * 20 < _SAMPLE:
        distinct = cells.unique().drop_nulls()
        ruled = pl.select(_ruled(pl.lit(distinct), rules, quantity)).to_series()
        return cells.replace_strict(distinct, ruled, default=None, return_dtype=pl.String).alias(cells.name)
    return pl.select(_ruled(pl.lit(cells), rules, quantity)).to_series().alias(cells.name)


_SAMPLE = 10_000


def _ruled(cell: pl.Expr, rules: ValueRules, quantity: bool) -> pl.Expr:
    # Cells arrive trimmed (the reader trims every cell); a rule that does not apply gives null,
    # and coalesce keeps the cell: one pass per rule.
    if rules.map:
        keys = [k.strip().lower() for k, _ in rules.map]
        mapped = cell.str.to_lowercase().replace_strict(keys, [v for _, v in rules.map], default=None)
        cell = pl.coalesce(mapped.cast(pl.String), cell)
    if rules.pattern is not None:
        cell = pl.coalesce(cell.str.extract(f"^(?:{rules.pattern})$", 1), cell)
    if quantity and rules.negative == "zero":
        cell = pl.when(cell.str.contains(r"^-[0-9]+$")).then(pl.lit("0")).otherwise(cell)
    if rules.zero_pad:
        padded = pl.when(cell.str.contains(r"^[0-9]+$")).then(cell.str.pad_start(rules.zero_pad, "0"))
        cell = pl.coalesce(padded, cell)
    return cell


def in_partner_words(rejects: pl.DataFrame, mapped: Mapped) -> pl.DataFrame:
    """Rejects naming the partner's header and the cell as it wrote it (drops.md v1.2)."""
    if not rejects.height:
        return rejects
    lines = mapped.raw.filter(pl.col("line").is_in(rejects["line"].unique().implode()))
    raw = lines.unpivot(index="line", variable_name="column", value_name="written")
    named = rejects.join(raw, on=["line", "column"], how="left")
    return (
        named.with_columns(
            pl.when(pl.col("column").is_in(list(mapped.raw.columns)))
            .then(pl.col("written"))
            .otherwise(pl.col("value"))
            .alias("value"),
        )
        .pipe(in_partner_headers, mapped.shown)
        .select(rejects.columns)
    )


def in_partner_headers(rejects: pl.DataFrame, shown: dict[str, str] | None) -> pl.DataFrame:
    """Rejects naming, for each of our columns, the partner's header (`Mapped.shown`)."""
    if not shown or not rejects.height:
        return rejects
    return rejects.with_columns(pl.col("column").replace(shown))
