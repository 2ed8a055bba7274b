"""dagster_home/dagster.postgres.yaml as a real Dagster instance on a throwaway PostgreSQL.

The shipped file itself is copied as `dagster.yaml` into a temporary DAGSTER_HOME (so a config
key Dagster rejects, or a wrong `env:` name, fails here), loaded with `DagsterInstance.get()`,
and a drop file partition of the project's definitions is run against it; the run and its
events are then read back with plain SQL from the instance database and through the instance.
"""

import shutil
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

from pipelines.defs import build_definitions
from pipelines.defs.batches import ACCOUNT_TAG
from pipelines.defs.partitions import drop_files, file_key
from pipelines.defs.resources import PartnersResource, StoreResource
from tests.defs.conftest import SAMPLE_DROPS
from tests.integration.postgres_server import create_database

pytestmark = pytest.mark.integration

PG_INSTANCE_YAML = Path(__file__).resolve().parents[2] / "dagster_home" / "dagster.postgres.yaml"
DROP = "warehouses_20261116T000000.csv"


@pytest.fixture
def pg_instance(pg_server, tmp_path, monkeypatch):
    """(instance loaded from dagster.postgres.yaml, SQLAlchemy URL of its fresh database)."""
    url = create_database(pg_server, "dagster")
    monkeypatch.setenv("DAGSTER_PG_HOST", pg_server.host)
    monkeypatch.setenv("DAGSTER_PG_PORT", str(pg_server.port))
    monkeypatch.setenv("DAGSTER_PG_USER", "postgres")
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", "")  # trust authentication on the test server
    monkeypatch.setenv("DAGSTER_PG_DB", sa.make_url(url).database)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(PG_INSTANCE_YAML, home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    instance = dg.DagsterInstance.get()
    try:
        yield instance, url
    finally:
        instance.dispose()


def test_postgres_instance_config_stores_a_real_run(pg_instance, tmp_path):
    instance, url = pg_instance
    assert isinstance(instance.run_storage, PostgresRunStorage)
    assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
    assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
    # The yaml's limits reached the instance (and are not silently dropped as unknown keys).
    assert instance.run_coordinator.__class__.__name__ == "QueuedRunCoordinator"
    assert instance.run_launcher.__class__.__name__ == "DefaultRunLauncher"
    assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 8
    assert not instance.telemetry_enabled

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(SAMPLE_DROPS / DROP, inbox / DROP)
    partners_file = tmp_path / "partners.yaml"
    partners_file.write_text(
        f"partners:\n  brand:\n    account: brand\n    source: {inbox}\n    settle_s: 0\n"
        f"    exports: {{dir: {tmp_path / 'exports'}}}\n"
    )
    defs = build_definitions(
        StoreResource(url=f"sqlite:///{tmp_path / 'store.db'}"), PartnersResource(partners_file=str(partners_file))
    )
    key = file_key("brand", DROP)
    instance.add_dynamic_partitions(drop_files.name, [key])
    result = defs.resolve_job_def("apply_drop").execute_in_process(partition_key=key, instance=instance)
    assert result.success
    run_id = result.run_id

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            runs = conn.execute(sa.text("SELECT status, partition FROM runs WHERE run_id = :r"), {"r": run_id}).all()
            assert runs == [("SUCCESS", key)]
            events = conn.execute(
                sa.text("SELECT dagster_event_type, asset_key, partition FROM event_logs WHERE run_id = :r"),
                {"r": run_id},
            ).all()
            types = {e.dagster_event_type for e in events}
            expected = (
                dg.DagsterEventType.RUN_START,
                dg.DagsterEventType.STEP_SUCCESS,  # RUN_* stored as PIPELINE_*
                dg.DagsterEventType.ASSET_MATERIALIZATION,
                dg.DagsterEventType.ASSET_CHECK_EVALUATION,
                dg.DagsterEventType.RUN_SUCCESS,
            )
            assert {t.value for t in expected} <= types
            materialized = sorted(e.asset_key for e in events if e.dagster_event_type == "ASSET_MATERIALIZATION")
            assert materialized == ['["file_events"]', '["landed_file"]', '["parsed_rows"]']
            assert {e.partition for e in events if e.dagster_event_type == "ASSET_MATERIALIZATION"} == {key}
            partitions = (
                conn.execute(
                    sa.text("SELECT partition FROM dynamic_partitions WHERE partitions_def_name = :n"),
                    {"n": drop_files.name},
                )
                .scalars()
                .all()
            )
            assert partitions == [key]
            conn.execute(sa.text("SELECT count(*) FROM jobs"))  # the schedule storage's tables are there too
    finally:
        engine.dispose()

    assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.SUCCESS
    # the run queue's per-account limit (tag_concurrency_limits in the yaml) keys on the tag the
    # sensor and the CLI give every run of files (tests/defs/test_sensors.py)
    (limit,) = instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
    assert limit["key"] == ACCOUNT_TAG and limit["limit"] == 1
    latest = instance.get_latest_materialization_event(dg.AssetKey("file_events"))
    assert latest is not None and latest.run_id == run_id
    assert latest.asset_materialization.partition == key
    assert instance.get_materialized_partitions(dg.AssetKey("landed_file")) == {key}
    assert instance.all_instigator_state() == []
