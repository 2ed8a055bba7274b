"""The migration that re-keys identifiers stored before v1.2 to NFC (sql/010_nfc_identifiers.py),
on SQLite and PostgreSQL.

A store as a pre-v1.2 version left it is made by replaying a history with the gate's NFC step
switched off (so `CAFÉ` typed in NFD is stored in NFD, and a later row typing it in NFC is
rejected as unknown), with the migration not yet applied. Opening it applies the migration; the
next fold then gives exactly the state and rejects of the same history replayed today, and an
account whose identifiers were all NFC keeps its fold steps.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import sqlalchemy as sa

pytestmark = pytest.mark.integration

NFC, NFD = "CAF\u00c9", "CAFE\u0301"
OLD_GATE = (
    "import sys; from schemas.model import FileModel; FileModel.normalised = lambda self, present: []; "
    "from pipelines.cli import cli; cli(sys.argv[1:])"
)


def run(*args: str, env: dict, old_gate: bool = False) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-c", OLD_GATE, *args] if old_gate else [sys.executable, "-m", "pipelines", *args]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=600, env={**os.environ, **env})
    assert out.returncode == 0, out.stderr
    return out


def history(folder, catalog_form: str, account_rows: bool = True):
    folder.mkdir()
    (folder / "warehouses_20261101T000000.csv").write_text(
        "warehouse_code,name,type,available_date,is_default\nNYC,New York,IMMEDIATE,,true\n"
    )
    (folder / "styles_20261101T000000.csv").write_text(
        "style_number,style_identifier,color_code,size_name,upc\n"
        f"{catalog_form},FW26,BLK,S,012345678905\nTEE,FW26,BLK,S,012345678912\n"
    )
    (folder / "inventory_20261102T080000.csv").write_text(
        "style_number,style_identifier,color_code,size_name,warehouse_code,quantity\n"
        f"{NFD},FW26,BLK,S,NYC,4\nTEE,FW26,BLK,S,NYC,2\n"
    )
    (folder / "inventory_20261103T080000.csv").write_text(  # the same SKU, typed in NFC
        f"style_number,style_identifier,color_code,size_name,warehouse_code,quantity\n{NFC},FW26,BLK,S,NYC,7\n"
    )


def test_a_store_keyed_before_v1_2_is_rebuilt_in_nfc_and_equals_a_replay_today(tmp_path, store_url):
    old_inbox, plain_inbox = tmp_path / "acme", tmp_path / "plain"
    history(old_inbox, NFD)
    history(plain_inbox, "LATTE")  # an account whose identifiers are all ASCII: left alone
    (plain_inbox / "inventory_20261102T080000.csv").write_text(
        "style_number,style_identifier,color_code,size_name,warehouse_code,quantity\nTEE,FW26,BLK,S,NYC,3\n"
    )
    (plain_inbox / "inventory_20261103T080000.csv").unlink()
    partners = tmp_path / "partners.yaml"
    partners.write_text(
        f"partners:\n  acme: {{account: acme, source: {old_inbox}, settle_s: 0}}\n"
        f"  plain: {{account: plain, source: {plain_inbox}, settle_s: 0}}\n"
    )
    env = {"STOCKDROP_DATA_DIR": str(tmp_path / "data")}
    for partner, inbox in (("acme", old_inbox), ("plain", plain_inbox)):
        run("replay", str(inbox), "--store", store_url, "--partners", str(partners), "--partner", partner,
            env=env, old_gate=True)  # fmt: skip
    before = json.loads(run("state", "--store", store_url, "--format", "json", env=env).stdout)
    assert {(r["style_number"], r["on_hand"]) for r in before if r["account"] == "acme"} == {(NFD, 4), ("TEE", 2)}
    engine = sa.create_engine(store_url)
    with engine.begin() as conn:  # the store as v1.1 left it: the migration not applied yet
        conn.execute(sa.text("DELETE FROM _yoyo_migration WHERE migration_id = '010_nfc_identifiers'"))
        plain_steps = conn.execute(sa.text("SELECT step_id FROM fold_steps WHERE account = 'plain'")).all()
    assert plain_steps

    # opening the store migrates it; the next fold (replay finds nothing new, and folds) rebuilds acme
    for partner, inbox in (("acme", old_inbox), ("plain", plain_inbox)):
        run("replay", str(inbox), "--store", store_url, "--partners", str(partners), "--partner", partner, env=env)
    with engine.begin() as conn:
        assert conn.execute(sa.text("SELECT step_id FROM fold_steps WHERE account = 'plain'")).all() == plain_steps
    engine.dispose()

    today = f"sqlite:///{tmp_path / 'today.db'}"
    today_env = {"STOCKDROP_DATA_DIR": str(tmp_path / "today-data")}
    for partner, inbox in (("acme", old_inbox), ("plain", plain_inbox)):
        run("replay", str(inbox), "--store", today, "--partners", str(partners), "--partner", partner, env=today_env)
    for command in ("state", "rejects"):
        migrated = run(command, "--store", store_url, env=env).stdout
        assert migrated == run(command, "--store", today, env=today_env).stdout
    after = json.loads(run("state", "--store", store_url, "--format", "json", env=env).stdout)
    assert {(r["style_number"], r["on_hand"]) for r in after if r["account"] == "acme"} == {(NFC, 7), ("TEE", 2)}


def test_the_channel_ledger_is_rekeyed_and_where_two_become_one_the_latest_stands():
    import importlib.util
    import sqlite3
    from pathlib import Path
    from unittest import mock

    path = Path(__file__).resolve().parents[2] / "sql" / "010_nfc_identifiers.py"
    spec = importlib.util.spec_from_file_location("nfc_migration", path)
    migration = importlib.util.module_from_spec(spec)
    with mock.patch("yoyo.step"):  # loaded outside yoyo: its step list is not wanted here
        spec.loader.exec_module(migration)
    conn = sqlite3.connect(":memory:")
    conn.execute(
        "CREATE TABLE pushed_items (channel, account, warehouse_code, style_number, style_identifier, color_code, "
        "size_name, inventory, inventory_date, idempotency_key, acknowledged_at)"
    )
    rows = [
        ("joor", "acme", "NYC", NFD, "FW26", "BLK", "S", 4, None, "k1", "2026-11-02 08:00:00"),
        ("joor", "acme", "NYC", NFC, "FW26", "BLK", "S", 7, None, "k2", "2026-11-03 08:00:00"),
        ("joor", "acme", "NYC", "TEE", "FW26", "BLK", "S", 2, None, "k1", "2026-11-02 08:00:00"),
        ("joor", "other", "NYC", NFD, "FW26", "BLK", "S", 9, None, "k3", "2026-11-02 08:00:00"),
    ]
    conn.executemany("INSERT INTO pushed_items VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    migration._rekey_ledger(migration._Db(conn), "acme")
    got = conn.execute("SELECT account, style_number, inventory FROM pushed_items ORDER BY account, style_number")
    assert got.fetchall() == [("acme", NFC, 7), ("acme", "TEE", 2), ("other", NFD, 9)]
