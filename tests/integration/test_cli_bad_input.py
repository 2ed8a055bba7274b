"""The CLI under bad input and bad conditions (issue 11, cli.md v1.1): one line in our words, exit
statuses, read-only commands that never create a store, gzip bombs, odd warehouse codes, one
warehouse or channel that fails while the others go on."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

pytestmark = pytest.mark.integration

CATALOG = "style_number,style_identifier,color_code,size_name,upc\nTS100,FW26,BLK,S,012345678905\n"


def cli(*args, env=None, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "pipelines", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )


def one_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr and len(lines) == 1, result.stderr
    return lines[0]


def test_version():
    result = cli("--version")
    assert result.returncode == 0 and result.stdout.strip() == "stockdrop 0.1.0"


@pytest.mark.parametrize("command", [["state"], ["rejects"], ["report"]])
def test_read_only_commands_never_create_a_store(tmp_path, command):
    db = tmp_path / "nothing" / "here.db"
    result = cli(*command, "--store", f"sqlite:///{db}")
    assert result.returncode == 2
    assert "no store at" in one_line(result)
    assert not db.exists() and not db.parent.exists()


def test_an_unreachable_postgresql_is_one_line(tmp_path):
    result = cli("replay", str(tmp_path), "--store", "postgresql+psycopg://nobody@127.0.0.1:9/none")
    assert result.returncode == 1
    assert "cannot open the store" in one_line(result)


def test_replays_started_together_on_a_fresh_sqlite_store_all_succeed(tmp_path):
    for attempt in range(2):
        inbox = tmp_path / f"inbox{attempt}"
        inbox.mkdir()
        (inbox / "styles_20261101T000000.csv").write_text(CATALOG)
        store = f"sqlite:///{tmp_path}/fresh{attempt}.db"
        runs = [
            subprocess.Popen(
                [sys.executable, "-m", "pipelines", "replay", str(inbox), "--store", store],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        for run in runs:
            _, err = run.communicate(timeout=600)
            assert run.returncode == 0, err
            assert "database is locked" not in err


def _bomb(path: Path, gib: int) -> None:
    """A valid gzip of a header and `gib` GiB of zeros, made from repeated members in seconds."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    member = compressor.compress(b"\0" * (256 << 20)) + compressor.flush()
    with open(path, "wb") as f:
        f.write(gzip.compress(b"upc,quantity\n"))
        for _ in range(gib * 4):
            f.write(member)


def test_a_gzip_bomb_is_rejected_once_in_little_memory(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    _bomb(inbox / "inventory_20261102T000000.csv.gz", gib=4)
    (inbox / "styles_20261101T000000.csv").write_text(CATALOG)
    (inbox / "inventory_20261103T000000.csv").write_text("upc,quantity\n012345678905,4\n")
    store = f"sqlite:///{tmp_path}/s.db"
    # The peak RSS of the replay process (and its children), measured by a parent of its own.
    measure = (
        "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(r.returncode)"
    )
    result = subprocess.run(
        [sys.executable, "-c", measure, sys.executable, "-m", "pipelines", "replay", str(inbox), "--store", store],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert "Stack Trace" not in result.stderr and "Traceback" not in result.stderr  # rejected, not crashed
    peak_mb = int(result.stdout.split()[-1]) / 1024
    assert peak_mb < 500, f"peak RSS {peak_mb:.0f} MB"
    rejects = cli("rejects", "--store", store).stdout.splitlines()
    bomb = [r for r in rejects if "inventory_20261102T000000.csv.gz" in r]
    assert len(bomb) == 1 and "max_decompressed_mb" in bomb[0]
    assert cli("state", "--store", store).stdout.splitlines()[1].split(",")[-2] == "4"
    again = cli("replay", str(inbox), "--store", store)
    assert again.returncode == 0 and "0 file(s) processed" in again.stderr  # not retried


def _partners(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "partners.yaml"
    path.write_text("partners:\n" + body)
    return path


def test_any_warehouse_code_is_exportable_and_one_account_that_cannot_export_stops_no_other(tmp_path):
    for name in ("good", "bad"):
        inbox = tmp_path / name
        inbox.mkdir()
        (inbox / "warehouses_20261101T000000.csv").write_text('warehouse_code\nA B\n../x\n"x...y"\n')
        (inbox / "styles_20261101T000000.csv").write_text(CATALOG)
        (inbox / "inventory_20261102T000000.csv").write_text(
            "upc,warehouse_code,quantity\n012345678905,A B,1\n012345678905,../x,2\n012345678905,x...y,3\n"
        )
    (tmp_path / "blocked").write_text("a file where the bad account's export folder should be")
    partners = _partners(
        tmp_path,
        "  good: {account: good, source: good, settle_s: 0, exports: {dir: out}}\n"
        "  bad: {account: bad, source: bad, settle_s: 0, exports: {dir: blocked/out}}\n",
    )
    store = f"sqlite:///{tmp_path}/s.db"
    result = cli("sync", "--partners", str(partners), "--store", store)
    assert result.returncode == 1 and "publishing step(s) failed" in result.stderr
    assert "Traceback" not in result.stderr
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert {"stock_good_A%20B.csv", "stock_good_%2E%2E%2Fx.csv", "stock_good_x%2E%2E%2Ey.csv"} <= set(names)
    assert (tmp_path / "out" / "stock_good_%2E%2E%2Fx.csv").read_text().count("\n") == 2
    assert not any(
        p.name.startswith("stock_") for p in tmp_path.rglob("*") if p.parent != tmp_path / "out"
    )  # nothing escaped the folder


def test_push_exits_1_naming_each_channel_with_failed_or_unacknowledged_batches(tmp_path, httpserver: HTTPServer):
    inbox = tmp_path / "drops"
    inbox.mkdir()
    (inbox / "styles_20261101T000000.csv").write_text(CATALOG)
    (inbox / "inventory_20261102T000000.csv").write_text("upc,quantity\n012345678905,4\n")
    httpserver.expect_request("/v2/bulk-inventory", method="POST").respond_with_data("no", status=503)
    partners = _partners(
        tmp_path,
        "  brand:\n    account: brand\n    source: drops\n    settle_s: 0\n"
        f"    channels:\n      joor: {{base_url: '{httpserver.url_for('')[:-1]}', "
        "max_attempts: 1, backoff_initial_s: 0}\n",
    )
    store = f"sqlite:///{tmp_path}/s.db"
    assert cli("replay", str(inbox), "--store", store, "--partners", str(partners)).returncode == 0
    pushed = cli("push", "--partners", str(partners), "--store", store)
    assert pushed.returncode == 1
    lines = pushed.stderr.strip().splitlines()
    assert lines[0].startswith("stockdrop: push brand/joor: ") and "Traceback" not in pushed.stderr

    httpserver.clear()
    httpserver.expect_request("/v2/bulk-inventory", method="POST").respond_with_json({"ok": True})
    assert cli("push", "--partners", str(partners), "--store", store).returncode == 0


def test_read_only_commands_never_import_dagster(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "styles_20261101T000000.csv").write_text(CATALOG)
    store = f"sqlite:///{tmp_path}/s.db"
    assert cli("replay", str(inbox), "--store", store).returncode == 0
    commands = [
        ["state", "--store", store],
        ["rejects", "--store", store],
        ["report", "--store", store],
        ["held", "--store", store],
        ["explain", "--store", store, "--account", "default", "--warehouse", "DEFAULT", "--upc", "012345678905"],
        ["--version"],
        ["--help"],
    ]
    script = (
        "import sys\nfrom pipelines.cli import cli\n"
        f"for args in {commands!r}:\n"
        "    try:\n        cli.main(args, standalone_mode=False)\n    except SystemExit:\n        pass\n"
        "print('dagster imported' if 'dagster' in sys.modules else 'no dagster', file=sys.stderr)\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stderr.strip().splitlines()[-1] == "no dagster"
