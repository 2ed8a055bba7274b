"""One warehouse's export files brought up to date, at a cost that follows the change.

Next to the files of each (folder, account, warehouse) we keep their line index (the length of
every SKU's line in each file, `domain.export_patch`) and the fold step they show. A new export
reads which rows of the warehouse the folds since that step changed (the keys of their
before-images), reads those rows from the state tables, renders only their lines and patches
them into the files. A warehouse no fold changed is not rewritten at all.

Anything that breaks the chain writes the warehouse in full instead (read from the tables, one
warehouse at a time) and starts a new index: no index yet, a file changed or removed by someone
else, other export settings, a catalog change (every line may differ), the step undone by a
re-fold, or a line that cannot be told apart by its line end. The index is written after the
files, and records the step read *before* the state it was made from, so a concurrent fold can
only make a later patch re-apply a change (a no-op), never miss one.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from pipelines.adapters.data_paths import DataPaths
from pipelines.adapters.export_files import ExportFile, write_file, write_tables
from pipelines.adapters.fold_steps import FoldStep, FoldSteps, load_written
from pipelines.adapters.state_tables import StateTables
from pipelines.adapters.store import SqlStore
from pipelines.domain.export_patch import INDEX_SCHEMA, IndexMismatch, changed_lines, line_index, patch_exports
from pipelines.domain.export_rows import EXPORT_KINDS, ExportOptions, export_tables, file_name, sorted_for_export

INDEX_META, INDEX_FRAME = "index.json", "index.parquet"
# Past this many folds behind, writing the files in full is as cheap as following the folds.
MAX_FOLDS_FOLLOWED = 50


@dataclass(frozen=True)
class WarehouseExport:
    """What bringing one warehouse's files up to date did.

    Attributes:
        files: the warehouse's files (stock, joor, quantity), written or already current.
        rows: data rows of the stock file (every SKU the warehouse holds).
        patched: True when only changed lines were rendered; False for a full write.
        rows_rendered: lines rendered (a patch: the changed rows; in full: every row).
        written_in_full_because: why the files could not be patched (None when they were).
    """

    files: list[ExportFile]
    rows: int
    patched: bool
    rows_rendered: int
    written_in_full_because: str | None = None


class _WriteInFull(Exception):
    """The files cannot be patched; the reason says why (kept for the logs)."""


def export_warehouse(
    store: SqlStore,
    paths: DataPaths,
    account: str,
    warehouse_code: str,
    folder: str | os.PathLike,
    options: ExportOptions | None = None,
) -> WarehouseExport:
    """Bring the export files of (account, warehouse_code) in `folder` up to date with the store."""
    options = options or ExportOptions()
    settings = options.settings()
    index_path = paths.export_index(folder, account, warehouse_code)
    with store.transaction() as conn:
        steps = FoldSteps(store).of(conn, account)
    tip = steps[-1].step_id if steps else None
    try:
        meta, index = _read_index(index_path, Path(folder), settings)
        changed = _changed_since(meta["step_id"], steps, warehouse_code)
        result, index = _patch(store, Path(folder), account, warehouse_code, meta, index, changed, options)
    except _WriteInFull as why:
        result, index = _write_in_full(store, Path(folder), account, warehouse_code, options, str(why))
    _write_index(index_path, index, tip, result.files, settings)
    return result


def _read_index(index_path: Path, folder: Path, settings: dict) -> tuple[dict, pl.DataFrame]:
    try:
        meta = json.loads((index_path / INDEX_META).read_text())
        index = pl.read_parquet(index_path / INDEX_FRAME)
    except (OSError, ValueError) as exc:
        raise _WriteInFull("no line index yet") from exc
    if "step_id" not in meta:
        raise _WriteInFull("the line index is of an older version")
    if meta.get("settings") != settings:
        raise _WriteInFull("export settings changed")
    for f in meta["files"].values():
        try:
            stat = (folder / f["name"]).stat()
        except FileNotFoundError as exc:
            raise _WriteInFull(f"{f['name']} is gone") from exc
        if (stat.st_size, stat.st_mtime_ns) != (f["bytes"], f["mtime_ns"]):
            raise _WriteInFull(f"{f['name']} was changed by something else")
    return meta, index


def _changed_since(step_id: str | None, steps: list[FoldStep], warehouse_code: str) -> pl.Series:
    """Every SKU of the warehouse the folds since tip `step_id` wrote, following each tip's
    `Written` back to the tip before it (None: the account held nothing then)."""
    by_id = {s.step_id: s for s in steps}
    changed, at = [pl.Series("item_key", [], pl.String)], steps[-1].step_id if steps else None
    for _ in range(MAX_FOLDS_FOLLOWED):
        if at == step_id:
            return pl.concat(changed).unique().sort()
        written = load_written(by_id[at].images_path) if at in by_id else None
        if written is None:
            raise _WriteInFull("the folds since the last export are not all recorded (a re-fold undid them)")
        if written.catalog_changed:
            raise _WriteInFull("a fold since the last export changed the catalog")
        changed.append(written.inventory.filter(pl.col("warehouse_code") == warehouse_code).get_column("item_key"))
        at = written.previous_tip
    raise _WriteInFull(f"the last export is more than {MAX_FOLDS_FOLLOWED} folds behind")


def _patch(
    store: SqlStore,
    folder: Path,
    account: str,
    warehouse_code: str,
    meta: dict,
    index: pl.DataFrame,
    changed: pl.Series,
    options: ExportOptions,
) -> tuple[WarehouseExport, pl.DataFrame]:
    names = {kind: file_name(kind, account, warehouse_code) for kind in EXPORT_KINDS}
    if changed.len() and not meta["files"]:
        raise _WriteInFull("the warehouse had no rows")
    if not changed.len():
        files = [
            ExportFile(
                path=folder / names[k],
                rows=f["rows"],
                bytes=f["bytes"],
                sha256=f["sha256"],
                warehouse_code=warehouse_code,
                kind=k,
            )
            for k, f in meta["files"].items()
        ]
        return WarehouseExport(files, meta["files"]["stock"]["rows"] if files else 0, True, 0), index
    old = {kind: (folder / names[kind]).read_bytes() for kind in EXPORT_KINDS}
    try:
        with store.transaction() as conn:
            rows = StateTables(store).outbound(conn, account, warehouse_code, changed)
        lines = changed_lines(changed, sorted_for_export(rows), options)
        patched = patch_exports(index.cast(INDEX_SCHEMA), old, lines)
    except IndexMismatch as exc:
        raise _WriteInFull(str(exc)) from exc
    rows = {kind: int((patched.index.get_column(kind) > 0).sum()) for kind in EXPORT_KINDS}
    files = [
        write_file(
            folder / names[kind],
            patched.contents[kind],
            kind,
            warehouse_code,
            rows[kind],
            patched.rows_changed[kind],
            previous=old[kind],
        )
        for kind in EXPORT_KINDS
    ]
    return WarehouseExport(files, rows["stock"], True, lines.height), patched.index


def _write_in_full(
    store: SqlStore, folder: Path, account: str, warehouse_code: str, options: ExportOptions, because: str
) -> tuple[WarehouseExport, pl.DataFrame | None]:
    with store.transaction() as conn:
        snapshot = StateTables(store).outbound(conn, account, warehouse_code)
    tables = export_tables(snapshot, options)
    files = write_tables(tables, folder)
    by_kind = {t.kind: t for t in tables}
    index = (
        line_index({k: t.item_keys for k, t in by_kind.items()}, {k: t.content for k, t in by_kind.items()})
        if tables
        else pl.DataFrame(schema=INDEX_SCHEMA)
    )
    return WarehouseExport(files, snapshot.height, False, sum(t.rows for t in tables), because), index


def _write_index(
    index_path: Path, index: pl.DataFrame | None, step_id: str | None, files: list[ExportFile], settings: dict
) -> None:
    """Record the line index and what the files look like now (or forget it: next time, in full)."""
    meta_path, frame_path = index_path / INDEX_META, index_path / INDEX_FRAME
    meta_path.unlink(missing_ok=True)  # first, so a crash below never leaves a stale index in force
    if index is None or len(files) not in (0, len(EXPORT_KINDS)):
        return  # no files is an index too: a warehouse without rows stays cheap to export
    index_path.mkdir(parents=True, exist_ok=True)
    index.write_parquet(frame_path, statistics=False)
    described = {}
    for f in files:
        stat = f.path.stat()
        described[f.kind] = {
            "name": f.path.name,
            "rows": f.rows,
            "bytes": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
            "sha256": f.sha256,
        }
    temp = index_path / (INDEX_META + ".tmp")
    temp.write_text(json.dumps({"step_id": step_id, "settings": settings, "files": described}))
    os.replace(temp, meta_path)
