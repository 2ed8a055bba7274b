"""Reading a landed drop file: bytes -> text columns -> pandera validation -> typed rows + rejects.

Every column is read as text so identifiers keep their leading zeros and one bad cell never
fails the file; casting happens only after validation said the text is well formed, so every
typed value is within the limits of `schemas.columns`.

Tokenising has two paths that give the same frame. A file without quote characters and without
lone CRs has one record per physical line, and polars reads it at full speed. Any other file is
read by Python's csv module (strict quoting, CR / LF / CRLF line ends), which knows the physical
line each record starts on, so line numbers stay right when a quoted cell spans lines and a
malformed file is rejected naming the first line that cannot be read. On both paths a row with
more or fewer fields than the header is a row reject; blank lines (nothing but spaces and
tabs) are skipped, before the header too.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandera.polars as pa
import polars as pl

import schemas
from pipelines.domain.partners import DEFAULT_MAX_DECOMPRESSED_MB, CsvDialect
from pipelines.domain.rejects import concat_rejects, empty_rejects
from schemas.model import BUILTIN_REASONS

_CHUNK = 1 << 20
MAX_LINE_BYTES = 1 << 20  # a longer line is a row reject (drops.md v1.2)
_LINE = re.compile(rb"([^\r\n]*)(\r\n|\r|\n)")
LINE_TOO_LONG = "line too long"


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
    # Rows rejected only for a value (`FileModel.values`) whose naming cells are valid: typed like
    # `rows`, values null. They set nothing, but an overwrite counts what they name as listed.
    named: pl.DataFrame | None = None


def normalise_header(name: str) -> str:
    return re.sub(r"\s+", "_", name.replace("\ufeff", "").strip().lower())


def _chunks(path: Path, gz: bool, max_bytes: int) -> Iterator[bytes]:
    """The file's bytes, a chunk at a time; a gzip is decompressed while streaming, rejected when
    corrupt or larger than `max_bytes` (so a bomb is never held in memory)."""
    if not gz:
        with open(path, "rb") as f:
            while chunk := f.read(_CHUNK):
                yield chunk
        return
    size = 0
    try:
        with gzip.open(path, "rb") as f:
            while chunk := f.read(_CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise FileRejected(
                        f"decompressed content exceeds max_decompressed_mb ({max_bytes // (1 << 20)} MB)"
                    )
                yield chunk
    except (OSError, EOFError, zlib.error) as e:
        raise FileRejected(f"not a valid gzip file: {e}") from None


def _bounded(chunks: Iterator[bytes], limit: int = MAX_LINE_BYTES) -> tuple[bytes, list[int]]:
    """The content with every line longer than `limit` bytes emptied (its line break kept, so line
    numbers stay physical), and those lines' numbers. Lines end at LF, CRLF or a lone CR. Only
    the line being read is held beyond the output, and no more than `limit` of it."""
    out: list[bytes] = []
    too_long: list[int] = []
    pending: list[bytes] = []  # the current line's bytes so far (at most `limit` of them)
    pending_size, skipping, line = 0, False, 1
    carry = b""
    long_run = re.compile(rb"[^\r\n]{%d,}" % (limit + 1))
    for raw in chunks:
        chunk, carry = carry + raw, b""
        if chunk.endswith(b"\r"):  # never split a CRLF between two chunks
            chunk, carry = chunk[:-1], b"\r"
        first = min((i for i in (chunk.find(b"\n"), chunk.find(b"\r")) if i >= 0), default=-1)
        if first < 0:
            pending_size += len(chunk)
            if not skipping:
                pending.append(chunk)
                if pending_size > limit:
                    skipping, pending = True, []
            continue
        last = max(chunk.rfind(b"\n"), chunk.rfind(b"\r"))
        head, middle, tail = chunk[:first], chunk[first : last + 1], chunk[last + 1 :]
        if skipping or pending_size + len(head) > limit:
            too_long.append(line)
        else:
            out += [*pending, head]
        middle_lines = middle.count(b"\n") + middle.count(b"\r") - middle.count(b"\r\n")
        if long_run.search(middle):  # only when a chunk is longer than the limit
            # `middle` starts with the head line's break: its n-th line is line + n.
            too_long += [line + n for n, (text, _) in enumerate(_LINE.findall(middle)) if len(text) > limit]
            middle = long_run.sub(b"", middle)
        out.append(middle)
        line += middle_lines
        pending, pending_size, skipping = [tail], len(tail), False
    final = carry or b""
    if skipping or pending_size > limit:
        too_long.append(line)
    else:
        out += pending
    out.append(final)
    return b"".join(out), too_long


def _utf8(path: Path, gz: bool, dialect: CsvDialect, max_bytes: int) -> tuple[bytes, list[int]]:
    """The file as UTF-8 bytes without a BOM, with over-long lines emptied, and those lines'
    numbers; FileRejected when it does not decode."""
    raw, too_long = _bounded(_chunks(path, gz, max_bytes))
    encoding = dialect.encoding.lower().replace("_", "-")
    if encoding in ("utf-8", "utf8", "utf-8-sig"):
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as e:
            line = raw.count(b"\n", 0, e.start) + 1
            raise FileRejected(
                f"undecodable bytes for utf-8 at byte {e.start}", line=line, value=raw[e.start : e.end].hex()
            ) from None
        return raw.removeprefix(b"\xef\xbb\xbf"), too_long
    try:
        return raw.decode(dialect.encoding).removeprefix("\ufeff").encode("utf-8"), too_long
    except (UnicodeDecodeError, LookupError) as e:
        raise FileRejected(f"undecodable bytes for {dialect.encoding}: {e}") from None


def _header(names: list[str]) -> list[str]:
    headers = [normalise_header(c) for c in names]
    seen: set[str] = set()
    for h in headers:
        if h and h in seen:
            raise FileRejected(f"duplicate column {h!r}", column=h, line=1)
        seen.add(h)
    # A nameless column (a trailing delimiter) is no declared column; keep it apart from the others.
    return [h or f"_unnamed_{i}" for i, h in enumerate(headers)]


def _ragged(lines: pl.DataFrame, width: int) -> pl.DataFrame:
    """Row rejects for records whose field count differs from the header's."""
    return lines.filter(pl.col("fields") != width).select(
        pl.col("line").cast(pl.Int64),
        pl.lit(None, pl.String).alias("column"),
        pl.lit(None, pl.String).alias("value"),
        pl.format("malformed row: {} fields where the header has {}", "fields", pl.lit(width)).alias("reason"),
    )


# A byte the file does not hold, to read it one line per row; a file holding all of them takes
# the careful path.
_LINE_SEPARATORS = ("\x1f", "\x1e", "\x1d", "\x01")


def _fast_frame(data: bytes, dialect: CsvDialect) -> tuple[pl.DataFrame, pl.DataFrame] | None:
    """One record per physical line, split by polars. None when the file needs the careful path."""
    if b'"' in data or data.count(b"\r") != data.count(b"\r\n"):
        return None
    separator = next((s for s in _LINE_SEPARATORS if s.encode() not in data), None)
    if separator is None:
        return None
    lines = pl.read_csv(
        data, has_header=False, separator=separator, quote_char=None, new_columns=["text"], infer_schema=False
    ).with_row_index("line", offset=1)
    lines = lines.filter(~_blank(pl.col("text")))
    if not lines.height:
        raise FileRejected("empty file: no header line")
    header = _header(lines["text"][0].split(dialect.delimiter))
    body = lines.slice(1)
    body = body.with_columns((pl.col("text").str.count_matches(dialect.delimiter, literal=True) + 1).alias("fields"))
    cells = pl.col("text").str.split_exact(dialect.delimiter, len(header) - 1).struct.rename_fields(header)
    # Ragged lines split into nonsense; _read_text_frame drops them with their rejects.
    return body.select("line", cells.alias("_cells")).unnest("_cells"), _ragged(body, len(header))


def _blank(text: pl.Expr) -> pl.Expr:
    """A blank line holds nothing but spaces and tabs (drops.md v1.2): skipped, before the header too."""
    return text.is_null() | (text.str.strip_chars(" \t") == "")


def _careful_frame(data: bytes, dialect: CsvDialect) -> tuple[pl.DataFrame, pl.DataFrame]:
    reader = csv.reader(io.StringIO(data.decode("utf-8"), newline=""), delimiter=dialect.delimiter, strict=True)
    records: list[list[str]] = []
    starts: list[int] = []
    header: list[str] | None = None
    previous_end = 0
    try:
        for record in reader:
            start, previous_end = previous_end + 1, reader.line_num
            if not record or (len(record) == 1 and not record[0].strip(" \t")):
                continue  # a blank line: nothing but spaces and tabs
            if header is None:
                header = _header(record)
                continue
            records.append(record)
            starts.append(start)
    except csv.Error as e:
        line = previous_end + 1
        raise FileRejected(f"malformed CSV: line {line} cannot be read ({e})", line=line) from None
    if header is None:
        raise FileRejected("empty file: no header line")
    width = len(header)
    fields = pl.DataFrame(
        {"line": starts, "fields": [len(r) for r in records]}, schema={"line": pl.Int64, "fields": pl.Int64}
    )
    columns = {name: [r[i] if i < len(r) else None for r in records] for i, name in enumerate(header)}
    frame = pl.DataFrame(columns, schema={h: pl.String for h in header}).with_columns(
        pl.Series("line", starts, pl.Int64)
    )
    return frame, _ragged(fields, width)


def _read_text_frame(data: bytes, dialect: CsvDialect) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(text cells trimmed, empty = null, with `line`; malformed-row rejects)."""
    if not data.strip():
        raise FileRejected("empty file: no header line")
    frame, ragged = _fast_frame(data, dialect) or _careful_frame(data, dialect)
    if ragged.height:
        frame = frame.filter(~pl.col("line").is_in(ragged["line"].implode()))
    frame = frame.with_columns(pl.col("line").cast(pl.Int64))
    cells = [c for c in frame.columns if c != "line"]
    return frame.with_columns(pl.col(cells).str.strip_chars().replace("", None)), ragged


def _failures_to_rejects(failures: pl.DataFrame, lines: pl.Series) -> pl.DataFrame:
    missing = failures.filter(pl.col("check") == "column_in_dataframe")
    if missing.height:
        col = missing["failure_case"][0]
        raise FileRejected(f"missing required column {col!r}", column=col, line=1)
    rows = failures.filter(pl.col("index").is_not_null())
    if not rows.height:
        return empty_rejects()
    return rows.select(
        pl.col("column").cast(pl.String),
        pl.col("failure_case").cast(pl.String).alias("value"),
        pl.col("check").replace(BUILTIN_REASONS).alias("reason"),
    ).with_columns(lines.gather(rows["index"].cast(pl.Int64)).alias("line"))


def read_drop(
    path: Path, kind: str, dialect: CsvDialect, gz: bool, max_decompressed_mb: int = DEFAULT_MAX_DECOMPRESSED_MB
) -> ParsedFile:
    """Parse and validate one landed file of `kind`; raise FileRejected for structural problems."""
    model = schemas.MODELS[kind]
    data, too_long = _utf8(path, gz, dialect, max_decompressed_mb << 20)
    text, ragged = _read_text_frame(data, dialect)
    if too_long:
        ragged = concat_rejects(
            ragged,
            pl.DataFrame({"line": too_long}, schema={"line": pl.Int64}).select(
                "line",
                pl.lit(None, pl.String).alias("column"),
                pl.lit(None, pl.String).alias("value"),
                pl.lit(f"{LINE_TOO_LONG}: more than {MAX_LINE_BYTES // (1 << 20)} MiB").alias("reason"),
            ),
        )
    missing_optional = [c for c, col in model.columns.items() if c not in text.columns and not col.required]
    text = text.with_columns(pl.lit(None, pl.String).alias(c) for c in missing_optional)
    text = text.with_columns(model.normalised(text.columns))
    try:
        model.schema.validate(text.drop("line"), lazy=True)
        rejects = empty_rejects()
    except pa.errors.SchemaErrors as e:
        rejects = _failures_to_rejects(e.failure_cases, text["line"])
    valid = text.filter(~pl.col("line").is_in(rejects["line"].unique().implode())) if rejects.height else text
    typed = valid.select(["line", *model.columns]).with_columns(model.casts())
    named = None
    if model.values and rejects.height:
        naming = rejects.group_by("line").agg(pl.col("column").is_in(list(model.values)).all().alias("only_values"))
        lines = naming.filter("only_values").get_column("line")
        named = text.filter(pl.col("line").is_in(lines.implode())).select(["line", *model.columns])
        named = named.with_columns(model.casts(naming_only=True))
    return ParsedFile(
        rows=typed, rejects=concat_rejects(rejects, ragged), rows_read=text.height + ragged.height, named=named
    )
