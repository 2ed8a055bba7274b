"""Parsing a landed file version into typed rows (Parquet beside the raw file) and parse-stage rejects."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from pipelines.adapters.drop_reader import FileRejected, ParsedFile, read_drop
from pipelines.adapters.failures import CONTENT_ERRORS, is_machinery, one_line
from pipelines.adapters.store import SqlStore, new_id
from pipelines.domain.drop_names import as_of_in_future
from pipelines.domain.inventory_merge import EMPTY_OVERWRITE, LISTED_ONLY
from pipelines.domain.partners import CsvDialect, PartnerSpec
from pipelines.domain.profiles import Profile, TableOptions, layout_of


@dataclass(frozen=True)
class ParseResult:
    file_id: str
    status: str  # parsed | rejected
    rows_read: int = 0
    rows_valid: int = 0
    rejects: pl.DataFrame | None = None
    reason: str | None = None


def rows_path(landed_path: str, options: TableOptions, profile: Profile) -> Path:
    """Where a version's parsed rows go: one file per way of reading it (a changed dialect or
    profile parses the version anew)."""
    tag = hashlib.sha256(f"{options}\0{profile}".encode()).hexdigest()[:8]
    return Path(f"{landed_path}-{tag}.rows.parquet")


def read_version(
    partner: PartnerSpec, path: Path, name: str, kind: str, mode: str | None, as_of, landed_at
) -> ParsedFile:
    """A file's rows read with its partner's options, or FileRejected: structurally unusable, dated
    too far after it landed, or an overwrite with no valid row (unless the partner allows it).
    Anything about its content that the reader did not foresee rejects it whole."""
    future = as_of_in_future(as_of, landed_at, partner.max_future_h) if as_of else None
    if future:
        raise FileRejected(future, value=name)
    options = partner.profile.table_options(name)
    try:
        parsed = read_drop(
            path,
            kind,
            CsvDialect(options.delimiter or ",", options.encoding or "utf-8"),
            gz=name.endswith(".gz"),
            max_decompressed_mb=partner.max_decompressed_mb,
            header_row=options.header_row or 1,
            sheet=options.sheet,
            layout=layout_of(name),
            profile=partner.profile,
        )
    except FileRejected:
        raise
    except CONTENT_ERRORS as e:
        if is_machinery(e):
            raise
        raise FileRejected(f"cannot be read: {one_line(e)}") from e
    if kind == "inventory" and mode == "overwrite" and not parsed.rows.height and not partner.allow_empty_overwrite:
        raise FileRejected(f"{EMPTY_OVERWRITE}: {parsed.rows_read} data row(s), none valid")
    return parsed


def parse_file(store: SqlStore, file_id: str, partner: PartnerSpec) -> ParseResult:
    """Validate a landed version with the partner's reading options (`read_version`)."""
    with store.transaction() as conn:
        f = store.get_file(conn, file_id)
    try:
        parsed = read_version(partner, Path(f.landed_path), f.name, f.kind, f.mode, f.as_of, f.landed_at)
    except FileRejected as e:
        with store.account_lock(f.account) as conn:
            if store.get_file(conn, file_id).status != "landed":  # another run recorded it first
                return ParseResult(file_id, "rejected", reason=e.reason)
            store.reject_file(
                conn,
                f.partner,
                f.account,
                f.name,
                file_id,
                e.reason,
                line=e.line,
                column=e.column,
                value=e.value,
            )
            store.update_file(conn, file_id, status="rejected", rows_read=0, rows_rejected=0)
        return ParseResult(file_id, "rejected", reason=e.reason)
    out = rows_path(f.landed_path, partner.profile.table_options(f.name), partner.profile)
    # A temporary name of our own: another run may be parsing the same version right now.
    tmp = out.with_name(f"{out.name}.{new_id()}.part")
    rows = parsed.rows
    if parsed.named is not None and parsed.named.height:
        rows = pl.concat(
            [
                rows.with_columns(pl.lit(False).alias(LISTED_ONLY)),
                parsed.named.with_columns(pl.lit(True).alias(LISTED_ONLY)),
            ]
        ).sort("line")
    rows.write_parquet(tmp)
    with store.account_lock(f.account) as conn:
        status = store.get_file(conn, file_id).status
        if status != "landed":  # another run recorded this version first
            tmp.unlink()
            return ParseResult(file_id, status, parsed.rows_read, parsed.rows.height, parsed.rejects)
        tmp.replace(out)
        store.replace_rejects(conn, f, "parse", parsed.rejects)
        store.update_file(
            conn,
            file_id,
            status="parsed",
            events_path=str(out),
            rows_read=parsed.rows_read,
            rows_rejected=parsed.rejects["line"].n_unique(),
            headers=json.dumps(parsed.headers) if parsed.headers else None,
        )
    return ParseResult(file_id, "parsed", parsed.rows_read, parsed.rows.height, parsed.rejects)
