"""Crash safety (issue 6): a replay killed with SIGKILL at any moment leaves all of a fold or none,
and replaying again gives exactly the state of an uninterrupted run.

The store starts with a history of 51k-row inventory files over three warehouses (the second an
overwrite). The replay under test adds a late 51k-row file before that overwrite (a re-fold from
scratch), a newer 51k-row dec_pending file and an orders file. A subprocess runs it
(tests/integration/replay_driver.py: the adapters without Dagster's start-up, so the kills land in
our code) and is killed at delays spread over a clean run's duration. After each kill:

- the state tables are exactly the state before the replay or exactly the final state (the fold
  is one transaction), and the fold steps' before-images agree with them: undoing every step
  from the tables gives back the empty account;
- every fold step's images exist on disk, every parsed file's rows exist;
and after a second, uninterrupted replay the state and rejects equal the clean run's and every
file is parsed exactly once.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from pipelines.adapters.fold_steps import FoldSteps, load_images
from pipelines.adapters.state_tables import StateTables
from pipelines.adapters.store import SqlStore
from pipelines.domain.fold import FRAME_KEYS, FoldState, initial_state
from pipelines.domain.rewind import earliest, rewound
from tests.integration.replay_driver import replay

pytestmark = pytest.mark.integration

PROJECT_DIR = Path(__file__).resolve().parents[2]
KILLS = 12  # kills that hit a running replay
MAX_ATTEMPTS = 30
MIN_KILLS_WHILE_RUNNING = KILLS
SKUS = 17_000  # x 3 warehouses: 51k rows per inventory file
# Kills land between the interpreter's imports (nothing to tear yet) and just before a clean
# run's end, so nearly all of them hit landing, parsing, the fold or its commit.
KILL_WINDOW = (0.3, 0.95)
WAREHOUSES = ["NYC", "LA", "SPRING"]


def _inventory(path: Path, factor: int) -> None:
    """One row per (warehouse, SKU), quantities varying with `factor`."""
    n = len(WAREHOUSES) * SKUS
    pl.DataFrame(
        {
            "upc": [f"{i % SKUS:012d}" for i in range(n)],
            "warehouse_code": [WAREHOUSES[i // SKUS] for i in range(n)],
            "quantity": [(i * factor) % 50 for i in range(n)],
        }
    ).write_csv(path)


def _history(inbox: Path, later: bool) -> None:
    inbox.mkdir(parents=True, exist_ok=True)
    pl.DataFrame(
        {
            "warehouse_code": WAREHOUSES,
            "type": ["IMMEDIATE", "IMMEDIATE", "FUTURE"],
            "available_date": [None, None, "2021-06-01"],
        }
    ).write_csv(inbox / "warehouses_20210301T000000.csv")
    pl.DataFrame(
        {
            "style_number": [f"ST{i // 20:05d}" for i in range(SKUS)],
            "style_identifier": ["FW21"] * SKUS,
            "color_code": [f"{i % 4:03d}" for i in range(SKUS)],
            "size_name": [f"S{i % 5}" for i in range(SKUS)],
            "upc": [f"{i:012d}" for i in range(SKUS)],
        }
    ).write_csv(inbox / "styles_20210301T000000.csv")
    _inventory(inbox / "inventory_20210302T060000.csv", 3)
    _inventory(inbox / "inventory_20210304T060000_overwrite.csv", 7)
    if later:
        _inventory(inbox / "inventory_20210303T060000.csv", 5)  # late: before the overwrite
        _inventory(inbox / "inventory_20210305T060000_decpending.csv", 11)
        pl.DataFrame(
            {
                "order_id": [f"PO{i % 97}" for i in range(600)],
                "upc": [f"{(i * 31) % SKUS:012d}" for i in range(600)],
                "quantity": [1 + i % 4 for i in range(600)],
                "status": ["Pending", "Approved", "Shipped"] * 200,
                "order_date": ["2021-03-05"] * 600,
                "warehouse_code": ["NYC", "LA", "BOS"] * 200,  # BOS: rejects
            }
        ).write_csv(inbox / "orders_20210305T120000.csv")


class Workdir:
    """A store and data folder at one fixed place (the ledger records absolute paths), restorable."""

    def __init__(self, root: Path):
        self.dir = root / "work"
        self.url = f"sqlite:///{self.dir / 'stockdrop.db'}"
        self.data = self.dir / "data"
        self.template = root / "template"

    def save_template(self) -> None:
        shutil.copytree(self.dir, self.template)

    def restore(self) -> None:
        shutil.rmtree(self.dir)
        shutil.copytree(self.template, self.dir)

    def replay_process(self, inbox: Path) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.integration.replay_driver", str(inbox), self.url, str(self.data)],
            cwd=PROJECT_DIR,
            stderr=subprocess.PIPE,
        )

    def snapshot(self) -> dict:
        """Everything a crash could tear: the fold's tables, rejects, ledger, fold steps.

        Read with sqlite3 itself: 51k-row tables several times per kill, and every column of
        every state table, so a torn order_lines or items table shows as well as inventory.
        """
        conn = sqlite3.connect(self.dir / "stockdrop.db")
        try:
            tables = {t: conn.execute(f"SELECT * FROM {t} ORDER BY {', '.join(_KEYS[t])}").fetchall() for t in _KEYS}
            # file_id is new for each run's versions; everything else of a reject must match.
            rejects = conn.execute(
                'SELECT partner, file, stage, line, "column", value, reason FROM rejects ORDER BY 1, 2, 3, 4, 5, 6, 7'
            ).fetchall()
            ledger = _dicts(conn.execute("SELECT * FROM drop_files WHERE status = 'parsed'"))
            versions = conn.execute("SELECT partner, name, sha256, status FROM drop_files").fetchall()
        finally:
            conn.close()
        store = SqlStore(self.url, auto_migrate=False)
        try:
            with store.transaction() as sa_conn:
                steps = FoldSteps(store).of(sa_conn, "default")
                undone = rewound(
                    StateTables(store).whole_state(sa_conn, "default"),
                    earliest([load_images(s.images_path) for s in steps], initial_state()),
                )
        finally:
            store.dispose()
        inventory = pl.DataFrame([r[1:] for r in tables["inventory"]], orient="row", schema=_INVENTORY_SCHEMA)
        return {
            "state": tables,
            "rejects": rejects,
            "ledger": ledger,
            "versions": versions,
            "steps": steps,
            "undone": undone,
            "inventory": inventory,
        }


def _dicts(cursor: sqlite3.Cursor) -> list[dict]:
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


_KEYS = {
    "warehouses": ["account", "warehouse_code"],
    "linesheets": ["account", "linesheet_code"],
    "items": ["account", "style_number", "style_identifier", "color_code", "size_name"],
    "inventory": ["account", "warehouse_code", "style_number", "style_identifier", "color_code", "size_name"],
    "order_lines": [
        "account",
        "order_id",
        "warehouse_code",
        "style_number",
        "style_identifier",
        "color_code",
        "size_name",
    ],
}
_INVENTORY_COLUMNS = [
    "warehouse_code",
    "style_number",
    "style_identifier",
    "color_code",
    "size_name",
    "on_hand",
    "pending",
    "ats",
    "available_date",
    "is_set",
]
_INVENTORY_SCHEMA = {
    c: pl.Int64 if c in ("on_hand", "pending", "ats", "is_set") else pl.String for c in _INVENTORY_COLUMNS
}


def assert_consistent(snap: dict) -> None:
    """No referenced file is missing, and the steps' before-images agree with the state tables."""
    for f in snap["ledger"]:
        assert Path(f["events_path"]).is_file(), f["name"]
    assert snap["steps"]
    counts = [s.files_applied for s in snap["steps"]]
    assert counts == sorted(set(counts))  # one chain of steps, each extending the one before
    empty = initial_state()
    for name in FoldState.FRAMES:
        keys = FRAME_KEYS[name]
        assert getattr(snap["undone"], name).sort(keys).rows() == getattr(empty, name).sort(keys).rows(), name


def test_replay_killed_anywhere_then_replayed_equals_a_clean_run(tmp_path):
    work = Workdir(tmp_path)
    replay(_make_inbox(tmp_path / "inbox-before", later=False), work.url, work.data)
    work.save_template()
    before = work.snapshot()
    inbox = _make_inbox(tmp_path / "inbox", later=True)

    started = time.perf_counter()
    clean_run = work.replay_process(inbox)
    assert clean_run.wait() == 0, clean_run.stderr.read().decode()
    clean_seconds = time.perf_counter() - started
    clean = work.snapshot()
    assert_consistent(clean)
    assert clean["state"] != before["state"] and len(clean["ledger"]) == 7
    assert any(r[-1].startswith("unknown warehouse") for r in clean["rejects"])

    # Delays spread evenly (golden-ratio steps) over the window; a run that had already ended
    # when its kill came narrows the window, as the machine is faster than the clean run said.
    first, last = KILL_WINDOW[0], clean_seconds * KILL_WINDOW[1]
    killed_while_running = 0
    for k in range(MAX_ATTEMPTS):
        if killed_while_running == KILLS:
            break
        work.restore()
        delay = first + (last - first) * ((k * 0.618034) % 1)
        proc = work.replay_process(inbox)
        time.sleep(delay)
        running = proc.poll() is None
        proc.kill()
        proc.wait()
        killed_while_running += running
        if not running:
            last = max(first + 0.2, delay * 0.9)

        torn = work.snapshot()
        assert torn["state"] in (before["state"], clean["state"]), f"half-applied state after a kill at {delay:.2f}s"
        assert_consistent(torn)

        again = work.replay_process(inbox)
        assert again.wait() == 0, again.stderr.read().decode()
        after = work.snapshot()
        assert after["state"] == clean["state"], f"kill at {delay:.2f}s"
        assert after["rejects"] == clean["rejects"]
        assert sorted(f["name"] for f in after["ledger"]) == sorted(f["name"] for f in clean["ledger"])
        assert len(after["versions"]) == len(clean["versions"])  # no version recorded twice
        assert_consistent(after)

    assert killed_while_running >= MIN_KILLS_WHILE_RUNNING


def _make_inbox(path: Path, later: bool) -> Path:
    _history(path, later)
    return path
