"""The contract examples on both store backends: the same files give the expected state on SQLite and
PostgreSQL, and the two backends agree row for row (state and rejects)."""

from __future__ import annotations

import shutil

import polars as pl
import pytest

from pipelines.adapters import state_tables
from pipelines.adapters.data_paths import DataPaths
from pipelines.adapters.store import SqlStore
from tests.integration.store_replay import EXAMPLES_DIR, as_text, replay

pytestmark = pytest.mark.integration

EXAMPLES = sorted(p.name for p in EXAMPLES_DIR.iterdir() if p.is_dir())


@pytest.fixture
def replay_example(tmp_path):
    """Replay an example's drops (and then its late files, as a later replay) into a store; return the store."""
    stores: list[SqlStore] = []

    def run(name: str, url: str) -> SqlStore:
        example = EXAMPLES_DIR / name
        inbox = tmp_path / f"inbox-{len(stores)}"
        shutil.copytree(example / "drops", inbox)
        store = SqlStore(url)
        stores.append(store)
        paths = DataPaths(tmp_path / f"data-{len(stores)}")
        replay(store, paths, inbox)
        if (example / "late").is_dir():
            for late in (example / "late").iterdir():
                shutil.copy(late, inbox / late.name)
            replay(store, paths, inbox)
        return store

    yield run
    for store in stores:
        store.dispose()


@pytest.mark.parametrize("example", EXAMPLES)
def test_example_gives_expected_state(example, store_url, replay_example):
    store = replay_example(example, store_url)

    expected = pl.read_csv(EXAMPLES_DIR / example / "expected_state.csv", infer_schema=False)
    assert as_text(store.state()).rows() == as_text(expected).rows()


@pytest.mark.parametrize("example", EXAMPLES)
def test_sqlite_and_postgresql_agree(example, tmp_path, pg_url, replay_example):
    on_sqlite = replay_example(example, f"sqlite:///{tmp_path / 'agree.db'}")
    on_postgres = replay_example(example, pg_url)

    assert on_postgres.state().rows() == on_sqlite.state().rows()
    assert on_postgres.rejects().rows() == on_sqlite.rejects().rows()


def test_expected_rejects_on_both_backends(store_url, replay_example):
    example = "01-keys-update-overwrite"
    store = replay_example(example, store_url)

    expected = pl.read_csv(EXAMPLES_DIR / example / "expected_rejects.csv", infer_schema=False)
    got = store.rejects()
    for row in expected.iter_rows(named=True):
        hits = got.filter((pl.col("file") == row["file"]) & (pl.col("line") == int(row["line"])))
        assert hits.height, f"no reject for {row}"
        if row["reason"] != "*":
            assert any(reason.startswith(row["reason"]) for reason in hits["reason"]), hits["reason"].to_list()


@pytest.mark.parametrize("scan_over_probe", [0, 10**9], ids=["items-probed-by-key", "items-read-whole"])
@pytest.mark.parametrize("example", ["01-keys-update-overwrite", "03-late-drop"])
def test_items_found_by_key_or_by_reading_them_whole_give_the_same_state(
    example, scan_over_probe, store_url, tmp_path, monkeypatch
):
    """A fold reads the items its files name by staged keys when they are few and by one whole
    read when they are many: each way must find exactly those items (key resolution, re-folds).
    Files arrive one at a time in the order they were made, so each fold reads its working set
    from the tables."""
    monkeypatch.setattr(state_tables, "SCAN_OVER_PROBE", scan_over_probe)
    store, paths, inbox = SqlStore(store_url), DataPaths(tmp_path / "data"), tmp_path / "inbox"
    inbox.mkdir()
    drops = sorted((EXAMPLES_DIR / example / "drops").iterdir(), key=lambda p: p.name.split("_")[1])
    late = sorted((EXAMPLES_DIR / example / "late").iterdir()) if (EXAMPLES_DIR / example / "late").is_dir() else []
    try:
        for drop in [*drops, *late]:
            shutil.copy(drop, inbox / drop.name)
            replay(store, paths, inbox)

        expected = pl.read_csv(EXAMPLES_DIR / example / "expected_state.csv", infer_schema=False)
        assert as_text(store.state()).rows() == as_text(expected).rows()
    finally:
        store.dispose()
