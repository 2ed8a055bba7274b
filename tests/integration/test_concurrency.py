"""Two processes working on the same account at once (issue 6), on SQLite and PostgreSQL.

Two `stockdrop replay` of the same inbox start together against one store. Both must exit 0 and
leave exactly the state and rejects of a single replay, with one ledger row per file, one
chain of fold steps up to every file and their before-images on disk: the account lock serialises the folds and
the ledger must not record a file twice when both processes land it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from pipelines.adapters.fold_steps import FoldSteps
from pipelines.adapters.store import SqlStore
from tests.drop_histories import RandomChooser, current_versions, random_history
from tests.integration.postgres_server import create_database
from tests.integration.replay_driver import replay

pytestmark = pytest.mark.integration

PROJECT_DIR = Path(__file__).resolve().parents[2]
HISTORY_SEED = 1016  # warehouses, styles, seed and overwrite-decpending inventory, orders


@pytest.fixture
def other_store_url(store_url, request, tmp_path):
    """A second empty store on the same backend as `store_url`."""
    if store_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'single' / 'stockdrop.db'}"
    return create_database(request.getfixturevalue("pg_server"))


def cli_replay(inbox: Path, url: str, data_dir: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "STOCKDROP_STORE_URL")}
    env["STOCKDROP_DATA_DIR"] = str(data_dir)  # both processes share the store's data folder
    return subprocess.Popen(
        [sys.executable, "-m", "pipelines", "replay", str(inbox), "--store", url],
        cwd=PROJECT_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_replays_at_once_end_as_one(store_url, other_store_url, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    files = current_versions(random_history(RandomChooser(HISTORY_SEED), max_files=10))
    for v in files:
        (inbox / v.name).write_text(v.text)
    replay(inbox, other_store_url, tmp_path / "single-data")
    single = SqlStore(other_store_url)
    data_dir = tmp_path / "data"

    procs = [cli_replay(inbox, store_url, data_dir) for _ in range(2)]
    outcomes = [(p.wait(timeout=240), p.stderr.read()) for p in procs]

    assert [rc for rc, _ in outcomes] == [0, 0], outcomes
    store = SqlStore(store_url)
    try:
        assert store.state().rows() == single.state().rows()
        assert store.rejects().rows() == single.rejects().rows()
        f = store.t["drop_files"]
        with store.transaction() as conn:
            ledger = conn.execute(sa.select(f.c.name, f.c.status)).all()
            steps = FoldSteps(store).of(conn, "default")
        assert sorted(ledger) == sorted((v.name, "parsed") for v in files)
        counts = [s.files_applied for s in steps]
        assert counts == sorted(set(counts)) and counts[-1] == len(files)  # one chain, up to every file
        for s in steps:
            assert Path(s.images_path).is_relative_to(data_dir) and Path(s.images_path).is_dir()
    finally:
        store.dispose()
        single.dispose()
