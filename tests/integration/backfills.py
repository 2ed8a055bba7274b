"""Backfills as the UI's "Launch backfill" makes them, for the tests and the benchmarks.

The backfill is added to the instance as *requested*, for the daemon to cut into runs by the
assets' backfill policy (defs/batches.py). `dagster job backfill` is no use here: it launches one
run per partition itself, whatever the policy.
"""

from __future__ import annotations

import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import dagster as dg

REPO = Path(__file__).resolve().parents[2]


def request_backfills(backfills: list[tuple[list[str], dict[str, str]]], env: dict) -> None:
    """Backfills of `apply_drop`, each over its keys (partitions already added) with its tags on
    its runs, requested back to back (so the daemon's next loop takes them together) from a
    process with `env` (DAGSTER_HOME and the STOCKDROP_ settings the definitions load with)."""
    launch = f"from {__name__} import _request; _request({backfills!r})"
    subprocess.run([sys.executable, "-c", launch], env=env, check=True, timeout=120, cwd=REPO)


def stop_sensors(names: list[str], env: dict) -> None:
    """Switch sensors off (as `dagster sensor stop` does, one process for them all)."""
    launch = f"from {__name__} import _stop; _stop({names!r})"
    subprocess.run([sys.executable, "-c", launch], env=env, check=True, timeout=120, cwd=REPO)


@contextmanager
def _repository():
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import ModuleTarget

    target = ModuleTarget("pipelines.definitions", None, str(REPO), "pipelines.definitions")
    with dg.DagsterInstance.get() as instance, WorkspaceProcessContext(instance, target) as workspace:
        location = workspace.create_request_context().get_code_location("pipelines.definitions")
        (repository,) = location.get_repositories().values()
        yield instance, repository


def _stop(names: list[str]) -> None:
    with _repository() as (instance, repository):
        for name in names:
            sensor = repository.get_sensor(name)
            instance.stop_sensor(sensor.get_remote_origin_id(), sensor.selector_id, sensor)


def _request(backfills: list[tuple[list[str], dict[str, str]]]) -> None:
    from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill
    from dagster._core.utils import make_new_backfill_id
    from dagster._time import get_current_timestamp

    with _repository() as (instance, repository):
        partition_set = repository.get_partition_set("apply_drop_partition_set")
        for keys, tags in backfills:
            instance.add_backfill(
                PartitionBackfill(
                    backfill_id=make_new_backfill_id(),
                    partition_set_origin=partition_set.get_remote_origin(),
                    status=BulkActionStatus.REQUESTED,
                    partition_names=keys,
                    from_failure=False,
                    reexecution_steps=None,
                    tags=tags,
                    backfill_timestamp=get_current_timestamp(),
                )
            )
