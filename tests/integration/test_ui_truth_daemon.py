"""What an operator sees after a backfill through the daemon (issue 24): the backfill's batch run
succeeds, the `file_verdicts` sensor gives each file it rejected whole or held a run of its own,
and exactly those files' partitions are failed; `stockdrop approve` turns the held one green.
"""

import shutil
import subprocess
import sys
import time

import dagster as dg
import pytest

from pipelines.defs.batches import VERDICT_TAG
from pipelines.defs.partitions import drop_files, file_key
from tests.defs.conftest import SAMPLE_DROPS
from tests.integration.deployment import Deployment

pytestmark = pytest.mark.integration

STOPPED = {"inventory_20261121T060000_bad.csv", "stock_update_final.csv", "inventory_20261123T060000_overwrite.csv"}
GUARD = "guard: {max_ats_drop_pct: 50, max_zeroed_pct: 25, min_overwrite_rows_pct: 50}"


def test_a_backfill_fails_exactly_the_files_it_stopped_and_approve_turns_one_green(tmp_path):
    inbox = tmp_path / "brand"
    shutil.copytree(SAMPLE_DROPS, inbox)
    deployment = Deployment(tmp_path, {"brand": inbox}, f"sqlite:///{tmp_path / 'store.db'}", GUARD)
    try:
        keys = deployment.keys("brand")
        deployment.backfill(["brand"], all_succeed=False)
        instance = deployment.instance
        deadline = time.monotonic() + 180
        while True:  # the sensor's verdict runs, after the batch
            verdicts = [r for r in instance.get_runs(dg.RunsFilter(job_name="apply_drop")) if VERDICT_TAG in r.tags]
            if len(verdicts) == len(STOPPED) and all(r.is_finished for r in verdicts):
                break
            assert time.monotonic() < deadline, f"verdict runs: {verdicts}; see {tmp_path / 'daemon.log'}"
            time.sleep(1)
        assert all(r.status == dg.DagsterRunStatus.FAILURE for r in verdicts)
        batch = [r for r in instance.get_runs(dg.RunsFilter(job_name="apply_drop")) if VERDICT_TAG not in r.tags]
        assert [r.status for r in batch] == [dg.DagsterRunStatus.SUCCESS]
        status = instance.get_status_by_partition(dg.AssetKey("file_events"), keys, drop_files)
        failed = {k for k, s in status.items() if s == dg.AssetPartitionStatus.FAILED}
        assert failed == {file_key("brand", n) for n in STOPPED}
        assert {s for k, s in status.items() if k not in failed} == {dg.AssetPartitionStatus.MATERIALIZED}

        held = "inventory_20261123T060000_overwrite.csv"
        subprocess.run(
            [sys.executable, "-m", "pipelines", "approve", f"brand/{held}"],
            env=deployment.env, check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        status = instance.get_status_by_partition(dg.AssetKey("file_events"), [file_key("brand", held)], drop_files)
        assert status == {file_key("brand", held): dg.AssetPartitionStatus.MATERIALIZED}
    finally:
        deployment.stop()
