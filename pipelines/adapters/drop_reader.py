"""Reading a landed drop file: bytes -> text columns -> pandera validation -> typed rows + rejects.

Every column is read as text so identifiers keep their leading zeros and one bad cell never
fails the file; casting happens only after validation said the text is well formed.
"""
from __future__ import annotations

import gzip
import io
import re
from dataclasses import dataclass
from pathlib import Path

import pandera.polars as pa
import polars as pl

import schemas
from pipelines.domain.partners import CsvDialect
from pipelines.domain.rejects import concat_rejects, empty_rejects
from schemas import checks


class FileRejected(ValueError):
    """The file's structure is unusable: it is rejected whole and nothing of it is applied."""

    def __init__(self, reason: str, column: str | None = None, line: int | None = None, value: str | None = None):
        super().__init__(reason)
        self.reason, self.column, self.line, self.value = reason, column, line, value


@dataclass(frozen=True)
class ParsedFile:
    """Valid typed rows (with their `line`, 1 = header) and the rows rejected by validation."""

    rows: pl.DataFrame
    rejects: pl.DataFrame
    rows_read: int


def normalise_header(name: str) -> str:
    return re.sub(r"\s+", "_", name.replace("\ufeff", "").strip().lower())


def _text(path: Path, gz: bool, dialect: CsvDialect) -> bytes:
    """The file as UTF-8 bytes without a BOM, or FileRejected when it does not decode."""
    raw = path.read_bytes()
    if gz:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise FileRejected(f"not a valid gzip file: {e}") from e
    encoding = dialect.encoding.lower().replace("_", "-")
    if encoding in ("utf-8", "utf8", "utf-8-sig"):
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as e:
            line = raw.count(b"\n", 0, e.start) + 1
            raise FileRejected(f"undecodable bytes for utf-8 at byte {e.start}", line=line,
                               value=raw[e.start:e.end].hex()) from e
        return raw[3:] if raw.startswith(b"\xef\xbb\xbf") else raw
    try:
        return raw.decode(dialect.encoding).lstrip("\ufeff").encode("utf-8")
    except (UnicodeDecodeError, LookupError) as e:
        raise FileRejected(f"undecodable bytes for {dialect.encoding}: {e}") from e


def _read_text_frame(data: bytes, dialect: CsvDialect) -> pl.DataFrame:
    try:
        frame = pl.read_csv(
            io.BytesIO(data), separator=dialect.delimiter, infer_schema=False, has_header=True,
            raise_if_empty=True,
        )
    except pl.exceptions.NoDataError as e:
        raise FileRejected("empty file: no header line") from e
    except pl.exceptions.PolarsError as e:
        raise FileRejected(f"malformed CSV: {str(e).splitlines()[0]}") from e
    headers = [normalise_header(c) for c in frame.columns]
    dupes = sorted({h for h in headers if headers.count(h) > 1})
    if dupes:
        raise FileRejected(f"duplicate column {dupes[0]!r}", column=dupes[0], line=1)
    frame.columns = headers
    return frame.with_columns(pl.all().str.strip_chars().replace("", None)).with_row_index("line", offset=2)


def _failures_to_rejects(failures: pl.DataFrame, text: pl.DataFrame) -> pl.DataFrame:
    missing = failures.filter(pl.col("check") == "column_in_dataframe")
    if missing.height:
        col = missing["failure_case"][0]
        raise FileRejected(f"missing required column {col!r}", column=col, line=1)
    rows = failures.filter(pl.col("index").is_not_null())
    if not rows.height:
        return empty_rejects()
    return rows.select(
        (pl.col("index").cast(pl.Int64) + 2).alias("line"),
        pl.col("column").cast(pl.String),
        pl.col("failure_case").cast(pl.String).alias("value"),
        pl.col("check").replace(checks.BUILTIN_REASONS).alias("reason"),
    )


def _cast(column: str, how: str) -> pl.Expr:
    c = pl.col(column)
    match how:
        case "count":
            return c.str.replace(r"\.0*$", "").cast(pl.Int64, strict=False)
        case "date":
            return c.str.to_date("%Y-%m-%d", strict=False)
        case "datetime":
            return (
                c.str.replace(r"Z$", "+00:00").str.replace(" ", "T")
                .str.to_datetime(time_zone="UTC", strict=False, time_unit="us")
                .dt.replace_time_zone(None)
                .fill_null(c.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False).cast(pl.Datetime("us")))
            )
        case "bool":
            lower = c.str.to_lowercase()
            return pl.when(lower.is_in(checks.TRUE_WORDS)).then(True).when(lower.is_in(checks.FALSE_WORDS)).then(False)
        case "upper":
            return c.str.to_uppercase()
        case "lower":
            return c.str.to_lowercase()
        case "title":
            return c.str.to_titlecase()
    raise ValueError(f"unknown cast {how!r}")


def read_drop(path: Path, kind: str, dialect: CsvDialect, gz: bool) -> ParsedFile:
    """Parse and validate one landed file of `kind`; raise FileRejected for structural problems."""
    module = schemas.MODELS[kind]
    text = _read_text_frame(_text(path, gz, dialect), dialect)
    declared = list(module.MODEL.to_schema().columns)
    for column in declared:
        if column not in text.columns:
            text = text.with_columns(pl.lit(None, pl.String).alias(column)) if not module.MODEL.to_schema().columns[column].required else text
    try:
        module.MODEL.validate(text.drop("line"), lazy=True)
        rejects = empty_rejects()
    except pa.errors.SchemaErrors as e:
        rejects = _failures_to_rejects(e.failure_cases, text)
    bad_lines = rejects["line"].unique()
    valid = text.filter(~pl.col("line").is_in(bad_lines.implode())) if rejects.height else text
    typed = valid.select(["line"] + declared).with_columns(
        _cast(c, how).alias(c) for c, how in module.CASTS.items()
    )
    # A count too large for 64 bits passes the text check but not the cast.
    overflow = [c for c, how in module.CASTS.items() if how == "count"]
    if overflow:
        too_big = typed.filter(pl.any_horizontal(pl.col(c).is_null() & valid[c].is_not_null() for c in overflow)) if typed.height else typed.clear()
        if too_big.height:
            rejects = concat_rejects(rejects, too_big.select("line", pl.lit(overflow[0]).alias("column"),
                                                             pl.lit(None, pl.String).alias("value"),
                                                             pl.lit("quantity out of range").alias("reason")))
            typed = typed.filter(~pl.col("line").is_in(too_big["line"].implode()))
    return ParsedFile(rows=typed.with_columns(pl.col("line").cast(pl.Int64)), rejects=concat_rejects(rejects),
                      rows_read=text.height)
