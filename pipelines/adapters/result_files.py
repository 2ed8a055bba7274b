"""Results for the partner (cli.md v1.1, option `results`): per processed file version,
`<file name>.result.csv` (its rejects: line,column,value,reason) and `<file name>.result.json`
(status, rows, ATS change by warehouse), each written atomically to the local folder and/or the
partner's SFTP results folder.

A name's result files describe its newest version: when new content supersedes a version, the
old one's result says `superseded` until the new one's result replaces it.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from pipelines.adapters.drop_source import DropSource
from pipelines.adapters.export_files import write_atomically
from pipelines.adapters.store import FileVersion, SqlStore
from pipelines.domain.export_rows import render_csv
from pipelines.domain.guard import Effect
from pipelines.domain.name_parts import file_name_part
from pipelines.domain.partners import PartnerSpec

STATUS = {"parsed": "applied", "rejected": "rejected", "held": "held", "denied": "denied", "superseded": "superseded"}


@dataclass(frozen=True)
class FileResult:
    """What became of one file version, as the partner is told."""

    name: str
    sha256: str
    status: str  # applied | rejected | held | denied | superseded
    rows_read: int
    rows_rejected: int
    ats_change_by_warehouse: dict[str, int]
    reason: str | None
    rejects: pl.DataFrame  # line, column, value, reason

    def as_json(self) -> bytes:
        body = {
            "file": self.name,
            "sha256": self.sha256,
            "status": self.status,
            "rows_read": self.rows_read,
            "rows_accepted": max(self.rows_read - self.rows_rejected, 0),
            "rows_rejected": self.rows_rejected,
            "ats_change_by_warehouse": self.ats_change_by_warehouse,
            "reason": self.reason,
        }
        return (json.dumps(body, indent=2, sort_keys=False) + "\n").encode()

    def as_csv(self) -> bytes:
        # The partner opens it in a spreadsheet: cells neutralised against formulas, as exports are.
        return render_csv(self.rejects.columns, self.rejects.rows())


def result_of(store: SqlStore, version: FileVersion) -> FileResult | None:
    """The version's result; None while it is still being processed (landed, not yet parsed)."""
    status = STATUS.get(version.status)
    if status is None:
        return None
    rejects = store.version_rejects(version.file_id)
    with store.transaction() as conn:
        rejected_because = store.file_reject_reason(conn, version.file_id)
    applied_or_held = status in ("applied", "held")
    return FileResult(
        name=version.name,
        sha256=version.sha256,
        status=status,
        rows_read=version.rows_read or 0,
        rows_rejected=rejects.filter(pl.col("line").is_not_null())["line"].n_unique(),
        # a held file's change is what it would do; a version out of the state changes nothing
        ats_change_by_warehouse=Effect.from_json(version.effect).ats_change_by_warehouse if applied_or_held else {},
        reason=version.decision_reason if status in ("held", "denied") else rejected_because,
        rejects=rejects,
    )


def write_result(
    store: SqlStore, spec: PartnerSpec, version: FileVersion, source: Callable[[], DropSource] | None
) -> list[str]:
    """Write the version's result files where the partner's `results` option says; returns where.

    `source` opens the partner's SFTP session with the results folder as its outbox (SFTP only).
    """
    result = result_of(store, version)
    if result is None or not spec.results.any:
        return []
    # A long drop name keeps its head and gains `~` and a digest (the JSON keeps the full name).
    stem = file_name_part(version.name)
    files = {f"{stem}.result.csv": result.as_csv(), f"{stem}.result.json": result.as_json()}
    written = []
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(spec.results.dir) if spec.results.dir else Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        for file_name, content in files.items():
            write_atomically(folder / file_name, content)
            if spec.results.dir:
                written.append(str(folder / file_name))
        if spec.results.outbox and source is not None:
            with closing(source()) as remote:
                for file_name in files:
                    remote.upload(folder / file_name, file_name)  # `.part`, then renamed
                    written.append(f"{spec.results.outbox}/{file_name}")
    return written
