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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandera.polars as pa
import polars as pl

import schemas
from pipelines.adapters.workbooks import WorkbookRejected, find_sheet
from pipelines.domain.partners import DEFAULT_MAX_DECOMPRESSED_MB, CsvDialect
from pipelines.domain.profiles import Layout, Profile, ProfileMismatch, header_key, in_partner_words, to_contract
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
    # Read through a profile: what a reject calls each of our columns (the partner's header).
    headers: dict[str, str] | None = None


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


def _header(names: list[str], key: Callable[[str], str] = normalise_header, line: int = 1) -> list[str]:
    headers = [key(c) for c in names]
    seen: set[str] = set()
    for h in headers:
        if h and h in seen:
            raise FileRejected(f"duplicate column {h!r}", column=h, line=line)
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


@dataclass(frozen=True)
class _Table:
    """A file's records as text cells keyed by header, each row with its physical `line`."""

    frame: pl.DataFrame
    ragged: pl.DataFrame  # rejects of rows with more or fewer fields than the header
    headers: dict[str, str] = field(default_factory=dict)  # key -> the header as written


def _keyed(names: list[str], key: Callable[[str], str], line: int) -> tuple[list[str], dict[str, str]]:
    keys = _header(names, key, line)
    return keys, {k: n.replace("\ufeff", "").strip() for k, n in zip(keys, names, strict=True)}


def _fast_frame(data: bytes, dialect: CsvDialect, key: Callable[[str], str]) -> _Table | None:
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
    header, headers = _keyed(lines["text"][0].split(dialect.delimiter), key, lines["line"][0])
    body = lines.slice(1)
    body = body.with_columns((pl.col("text").str.count_matches(dialect.delimiter, literal=True) + 1).alias("fields"))
    cells = pl.col("text").str.split_exact(dialect.delimiter, len(header) - 1).struct.rename_fields(header)
    # Ragged lines split into nonsense; _read_text_frame drops them with their rejects.
    return _Table(body.select("line", cells.alias("_cells")).unnest("_cells"), _ragged(body, len(header)), headers)


def _blank(text: pl.Expr) -> pl.Expr:
    """A blank line holds nothing but spaces and tabs (drops.md v1.2): skipped, before the header too."""
    return text.is_null() | (text.str.strip_chars(" \t") == "")


def _careful_frame(data: bytes, dialect: CsvDialect, key: Callable[[str], str]) -> _Table:
    reader = csv.reader(io.StringIO(data.decode("utf-8"), newline=""), delimiter=dialect.delimiter, strict=True)
    records: list[list[str]] = []
    starts: list[int] = []
    header: list[str] | None = None
    headers: dict[str, str] = {}
    previous_end = 0
    try:
        for record in reader:
            start, previous_end = previous_end + 1, reader.line_num
            if not record or (len(record) == 1 and not record[0].strip(" \t")):
                continue  # a blank line: nothing but spaces and tabs
            if header is None:
                header, headers = _keyed(record, key, start)
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
    return _Table(frame, _ragged(fields, width), headers)


def _read_text_frame(data: bytes, dialect: CsvDialect, key: Callable[[str], str] = normalise_header) -> _Table:
    """Text cells trimmed, empty = null, with `line`; and the malformed-row rejects."""
    if not data.strip():
        raise FileRejected("empty file: no header line")
    table = _fast_frame(data, dialect, key) or _careful_frame(data, dialect, key)
    return _trimmed(table)


def _trimmed(table: _Table) -> _Table:
    frame = table.frame
    if table.ragged.height:
        frame = frame.filter(~pl.col("line").is_in(table.ragged["line"].implode()))
    frame = frame.with_columns(pl.col("line").cast(pl.Int64))
    cells = [c for c in frame.columns if c != "line"]
    return _Table(frame.with_columns(pl.col(cells).str.strip_chars().replace("", None)), table.ragged, table.headers)


def _skip_title_rows(data: bytes, header_row: int) -> bytes:
    """The rows above the header emptied, their line breaks kept (blank lines are skipped, and
    line numbers still count them)."""
    if header_row <= 1:
        return data
    out, at = [], 0
    for found in _LINE.finditer(data):
        if len(out) == header_row - 1:
            break
        out.append(found.group(2))
        at = found.end()
    return b"".join(out) + data[at:]


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


LEGACY_XLS = "legacy .xls: save it as .xlsx or CSV"
_MIDNIGHT = r"^([0-9]{4}-[0-9]{2}-[0-9]{2}) 00:00:00$"  # a date cell as calamine writes it


def _xlsx_table(path: Path, sheet: str | int | None, header_row: int, key: Callable[[str], str], max_bytes: int):
    """The sheet's cells as text (numbers as calamine writes them: integer text for whole
    numbers; a date as its ISO date; booleans true/false), each row with its sheet row number."""
    try:
        name, first = find_sheet(path, sheet, max_bytes)
    except WorkbookRejected as e:
        raise FileRejected(e.reason) from None
    if first is None:
        raise FileRejected("empty file: no header line")
    cells = pl.read_excel(path, sheet_name=name, engine="calamine", has_header=False, infer_schema_length=0)
    columns = cells.columns
    cells = cells.with_row_index("line", offset=first).with_columns(pl.col("line").cast(pl.Int64))
    cells = cells.filter(pl.col("line") >= header_row).filter(
        ~pl.all_horizontal(pl.col(columns).is_null() | (pl.col(columns).str.strip_chars(" \t") == ""))
    )
    if not cells.height:
        raise FileRejected("empty file: no header line")
    head = cells.row(0, named=True)
    keys, headers = _keyed([head[c] or "" for c in columns], key, head["line"])
    body = cells.slice(1).rename(dict(zip(columns, keys, strict=True)))
    body = body.with_columns(pl.col(keys).str.replace(_MIDNIGHT, "$1"))
    return _trimmed(_Table(body.select("line", *keys), empty_rejects(), headers))


def read_drop(
    path: Path,
    kind: str,
    dialect: CsvDialect,
    gz: bool,
    max_decompressed_mb: int = DEFAULT_MAX_DECOMPRESSED_MB,
    *,
    header_row: int = 1,
    sheet: str | int | None = None,
    layout: Layout = "text",
    profile: Profile | None = None,
) -> ParsedFile:
    """Parse and validate one landed file of `kind`; raise FileRejected for structural problems.
    Through a `profile` that maps the kind, the partner's headers and values become ours first."""
    model = schemas.MODELS[kind]
    mapping = profile is not None and profile.maps(kind)
    key = header_key if mapping else normalise_header
    too_long: list[int] = []
    if layout == "xls":
        raise FileRejected(LEGACY_XLS)
    if layout == "xlsx":
        table = _xlsx_table(path, sheet, header_row, key, max_decompressed_mb << 20)
    else:
        data, too_long = _utf8(path, gz, dialect, max_decompressed_mb << 20)
        table = _read_text_frame(_skip_title_rows(data, header_row), dialect, key)
    text, ragged = table.frame, table.ragged
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
    mapped = None
    if mapping:
        assert profile is not None
        try:
            mapped = to_contract(
                text, table.headers, profile.columns_of(kind), dict(profile.values), list(model.columns), model.required
            )
        except ProfileMismatch as e:
            raise FileRejected(e.reason, column=e.column) from None
        text = mapped.frame
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
    if mapped is not None:
        rejects = in_partner_words(rejects, mapped)
    return ParsedFile(
        rows=typed,
        rejects=concat_rejects(rejects, ragged),
        rows_read=text.height + ragged.height,
        named=named,
        headers=mapped.shown if mapped is not None else None,
    )
