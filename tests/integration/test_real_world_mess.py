"""Real-world mess, round two (issue 28, drops.md "Rules added in v1.2"): regressions through the CLI,
on SQLite and PostgreSQL where a store is involved."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration

WAREHOUSES = "warehouse_code,name,type,available_date,is_default\nNYC,New York,IMMEDIATE,,true\n"
CATALOG = (
    "style_number,style_identifier,color_code,size_name,upc\n"
    "TS100,FW26,BLK,S,012345678905\nTS100,FW26,BLK,M,012345678912\nTS100,FW26,BLK,L,012345678929\n"
)


def cli(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "pipelines", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture
def inbox(tmp_path):
    folder = tmp_path / "inbox"
    folder.mkdir()
    (folder / "warehouses_20261101T000000.csv").write_text(WAREHOUSES)
    (folder / "styles_20261101T000000.csv").write_text(CATALOG)
    (folder / "inventory_20261102T080000.csv").write_text(
        "upc,warehouse_code,quantity\n012345678905,NYC,10\n012345678912,NYC,4\n"
    )
    return folder


def state(store: str) -> dict[str, int]:
    result = cli("state", "--store", store, "--format", "json")
    assert result.returncode == 0, result.stderr
    return {r["upc"]: r["on_hand"] for r in json.loads(result.stdout)}


def rejects(store: str) -> list[dict]:
    result = cli("rejects", "--store", store, "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_mistyped_year_is_rejected_whole_and_pins_nothing(inbox, store_url, tmp_path):
    (inbox / "inventory_20621119T060000.csv").write_text("upc,warehouse_code,quantity\n012345678905,NYC,99\n")
    env = {"STOCKDROP_DATA_DIR": str(tmp_path / "data")}
    assert cli("replay", str(inbox), "--store", store_url, env=env).returncode == 0
    (inbox / "inventory_20261103T080000.csv").write_text("upc,warehouse_code,quantity\n012345678905,NYC,7\n")

    assert cli("replay", str(inbox), "--store", store_url, env=env).returncode == 0

    assert state(store_url) == {"012345678905": 7, "012345678912": 4}
    (reject,) = [r for r in rejects(store_url) if r["file"] == "inventory_20621119T060000.csv"]
    assert reject["reason"].startswith("as-of in the future: 2062-11-19T06:00:00 is more than 24 h after")


def test_a_typo_in_an_overwrite_keeps_what_that_row_names(inbox, store_url, tmp_path):
    (inbox / "inventory_20261103T080000_overwrite.csv").write_text(
        "upc,warehouse_code,quantity\n012345678905,NYC,12.5\n012345678929,NYC,3\n"
    )
    env = {"STOCKDROP_DATA_DIR": str(tmp_path / "data")}

    assert cli("replay", str(inbox), "--store", store_url, env=env).returncode == 0

    # 905 was named (with a bad quantity): kept at 10, not zeroed; 912 was not named: zeroed.
    assert state(store_url) == {"012345678905": 10, "012345678912": 0, "012345678929": 3}
    (reject,) = [r for r in rejects(store_url) if r["file"] == "inventory_20261103T080000_overwrite.csv"]
    assert (reject["line"], reject["column"], reject["value"]) == (2, "quantity", "12.5")


@pytest.mark.parametrize("allow", [False, True])
def test_a_header_only_overwrite_is_rejected_whole_unless_the_partner_allows_it(inbox, store_url, tmp_path, allow):
    (inbox / "inventory_20261103T080000_overwrite.csv").write_text("upc,warehouse_code,quantity\n")
    partners = tmp_path / "partners.yaml"
    partners.write_text(
        f"partners:\n  p:\n    account: a\n    source: {inbox}\n    allow_empty_overwrite: {str(allow).lower()}\n"
    )
    env = {"STOCKDROP_DATA_DIR": str(tmp_path / "data")}

    assert cli("replay", str(inbox), "--store", store_url, "--partners", str(partners), env=env).returncode == 0

    if allow:
        assert state(store_url) == {"012345678905": 0, "012345678912": 0}
    else:
        assert state(store_url) == {"012345678905": 10, "012345678912": 4}
        (reject,) = [r for r in rejects(store_url) if r["file"] == "inventory_20261103T080000_overwrite.csv"]
        assert reject["reason"] == "overwrite lists no rows: 0 data row(s), none valid"


def test_result_files_escape_formulas_and_fit_a_long_drop_name(inbox, tmp_path):
    name = "inventory_20261103T080000_" + "x" * 220 + ".csv"
    assert len(name.encode()) > 245
    (inbox / name).write_text(
        "upc,warehouse_code,quantity\n=HYPERLINK(\"http://evil\"),NYC,1\n012345678905,NYC,+cmd|' /C calc'!A0\n"
        "012345678912,NYC,@SUM(1)\n012345678929,NYC,3\n"
    )
    results = tmp_path / "results"
    partners = tmp_path / "partners.yaml"
    partners.write_text(f"partners:\n  p:\n    account: a\n    source: {inbox}\n    results: {{dir: {results}}}\n")
    store = f"sqlite:///{tmp_path}/s.db"

    replayed = cli("replay", str(inbox), "--store", store, "--partners", str(partners))

    assert replayed.returncode == 0, replayed.stderr
    (csv_file,) = results.glob("inventory_20261103T080000_xxx*.result.csv")
    (json_file,) = results.glob("inventory_20261103T080000_xxx*.result.json")
    assert "~" in csv_file.name and len(csv_file.name.encode()) <= 255
    assert json.loads(json_file.read_text())["file"] == name
    cells = [c for line in csv_file.read_text().splitlines()[1:] for c in line.split(",")]
    assert not [c for c in cells if c[:1] in "=+-@" or c[:2] in ('"=', '"+', '"@')]
    assert any(c.startswith("'=HYPERLINK") or c.startswith("\"'=HYPERLINK") for c in cells)


def test_the_summary_counts_rows_rejected_while_resolving_too(inbox, tmp_path):
    (inbox / "inventory_20261103T080000.csv").write_text(
        "upc,warehouse_code,quantity\n999999999999,NYC,1\n012345678905,MARS,2\n012345678905,NYC,x\n"
    )
    result = cli("replay", str(inbox), "--store", f"sqlite:///{tmp_path}/s.db")
    assert result.returncode == 0, result.stderr
    assert "rows rejected 3;" in result.stderr  # one while parsing, two while resolving


def test_explain_style_names_a_size_with_a_slash(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "warehouses_20261101T000000.csv").write_text(WAREHOUSES)
    (inbox / "styles_20261101T000000.csv").write_text(
        "style_number,style_identifier,color_code,size_name,upc\nJEAN,FW26,IND,30/32,012345678905\n"
    )
    (inbox / "inventory_20261102T080000.csv").write_text("upc,warehouse_code,quantity\n012345678905,NYC,6\n")
    store = f"sqlite:///{tmp_path}/s.db"
    assert cli("replay", str(inbox), "--store", store).returncode == 0

    result = cli(
        "explain", "--store", store, "--account", "default", "--warehouse", "NYC", "--style", "JEAN/FW26/IND/30%2F32"
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].split(",")[5:7] == ["6", "6"]


@pytest.mark.parametrize("kind", ["empty", "not_sqlite", "folder"])
def test_a_store_url_naming_no_usable_database_is_a_user_error_and_creates_nothing(inbox, tmp_path, kind):
    target = {"empty": "", "not_sqlite": str(inbox / "styles_20261101T000000.csv"), "folder": str(inbox)}[kind]
    before = sorted(p.name for p in inbox.iterdir())

    for command in (["replay", str(inbox)], ["state"]):
        result = cli(*command, "--store", f"sqlite:///{target}")
        assert result.returncode == 2, (command, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr

    assert sorted(p.name for p in inbox.iterdir()) == before  # no .migrate-lock, no database beside the files


def test_a_postgresql_database_that_does_not_exist_is_a_user_error(inbox, pg_url):
    missing = pg_url.rsplit("/", 1)[0] + "/no_such_database"
    result = cli("replay", str(inbox), "--store", missing)
    assert result.returncode == 2, result.stderr
    assert "no database at" in result.stderr and "does not exist" in result.stderr


def test_an_sftp_server_that_refuses_connections_is_a_machinery_failure(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    (tmp_path / "known_hosts").write_text("")
    partners = tmp_path / "partners.yaml"
    partners.write_text(
        f"partners:\n  p:\n    account: a\n    source: sftp://u@127.0.0.1:{port}/in\n"
        f"    known_hosts: {tmp_path / 'known_hosts'}\n    password: {{env: P_PASSWORD}}\n"
    )
    result = cli("sync", "--partners", str(partners), "--store", f"sqlite:///{tmp_path}/s.db", env={"P_PASSWORD": "x"})
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr


def test_deny_takes_an_applied_file_back_out_and_approve_brings_it_back(inbox, store_url, tmp_path):
    (inbox / "inventory_20261103T080000.csv").write_text("upc,warehouse_code,quantity\n012345678905,NYC,99\n")
    env = {"STOCKDROP_DATA_DIR": str(tmp_path / "data")}
    assert cli("replay", str(inbox), "--store", store_url, env=env).returncode == 0
    assert state(store_url)["012345678905"] == 99

    denied = cli("deny", "local/inventory_20261103T080000.csv", "--store", store_url, env=env)
    assert denied.returncode == 0, denied.stderr
    assert state(store_url)["012345678905"] == 10
    report = cli("report", "--store", store_url, env=env)
    assert "denied    local/inventory_20261103T080000.csv" in report.stdout
    listed = json.loads(cli("held", "--store", store_url, "--format", "json", env=env).stdout)
    assert [(r["file"], r["reason"].split(" ")[0]) for r in listed] == [("inventory_20261103T080000.csv", "denied")]
    again = cli("deny", "local/inventory_20261103T080000.csv", "--store", store_url, env=env)
    assert again.returncode == 2 and "cannot be denied: it is denied" in again.stderr

    approved = cli("approve", "local/inventory_20261103T080000.csv", "--store", store_url, env=env)
    assert approved.returncode == 0, approved.stderr
    assert state(store_url)["012345678905"] == 99
    assert json.loads(cli("held", "--store", store_url, "--format", "json", env=env).stdout) == []


def test_identifiers_are_compared_in_nfc_and_a_key_naming_two_skus_is_ambiguous(tmp_path, store_url):
    nfc, nfd = "CAF\u00c9", "CAFE\u0301"
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "warehouses_20261101T000000.csv").write_text(WAREHOUSES)
    (inbox / "styles_20261101T000000.csv").write_text(
        "style_number,style_identifier,color_code,size_name,upc\n"
        f"{nfc},FW26,BLK,S,012345678905\n{nfd},FW26,BLK,S,012345678905\n"  # one SKU typed two ways
        "TEE,FW26,BLK,S,012345678912\nTEE,FW26,WHT,S,012345678912\n"  # two SKUs sharing a UPC
    )
    (inbox / "inventory_20261102T080000.csv").write_text(
        "upc,style_number,style_identifier,color_code,size_name,warehouse_code,quantity\n"
        f",{nfd},FW26,BLK,S,NYC,4\n012345678912,,,,,NYC,2\n"
    )
    env = {"STOCKDROP_DATA_DIR": str(tmp_path / "data")}
    assert cli("replay", str(inbox), "--store", store_url, env=env).returncode == 0

    rows = json.loads(cli("state", "--store", store_url, "--format", "json").stdout)
    assert [(r["style_number"], r["upc"], r["on_hand"]) for r in rows] == [(nfc, "012345678905", 4)]
    (reject,) = [r for r in rejects(store_url) if r["file"] == "inventory_20261102T080000.csv"]
    assert (reject["line"], reject["reason"]) == (3, "ambiguous upc: names 2 SKUs")
