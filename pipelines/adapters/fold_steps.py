"""Fold steps: one row per fold in `fold_steps`, and the before-images of what it changed on disk.

A step's images (`domain.rewind.BeforeImages`) are a folder of Parquet files, written completely
(under a temporary name, then renamed) before the row pointing at it is committed, so a crash
leaves at worst an unreferenced folder, never a referenced half-written one.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import polars as pl
import sqlalchemy as sa

from pipelines.adapters.store import SqlStore, now_utc
from pipelines.domain.fold import FRAME_KEYS, FRAME_SCHEMAS, FoldState
from pipelines.domain.rewind import BeforeImages

WRITTEN_META, WRITTEN_ROWS = "written.json", "written.inventory.parquet"


@dataclass(frozen=True)
class FoldStep:
    """One fold of an account: the history it brought the tables to, and its before-images.

    Attributes:
        files_applied: length of the account's ordered history after the step.
        prefix_hash: identifies that history (`domain.fold.prefix_hashes`).
        images_path: folder of the before-images of every row the step changed.
    """

    step_id: str
    account: str
    files_applied: int
    prefix_hash: str
    last_file: str | None
    rows_changed: int
    images_path: str


@dataclass(frozen=True)
class Written:
    """What a fold wrote to the state tables, kept with the last step it made (the new tip), for
    exports to follow from the tip they last showed.

    Attributes:
        previous_tip: the step that was the tip before the fold (None: the account was empty).
        inventory: (warehouse_code, item_key) of every inventory row written or deleted.
        catalog_changed: warehouses or items rows were written (every export line may differ).
    """

    previous_tip: str | None
    inventory: pl.DataFrame
    catalog_changed: bool


class FoldSteps:
    """Repository of the `fold_steps` table."""

    def __init__(self, store: SqlStore):
        self.table = store.t["fold_steps"]

    def of(self, conn: sa.Connection, account: str) -> list[FoldStep]:
        """The account's steps, oldest first (each one's history extends the one before)."""
        t = self.table
        rows = conn.execute(
            sa.select(*(t.c[f] for f in FoldStep.__dataclass_fields__))
            .where(t.c.account == account)
            .order_by(t.c.files_applied, t.c.created_at)
        )
        return [FoldStep(**r._mapping) for r in rows]

    def add(self, conn: sa.Connection, step: FoldStep) -> None:
        conn.execute(self.table.insert(), {**asdict(step), "created_at": now_utc()})

    def remove(self, conn: sa.Connection, steps: list[FoldStep]) -> None:
        if steps:
            conn.execute(self.table.delete().where(self.table.c.step_id.in_([s.step_id for s in steps])))


def save_images(images: BeforeImages, folder: Path, written: Written | None = None) -> Path:
    tmp = folder.with_name(folder.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    if written is not None:
        written.inventory.write_parquet(tmp / WRITTEN_ROWS, statistics=False)
        (tmp / WRITTEN_META).write_text(
            json.dumps({"previous_tip": written.previous_tip, "catalog_changed": written.catalog_changed})
        )
    for name in FoldState.FRAMES:
        if images.present[name].height:
            images.present[name].write_parquet(tmp / f"{name}.parquet", statistics=False)
        if images.absent[name].height:
            images.absent[name].write_parquet(tmp / f"{name}.absent.parquet", statistics=False)
    os.replace(tmp, folder)
    return folder


def load_images(folder: str | Path, frames: tuple[str, ...] = FoldState.FRAMES) -> BeforeImages:
    """A step's before-images (frames not asked for come back empty)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(folder)

    def read(path: Path, schema: dict) -> pl.DataFrame:
        return pl.read_parquet(path) if path.exists() else pl.DataFrame(schema=schema)

    present, absent = {}, {}
    for name in FoldState.FRAMES:
        schema = FRAME_SCHEMAS[name]
        keys = {k: schema[k] for k in FRAME_KEYS[name]}
        wanted = name in frames
        present[name] = read(folder / f"{name}.parquet", schema) if wanted else pl.DataFrame(schema=schema)
        absent[name] = read(folder / f"{name}.absent.parquet", keys) if wanted else pl.DataFrame(schema=keys)
    return BeforeImages(present, absent)


def load_written(folder: str | Path) -> Written | None:
    """What the fold that made this step wrote (None: not the last step of its fold, or gone)."""
    try:
        meta = json.loads((Path(folder) / WRITTEN_META).read_text())
        rows = pl.read_parquet(Path(folder) / WRITTEN_ROWS)
    except FileNotFoundError:
        return None
    return Written(meta["previous_tip"], rows, meta["catalog_changed"])


def remove_images(folder: str | Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
