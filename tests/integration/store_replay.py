"""Driving the adapters the way `stockdrop replay` does, for the store-level integration tests."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from pipelines.adapters.data_paths import DataPaths
from pipelines.adapters.drop_source import LocalDropSource
from pipelines.adapters.folding import fold_account
from pipelines.adapters.landing import land_file
from pipelines.adapters.parsing import parse_file
from pipelines.adapters.store import SqlStore
from pipelines.domain.partners import PartnerSpec
from tests.conftest import EXAMPLES

EXAMPLES_DIR = EXAMPLES


def replay(store: SqlStore, paths: DataPaths, inbox: Path) -> None:
    """Land and parse every file of `inbox` not seen before (partner `local`), then fold the account."""
    partner = PartnerSpec(source=str(inbox))
    source = LocalDropSource(inbox)
    for remote in source.list_files():
        landed = land_file(store, paths, partner, source, remote.name)
        if landed.outcome == "new":
            parse_file(store, landed.file_id, partner.csv)
    fold_account(store, paths, partner.account)


def as_text(frame: pl.DataFrame) -> pl.DataFrame:
    """Every cell as the CLI prints it (text, empty for null), for comparing with the expected CSVs."""
    return frame.select(pl.col(c).cast(pl.String).fill_null("") for c in frame.columns)
