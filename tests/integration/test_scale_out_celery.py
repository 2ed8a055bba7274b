"""Scale-out for real: PostgreSQL as store and Dagster instance (dagster_home/dagster.postgres.yaml),
Redis as Celery broker and result backend, two `stockdrop worker`s, the Dagster daemon, and a
backfill of 2 partners × 4 files through `STOCKDROP_EXECUTOR=celery` (cli.md v1.1), one backfill
per partner as an operator replays a partner's history.

Each backfill is one batch run (the assets' backfill policy) covering its partner's files; the
two accounts' runs go side by side. Every run succeeds, every step ran in a worker, both
workers took steps, and the state and rejects equal a local `stockdrop replay` of the same files.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG as RANGE_END
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_START_TAG as RANGE_START

from pipelines.defs.batches import ACCOUNT_TAG
from pipelines.defs.partitions import drop_files, file_key
from tests.conftest import EXAMPLES
from tests.integration.backfills import request_backfills, stop_sensors
from tests.integration.postgres_server import create_database

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
PG_INSTANCE_YAML = REPO / "dagster_home" / "dagster.postgres.yaml"
PARTNERS = {"alpha": "01-keys-update-overwrite", "beta": "03-late-drop"}  # 4 files each
BIN = Path(sys.executable).parent
STEPS_PER_RUN = 3  # landed_file, parsed_rows, file_events


def start(argv: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(argv, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    out = subprocess.run([str(BIN / "stockdrop"), *args], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return out


def test_a_backfill_of_two_partners_runs_every_step_on_two_celery_workers(pg_server, redis_server, tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(PG_INSTANCE_YAML, home / "dagster.yaml")
    lines = ["partners:"]
    for partner, example in PARTNERS.items():
        shutil.copytree(EXAMPLES / example / "drops", tmp_path / partner)
        lines.append(f"  {partner}: {{account: {partner}, source: {tmp_path / partner}, settle_s: 0}}")
    (tmp_path / "partners.yaml").write_text("\n".join(lines) + "\n")
    instance_db = sa.make_url(create_database(pg_server, "dagster")).database
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_HOST": pg_server.host,
        "DAGSTER_PG_PORT": str(pg_server.port),
        "DAGSTER_PG_USER": "postgres",
        "DAGSTER_PG_PASSWORD": "",
        "DAGSTER_PG_DB": instance_db,
        "STOCKDROP_STORE_URL": create_database(pg_server, "store"),
        "STOCKDROP_PARTNERS": str(tmp_path / "partners.yaml"),
        "STOCKDROP_DATA_DIR": str(tmp_path / "data"),  # shared by every worker
        "STOCKDROP_EXECUTOR": "celery",
        "STOCKDROP_CELERY_BROKER_URL": redis_server.url(0),
        "STOCKDROP_CELERY_BACKEND_URL": redis_server.url(1),
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    code = ["-m", "pipelines.definitions"]
    # This test drives the files by backfills: the sensors (on by default) are switched off first.
    stop_sensors(["drops_alpha", "drops_beta", "publish_on_new_files"], env)
    keys = {p: [file_key(p, f.name) for f in sorted((tmp_path / p).iterdir())] for p in PARTNERS}
    processes = []
    try:
        for name in ("w1", "w2"):
            worker = ["stockdrop", "worker", "--name", name, "--concurrency", "1"]
            processes.append(start([str(BIN / worker[0]), *worker[1:]], env, tmp_path / f"{name}.log"))
        processes.append(start([str(BIN / "dagster-daemon"), "run", *code], env, tmp_path / "daemon.log"))
        with _instance(env) as instance:
            order = [k for p in PARTNERS for k in keys[p]]
            instance.add_dynamic_partitions(drop_files.name, order)
            # each tagged with its account, as the runbook says: the queue runs one per account
            request_backfills([(keys[p], {ACCOUNT_TAG: p}) for p in PARTNERS], env)
            runs = _wait_for_runs(instance, len(PARTNERS), tmp_path)
            assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs), [(r.run_id, r.status) for r in runs]
            # one run per partner, covering its files (a range of the partitions as added)
            covered = sorted(order[order.index(r.tags[RANGE_START]) : order.index(r.tags[RANGE_END]) + 1] for r in runs)
            assert covered == sorted(keys.values())
            assert sorted(r.tags[ACCOUNT_TAG] for r in runs) == sorted(PARTNERS)
            # the two accounts side by side: a run queued while the other account's run was in
            # flight left the queue at once, not after it (the queue limits one run per account).
            # Whether the backfill daemon queues the second run before the first ends depends on
            # the machine's load, so the check is on the queue's decision, not on wall-clock overlap.
            first, second = sorted(instance.get_run_records(dg.RunsFilter(job_name="apply_drop")),
                                   key=lambda r: r.create_timestamp.timestamp())  # fmt: skip
            if second.create_timestamp.timestamp() < first.end_time:
                assert _launched_at(instance, second.dagster_run.run_id) < first.end_time, (first, second)
            for run in runs:
                records = instance.get_records_for_run(run.run_id).records
                messages = [r.event_log_entry.message or "" for r in records]
                assert any("celery" in m.lower() for m in messages), run.run_id  # the Celery executor ran it
            materialized = instance.get_materialized_partitions(dg.AssetKey("file_events"))
            assert materialized == set(order)  # every file's own partition
    finally:
        for process in reversed(processes):
            stop(process)
    done = {
        name: len(re.findall(r"Task execute_plan\[[^]]+\] succeeded", (tmp_path / f"{name}.log").read_text()))
        for name in ("w1", "w2")
    }
    assert sum(done.values()) == STEPS_PER_RUN * len(PARTNERS), done  # every step ran in a worker
    assert all(done.values()), done  # both workers took steps

    local = f"sqlite:///{tmp_path / 'local.db'}"
    local_env = {k: v for k, v in env.items() if not k.startswith(("STOCKDROP_", "DAGSTER_"))}
    local_env["STOCKDROP_DATA_DIR"] = str(tmp_path / "local-data")
    for partner in PARTNERS:
        cli("replay", str(tmp_path / partner), "--store", local, "--partners", str(tmp_path / "partners.yaml"),
            "--partner", partner, env=local_env)  # fmt: skip
    for command in ("state", "rejects"):
        scaled = cli(command, "--store", env["STOCKDROP_STORE_URL"], env=local_env).stdout
        assert scaled == cli(command, "--store", local, env=local_env).stdout
        assert scaled.count("\n") > 1


def _instance(env: dict):
    """The test's own handle on the shared PostgreSQL instance (the environment the processes use)."""
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        return dg.DagsterInstance.get()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _launched_at(instance: dg.DagsterInstance, run_id: str) -> float:
    """When the run queue took the run out and launched it."""
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.RUN_STARTING).records
    return records[0].event_log_entry.timestamp


def _wait_for_runs(instance: dg.DagsterInstance, count: int, logs: Path, timeout_s: float = 300) -> list:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        runs = instance.get_runs(dg.RunsFilter(job_name="apply_drop"))
        if len(runs) >= count and all(r.is_finished for r in runs):
            return runs
        time.sleep(1)
    tails = {p.name: p.read_text()[-3000:] for p in logs.glob("*.log")}
    raise AssertionError(f"runs not finished in {timeout_s} s: {[(r.run_id, r.status) for r in runs]}\n{tails}")
