"""The operator CLI as a user runs it: a subprocess, exit codes, one-line errors, no tracebacks."""

import csv
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"


def cli(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "pipelines", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture
def inbox(tmp_path):
    folder = tmp_path / "inbox"
    folder.mkdir()
    return folder


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.iterdir() if (p / "drops").is_dir()))
def test_contract_examples_through_the_cli_on_both_backends(tmp_path, inbox, store_url, example):
    """What ../shared/tools/check-examples does, on SQLite and PostgreSQL (data folder in tmp)."""
    env = {"STOCKDROP_DATA_DIR": str(tmp_path / "data")}
    folder = EXAMPLES / example
    for phase in ("drops", "late"):
        if not (folder / phase).is_dir():
            continue
        for f in (folder / phase).iterdir():
            shutil.copy2(f, inbox)
        result = cli("replay", str(inbox), "--store", store_url, env=env)
        assert result.returncode == 0, result.stderr
    assert cli("state", "--store", store_url, env=env).stdout == (folder / "expected_state.csv").read_text()
    assert (tmp_path / "data" / "fold_steps").is_dir()


def test_replay_processes_only_what_is_new_and_handles_late_files(tmp_path, inbox):
    store = f"sqlite:///{tmp_path}/s.db"
    example = EXAMPLES / "03-late-drop"
    for f in (example / "drops").iterdir():
        shutil.copy2(f, inbox)
    first = cli("replay", str(inbox), "--store", store)
    assert first.returncode == 0, first.stderr
    assert "4 file(s) processed" in first.stderr
    again = cli("replay", str(inbox), "--store", store)
    assert "0 file(s) processed" in again.stderr
    for f in (example / "late").iterdir():
        shutil.copy2(f, inbox)
    late = cli("replay", str(inbox), "--store", store)
    assert "1 file(s) processed" in late.stderr
    state = cli("state", "--store", store, "--format", "csv").stdout
    assert state == (example / "expected_state.csv").read_text()


def test_rejects_and_json_formats(tmp_path, inbox):
    store = f"sqlite:///{tmp_path}/s.db"
    for f in (EXAMPLES / "01-keys-update-overwrite" / "drops").iterdir():
        shutil.copy2(f, inbox)
    (inbox / "stock_final_v2.csv").write_text("upc,quantity\n1,2\n")
    assert cli("replay", str(inbox), "--store", store).returncode == 0
    rows = list(csv.DictReader(io.StringIO(cli("rejects", "--store", store).stdout)))
    assert list(rows[0]) == ["partner", "file", "line", "column", "value", "reason"]
    got = {(r["file"], r["line"], r["reason"].split(":")[0]) for r in rows}
    assert ("inventory_20261102T080000.csv", "6", "unknown warehouse") in got
    assert ("inventory_20261102T080000.csv", "8", "unknown item") in got
    assert ("stock_final_v2.csv", "", "unrecognised file name") in got
    state_json = cli("state", "--store", store, "--format", "json", "--account", "default").stdout
    assert '"warehouse_code":"SPRING"' in state_json and '"available_date":"2027-02-01"' in state_json


def test_export_writes_one_set_of_files_per_warehouse(tmp_path, inbox):
    store = f"sqlite:///{tmp_path}/s.db"
    for f in (EXAMPLES / "01-keys-update-overwrite" / "drops").iterdir():
        shutil.copy2(f, inbox)
    assert cli("replay", str(inbox), "--store", store).returncode == 0
    out = tmp_path / "out"
    result = cli("export", "--store", store, "--out", str(out))
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in out.iterdir())
    assert "stock_default_NYC.csv" in names and "joor_default_SPRING.csv" in names
    first = (out / "stock_default_DEFAULT.csv").read_bytes()
    assert cli("export", "--store", store, "--out", str(out)).returncode == 0
    assert (out / "stock_default_DEFAULT.csv").read_bytes() == first


@pytest.mark.parametrize(
    "args,message",
    [
        (
            ["replay", "/no/such/inbox", "--store", "sqlite:///{tmp}/s.db"],
            "inbox folder '/no/such/inbox' does not exist",
        ),
        (["state", "--store", "mysql://x/y"], "unsupported store 'mysql'"),
        (["sync", "--partners", "{tmp}/missing.yaml", "--store", "sqlite:///{tmp}/s.db"], "cannot read partners file"),
        (["sync", "--partners", "{tmp}/bad.yaml", "--store", "sqlite:///{tmp}/s.db"], "partners.a.colour: unknown key"),
        (["replay", "{tmp}", "--partner", "nobody", "--store", "sqlite:///{tmp}/s.db"], "unknown partner 'nobody'"),
    ],
)
def test_user_errors_are_one_line_without_traceback(tmp_path, args, message):
    (tmp_path / "bad.yaml").write_text("partners:\n  a: {account: x, source: d, colour: red}\n")
    result = cli(*[a.format(tmp=tmp_path) for a in args])
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_sync_takes_only_stable_files_and_report_summarises(tmp_path):
    inbox = tmp_path / "drops"
    shutil.copytree(SAMPLE / "drops", inbox)
    partners = tmp_path / "partners.yaml"
    partners.write_text(
        "partners:\n  brand:\n    account: brand\n    source: drops\n    settle_s: 0.5\n    exports: {dir: exports}\n"
    )
    store = f"sqlite:///{tmp_path}/s.db"
    result = cli("sync", "--partners", str(partners), "--store", store)
    assert result.returncode == 0, result.stderr
    assert "14 new stable file(s) of 14 listed" in result.stderr
    exported = {p.name for p in (tmp_path / "exports").iterdir()}
    assert {"stock_brand_LA.csv", "joor_brand_NYC.csv", "quantity_brand_SPRING27.csv"} <= exported
    again = cli("sync", "--partners", str(partners), "--store", store)
    assert "0 new stable file(s)" in again.stderr
    report = cli("report", "--partners", str(partners), "--store", store).stdout
    assert "Files (14):" in report and "brand/LA" in report and "Rejects: 11" in report


def test_held_approve_deny_and_explain_through_the_cli(tmp_path):
    """The sample partner's guard holds the truncated overwrite; an operator looks and decides."""
    shutil.copytree(SAMPLE, tmp_path / "sample_data")
    (tmp_path / "dagster_home").mkdir()
    partners = tmp_path / "sample_data" / "partners.yaml"
    store, env = f"sqlite:///{tmp_path}/s.db", {"STOCKDROP_DATA_DIR": str(tmp_path / "data")}
    never = f"sqlite:///{tmp_path}/never.db"
    for read_only in (["held"], ["explain", "--account", "demo", "--warehouse", "NYC", "--upc", "1"]):
        missing = cli(*read_only, "--store", never)
        assert missing.returncode == 2 and "no store" in missing.stderr
    assert not (tmp_path / "never.db").exists()

    drops = str(tmp_path / "sample_data" / "drops")
    ran = cli("replay", drops, "--store", store, "--partners", str(partners), "--partner", "demo", env=env)
    assert ran.returncode == 0, ran.stderr
    assert "1 held (stockdrop held)" in ran.stderr
    held = list(csv.DictReader(io.StringIO(cli("held", "--store", store).stdout)))
    assert [(r["partner"], r["file"]) for r in held] == [("demo", "inventory_20261123T060000_overwrite.csv")]
    assert "over max_zeroed_pct 25" in held[0]["reason"] and "NYC:" in held[0]["ats_change"]
    assert int(held[0]["rows_zeroed"]) > 100
    result = tmp_path / "dagster_home" / "results" / "inventory_20261123T060000_overwrite.csv.result.json"
    assert '"status": "held"' in result.read_text()

    # An applied file cannot be approved (v1.2: deny would take it back out, see test_real_world_mess).
    wrong = cli("approve", "demo/inventory_20261122T060000.csv", "--store", store, env=env)
    assert wrong.returncode == 2 and "cannot be approved: it is applied, not held or denied" in wrong.stderr
    before = cli("state", "--store", store).stdout
    approved = cli("approve", "demo/inventory_20261123T060000_overwrite.csv", "--store", store,
                   "--partners", str(partners), env=env)  # fmt: skip
    assert approved.returncode == 0, approved.stderr
    after = cli("state", "--store", store).stdout
    assert (
        after != before and cli("held", "--store", store).stdout.strip() == "partner,file,reason,ats_change,rows_zeroed"
    )
    assert '"status": "applied"' in result.read_text()

    row = next(r for r in csv.DictReader(io.StringIO(after)) if r["warehouse_code"] == "NYC" and r["on_hand"] != "0")
    explained = cli("explain", "--store", store, "--account", "demo", "--warehouse", "NYC", "--upc", row["upc"])
    assert explained.returncode == 0, explained.stderr
    steps = list(csv.DictReader(io.StringIO(explained.stdout)))
    assert list(steps[0]) == ["as_of", "partner", "file", "line", "step", "quantity", "on_hand", "pending", "ats"]
    assert steps[-1]["file"] == "inventory_20261123T060000_overwrite.csv" and steps[-1]["step"] == "set"
    assert [steps[-1][c] for c in ("on_hand", "pending", "ats")] == [row["on_hand"], row["pending"], row["ats"]]
    unknown = cli("explain", "--store", store, "--account", "demo", "--warehouse", "NOWHERE", "--upc", row["upc"])
    assert unknown.returncode == 2 and "has no warehouse 'NOWHERE'" in unknown.stderr
