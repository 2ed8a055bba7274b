"""Versioned schema upgrades: a store made and filled at the previous version keeps its data
through `migrate()` and works afterwards, on SQLite and PostgreSQL (where the upgrade turns
`inventory` into a table partitioned by account and warehouse)."""

from __future__ import annotations

import shutil

import polars as pl
import pytest
import sqlalchemy as sa

from pipelines.adapters.data_paths import DataPaths
from pipelines.adapters.store import SqlStore
from pipelines.adapters.store_schema import create_engine, migrate
from tests.integration.store_replay import EXAMPLES_DIR, replay

pytestmark = pytest.mark.integration

PREVIOUS_VERSION = "001_initial"
COPIED_TABLES = (
    "accounts",
    "partners",
    "warehouses",
    "linesheets",
    "items",
    "drop_files",
    "inventory",
    "order_lines",
    "rejects",
)


def fill_at_previous_version(url: str, inbox, work) -> None:
    """Give the store at 001 what the pipeline makes of `inbox`: today's code folds it into a scratch
    store (it cannot fold into 001 tables), and every row is copied into the old tables, in the
    columns they had then."""
    scratch = SqlStore(f"sqlite:///{work / 'scratch.db'}")
    replay(scratch, DataPaths(work / "scratch-data"), inbox)
    old = create_engine(url)
    meta = sa.MetaData()
    meta.reflect(old, only=COPIED_TABLES)
    with scratch.engine.connect() as src, old.begin() as dst:
        for name in COPIED_TABLES:
            columns = [c.name for c in meta.tables[name].columns]
            rows = src.execute(sa.select(*(scratch.t[name].c[c] for c in columns))).mappings().all()
            if rows:
                dst.execute(meta.tables[name].insert(), [dict(r) for r in rows])
    old.dispose()
    scratch.dispose()


@pytest.fixture
def store_at_previous_version(store_url, tmp_path):
    """A store migrated only up to 001, holding the folded state of example 02 (orders and claims)."""
    assert migrate(store_url, upto=PREVIOUS_VERSION) == [PREVIOUS_VERSION]
    inbox = tmp_path / "inbox"
    shutil.copytree(EXAMPLES_DIR / "02-orders-allocation" / "drops", inbox)
    fill_at_previous_version(store_url, inbox, tmp_path)
    old = SqlStore(store_url, auto_migrate=False)
    paths = DataPaths(tmp_path / "data")
    before = {"state": old.state(), "rejects": old.rejects()}
    old.dispose()
    return store_url, inbox, paths, before


def test_data_survives_the_upgrade(store_at_previous_version):
    url, _, _, before = store_at_previous_version

    applied = migrate(url)
    store = SqlStore(url)

    assert applied and PREVIOUS_VERSION not in applied
    assert before["state"].height
    assert store.state().rows() == before["state"].rows()
    assert store.rejects().rows() == before["rejects"].rows()
    assert migrate(url) == []
    store.dispose()


def test_upgraded_store_folds_new_files(store_at_previous_version):
    url, inbox, paths, before = store_at_previous_version
    migrate(url)
    store = SqlStore(url)
    sku = before["state"].row(0, named=True)
    (inbox / "inventory_20261201T080000.csv").write_text(
        f"upc,warehouse_code,quantity\n{sku['upc']},{sku['warehouse_code']},{sku['on_hand'] + 7}\n"
    )

    replay(store, paths, inbox)

    after = store.state().filter(pl.col("upc") == sku["upc"], pl.col("warehouse_code") == sku["warehouse_code"])
    assert after["on_hand"].to_list() == [sku["on_hand"] + 7]
    assert store.state().height == before["state"].height
    store.dispose()


def test_postgresql_upgrade_partitions_inventory_by_warehouse(pg_url, tmp_path, request):
    migrate(pg_url, upto=PREVIOUS_VERSION)
    inbox = tmp_path / "inbox"
    shutil.copytree(EXAMPLES_DIR / "01-keys-update-overwrite" / "drops", inbox)
    fill_at_previous_version(pg_url, inbox, tmp_path)
    old = SqlStore(pg_url, auto_migrate=False)
    before = old.state()
    old.dispose()

    migrate(pg_url)
    store = SqlStore(pg_url)
    request.addfinalizer(store.dispose)

    with store.engine.connect() as conn:
        strategy = conn.execute(
            sa.text("SELECT partstrat FROM pg_partitioned_table WHERE partrelid = 'inventory'::regclass")
        ).scalar()
        placed = conn.execute(
            sa.text("SELECT warehouse_code, obj_description(tableoid) FROM inventory ORDER BY warehouse_code")
        ).all()
    assert strategy == "l"
    assert store.state().rows() == before.rows()
    assert {w for w, _ in placed} == set(before["warehouse_code"])
    assert all(comment == f"inventory of account default, warehouse {w}" for w, comment in placed)
