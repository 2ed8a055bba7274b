"""Fold checkpoints on disk: one folder of Parquet files per snapshot of an account's FoldState.

A folder is written completely (under a temporary name, then renamed) before the store's
`checkpoints` row that points at it is committed, so a crash leaves at worst an unreferenced
folder, never a referenced half-written one.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import polars as pl

from pipelines.domain.fold import FoldState


def save_checkpoint(state: FoldState, folder: Path) -> Path:
    tmp = folder.with_name(folder.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name in FoldState.FRAMES:
        getattr(state, name).write_parquet(tmp / f"{name}.parquet", statistics=False)
    os.replace(tmp, folder)
    return folder


def load_checkpoint(folder: Path) -> FoldState:
    return FoldState(**{name: pl.read_parquet(Path(folder) / f"{name}.parquet") for name in FoldState.FRAMES})


def remove_checkpoint(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
