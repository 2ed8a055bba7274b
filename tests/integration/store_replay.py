"""Driving the adapters the way `stockdrop replay` does, for the store-level integration tests."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from pipelines.adapters.data_paths import DataPaths
from pipelines.adapters.drop_source import LocalDropSource
from pipelines.adapters.folding import FoldReport, fold_account
from pipelines.adapters.landing import LandingResult, land_file
from pipelines.adapters.parsing import parse_file
from pipelines.adapters.store import SqlStore
from pipelines.domain.partners import PartnerSpec
from tests.conftest import EXAMPLES
from tests.drop_histories import DropVersion

EXAMPLES_DIR = EXAMPLES


def replay(store: SqlStore, paths: DataPaths, inbox: Path) -> None:
    """Land and parse every file of `inbox` not seen before (partner `local`), then fold the account."""
    partner = PartnerSpec(source=str(inbox))
    source = LocalDropSource(inbox)
    for remote in source.list_files():
        landed = land_file(store, paths, partner, source, remote.name)
        if landed.outcome == "new":
            parse_file(store, landed.file_id, partner)
    fold_account(store, paths, partner.account)


def as_text(frame: pl.DataFrame) -> pl.DataFrame:
    """Every cell as the CLI prints it (text, empty for null), for comparing with the expected CSVs."""
    return frame.select(pl.col(c).cast(pl.String).fill_null("") for c in frame.columns)


class Inbox:
    """One partner's inbox bound to its own account in a shared store."""

    def __init__(self, store: SqlStore, root: Path, n: int, **options):
        self.store = store
        self.folder = root / f"inbox-{n}"
        self.folder.mkdir(parents=True)
        self.partner = PartnerSpec(name=f"partner{n}", account=f"account{n}", source=str(self.folder), **options)
        self.paths = DataPaths(root / f"data-{n}")
        self.source = LocalDropSource(self.folder)

    def drop(self, version: DropVersion, fold: bool = True) -> tuple[LandingResult, FoldReport | None]:
        """The partner uploads `version` (replacing a file of that name); land, parse and fold it."""
        part = self.folder / (version.name + ".part")
        part.write_text(version.text)
        part.replace(self.folder / version.name)
        landed = land_file(self.store, self.paths, self.partner, self.source, version.name)
        if landed.outcome == "new":
            parse_file(self.store, landed.file_id, self.partner)
        return landed, (self.fold() if fold else None)

    def fold(self) -> FoldReport:
        return fold_account(self.store, self.paths, self.partner.account)

    def state(self) -> list[tuple]:
        return self.store.state(self.partner.account).drop("account").rows()

    def rejects(self) -> list[tuple]:
        mine = self.store.rejects().filter(pl.col("partner") == self.partner.name).drop("partner")
        return mine.sort(pl.all(), nulls_last=True).rows()

    def ledger_rows(self) -> int:
        f = self.store.t["drop_files"]
        with self.store.transaction() as conn:
            return len(conn.execute(f.select().where(f.c.partner == self.partner.name)).all())


@pytest.fixture
def new_inbox(store_url, tmp_path):
    """Factory: a fresh partner inbox (own account) in this test's store; keywords are partner options."""
    store = SqlStore(store_url)
    made: list[Inbox] = []

    def make(**options) -> Inbox:
        made.append(Inbox(store, tmp_path, len(made), **options))
        return made[-1]

    yield make
    store.dispose()
