"""Files through Dagster itself (issue 13): the daemon, the multiprocess executor, batch runs.

1. **Backfill**: 200 small files through one backfill (SQLite instance and store), against
   `stockdrop replay` of the same files from a local folder (target ≤ 3×). The backfill is
   requested as the UI requests one (tests/integration/backfills.py); its time runs from the
   request to the last run's end (the daemon already running), and the daemon's pick-up (its
   backfill loop wakes every 30 s) is printed apart.
2. **Two accounts at once**: each account's large files (a catalog and an inventory file) as a
   backfill of its own, both requested together, against the same two one after the other
   (target ≤ 0.7×), each side the runs' own span (the daemon's pick-up is left out of both).
   PostgreSQL store (SQLite serialises every writer of its file), SQLite instance.

Run: `.venv/bin/python benchmarks/dagster_batches.py [--files 200] [--rows 200000]`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.many_files import write_inbox  # noqa: E402
from tests.integration.deployment import Deployment  # noqa: E402
from tests.integration.postgres_server import create_database, start_postgres  # noqa: E402


def replay(folder: Path, root: Path) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STOCKDROP_", "DAGSTER_"))}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pipelines", "replay", str(folder), "--store", f"sqlite:///{root / 'r.db'}"],
                   env={**env, "STOCKDROP_DATA_DIR": str(root / "r-data")}, check=True, capture_output=True, cwd=REPO)  # fmt: skip
    return time.perf_counter() - started


def large_files(folder: Path, rows: int, prefix: str) -> None:
    folder.mkdir(parents=True)
    with (folder / "styles_20260101T000000.csv").open("w") as f:
        f.write("style_number,style_identifier,color_code,size_name,upc\n")
        f.writelines(f"{prefix}{n // 8},FW26,C{n % 4},S{n % 2},{n:012d}\n" for n in range(rows))
    with (folder / "inventory_20260102T000000_overwrite.csv").open("w") as f:
        f.write("upc,quantity\n")
        f.writelines(f"{n:012d},{n % 97}\n" for n in range(rows))


def bench_backfill(scratch: Path, files: int) -> None:
    inbox = scratch / "inbox"
    inbox.mkdir(parents=True)
    write_inbox(inbox, files)
    floor = replay(inbox, scratch)
    deployment = Deployment(scratch / "dagster", {"bench": inbox}, f"sqlite:///{scratch / 'b.db'}")
    try:
        pickup, total = deployment.backfill(["bench"])
    finally:
        deployment.stop()
    n = files + 1
    print(f"backfill of {n} files: {total:.1f} s (daemon pick-up {pickup:.1f} s, runs {total - pickup:.1f} s); "
          f"replay {floor:.1f} s; backfill / replay = {total / floor:.2f}× (target ≤ 3×), "
          f"runs alone {(total - pickup) / floor:.2f}×")  # fmt: skip


def bench_two_accounts(scratch: Path, rows: int) -> None:
    partners = {p: scratch / "drops" / p for p in ("north", "south")}
    for p, folder in partners.items():
        large_files(folder, rows, p.upper())
    pg = start_postgres(scratch / "pg")
    try:
        # The runs' own span (first start to last end): the daemon's pick-up is the same fixed
        # wait for one backfill or two, so it is left out of both sides.
        one = Deployment(scratch / "one", partners, create_database(pg, "one"))
        try:
            alone = [end - start for start, end in (one.backfill([p]) for p in partners)]
        finally:
            one.stop()
        both = Deployment(scratch / "both", partners, create_database(pg, "both"))
        try:
            start, end = both.backfill(list(partners))
            together = end - start
        finally:
            both.stop()
    finally:
        pg.stop()
    print(f"two accounts × {rows} rows (catalog + inventory): one after the other {sum(alone):.1f} s "
          f"({' + '.join(f'{a:.1f}' for a in alone)}), at once {together:.1f} s; "
          f"at once / one after the other = {together / sum(alone):.2f}× (target ≤ 0.7×)")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--only", choices=["backfill", "accounts"])
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="stockdrop-dagster-"))
    scratch.chmod(0o755)
    try:
        if args.only in (None, "backfill"):
            bench_backfill(scratch / "backfill", args.files)
        if args.only in (None, "accounts"):
            bench_two_accounts(scratch / "accounts", args.rows)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
