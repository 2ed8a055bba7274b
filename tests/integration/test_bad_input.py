"""Bad input on both backends (issue 11): values at the limits store identically, every datetime form
gives the same stock, a file that cannot be applied never blocks its account, a machinery failure
rejects nothing, and a reject is always stored however long or odd its value."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa

import schemas
from pipelines.adapters import folding
from pipelines.adapters.data_paths import DataPaths
from pipelines.adapters.store import SqlStore
from tests.integration.store_replay import replay

pytestmark = pytest.mark.integration

CATALOG = (
    "style_number,style_identifier,color_code,size_name,upc\n"
    "TS100,FW26,BLK,S,012345678905\nTS100,FW26,BLK,M,012345678912\n"
)
# File kind -> the table its columns are stored in (inventory and orders keep only some columns).
TABLES = {
    "warehouses": "warehouses",
    "linesheets": "linesheets",
    "styles": "items",
    "inventory": "inventory",
    "orders": "order_lines",
}


@pytest.fixture
def world(tmp_path, store_url):
    store = SqlStore(store_url)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    paths = DataPaths(tmp_path / "data")

    class World:
        def drop(self, name: str, text: str | bytes) -> None:
            (inbox / name).write_bytes(text if isinstance(text, bytes) else text.encode())

        def replay(self) -> None:
            replay(store, paths, inbox)

        def stock(self) -> dict:
            return {
                (r["warehouse_code"], r["upc"]): (r["on_hand"], r["pending"], r["ats"])
                for r in store.state().to_dicts()
            }

    w = World()
    w.store, w.inbox = store, inbox
    w.drop("styles_20261101T000000.csv", CATALOG)
    yield w
    store.dispose()


def test_every_stored_text_column_holds_its_longest_valid_value(pg_url):
    """The DDL against schemas.columns on PostgreSQL, which enforces widths (SQLite does not; the
    round trip below holds both)."""
    store = SqlStore(pg_url)
    try:
        for kind, table_name in TABLES.items():
            table = store.t[table_name]
            for name, column in schemas.MODELS[kind].columns.items():
                if name in table.c and column.type.max_chars and isinstance(table.c[name].type, sa.String):
                    width = table.c[name].type.length
                    assert width is None or width >= column.type.max_chars, (table_name, name, width)
    finally:
        store.dispose()


def test_values_at_the_limits_fold_and_store_identically(world):
    code, text = "é" * 99 + "😀", "n" * 199 + "😀"
    world.drop(
        "warehouses_20261101T000000.csv",
        f"warehouse_code,name,type,available_date\n{code},{text},FUTURE,9999-12-31\nOLD,Old,FUTURE,1900-01-01\n",
    )
    world.drop(
        "styles_20261101T000001.csv",
        f"style_number,style_identifier,color_code,size_name,upc,color_name,"
        f"created_by\n{code},{code},{code},{code},{code},{text},{text}\n",
    )
    world.drop(
        "inventory_20261102T000000.csv", f"upc,warehouse_code,quantity\n{code},{code},1000000000\n012345678905,OLD,0\n"
    )
    world.drop(
        "orders_20261103T000000.csv",
        f"order_id,upc,quantity,status,order_date,updated_at,warehouse_code\n"
        f"{code},{code},1000000000,Pending,1900-01-01,9999-12-31T23:59:59.999999Z,"
        f"{code}\n",
    )
    world.replay()
    assert world.store.rejects().height == 0
    state = world.store.state().sort("warehouse_code")
    rows = {r["warehouse_code"]: r for r in state.to_dicts()}
    assert (rows[code]["upc"], rows[code]["on_hand"], rows[code]["pending"], rows[code]["ats"]) == (
        code,
        1_000_000_000,
        1_000_000_000,
        0,
    )
    assert str(rows[code]["available_date"]) == "9999-12-31" and str(rows["OLD"]["available_date"]) == "1900-01-01"
    with world.store.engine.connect() as conn:
        item = conn.execute(sa.text("SELECT color_name, created_by FROM items WHERE upc = :u"), {"u": code}).one()
        line = conn.execute(sa.text("SELECT order_id, updated_at FROM order_lines")).one()
    assert tuple(item) == (text, text)
    assert line[0] == code and str(line[1]).startswith("9999-12-31 23:59:59.999999")


FORMS = [
    "2026-11-18T07:00:00Z",
    "2026-11-17T23:00:00-08:00",
    "2026-11-17 23:00:00-0800",
    "2026-11-18T12:30+05:30",
    "2026-11-18 07:00:00.000",
    "2026-11-18t07:00:00z",
]


@pytest.mark.parametrize("form", FORMS)
def test_the_same_instant_in_every_form_gives_the_same_stored_value_and_ats(world, form):
    # Ordered 2026-11-03, cancelled at the written instant: 15 days later, so nothing returns.
    world.drop("inventory_20261102T000000.csv", "upc,quantity\n012345678905,100\n")
    world.drop(
        "orders_20261103T000000.csv",
        "order_id,upc,quantity,status,order_date\nA,012345678905,10,Pending,2026-11-03T07:00:00Z\n",
    )
    world.drop(
        "orders_20261120T000000.csv",
        f"order_id,upc,quantity,status,order_date,updated_at\n"
        f"A,012345678905,10,Cancelled,2026-11-03T07:00:00Z,{form}\n"
        f"B,012345678912,1,Pending,2026-11-03,{form}\n",
    )
    world.replay()
    assert world.store.rejects().height == 0
    with world.store.engine.connect() as conn:
        stored = {
            datetime.fromisoformat(str(v))
            for v in conn.execute(sa.text("SELECT updated_at FROM order_lines")).scalars()
        }
    assert stored == {datetime(2026, 11, 18, 7, 0)}
    assert world.stock()[("DEFAULT", "012345678905")] == (100, 0, 90)  # 15 days: the claim is not returned


def test_a_file_whose_content_cannot_be_applied_is_rejected_whole_and_the_account_goes_on(world, monkeypatch):
    real_apply = folding.apply_file

    def apply_file(state, f):
        if "poison" in f.name:
            raise OverflowError("Python int too large to convert to C long")
        return real_apply(state, f)

    monkeypatch.setattr(folding, "apply_file", apply_file)
    world.drop("inventory_20261102T000000.csv", "upc,quantity\n012345678905,5\n")
    world.drop("inventory_20261103T000000_poison.csv", "upc,quantity\n012345678905,7\n")
    world.drop("inventory_20261104T000000.csv", "upc,quantity\n012345678912,3\n")
    world.replay()
    assert world.stock() == {("DEFAULT", "012345678905"): (5, 0, 5), ("DEFAULT", "012345678912"): (3, 0, 3)}
    rejected = world.store.rejects().filter(pl.col("file").str.contains("poison")).to_dicts()
    assert [r["reason"] for r in rejected] == ["cannot be applied: Python int too large to convert to C long"]

    # Later files keep being applied; a fixed version of the file re-folds at its place.
    world.drop("inventory_20261105T000000.csv", "upc,quantity\n012345678912,4\n")
    world.replay()
    assert world.stock()[("DEFAULT", "012345678912")] == (4, 0, 4)
    monkeypatch.setattr(folding, "apply_file", real_apply)
    world.drop("inventory_20261103T000000_poison.csv", "upc,quantity\n012345678905,8\n")
    world.replay()
    assert world.stock() == {("DEFAULT", "012345678905"): (8, 0, 8), ("DEFAULT", "012345678912"): (4, 0, 4)}
    assert world.store.rejects().height == 0


def test_a_machinery_failure_rejects_nothing_and_a_rerun_finishes_the_job(world, monkeypatch):
    world.drop("inventory_20261102T000000.csv", "upc,quantity\n012345678905,5\n")
    real_sync = SqlStore.sync_table

    def unreachable(self, *args, **kwargs):
        raise sa.exc.OperationalError("INSERT", {}, Exception("server closed the connection unexpectedly"))

    monkeypatch.setattr(SqlStore, "sync_table", unreachable)
    with pytest.raises(sa.exc.OperationalError):
        world.replay()
    assert world.stock() == {} and world.store.rejects().height == 0
    monkeypatch.setattr(SqlStore, "sync_table", real_sync)
    world.replay()
    assert world.stock() == {("DEFAULT", "012345678905"): (5, 0, 5)}


def test_any_reject_stores_however_long_or_odd_its_value(world):
    long_value, long_header = "x" * 5000, "h" * 400
    world.drop("inventory_20261102T000000.csv", f"upc,quantity\n012345678905,{long_value}\nA\x00B,1\n")
    world.drop("inventory_20261103T000000.csv", f"upc,{long_header},{long_header}\n1,2,3\n")
    world.drop("i" * 250 + ".csv", "whatever\n")
    world.replay()
    rejects = {(r["file"][:20], r["line"]): r for r in world.store.rejects().to_dicts()}
    value = rejects[("inventory_20261102T0", 2)]["value"]
    assert value == "x" * 1000 + "…"
    assert rejects[("inventory_20261102T0", 3)]["value"] == "A\\x00B"
    assert "duplicate column" in rejects[("inventory_20261103T0", 1)]["reason"]
    assert rejects[("i" * 20, None)]["reason"].startswith("unrecognised file name")


def test_a_gzip_that_is_not_gzip_and_a_duplicate_header_reject_only_their_file(world):
    world.drop("inventory_20261102T000000.csv.gz", b"not gzip at all")
    world.drop("inventory_20261103T000000.csv", "UPC,quantity, Quantity\n012345678905,1,2\n")
    world.drop("inventory_20261104T000000.csv", "upc,quantity\n012345678905,6\n")
    world.replay()
    assert world.stock() == {("DEFAULT", "012345678905"): (6, 0, 6)}
    reasons = dict(world.store.rejects().select("file", "reason").iter_rows())
    assert reasons["inventory_20261102T000000.csv.gz"].startswith("not a valid gzip file")
    assert reasons["inventory_20261103T000000.csv"] == "duplicate column 'quantity'"


def test_the_data_folder_path_is_not_needed_to_read_state(world, tmp_path: Path):
    world.drop("inventory_20261102T000000.csv", "upc,quantity\n012345678905,5\n")
    world.replay()
    assert world.store.state()["ats"].to_list() == [5]


def test_a_full_disk_while_landing_is_a_machinery_failure_in_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    import errno
    import os

    from pipelines.adapters import drop_source
    from pipelines.adapters.failures import MachineryFailure

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "inventory_20261102T000000.csv").write_text("upc,quantity\n012345678905,5\n")
    real_fdopen = os.fdopen

    class FullDisk:
        def __init__(self, fd, mode):
            self.inner = real_fdopen(fd, mode)

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device", self.inner.name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.inner.close()

    monkeypatch.setattr(drop_source.os, "fdopen", FullDisk)
    landing = tmp_path / "landing"
    with pytest.raises(MachineryFailure, match="^landing a file: disk full: no space left writing ") as e:
        drop_source.LocalDropSource(inbox).fetch("inventory_20261102T000000.csv", landing)
    assert "\n" not in str(e.value)
    assert list(landing.iterdir()) == []
