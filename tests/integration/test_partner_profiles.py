"""Partner profiles through the CLI (drops.md v1.2), on SQLite and PostgreSQL where a store is
involved: the sample partner's own formats give the state and rejects of the same history in
contract files; a fixed daily name dated by its mtime is a new file each day; `stockdrop check`
is a dry run; every profile error is one line and exit 2."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "sample_data"
NORTHWIND = yaml.safe_load((SAMPLE / "partners.yaml").read_text())["partners"]["northwind"]


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pipelines", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
    )


def partners_file(path: Path, partners: dict) -> Path:
    path.write_text(yaml.safe_dump({"partners": partners}, allow_unicode=True))
    return path


def northwind(source: Path, **more) -> dict:
    """The sample partner's profile, on `source`, without its export and results folders."""
    entry = {k: v for k, v in NORTHWIND.items() if k not in ("exports", "results")}
    return {**entry, "source": str(source), **more}


CONTRACT = {  # the sample partner's history as contract files, value for value
    "warehouses_20261116T000000.csv": (SAMPLE / "northwind" / "warehouses_20261116T000000.csv").read_text(),
    "styles_20261116T000000.csv": (
        "style_number,style_identifier,color_code,color_name,size_name,upc\n"
        "PARKA,FW26-D1,NVY,Marine,M,012345000017\nPARKA,FW26-D1,NVY,Marine,L,012345000024\n"
        "BERET,FW26-D2,CRM,Crème,OS,012345000031\nSCARF,FW26-D2,RED,Rouge,OS,012345000048\n"
    ),
    "inventory_20261117T080000.csv": (
        "upc,warehouse_code,quantity\n012345000017,MAIN,12\n012345000024,MAIN,10\n012345000031,MAIN,0\n"
        "012345000048,MAIN,0\n012345000055,MAIN,4\n012345000017,MAIN,lots\n"
    ),
}


def test_the_partners_own_formats_give_the_state_and_rejects_of_the_contract_history(tmp_path, store_url):
    theirs, ours = tmp_path / "theirs", tmp_path / "ours"
    shutil.copytree(SAMPLE / "northwind", theirs)
    ours.mkdir()
    for name, text in CONTRACT.items():
        (ours / name).write_text(text)
    partners = partners_file(
        tmp_path / "partners.yaml",
        {"northwind": northwind(theirs), "contract": {"account": "northwind", "source": str(ours), "settle_s": 0}},
    )
    local = f"sqlite:///{tmp_path / 'contract.db'}"
    env = {"STOCKDROP_DATA_DIR": str(tmp_path / "data")}
    for store, partner, inbox in ((store_url, "northwind", theirs), (local, "contract", ours)):
        out = cli("replay", str(inbox), "--store", store, "--partners", str(partners), "--partner", partner, env=env)
        assert out.returncode == 0, out.stderr
    state = [cli("state", "--store", s, env=env).stdout for s in (store_url, local)]
    assert state[0] == state[1] and "FW26-D2" in state[0]

    def rejects(store: str, shift: int) -> list[tuple]:
        out = cli("rejects", "--store", store, "--format", "json", env=env)
        return sorted((r["line"] - shift, r["reason"]) for r in yaml.safe_load(out.stdout))

    # the workbook's header is on sheet row 2 (a title row above it): its lines are one further on
    assert rejects(store_url, 1) == rejects(local, 0) and len(rejects(local, 0)) == 2
    named = yaml.safe_load(cli("rejects", "--store", store_url, "--format", "json", env=env).stdout)
    assert {(r["column"], r["value"]) for r in named} == {("EAN", "012345000055"), ("Qty On Hand", "lots")}


def test_a_fixed_daily_name_dated_by_its_mtime_is_a_new_file_each_day(tmp_path, store_url):
    days = [datetime(2026, 11, d, 8, tzinfo=UTC).timestamp() for d in (17, 18, 19)]
    contents = ["upc,quantity\n012345000017,5\n012345000024,5\n", "upc,quantity\n012345000017,7\n"]
    contents.append(contents[0])  # day 3 sends day 1's bytes again: a new file all the same
    theirs, ours = tmp_path / "theirs", tmp_path / "ours"
    for inbox in (theirs, ours):
        inbox.mkdir()
        for name in ("warehouses_20261116T000000.csv", "styles_20261116T000000.csv"):
            (inbox / name).write_text(CONTRACT[name])
    rule = {"match": "onhand.csv", "kind": "inventory", "as_of": "mtime"}
    partners = partners_file(
        tmp_path / "partners.yaml",
        {
            "shop": {"account": "shop", "source": str(theirs), "settle_s": 0, "files": [rule]},
            "contract": {"account": "shop", "source": str(ours), "settle_s": 0},
        },
    )
    local = f"sqlite:///{tmp_path / 'contract.db'}"
    env = {"STOCKDROP_DATA_DIR": str(tmp_path / "data")}
    for day, (mtime, text) in enumerate(zip(days, contents, strict=True)):
        (theirs / "onhand.csv").write_text(text)
        os.utime(theirs / "onhand.csv", (mtime, mtime))
        (ours / f"inventory_202611{17 + day}T080000.csv").write_text(text)
        for store, partner, inbox in ((store_url, "shop", theirs), (local, "contract", ours)):
            out = cli(
                "replay", str(inbox), "--store", store, "--partners", str(partners), "--partner", partner, env=env
            )
            assert out.returncode == 0, out.stderr
    state = [cli("state", "--store", s, env=env).stdout for s in (store_url, local)]
    assert state[0] == state[1]
    assert ",012345000017,PARKA,FW26-D1,NVY,M,5," in state[0]  # day 3 set it back after day 2's 7
    report = cli("report", "--store", store_url, env=env).stdout
    assert report.count("shop/onhand.csv") == 3  # three files, none superseded by the next


def test_check_is_a_dry_run_that_prints_rejects_a_summary_and_the_canonical_file(tmp_path):
    partners = partners_file(tmp_path / "partners.yaml", {"northwind": northwind(SAMPLE / "northwind")})
    canonical = tmp_path / "canonical.csv"
    out = cli("check", str(SAMPLE / "northwind" / "STOCK_202611170800.xlsx"), "--partners", str(partners),
              "--partner", "northwind", "--canonical", str(canonical))  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout == "line,column,value,reason\n8,Qty On Hand,lots,quantity must be a whole number >= 0\n"
    assert out.stderr.strip() == (
        "stockdrop: STOCK_202611170800.xlsx: inventory as of 2026-11-17T08:00:00: rows read 6, accepted 5, rejected 1"
    )
    assert canonical.read_text() == "".join(CONTRACT["inventory_20261117T080000.csv"].splitlines(True)[:-1])
    assert not (tmp_path / "data").exists() and not list(tmp_path.glob("*.db"))  # nothing landed

    moved = partners_file(
        tmp_path / "sheet.yaml", {"northwind": northwind(SAMPLE / "northwind", xlsx={"sheet": "Stock"})}
    )
    out = cli("check", str(SAMPLE / "northwind" / "STOCK_202611170800.xlsx"), "--partners", str(moved),
              "--partner", "northwind")  # fmt: skip
    assert out.returncode == 1 and "would be rejected whole: no sheet 'Stock'" in out.stderr
    legacy = tmp_path / "STOCK_202611170800.xls"
    legacy.write_bytes(b"\xd0\xcf\x11\xe0legacy")
    rule = {"match": "STOCK_*.xls", "kind": "inventory", "as_of": {"regex": r"STOCK_(\d{12})", "format": "%Y%m%d%H%M"}}
    xls = partners_file(tmp_path / "xls.yaml", {"northwind": northwind(SAMPLE / "northwind", files=[rule])})
    out = cli("check", str(legacy), "--partners", str(xls), "--partner", "northwind")
    assert out.returncode == 1 and "legacy .xls: save it as .xlsx or CSV" in out.stderr


@pytest.mark.parametrize(
    "more, where",
    [
        ({"columns": {"inventory": {"quantity": {"expression": "a+b"}}}}, "partners.p.columns.inventory.quantity"),
        ({"columns": {"styles": {"style_identifier": {"template": "no header"}}}}, "a template naming nothing"),
        (
            {"columns": {"inventory": {"upc": "EAN", "warehouse_code": ["ean"]}}},
            "p.yaml: partners.p.columns.inventory.warehouse_code: alias 'ean' is already mapped to 'upc'",
        ),
        ({"columns": {"inventory": {"colour": "Colour"}}}, "partners.p.columns.inventory.colour"),
        ({"values": {"quantity": {"pattern": "(a)(b)"}}}, "partners.p.values.quantity.pattern"),
        ({"values": {"qty": {"zero_pad": 12}}}, "partners.p.values.qty"),
        ({"files": [{"match": "x*", "kind": "stock", "as_of": "mtime"}]}, "partners.p.files.0.kind"),
        ({"files": [{"match": "x*", "kind": "inventory", "as_of": {"regex": "x", "format": "%Y"}}]}, "group"),
        ({"csv": {"encoding": "klingon"}}, "partners.p.csv.encoding"),
    ],
)
def test_every_profile_error_is_one_line_naming_the_partner_and_the_key(tmp_path, more, where):
    partners = partners_file(tmp_path / "p.yaml", {"p": {"account": "p", "source": str(tmp_path), **more}})
    drop = tmp_path / "inventory_20261117T080000.csv"
    drop.write_text("upc,quantity\n1,1\n")
    out = cli("check", str(drop), "--partners", str(partners), "--partner", "p")
    assert out.returncode == 2, out.stderr
    assert out.stderr.count("\n") == 1 and where in out.stderr, out.stderr


def test_a_workbook_bomb_is_rejected_whole_without_being_opened(tmp_path):
    import zipfile

    from tests.partner_files import write_xlsx

    bomb = tmp_path / "STOCK_202611170800.xlsx"
    write_xlsx(bomb, [("Inventory", [["Stock"], ["EAN", "Whse", "Qty On Hand"], ["12345000017", "MAIN", "1"]])])
    with zipfile.ZipFile(bomb, "a", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as book:
        with book.open("xl/media/padding.bin", "w", force_zip64=True) as member:  # 1.5 GB of zeros, ~1.5 MB zipped
            chunk = bytes(1 << 20)
            for _ in range(1536):
                member.write(chunk)
    assert bomb.stat().st_size < 20 << 20
    partners = partners_file(tmp_path / "partners.yaml", {"northwind": northwind(SAMPLE / "northwind")})
    measure = (
        "import resource, runpy, sys; sys.argv = ['stockdrop', *sys.argv[1:]]\n"
        "try:\n    runpy.run_module('pipelines', run_name='__main__')\n"
        "finally:\n    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024, file=sys.stderr)"
    )
    out = subprocess.run(
        [sys.executable, "-c", measure, "check", str(bomb), "--partners", str(partners), "--partner", "northwind"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 1, out.stderr
    assert "decompressed content exceeds max_decompressed_mb (1024 MB)" in out.stderr
    assert int(out.stderr.strip().splitlines()[-1]) < 600  # MB at peak: nothing was decompressed
