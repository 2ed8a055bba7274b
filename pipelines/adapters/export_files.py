"""Writing the export files to a local folder, atomically; what the files hold is `domain.export_rows`.

Each file is written to a temporary file in the target folder, flushed and fsynced, then moved
over the final name with `os.replace`, so a reader (or an SFTP mirror job) sees either the old
file or the new one, never a partial one. A file whose bytes did not change is left untouched
(its mtime too), so downstream pollers do not see a change that is not one.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from pipelines.domain.export_rows import ExportOptions, ExportTable, export_tables


@dataclass(frozen=True)
class ExportFile:
    """One written export file.

    Attributes:
        path: where it is.
        rows: data rows (header excluded).
        bytes: file size.
        sha256: hex digest of the content.
        warehouse_code: the one warehouse the file covers.
        kind: stock | joor | quantity.
        rows_changed: data rows new or different since the file's previous content.
    """

    path: Path
    rows: int
    bytes: int
    sha256: str
    warehouse_code: str
    kind: str
    rows_changed: int = 0


def write_exports(
    snapshot: pl.DataFrame, out_dir: str | os.PathLike, options: ExportOptions | None = None
) -> list[ExportFile]:
    """Write every export file of the snapshot into `out_dir` (created if missing).

    Args:
        snapshot: one or more accounts' export snapshot (`EXPORT_SNAPSHOT_SCHEMA`); filter it to
            one warehouse first to write one warehouse's files.
        out_dir: target folder.
        options: the partner's export settings.

    Returns:
        The files written, in (warehouse_code, kind) order.

    """
    return write_tables(export_tables(snapshot, options), out_dir)


def write_tables(tables: list[ExportTable], out_dir: str | os.PathLike) -> list[ExportFile]:
    """Write rendered export files into `out_dir` (created if missing), each atomically."""
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for table in tables:
        path = folder / table.file_name
        previous = path.read_bytes() if path.is_file() else None
        written.append(
            write_file(
                path,
                table.content,
                table.kind,
                table.warehouse_code,
                table.rows,
                count_new_lines(previous, table.content),
                previous,
            )
        )
    return written


def write_file(
    path: Path,
    content: bytes,
    kind: str,
    warehouse_code: str,
    rows: int,
    rows_changed: int,
    previous: bytes | None = None,
) -> ExportFile:
    write_atomically(path, content, previous)
    return ExportFile(
        path=path,
        rows=rows,
        bytes=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        warehouse_code=warehouse_code,
        kind=kind,
        rows_changed=rows_changed,
    )


def count_new_lines(previous: bytes | None, content: bytes) -> int:
    """Data rows of `content` not in `previous` (new or changed since the previous export)."""
    new = _data_lines(content)
    return new.len() if previous is None else new.filter(~new.is_in(_data_lines(previous).implode())).len()


def _data_lines(content: bytes) -> pl.Series:
    lines = pl.Series([content.decode("utf-8")]).str.split("\r\n").explode().slice(1)
    return lines.filter(lines != "")


def write_atomically(path: Path, content: bytes, previous: bytes | None = None) -> bool:
    """Replace `path` with `content` in one rename; return False when it already held exactly that.

    `previous`, when given, is what the caller knows `path` holds now (saves reading it again).
    """
    if previous is not None:
        if previous == content:
            return False
    elif path.is_file() and path.stat().st_size == len(content) and path.read_bytes() == content:
        return False
    # The temp file must live in the same folder: os.replace is atomic only within a filesystem.
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp_name, 0o644)
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return True
