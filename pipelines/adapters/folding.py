"""Folding an account: bring its state tables up to date with its files, in contract order.

The tables are the state of record. A new newest file reads only its working set from them
(`domain.working_set`: the rows it names, its overwrite scope, pre-book lines coming due),
applies the pure fold to that, and writes only the rows that change. Each fold is a step
(`fold_steps`) that keeps the before-images of what it changed; a late file, a correction or a
re-drop takes the tables back to the last step before its place (the steps after it are undone
from their images, never by reloading the account) and replays the files from there.

The whole fold runs inside one transaction holding the account's lock: the state tables, the
fold-stage rejects and the steps change together or not at all.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import polars as pl
import sqlalchemy as sa

from pipelines.adapters.data_paths import DataPaths
from pipelines.adapters.failures import CONTENT_ERRORS, is_machinery, one_line
from pipelines.adapters.fold_steps import (
    FoldStep,
    FoldSteps,
    Written,
    load_images,
    remove_images,
    save_images,
)
from pipelines.adapters.state_tables import StateTables
from pipelines.adapters.store import FileVersion, SqlStore, new_id
from pipelines.domain.fold import (
    FRAME_KEYS,
    Applied,
    FileToApply,
    FoldState,
    apply_file,
    empty_state,
    initial_state,
    prefix_hashes,
)
from pipelines.domain.guard import (
    Effect,
    GuardLimits,
    Verdict,
    combined,
    effect_of,
    is_guarded,
    scope_warehouses,
    totals,
    verdict,
)
from pipelines.domain.inventory_merge import KEY as INVENTORY_KEY
from pipelines.domain.profiles import in_partner_headers
from pipelines.domain.rewind import BeforeImages, before_images, changed_keys, earliest, rewound
from pipelines.domain.working_set import WorkingSetNeeds, inventory_rows_named, needs_of

# A fold of many files records a step (a point a later re-fold can start from) after every
# overwrite, which resets its scope anyway, and at least every this many files.
STEP_EVERY_FILES = 16


@dataclass
class FoldReport:
    """What one fold of an account did."""

    account: str
    files_total: int = 0
    files_applied: int = 0
    started_from: int = 0
    steps_undone: int = 0
    rows_written: dict = field(default_factory=dict)
    ats_change_by_warehouse: dict = field(default_factory=dict)
    per_file: dict = field(default_factory=dict)
    seconds: float = 0.0


def to_apply(f: FileVersion, rows: pl.DataFrame | None) -> FileToApply:
    return FileToApply(
        file_id=f.file_id,
        partner=f.partner,
        name=f.name,
        sha256=f.sha256,
        kind=f.kind,
        as_of=f.as_of,
        rows=rows if rows is not None else pl.DataFrame(),
        mode=f.mode or "update",
        dec_pending=bool(f.dec_pending),
        overwrite_scope=f.overwrite_scope or "account",
        item_identifier=f.item_identifier or "auto",
        inventory_policy=f.inventory_policy or "continue",
    )


def ordered_files(files: list[FileVersion]) -> list[FileVersion]:
    return sorted(files, key=lambda f: to_apply(f, None).order_key)


class FileHeld(Exception):
    """The guard holds a file: it is recorded as held and the fold goes on as if it had not arrived."""

    def __init__(self, file: FileVersion, verdict: Verdict):
        super().__init__(verdict.reason)
        self.file, self.verdict = file, verdict


class FileCannotBeApplied(Exception):
    """Applying a file's content failed: the file is rejected whole and the fold goes on without it."""

    def __init__(self, file: FileVersion, reason: str):
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
                    undone = _fold(store, conn, paths, account, report, saved)
                break
            except (FileCannotBeApplied, FileHeld) as e:
                for folder in saved:
                    remove_images(folder)
                if isinstance(e, FileHeld):
                    _hold(store, conn, e.file, e.verdict)
                else:
                    _reject_whole(store, conn, e.file, e.reason)
    for step in undone:
        remove_images(step.images_path)
    report.seconds = time.perf_counter() - started
    return report


def _reject_whole(store: SqlStore, conn, f: FileVersion, reason: str) -> None:
    store.replace_rejects(conn, f, "fold", pl.DataFrame())
    store.reject_file(conn, f.partner, f.account, f.name, f.file_id, f"cannot be applied: {reason}")
    store.update_file(conn, f.file_id, status="rejected")


def _hold(store: SqlStore, conn, f: FileVersion, verdict: Verdict) -> None:
    store.update_file(
        conn,
        f.file_id,
        status="held",
        decision="held",
        decision_reason=verdict.reason,
        effect=verdict.effect.to_json(),
    )


class _Guard:
    """Measures guarded files on the state they would be applied to: the tables' totals (read
    once, when a fold first needs them), corrected by how the fold's working set differs."""

    def __init__(self, tables: StateTables, conn, account: str, read: FoldState):
        self.tables, self.conn, self.account, self.read = tables, conn, account, read
        self.base: pl.DataFrame | None = None

    def judge(self, f: FileVersion, rows: pl.DataFrame, before: FoldState, effect: Effect) -> Verdict:
        if self.base is None:
            self.base = combined((1, self.tables.totals(self.conn, self.account)), (-1, totals(self.read.inventory)))
        overwrite = f.mode == "overwrite"
        return verdict(
            GuardLimits.from_json(f.guard),
            combined((1, self.base), (1, totals(before.inventory))),
            effect,
            overwrite_rows=rows.height if overwrite else None,
            overwrite_warehouses=scope_warehouses(rows, before.warehouses)
            if overwrite and f.overwrite_scope == "warehouses_in_file"
            else None,
        )


def _apply(state: FoldState, f: FileVersion, rows: pl.DataFrame | None) -> Applied:
    """Apply one file; an error that is not the machinery's is the file's."""
    try:
        return apply_file(state, to_apply(f, rows))
    except CONTENT_ERRORS as e:
        if is_machinery(e):
            raise
        raise FileCannotBeApplied(f, one_line(e)) from e


def _fold(
    store: SqlStore, conn, paths: DataPaths, account: str, report: FoldReport, saved: list[Path]
) -> list[FoldStep]:
    """One attempt at the fold inside the caller's transaction; returns the steps it undid."""
    files = ordered_files(store.parsed_files(conn, account))
    hashes = prefix_hashes([to_apply(f, None) for f in files])
    repository = FoldSteps(store)
    steps = repository.of(conn, account)
    report.files_total = len(files)
    tip = (steps[-1].files_applied, steps[-1].prefix_hash) if steps else (0, hashes[0])
    if tip == (len(files), hashes[-1]):
        report.started_from = len(files)
        return []
    # Steps extend one another, so the ones still describing a prefix of the history come first.
    kept = [s for s in steps if s.files_applied <= len(files) and hashes[s.files_applied] == s.prefix_hash]
    start = kept[-1].files_applied if kept else 0
    undone = steps[len(kept) :]
    report.started_from, report.steps_undone = start, len(undone)
    rows = [pl.read_parquet(f.events_path) if f.events_path else None for f in files[start:]]
    applying = [to_apply(f, r) for f, r in zip(files[start:], rows, strict=True)]
    needs = needs_of(applying)
    tables = StateTables(store)
    store.bulk.prepare(conn, account, [*store.warehouse_codes(conn, account), *needs.warehouse_codes])
    if kept:
        images = earliest([load_images(s.images_path) for s in undone], initial_state())
        current = _working_set(tables, conn, account, needs, images, applying)
        state = rewound(current, images)
    else:  # from the first file: every row the tables hold may change
        current, state = tables.whole_state(conn, account), initial_state()
    boundaries, before = [], state  # (files applied, before-images of the files since the last boundary)
    measure = _Guard(tables, conn, account, current)
    for i, (f, f_rows) in enumerate(zip(files[start:], rows, strict=True), start=start):
        applied = _apply(state, f, f_rows)
        if f.kind in ("inventory", "orders"):
            guarded = is_guarded(f.kind, GuardLimits.from_json(f.guard), f.decision)
            effect = effect_of(state.inventory, applied.state.inventory, count_zeroed=guarded)
            recorded = {"effect": effect.to_json()} if effect.to_json() != f.effect else {}
            if guarded:
                judged = measure.judge(f, f_rows if f_rows is not None else pl.DataFrame(), state, effect)
                if judged.held:
                    raise FileHeld(f, judged)
                recorded["decision"] = "passed"
            if recorded:
                store.update_file(conn, f.file_id, **recorded)
        state = applied.state
        # Read through a profile: its rejects name the partner's headers, as the parse's do.
        shown = json.loads(f.headers) if f.headers else None
        store.replace_rejects(conn, f, "fold", in_partner_headers(applied.rejects, shown))
        report.per_file[f.name] = {**applied.metrics, "rows_rejected_in_fold": applied.rejects.height}
        report.files_applied += 1
        since = i + 1 - (boundaries[-1][0] if boundaries else start)
        if i + 1 == len(files) or since >= STEP_EVERY_FILES or (f.kind == "inventory" and f.mode == "overwrite"):
            boundaries.append((i + 1, before_images(before, state)))
            before = state
    try:
        for name in FoldState.FRAMES:
            written = store.sync_table(conn, name, account, getattr(current, name), getattr(state, name))
            report.rows_written[name] = sum(frame.height for frame in written)
    except sa.exc.DBAPIError as e:
        # The gate (schemas.columns) keeps every parsed value storable, so this is a last resort:
        # the newest file of this fold is taken out and the fold tried again without it.
        if is_machinery(e) or start == len(files):
            raise
        raise FileCannotBeApplied(files[-1], one_line(e)) from e
    report.ats_change_by_warehouse = effect_of(
        current.inventory, state.inventory, count_zeroed=False
    ).ats_change_by_warehouse
    repository.remove(conn, undone)
    # A fold that only took files out adds no step: the step before them is the tip again.
    for n, (applied_count, images_now) in enumerate(boundaries, start=1):
        step_id = new_id()
        what = _written(steps, current, state, report) if n == len(boundaries) else None
        saved.append(save_images(images_now, paths.fold_steps(account) / step_id, what))
        last = files[applied_count - 1].name
        repository.add(
            conn,
            FoldStep(step_id, account, applied_count, hashes[applied_count], last, images_now.rows, str(saved[-1])),
        )
    return undone


def _written(steps: list[FoldStep], current: FoldState, state: FoldState, report: FoldReport) -> Written:
    return Written(
        previous_tip=steps[-1].step_id if steps else None,
        inventory=changed_keys(current.inventory, state.inventory, INVENTORY_KEY),
        catalog_changed=bool(report.rows_written["warehouses"] or report.rows_written["items"]),
    )


def _working_set(
    tables: StateTables,
    conn,
    account: str,
    needs: WorkingSetNeeds,
    images: BeforeImages,
    files: list[FileToApply],
) -> FoldState:
    """The rows the files need, and every row the undone steps changed, as the tables hold them now."""
    imaged = {name: images.keys(name) for name in FoldState.FRAMES}
    items = tables.items_matching(conn, account, [*needs.item_values.values(), imaged["items"]])
    lines = [tables.matching(conn, "order_lines", account, needs.order_ids.to_frame("order_id"))]
    if needs.due_by is not None:
        lines.append(tables.due_lines(conn, account, needs.due_by))
    lines.append(tables.matching(conn, "order_lines", account, imaged["order_lines"]))
    order_lines = pl.concat(lines)
    warehouses = tables.whole(conn, "warehouses", account)
    if needs.whole_account:
        inventory = [tables.whole(conn, "inventory", account)]
    else:
        named = inventory_rows_named(files, replace(empty_state(), items=items, warehouses=warehouses))
        skus = [images.present["items"].get_column("item_key"), order_lines.get_column("item_key")]
        if named is None:
            skus.append(items.get_column("item_key"))
        inventory = [
            tables.inventory_of_skus(conn, account, pl.concat(skus)),
            tables.inventory_of_warehouses(conn, account, needs.warehouses_in_scope),
        ]
        if named is not None:
            inventory.append(tables.matching(conn, "inventory", account, named))
    inventory.append(tables.matching(conn, "inventory", account, imaged["inventory"]))
    frames = {
        "warehouses": warehouses,
        "linesheets": tables.whole(conn, "linesheets", account),
        "items": items,
        "inventory": pl.concat(inventory),
        "order_lines": order_lines,
    }
    return FoldState(**{name: frame.unique(FRAME_KEYS[name], keep="first") for name, frame in frames.items()})


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
