"""Running the pipeline's Dagster definitions for the operator CLI: jobs per file, assets, pushes.

Imported by the commands that run the pipeline only, so the read-only commands never import Dagster.
"""

from __future__ import annotations

import sys

import click
from rich.console import Console
from rich.progress import Progress

from pipelines.adapters.failures import PipelineFailed, one_line
from pipelines.defs import build_definitions
from pipelines.defs.batches import ACCOUNT_TAG, batches, range_tags
from pipelines.defs.file_assets import FILE_FAILED, FILE_VERDICT
from pipelines.defs.partitions import drop_files, file_key, split_file_key
from pipelines.defs.resources import PartnersResource, StoreResource, open_instance
from pipelines.defs.state_assets import STATE_JOBS
from pipelines.defs.verdicts import CLI_TAG, verdict_runs
from pipelines.domain.partners import PartnerSpec

# Runs log to the instance (the UI shows them, stack traces and all); the terminal gets the CLI's own one-line
# errors and summaries, never a stack trace (a file rejected whole fails its step on purpose).
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


class Runner:
    """Runs jobs and assets of one Definitions on one instance."""

    def __init__(self, store: StoreResource, partners: PartnersResource):
        self.store, self.partners = store, partners
        self.defs = build_definitions(store, partners)
        self.instance = open_instance()

    def _check(self, result, what: str) -> None:
        """PipelineFailed for a failed run; a file rejected whole or held fails its step but counts
        as processed (its rejects or its would-be effect are recorded)."""
        if result.success:
            return
        failures = [e for e in result.all_events if e.is_step_failure and e.step_failure_data]
        if failures and all(_is_verdict(e.step_failure_data) for e in failures):
            return
        for event in failures:
            if not _is_verdict(event.step_failure_data):
                data = event.step_failure_data
                if data.user_failure_data and data.user_failure_data.description:  # a dg.Failure of ours
                    raise PipelineFailed(f"{what}: {data.user_failure_data.description}")
                err = data.error
                while (
                    err is not None and err.cause is not None and "DagsterExecutionStepExecutionError" in err.cls_name
                ):
                    err = err.cause
                if err is not None:
                    # "module.Class: message" -> message, without library links
                    message = err.message.strip().split(": ", 1)[-1]
                    raise PipelineFailed(f"{what}: {one_line(RuntimeError(message))}")
        raise PipelineFailed(f"{what} failed")

    def apply_files(self, spec: PartnerSpec, names: list[str]) -> None:
        """Land, parse and fold `names` in batches (defs/batches.py): one run, one SFTP session and
        one fold per batch; one file failing does not hold the others back."""
        job = self.defs.resolve_job_def("apply_drop")
        keys = [file_key(spec.name, n) for n in names]
        if keys:
            self.instance.add_dynamic_partitions(drop_files.name, keys)
        failures = []
        # A progress bar on a terminal (long replays are otherwise silent); nothing in logs or pipes.
        with Progress(console=Console(stderr=True), transient=True, disable=not sys.stderr.isatty()) as progress:
            task = progress.add_task(f"{spec.name}: files", total=len(keys))
            for run in batches(self.instance.get_dynamic_partitions(drop_files.name), keys):
                progress.update(task, description=f"{spec.name}: {split_file_key(run[0])[1]}")
                result = job.execute_in_process(
                    instance=self.instance,
                    raise_on_error=False,
                    run_config=QUIET,
                    tags={**range_tags(run), ACCOUNT_TAG: spec.account, CLI_TAG: "apply_files"},
                )
                progress.advance(task, len(run))
                try:
                    self._check(result, run[0] if len(run) == 1 else f"{run[0]} (and {len(run) - 1} more)")
                    self._verdicts(job, result, spec.account)
                except PipelineFailed as e:
                    failures.append(str(e))
                    progress.console.print(f"stockdrop: {e}", markup=False, highlight=False)
                for key, reason in _failed_files(result).items():
                    failures.append(f"{key}: {reason}")
                    progress.console.print(f"stockdrop: {key}: {reason}", markup=False, highlight=False)
        if failures:
            raise PipelineFailed(f"{len(failures)} of {len(keys)} file(s) failed; first: {failures[0]}")

    def _verdicts(self, job, batch, account: str) -> None:
        """The files the batch stopped, each failed by a run of its own (defs/verdicts.py)."""
        materializations = [
            e.step_materialization_data.materialization for e in batch.all_events if e.is_step_materialization
        ]
        for run in verdict_runs(materializations, account):
            subset = job.get_subset(asset_selection=set(run.assets), asset_check_selection=set())
            result = subset.execute_in_process(
                instance=self.instance,
                partition_key=run.key,
                raise_on_error=False,
                run_config=QUIET,
                tags={**run.tags, CLI_TAG: "apply_files"},
            )
            self._check(result, run.key)

    def decide(self, file: str, decision: str) -> None:
        """Run the decide_file job (approve or deny `partner/name`)."""
        job = self.defs.resolve_job_def("decide_file")
        config = {"ops": {"decide": {"config": {"file": file, "decision": decision}}}}
        result = job.execute_in_process(instance=self.instance, raise_on_error=False, run_config={**QUIET, **config})
        self._check(result, f"{decision} {file}")

    def materialize(self, asset: str, partition_key: str | None = None, run_config: dict | None = None):
        """Materialize an account-level asset through its named job (defs/state_assets.STATE_JOBS)."""
        job = self.defs.resolve_job_def(STATE_JOBS[asset].name)
        result = job.execute_in_process(
            instance=self.instance,
            partition_key=partition_key,
            raise_on_error=False,
            run_config={**QUIET, **(run_config or {})},
        )
        self._check(result, asset + (f"[{partition_key}]" if partition_key else ""))
        return result

    def publish(self, exports: bool, pushes: bool, out_dir: str | None = None) -> None:
        """Fold, then every warehouse's exports and the pushes: one warehouse or channel that fails
        does not stop the others (drops.md v1.1); the failures are raised together at the end."""
        self.materialize("inventory_state")
        failures = []
        if exports:
            config = {"ops": {"warehouse_exports": {"config": {"out_dir": out_dir}}}}
            for key in self.instance.get_dynamic_partitions("warehouses"):
                try:
                    self.materialize("warehouse_exports", key, config)
                except PipelineFailed as e:
                    failures.append(str(e))
                    click.echo(f"stockdrop: {e}", err=True)
        if pushes:  # materialized even with no channel: the UI then says "no channel configured"
            try:
                self.push()
            except PipelineFailed as e:
                failures.append(str(e))
        if failures:
            raise PipelineFailed(f"{len(failures)} publishing step(s) failed; first: {failures[0]}")

    def push(self, retry_failed: bool = False) -> None:
        """Materialize channel_pushes; PipelineFailed, with one line per channel on stderr, when
        something due was left refused or unacknowledged (cli.md v1.1). Drift found is printed."""
        config = {"ops": {"channel_pushes": {"config": {"retry_failed": retry_failed}}}}
        result = self.materialize("channel_pushes", run_config=config)
        problems, drift = {}, {}
        for evaluation in result.get_asset_check_evaluations():
            if evaluation.check_name == "pushes_acknowledged":
                for name, into in (("problems", problems), ("drift", drift)):
                    entry = evaluation.metadata.get(name)
                    into.update(entry.value if entry is not None else {})
        for channel, findings in sorted(drift.items()):
            for finding in findings:
                click.echo(f"stockdrop: push {channel}: drift: {finding}", err=True)
        for channel, problem in sorted(problems.items()):
            click.echo(f"stockdrop: push {channel}: {problem}", err=True)
        if problems:
            raise PipelineFailed(f"{len(problems)} channel(s) left work undone")


def _failed_files(result) -> dict[str, str]:
    """Files of a batch that failed for a reason outside them (FILE_FAILED on their partition)."""
    failed = {}
    for event in result.all_events:
        if event.is_step_materialization:
            materialization = event.step_materialization_data.materialization
            entry = materialization.metadata.get(FILE_FAILED)
            if entry is not None and materialization.partition:
                failed.setdefault(materialization.partition, entry.value)
    return failed


def _is_verdict(data) -> bool:
    return bool(data.user_failure_data and FILE_VERDICT in (data.user_failure_data.metadata or {}))
