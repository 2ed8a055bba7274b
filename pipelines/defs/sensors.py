"""Sensors and schedules: one drop sensor per partner, and the daily pre-book release."""

import hashlib
import json
import time
from contextlib import closing
from datetime import UTC, datetime

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from pipelines.adapters.drop_source import DropSourceError
from pipelines.adapters.folding import fold_account, record_release
from pipelines.adapters.landing import already_processed
from pipelines.defs.batches import ACCOUNT_TAG, batches, range_tags
from pipelines.defs.partitions import drop_files, file_key
from pipelines.defs.resources import PartnersResource, StoreResource
from pipelines.defs.verdicts import FILE_ASSETS
from pipelines.domain.drop_names import contract_order
from pipelines.domain.partners import PartnerSpec
from pipelines.domain.settle import Sighting, observe

# Land, validate and fold dropped files, a batch per run (defs/batches.py). The sensor and the CLI
# tag each run with its account. A backfill's runs take their tags from the backfill (Dagster
# allows no per-partition tags with multi-partition backfill policies): launched one per partner
# with the tag, as the runbook says; without it, the store's per-account lock still keeps one
# account's folds from interleaving.
apply_drop_job = dg.define_asset_job(
    "apply_drop",
    selection=list(FILE_ASSETS),
    description="Land, validate and fold dropped files: one run per batch of files.",
)


def new_stable_files(
    spec: PartnerSpec, partners: PartnersResource, cursor: dict, now: float, store: StoreResource | None = None
):
    """One listing folded into the cursor: (files to request now, new cursor).

    With a store, files whose current version was already processed from the same listing
    (e.g. by `stockdrop sync`) are not requested again.
    """
    with closing(partners.source(spec, for_sensor=True)) as source:
        listing = source.list_files()
    previous = {n: Sighting.from_json(v) for n, v in cursor.get("seen", {}).items()}
    stable, seen = observe(previous, [(f.name, f.size, f.mtime) for f in listing], now, spec.settle_s)
    requested = cursor.get("requested", {})
    by_name = {f.name: f for f in listing}
    todo = [by_name[n] for n in stable if requested.get(n) != [by_name[n].size, by_name[n].mtime]]
    if store is not None:
        todo = [f for f in todo if not already_processed(store.store(), spec, f)]
    for f in todo:
        requested[f.name] = [f.size, f.mtime]
    requested = {n: v for n, v in requested.items() if n in by_name}
    return sorted(todo, key=lambda f: contract_order(f.name)), {
        "seen": {n: s.to_json() for n, s in seen.items()},
        "requested": requested,
    }


def _run_key(run: list[str], sizes: dict[str, str]) -> str:
    """The same files in the same versions, the same run (short, however many files)."""
    seen = hashlib.sha256("\n".join(f"{k}@{sizes[k]}" for k in run).encode()).hexdigest()[:20]
    return f"{run[0]}+{len(run) - 1}@{seen}"


def drop_sensor(spec: PartnerSpec, job: UnresolvedAssetJobDefinition) -> dg.SensorDefinition:
    @dg.sensor(
        name=f"drops_{spec.name}".replace("-", "_"),
        job=job,
        minimum_interval_seconds=spec.poll_interval_s,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Lists {spec.name}'s inbox; requests runs of its new files (batches) once they are stable.",
    )
    def _sensor(
        context: dg.SensorEvaluationContext, partners: PartnersResource, store: StoreResource
    ) -> dg.SensorResult:
        cursor = json.loads(context.cursor) if context.cursor else {}
        try:
            todo, cursor = new_stable_files(spec, partners, cursor, time.time(), store)
        except DropSourceError as e:
            return dg.SkipReason(f"{spec.name}: {e}")
        keys = [file_key(spec.name, f.name) for f in todo]
        sizes = {file_key(spec.name, f.name): f"{f.size}:{f.mtime}" for f in todo}
        known = context.instance.get_dynamic_partitions(drop_files.name)
        old = set(known)
        order = [*known, *(k for k in keys if k not in old)]  # new keys go last, in this order
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(
                    run_key=_run_key(run, sizes),
                    tags={**range_tags(run), ACCOUNT_TAG: spec.account},
                )
                for run in batches(order, keys)
            ],
            dynamic_partitions_requests=[drop_files.build_add_request(keys)] if keys else [],
            cursor=json.dumps(cursor),
        )

    return _sensor


@dg.op
def release_prebook_lines(context: dg.OpExecutionContext, store: StoreResource, partners: PartnersResource) -> None:
    """Claim for pre-book lines whose prebook_start is today (the wall clock, unlike replays)."""
    at = datetime.now(UTC).replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0)
    db = store.store()
    with db.transaction() as conn:
        accounts = set(db.accounts_with_files(conn))
    for account in sorted(accounts | {s.account for s in partners.specs().values()}):
        if record_release(db, account, at):
            report = fold_account(db, store.paths(), account)
            context.log.info(
                f"{account}: released pre-book lines at {at:%Y-%m-%d}: "
                f"{report.per_file.get(next(iter(report.per_file), ''), {})}"
            )


@dg.job(description="The daily pre-book release.")
def daily_release_job():
    release_prebook_lines()


daily_release_schedule = dg.ScheduleDefinition(
    job=daily_release_job,
    cron_schedule="5 0 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)

# Folds the state, then writes exports and pushes, after new files: on from the start, so a
# fresh deployment needs no toggling in the UI.
publish_sensor = dg.AutomationConditionSensorDefinition(
    "publish_on_new_files",
    target=dg.AssetSelection.assets("inventory_state", "warehouse_exports", "channel_pushes"),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
)
