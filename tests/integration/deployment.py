"""A Dagster deployment for the tests and the benchmarks: a home with the repository's SQLite
instance config, a partners file, a store, and the daemon running; files go in by backfills."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg

from pipelines.defs.batches import ACCOUNT_TAG
from pipelines.defs.partitions import drop_files, file_key
from tests.integration.backfills import request_backfills, stop_sensors

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CODE = ["-m", "pipelines.definitions"]


class Deployment:
    """A Dagster home with the repository's SQLite instance config, partners, a store, the daemon."""

    def __init__(self, root: Path, partners: dict[str, Path], store_url: str, options: str = ""):
        """`options`: more of each partner's settings, as YAML flow entries (`guard: {...}`)."""
        self.root = root
        home = root / "home"
        home.mkdir(parents=True)
        shutil.copyfile(REPO / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
        lines = [
            "partners:",
            *(
                f"  {p}: {{account: {p}, source: {src}, settle_s: 0{', ' + options if options else ''}}}"
                for p, src in partners.items()
            ),
        ]
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
        # From its folder, not $DAGSTER_HOME: this process's environment is left as it was.
        return dg.DagsterInstance.from_config(self.env["DAGSTER_HOME"])

    def keys(self, partner: str) -> list[str]:
        return [file_key(partner, f.name) for f in sorted(self.partners[partner].iterdir())]

    def backfill(self, partners: list[str], all_succeed: bool = True) -> tuple[float, float]:
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
                if failed and all_succeed:
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
