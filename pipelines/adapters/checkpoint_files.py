"""Fold checkpoints on disk: one folder of Parquet files per snapshot of an account's FoldState.

A folder is written completely (under a temporary name, then renamed) before the store's
`checkpoints` row that points at it is committed, so a crash leaves at worst an unreferenced
folder, never a referenced half-written one.

A tip checkpoint also carries its `TipChanges`: the inventory rows the fold that made it wrote,
relative to the tip before it. Exports follow that chain to patch only the lines that changed.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from pipelines.domain.fold import FoldState

CHANGES_FILE, CHANGES_META = "changes.parquet", "changes.json"


@dataclass(frozen=True)
class TipChanges:
    """What the fold that made a tip changed, relative to the previous tip (None: the empty store).

    Attributes:
        previous_tip: checkpoint_id of the tip the fold started from.
        all_lines_may_differ: the catalog (warehouses, linesheets, items) changed, or the fold wrote
            so much of the inventory that exports are better written in full; `inventory` is then
            left empty.
        inventory: one row per (warehouse_code, item_key) written: its new effective values, or
            `gone` true when the row was deleted.
    """

    previous_tip: str | None
    all_lines_may_differ: bool
    inventory: pl.DataFrame


def save_checkpoint(state: FoldState, folder: Path, changes: TipChanges | None = None) -> Path:
    tmp = folder.with_name(folder.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name in FoldState.FRAMES:
        getattr(state, name).write_parquet(tmp / f"{name}.parquet", statistics=False)
    if changes is not None:
        changes.inventory.write_parquet(tmp / CHANGES_FILE, statistics=False)
        (tmp / CHANGES_META).write_text(
            json.dumps({"previous_tip": changes.previous_tip, "all_lines_may_differ": changes.all_lines_may_differ})
        )
    os.replace(tmp, folder)
    return folder


def load_checkpoint(folder: Path, frames: tuple[str, ...] = FoldState.FRAMES) -> FoldState:
    """The checkpoint's state; frames not asked for are left empty (not read)."""
    empty = {name: pl.DataFrame() for name in FoldState.FRAMES}
    return FoldState(**{**empty, **{name: pl.read_parquet(Path(folder) / f"{name}.parquet") for name in frames}})


def load_changes(folder: Path) -> TipChanges | None:
    """The tip's changes, or None when it has none recorded (not a tip, or an older checkpoint)."""
    try:
        meta = json.loads((Path(folder) / CHANGES_META).read_text())
        inventory = pl.read_parquet(Path(folder) / CHANGES_FILE)
    except FileNotFoundError:
        return None
    return TipChanges(meta["previous_tip"], meta["all_lines_may_differ"], inventory)


def remove_checkpoint(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
