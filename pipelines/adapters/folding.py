"""Folding an account: from the best checkpoint, apply its files in contract order, store the result.

The whole fold runs inside one transaction holding the account's lock: the state tables, the
fold-stage rejects and the checkpoint index change together or not at all. A checkpoint is
usable when it was taken after exactly the same ordered prefix of file versions (prefix hash),
so a late file, a correction or a re-drop re-folds from the latest checkpoint before it, and a
new newest file is applied incrementally on top of the tip.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import polars as pl
import sqlalchemy as sa

from pipelines.adapters.checkpoint_files import TipChanges, load_checkpoint, remove_checkpoint, save_checkpoint
from pipelines.adapters.data_paths import DataPaths
from pipelines.adapters.failures import CONTENT_ERRORS, is_machinery, one_line
from pipelines.adapters.store import SqlStore, new_id
from pipelines.domain.fold import (
    Applied,
    FileToApply,
    FoldState,
    apply_file,
    effective_inventory,
    initial_state,
    merge_touched,
    prefix_hashes,
    touched_keys,
)
from pipelines.domain.inventory_merge import KEY as INVENTORY_KEY
from pipelines.domain.item_keys import item_key_expr

# Recent tips kept besides the overwrite checkpoints, so a slightly late file re-folds little.
RECENT_TIPS_KEPT = 3
# Frames whose change can alter every export line of the account.
CATALOG_FRAMES = ("warehouses", "linesheets", "items")


@dataclass
class FoldReport:
    """What one fold of an account did."""

    account: str
    files_total: int = 0
    files_applied: int = 0
    started_from: int = 0
    rows_written: dict = field(default_factory=dict)
    ats_change_by_warehouse: dict = field(default_factory=dict)
    per_file: dict = field(default_factory=dict)
    seconds: float = 0.0


def _to_apply(f: dict, rows: pl.DataFrame | None) -> FileToApply:
    return FileToApply(
        file_id=f["file_id"],
        partner=f["partner"],
        name=f["name"],
        sha256=f["sha256"],
        kind=f["kind"],
        as_of=f["as_of"],
        rows=rows if rows is not None else pl.DataFrame(),
        mode=f["mode"] or "update",
        dec_pending=bool(f["dec_pending"]),
        overwrite_scope=f["overwrite_scope"] or "account",
        item_identifier=f["item_identifier"] or "auto",
        inventory_policy=f["inventory_policy"] or "continue",
    )


def ordered_files(files: list[dict]) -> list[dict]:
    return sorted(files, key=lambda f: _to_apply(f, None).order_key)


def _ats_change(old: pl.DataFrame, new: pl.DataFrame) -> dict:
    key = INVENTORY_KEY
    joined = new.select(*key, "ats").join(
        old.select(*key, pl.col("ats").alias("old")), on=key, how="full", coalesce=True
    )
    delta = joined.group_by("warehouse_code").agg((pl.col("ats").fill_null(0) - pl.col("old").fill_null(0)).sum())
    return {r["warehouse_code"]: int(r["ats"]) for r in delta.sort("warehouse_code").to_dicts() if r["ats"]}


class FileCannotBeApplied(Exception):
    """Applying a file's content failed: the file is rejected whole and the fold goes on without it."""

    def __init__(self, file: dict, reason: str):
        super().__init__(reason)
        self.file, self.reason = file, reason


def fold_account(store: SqlStore, paths: DataPaths, account: str) -> FoldReport:
    """Bring the account's stored state up to date with its current file versions.

    A file whose content cannot be applied is rejected whole (in the same transaction) and the
    fold starts again without it, so one bad file never blocks the account; a machinery failure
    propagates and leaves the store as it was.
    """
    started = time.perf_counter()
    with store.account_lock(account) as conn:
        while True:
            report, saved = FoldReport(account), []
            try:
                with conn.begin_nested():  # a failed write rolls back to here, not the whole transaction
                    dropped = _fold(store, conn, paths, account, report, saved)
                break
            except FileCannotBeApplied as e:
                for cp in saved:
                    remove_checkpoint(Path(cp["path"]))
                _reject_whole(store, conn, e.file, e.reason)
    for cp in dropped:
        remove_checkpoint(Path(cp["path"]))
    report.seconds = time.perf_counter() - started
    return report


def _reject_whole(store: SqlStore, conn, f: dict, reason: str) -> None:
    store.replace_rejects(conn, f, "fold", pl.DataFrame())
    store.reject_file(conn, f["partner"], f["account"], f["name"], f["file_id"], f"cannot be applied: {reason}")
    store.update_file(conn, f["file_id"], status="rejected")


def _apply(state: FoldState, f: dict) -> Applied:
    """Apply one file; an error that is not the machinery's is the file's."""
    rows = pl.read_parquet(f["events_path"]) if f["events_path"] else None
    try:
        return apply_file(state, _to_apply(f, rows))
    except CONTENT_ERRORS as e:
        if is_machinery(e):
            raise
        raise FileCannotBeApplied(f, one_line(e)) from e


def _fold(store: SqlStore, conn, paths: DataPaths, account: str, report: FoldReport, saved: list[dict]) -> list[dict]:
    """One attempt at the fold inside the caller's transaction; returns the checkpoints to delete."""
    files = ordered_files(store.parsed_files(conn, account))
    refs = [_to_apply(f, None) for f in files]
    hashes = prefix_hashes(refs)
    checkpoints = store.checkpoints(conn, account)
    tip = next((c for c in checkpoints if c["is_tip"]), None)
    report.files_total = len(files)
    if (tip and tip["prefix_hash"] == hashes[-1]) or (tip is None and not files):
        report.started_from = len(files)
        return []
    usable = {c["prefix_hash"]: c for c in checkpoints if c["files_applied"] <= len(files)}
    start = max((i for i, h in enumerate(hashes) if h in usable), default=0)
    state = load_checkpoint(Path(usable[hashes[start]]["path"])) if hashes[start] in usable else initial_state()
    # What the store's tables hold now: the tip, or nothing at all before the first fold.
    incremental = (
        tip is not None
        and usable.get(hashes[start]) is not None
        and usable[hashes[start]]["checkpoint_id"] == tip["checkpoint_id"]
    )
    previous = state if incremental else load_checkpoint(Path(tip["path"])) if tip else _nothing()
    # Applied on top of the tip, only the rows the files touched can differ from the tables.
    touched = touched_keys() if incremental else None
    report.started_from = start
    folder = paths.checkpoints(account)
    for i in range(start, len(files)):
        f = files[i]
        applied = _apply(state, f)
        state = applied.state
        touched = merge_touched(touched, applied.touched)
        store.replace_rejects(conn, f, "fold", applied.rejects)
        report.per_file[f["name"]] = {**applied.metrics, "rows_rejected_in_fold": applied.rejects.height}
        report.files_applied += 1
        if f["kind"] == "inventory" and f["mode"] == "overwrite" and i + 1 < len(files):
            saved.append(_checkpoint(state, folder, i + 1, hashes[i + 1], f["name"], "overwrite"))
    old, new = _narrowed(previous, touched), _narrowed(state, touched)
    written = {}
    try:
        for name in FoldState.FRAMES:
            old_frame = effective_inventory(old) if name == "inventory" else getattr(old, name)
            new_frame = effective_inventory(new) if name == "inventory" else getattr(new, name)
            written[name] = store.sync_table(conn, name, account, old_frame, new_frame)
            report.rows_written[name] = sum(frame.height for frame in written[name])
    except sa.exc.DBAPIError as e:
        # The gate (schemas.columns) keeps every parsed value storable, so this is a last resort:
        # the newest file of this fold is taken out and the fold tried again without it.
        if is_machinery(e) or start == len(files):
            raise
        raise FileCannotBeApplied(files[-1], one_line(e)) from e
    report.ats_change_by_warehouse = _ats_change(old.inventory, new.inventory)
    last = files[-1] if files else None
    reason = "overwrite" if last and last["kind"] == "inventory" and last["mode"] == "overwrite" else "tip"
    changes = _tip_changes(tip, report, written["inventory"], state.inventory.height)
    saved.append(_checkpoint(state, folder, len(files), hashes[-1], last and last["name"], reason, changes))
    keep = _retained(checkpoints, hashes, start)
    return store.replace_checkpoints(conn, account, keep, saved)


def current_state(store: SqlStore, account: str) -> FoldState:
    """The state the store's tables hold now (its tip checkpoint), read without a row-by-row query."""
    for _ in range(3):
        with store.transaction() as conn:
            tip = next((c for c in store.checkpoints(conn, account) if c["is_tip"]), None)
        if tip is None:
            return _nothing()
        try:
            return load_checkpoint(Path(tip["path"]))
        except FileNotFoundError:  # a fold replaced the tip while we read it: read the new one
            continue
    raise RuntimeError(f"the tip checkpoint of account {account!r} keeps changing; try again")


def _narrowed(state: FoldState, touched: dict[str, pl.DataFrame] | None) -> FoldState:
    """The state with `inventory` and `order_lines` cut down to the touched keys (all when None)."""
    if touched is None:
        return state
    return replace(
        state, **{name: getattr(state, name).join(keys, on=keys.columns, how="semi") for name, keys in touched.items()}
    )


def _tip_changes(tip: dict | None, report: FoldReport, inventory_written: tuple, state_rows: int) -> TipChanges:
    """What this fold changed for exports to follow; past a quarter of the state, recording the
    rows would cost more than the full export they could save."""
    everything = any(report.rows_written[n] for n in CATALOG_FRAMES) or report.rows_written["inventory"] > max(
        state_rows // 4, 1000
    )
    if everything:
        inventory_written = tuple(frame.clear() for frame in inventory_written)
    return TipChanges(tip and tip["checkpoint_id"], everything, _inventory_changes(*inventory_written))


def _inventory_changes(upserts: pl.DataFrame, gone: pl.DataFrame) -> pl.DataFrame:
    """The inventory rows a fold wrote (store columns) as `TipChanges.inventory`."""
    upserts = upserts.with_columns(item_key_expr().alias("item_key"), pl.lit(False).alias("gone"))
    gone = gone.with_columns(item_key_expr().alias("item_key"), pl.lit(True).alias("gone"))
    return pl.concat([upserts, gone], how="diagonal_relaxed").select(
        *INVENTORY_KEY, "gone", "on_hand", "pending", "ats", "available_date"
    )


def _nothing() -> FoldState:
    empty = initial_state()
    return replace(empty, warehouses=empty.warehouses.clear())


def _checkpoint(
    state: FoldState,
    folder: Path,
    files_applied: int,
    prefix_hash: str,
    last_file: str | None,
    reason: str,
    changes: TipChanges | None = None,
) -> dict:
    cid = new_id()
    path = save_checkpoint(state, folder / cid, changes)
    return {
        "checkpoint_id": cid,
        "files_applied": files_applied,
        "prefix_hash": prefix_hash,
        "last_file": last_file,
        "reason": reason,
        "path": str(path),
    }


def _retained(checkpoints: list[dict], hashes: list[str], start: int) -> set[str]:
    """Checkpoints still describing a prefix of the current history at or before `start`:
    every overwrite checkpoint and the most recent tips."""
    valid = [c for c in checkpoints if c["files_applied"] <= start and hashes[c["files_applied"]] == c["prefix_hash"]]
    tips = sorted((c for c in valid if c["reason"] == "tip"), key=lambda c: c["files_applied"])[-RECENT_TIPS_KEPT:]
    return {c["checkpoint_id"] for c in valid if c["reason"] == "overwrite"} | {c["checkpoint_id"] for c in tips}


def record_release(store: SqlStore, account: str, at) -> bool:
    """Add the daily pre-book release at `at` to the account's history (once per `at`).

    The release is a pseudo-file of kind `release` in the ledger, so a later re-fold replays it
    at the same point and the state stays a function of the recorded history.
    """
    name = f"release_{at:%Y%m%dT%H%M%S}"
    with store.account_lock(account) as conn:  # two schedulers must see each other's row
        if store.latest_version(conn, RELEASE_PARTNER, name + ":" + account):
            return False
        store.record_landing(
            conn,
            {
                "partner": RELEASE_PARTNER,
                "account": account,
                "name": name + ":" + account,
                "sha256": "0" * 64,
                "size": 0,
                "kind": "release",
                "as_of": at,
                "status": "parsed",
                "landed_path": "",
            },
        )
    return True


RELEASE_PARTNER = "(daily release)"
