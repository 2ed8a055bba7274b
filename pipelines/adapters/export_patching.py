"""One warehouse's export files brought up to date, at a cost that follows the change.

Next to the files of each (folder, account, warehouse) we keep their line index (the length of
every SKU's line in each file, `domain.export_patch`) and the tip checkpoint they show. A new
export follows the tips' recorded changes (`TipChanges`) from that checkpoint to the current
tip, renders only the lines of the rows those folds wrote, and patches them into the files.

Anything that breaks the chain writes the warehouse in full instead (and starts a new index):
no index yet, a file changed or removed by someone else, other export settings, a catalog
change (every line may differ), a checkpoint no longer kept (exports more than
`RECENT_TIPS_KEPT` folds behind), or a line that cannot be told apart by its line end. The
index is written after the files, and records the tip read *before* the state it was made
from, so a concurrent fold can only make a later patch re-apply a change (a no-op), never miss
one.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

import polars as pl

from pipelines.adapters.checkpoint_files import load_changes, load_checkpoint
from pipelines.adapters.data_paths import DataPaths
from pipelines.adapters.export_files import ExportFile, write_file, write_tables
from pipelines.adapters.folding import current_state
from pipelines.adapters.store import SqlStore
from pipelines.domain.allocation import empty_order_lines
from pipelines.domain.export_patch import INDEX_SCHEMA, IndexMismatch, changed_lines, line_index, patch_exports
from pipelines.domain.export_rows import EXPORT_KINDS, export_tables, file_name, sorted_for_export
from pipelines.domain.fold import FoldState, export_snapshot
from pipelines.domain.partners import ExportTargets

INDEX_META, INDEX_FRAME = "index.json", "index.parquet"


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
    targets: ExportTargets | None = None,
    item_identifier: str = "auto",
) -> WarehouseExport:
    """Bring the export files of (account, warehouse_code) in `folder` up to date with the store."""
    targets = targets or ExportTargets()
    settings = {"item_identifier": item_identifier, "joor_delimiter": targets.joor_delimiter}
    index_path = paths.export_index(folder, account, warehouse_code)
    with store.transaction() as conn:
        checkpoints = {c["checkpoint_id"]: c for c in store.checkpoints(conn, account)}
    tip = next((c for c in checkpoints.values() if c["is_tip"]), None)
    try:
        meta, index = _read_index(index_path, Path(folder), settings)
        changes = _changes_since(meta["checkpoint_id"], tip, checkpoints, warehouse_code)
        result, index = _patch(Path(folder), account, warehouse_code, tip, meta, index, changes, settings)
    except _WriteInFull as why:
        result, index = _write_in_full(store, Path(folder), account, warehouse_code, settings, str(why))
    _write_index(index_path, index, tip and tip["checkpoint_id"], result.files, settings)
    return result


def _read_index(index_path: Path, folder: Path, settings: dict) -> tuple[dict, pl.DataFrame]:
    try:
        meta = json.loads((index_path / INDEX_META).read_text())
        index = pl.read_parquet(index_path / INDEX_FRAME)
    except (OSError, ValueError) as exc:
        raise _WriteInFull("no line index yet") from exc
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


def _changes_since(checkpoint_id: str | None, tip: dict | None, checkpoints: dict, warehouse_code: str) -> pl.DataFrame:
    """The last change of every (warehouse, SKU) the folds since `checkpoint_id` wrote, by item_key."""
    if tip is None:
        if checkpoint_id is not None:
            raise _WriteInFull("the store holds no state for the account")
        return pl.DataFrame()
    steps, at = [], tip
    while at["checkpoint_id"] != checkpoint_id:
        changes = load_changes(Path(at["path"]))
        if changes is None or changes.all_lines_may_differ:
            raise _WriteInFull("a fold since the last export changed the catalog, or its changes are not kept")
        steps.append(changes.inventory.filter(pl.col("warehouse_code") == warehouse_code))
        if changes.previous_tip == checkpoint_id:
            break
        at = checkpoints.get(changes.previous_tip)
        if at is None or len(steps) > len(checkpoints):
            raise _WriteInFull("the last export is more folds behind than the checkpoints kept")
    if not steps:
        return pl.DataFrame()
    return pl.concat(steps[::-1]).unique("item_key", keep="last", maintain_order=True).sort("item_key")


def _patch(
    folder: Path,
    account: str,
    warehouse_code: str,
    tip: dict,
    meta: dict,
    index: pl.DataFrame,
    changes: pl.DataFrame,
    settings: dict,
) -> tuple[WarehouseExport, pl.DataFrame]:
    names = {kind: file_name(kind, account, warehouse_code) for kind in EXPORT_KINDS}
    if changes.height and not meta["files"]:
        raise _WriteInFull("the warehouse had no rows")
    if not changes.height:
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
        lines = _changed_lines(account, tip, changes, settings)
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


def _changed_lines(account: str, tip: dict, changes: pl.DataFrame, settings: dict) -> pl.DataFrame:
    """Per changed SKU, its new line in each file (null: not in that file), sorted by item_key."""
    try:
        catalog = load_checkpoint(Path(tip["path"]), ("warehouses", "items"))
    except FileNotFoundError as exc:  # a fold since replaced that tip: its successor is the state now
        raise _WriteInFull("the state moved on while exporting") from exc
    present = changes.filter(~pl.col("gone"))
    state = FoldState(
        warehouses=catalog.warehouses,
        linesheets=pl.DataFrame(),
        items=catalog.items.join(present.select("item_key"), on="item_key", how="semi"),
        inventory=present.drop("gone").with_columns(pl.lit(True).alias("is_set")),
        order_lines=empty_order_lines(),
    )
    rows = sorted_for_export(export_snapshot(state, account))
    return changed_lines(changes.get_column("item_key"), rows, settings["item_identifier"], settings["joor_delimiter"])


def _write_in_full(
    store: SqlStore, folder: Path, account: str, warehouse_code: str, settings: dict, because: str
) -> tuple[WarehouseExport, pl.DataFrame | None]:
    state = current_state(store, account)
    state = replace(state, inventory=state.inventory.filter(pl.col("warehouse_code") == warehouse_code))
    snapshot = export_snapshot(state, account)
    tables = export_tables(snapshot, settings["item_identifier"], settings["joor_delimiter"])
    files = write_tables(tables, folder)
    by_kind = {t.kind: t for t in tables}
    index = (
        line_index({k: t.item_keys for k, t in by_kind.items()}, {k: t.content for k, t in by_kind.items()})
        if tables
        else pl.DataFrame(schema=INDEX_SCHEMA)
    )
    return WarehouseExport(files, snapshot.height, False, sum(t.rows for t in tables), because), index


def _write_index(
    index_path: Path, index: pl.DataFrame | None, checkpoint_id: str | None, files: list[ExportFile], settings: dict
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
    temp.write_text(json.dumps({"checkpoint_id": checkpoint_id, "settings": settings, "files": described}))
    os.replace(temp, meta_path)
