"""Verdict runs: a file a batch rejected whole or held fails a run of its own (issue 24).

Dagster cannot fail one partition of a run over many (dagster-io/dagster#17836): a batch
materializes every file it covers. So each file a batch stopped gets a one-file run of
`apply_drop`, over the asset where it stopped and those after it, which fails with the verdict
the store records: the file's partition is then failed (red) there, with the reason as the
failure's description, and the batch's other files stay green. The run redoes nothing (the
assets read the verdict from the store) and leaves the file's checks alone (the batch's results
stand); a new version of the file, or an approval, materializes the partition again: green.

The `file_verdicts` run-status sensor requests them after each successful batch the daemon ran
(sensor ticks, backfills); the CLI runs them at once after each of its batches (`sync`,
`replay`), whose runs carry CLI_TAG so that a daemon on the same instance leaves them alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, cast

import dagster as dg

from pipelines.defs.batches import ACCOUNT_TAG, VERDICT_TAG
from pipelines.defs.file_assets import STOPPED

FileAsset = Literal["landed_file", "parsed_rows", "file_events"]
FILE_ASSETS: tuple[FileAsset, ...] = ("landed_file", "parsed_rows", "file_events")
# On the CLI's batch runs: their verdict runs are the CLI's to run.
CLI_TAG = "stockdrop/cli"


@dataclass(frozen=True)
class VerdictRun:
    """The run of one stopped file: from the asset where it stopped on."""

    key: str
    stopped_at: FileAsset
    account: str | None

    @property
    def assets(self) -> list[dg.AssetKey]:
        return [dg.AssetKey(a) for a in FILE_ASSETS[FILE_ASSETS.index(self.stopped_at) :]]

    @property
    def tags(self) -> dict[str, str]:
        return {VERDICT_TAG: self.stopped_at, **({ACCOUNT_TAG: self.account} if self.account else {})}


def verdict_runs(materializations: Iterable[dg.AssetMaterialization], account: str | None) -> list[VerdictRun]:
    """The files a batch stopped (STOPPED on their partition), each at the first asset that says so."""
    where: dict[str, FileAsset] = {}
    for m in materializations:
        asset = m.asset_key.to_user_string()
        if m.partition is None or STOPPED not in m.metadata or asset not in FILE_ASSETS:
            continue
        if m.partition not in where or FILE_ASSETS.index(asset) < FILE_ASSETS.index(where[m.partition]):
            where[m.partition] = cast(FileAsset, asset)
    return [VerdictRun(key, asset, account) for key, asset in where.items()]


def file_verdicts(job) -> dg.RunStatusSensorDefinition:
    @dg.run_status_sensor(
        name="file_verdicts",
        run_status=dg.DagsterRunStatus.SUCCESS,
        monitored_jobs=[job],
        request_job=job,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="After a batch of files: a run of its own, failing with the recorded reason, "
        "for each file the batch rejected whole or held (so its partition shows red).",
    )
    def _sensor(context: dg.RunStatusSensorContext):
        run = context.dagster_run
        if CLI_TAG in run.tags or VERDICT_TAG in run.tags:
            return dg.SkipReason("not a batch of the daemon's")
        records = context.instance.get_records_for_run(
            run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
        ).records
        materializations = [r.asset_materialization for r in records if r.asset_materialization]
        return [
            dg.RunRequest(
                run_key=f"{run.run_id}:{v.key}",
                partition_key=v.key,
                asset_selection=v.assets,
                asset_check_keys=[],
                tags=v.tags,
            )
            for v in verdict_runs(materializations, run.tags.get(ACCOUNT_TAG))
        ]

    return _sensor
