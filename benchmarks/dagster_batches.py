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
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import dagster as dg  # noqa: E402

from benchmarks.many_files import write_inbox  # noqa: E402
from pipelines.defs.batches import ACCOUNT_TAG  # noqa: E402
from pipelines.defs.partitions import drop_files, file_key  # noqa: E402
from tests.integration.backfills import request_backfills, stop_sensors  # noqa: E402
from tests.integration.postgres_server import create_database, start_postgres  # noqa: E402

BIN = Path(sys.executable).parent
CODE = ["-m", "pipelines.definitions"]


class Deployment:
    """A Dagster home with the repository's SQLite instance config, partners, a store, the daemon."""

    def __init__(self, root: Path, partners: dict[str, Path], store_url: str):
        self.root = root
        home = root / "home"
        home.mkdir(parents=True)
        shutil.copyfile(REPO / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
        lines = ["partners:", *(f"  {p}: {{account: {p}, source: {src}, settle_s: 0}}" for p, src in partners.items())]
        (root / "partners.yaml").write_text("\n".join(lines) + "\n")
        self.partners = partners
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("STOCKDROP_", "DAGSTER_"))}
        self.env = {
            **clean,
            "DAGSTER_HOME": str(home),
            "STOCKDROP_STORE_URL": store_url,
            "STOCKDROP_PARTNERS": str(root / "partners.yaml"),
            "STOCKDROP_DATA_DIR": str(root / "data"),
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        # Files go in by backfills only: the sensors (on by default) are switched off first.
        stop_sensors([*(f"drops_{p}" for p in partners), "publish_on_new_files"], self.env)
        self.daemon = subprocess.Popen(
            [str(BIN / "dagster-daemon"), "run", *CODE],
            env=self.env,
            cwd=REPO,
            stdout=(root / "daemon.log").open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.instance = self._instance()
        # Measured from a running daemon, as an operator's backfill meets it: its loops have beaten once.
        deadline = time.monotonic() + 120
        while not {"BACKFILL", "QUEUED_RUN_COORDINATOR"} <= set(self.instance.get_daemon_heartbeats()):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the daemon did not start; see {root / 'daemon.log'}")
            time.sleep(0.5)

    def _instance(self) -> dg.DagsterInstance:
        os.environ["DAGSTER_HOME"] = self.env["DAGSTER_HOME"]
        return dg.DagsterInstance.get()

    def keys(self, partner: str) -> list[str]:
        return [file_key(partner, f.name) for f in sorted(self.partners[partner].iterdir())]

    def backfill(self, partners: list[str]) -> tuple[float, float]:
        """Backfills of `partners` requested together: (request to first run start, request to
        last run end); the runs' own span is the difference."""
        before = {r.run_id for r in self.instance.get_runs(dg.RunsFilter(job_name="apply_drop"))}
        for partner in partners:
            self.instance.add_dynamic_partitions(drop_files.name, self.keys(partner))
        request_backfills([(self.keys(p), {ACCOUNT_TAG: p}) for p in partners], self.env)
        requested = time.time()  # as the UI's request returns
        wanted = {k for p in partners for k in self.keys(p)}
        deadline = time.monotonic() + 1800
        while time.monotonic() < deadline:
            records = [
                r
                for r in self.instance.get_run_records(dg.RunsFilter(job_name="apply_drop"))
                if r.dagster_run.run_id not in before
            ]
            done = wanted <= self.instance.get_materialized_partitions(dg.AssetKey("file_events"))
            if records and all(r.dagster_run.is_finished for r in records):
                failed = [r.dagster_run.run_id for r in records if r.dagster_run.status != dg.DagsterRunStatus.SUCCESS]
                if failed:
                    raise RuntimeError(f"runs failed: {failed}; see {self.root / 'daemon.log'}")
                if done:
                    created = min(r.create_timestamp.timestamp() for r in records)
                    first = min(r.start_time for r in records if r.start_time)
                    print(f"  {len(records)} run(s): created {created - requested:.1f} s after the request, "
                          f"started {first - created:.1f} s after that")  # fmt: skip
                    return first - requested, max(r.end_time for r in records if r.end_time) - requested
            time.sleep(0.5)
        raise RuntimeError(f"backfill not finished; see {self.root / 'daemon.log'}")

    def stop(self) -> None:
        os.killpg(self.daemon.pid, signal.SIGTERM)
        self.daemon.wait(timeout=60)


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
