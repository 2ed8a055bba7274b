"""Writing the export files to a local folder, atomically; what the files hold is `domain.export_rows`.

Each file is written to a temporary file in the target folder, flushed and fsynced, then moved
over the final name with `os.replace`, so a reader (or an SFTP mirror job) sees either the old
file or the new one, never a partial one. A file whose bytes did not change is left untouched
(its mtime too), so downstream pollers do not see a change that is not one.
"""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from pipelines.domain.export_rows import export_tables
from pipelines.domain.partners import ExportTargets

# Account and warehouse codes become part of file names: keep them to a safe alphabet.
_NAME_PART = re.compile(r"^[A-Za-z0-9_.-]+$")


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
    snapshot: pl.DataFrame, out_dir: str | os.PathLike, targets: ExportTargets | None = None, item_identifier: str = "auto"
) -> list[ExportFile]:
    """Write every export file of the snapshot into `out_dir` (created if missing).

    Args:
        snapshot: one or more accounts' export snapshot (`EXPORT_SNAPSHOT_SCHEMA`); filter it to
            one warehouse first to write one warehouse's files.
        out_dir: target folder.
        targets: the partner's export settings (only `joor_delimiter` is read here).
        item_identifier: the partner's auto | upc | style | ids.

    Returns:
        The files written, in (warehouse_code, kind) order.

    Raises:
        ValueError: an account or warehouse code is not safe as part of a file name.
    """
    targets = targets or ExportTargets()
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    for column in ("account", "warehouse_code"):
        for value in snapshot.get_column(column).unique().to_list():
            if value is None or not _NAME_PART.match(value):
                raise ValueError(f"{column} {value!r} cannot be used in an export file name")
    written = []
    for table in export_tables(snapshot, item_identifier, targets.joor_delimiter):
        path = folder / table.file_name
        rows_changed = changed_lines(path, table.content)
        write_atomically(path, table.content)
        written.append(
            ExportFile(
                path=path,
                rows=table.rows,
                bytes=len(table.content),
                sha256=hashlib.sha256(table.content).hexdigest(),
                warehouse_code=table.warehouse_code,
                kind=table.kind,
                rows_changed=rows_changed,
            )
        )
    return written


def changed_lines(path: Path, content: bytes) -> int:
    """Data rows of `content` not in the file now at `path` (new or changed since the previous export)."""
    new = content.split(b"\r\n")[1:]
    if not path.is_file():
        return sum(1 for line in new if line)
    old = set(path.read_bytes().split(b"\r\n")[1:])
    return sum(1 for line in new if line and line not in old)


def write_atomically(path: Path, content: bytes) -> bool:
    """Replace `path` with `content` in one rename; return False when it already held exactly that."""
    if path.is_file() and path.stat().st_size == len(content) and path.read_bytes() == content:
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
