"""File-partitioned assets: one partition per dropped file, `{partner}/{name}`.

landed_file -> parsed_rows -> file_events. Each is a thin call into the adapters; the metadata
is what an operator looks at when asking "what happened to this file?". A run covers one file or
a batch of them (`defs/batches.py`): one SFTP session and listing per partner, one fold per
account, and every file's own metadata and checks on its own partition (figures of the whole
batch, such as the fold's, go on the run: its log and tags).

A file rejected whole or held has its rejects or its would-be effect recorded and counts as
processed. Run alone, it fails its partition (red in the UI) where it stopped, with the reason as
the failure's description. In a batch it must not fail the others: its partition carries the
verdict under `stopped`, and a run of its own then fails with it (defs/verdicts.py). A failure of
the machinery (a download that breaks, a full disk) fails a run of one file, but in a batch fails
that file only: its partition carries the reason under `error` and the next sync or a re-run of
the partition takes it again.
"""

import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from functools import partial

import dagster as dg
from dagster._core.definitions.asset_checks.asset_check_evaluation import AssetCheckEvaluationTargetMaterializationData
from dagster_shared.record import copy

from pipelines.adapters.drop_source import DropSource
from pipelines.adapters.failures import one_line
from pipelines.adapters.folding import FoldReport, fold_account
from pipelines.adapters.landing import land_file
from pipelines.adapters.parsing import parse_file
from pipelines.adapters.store import FileVersion, SqlStore, Stopped
from pipelines.defs.batches import BATCHES, VERDICT_TAG, by_partner
from pipelines.defs.failures import in_one_line
from pipelines.defs.metadata import per_warehouse, rejects_table, text
from pipelines.defs.partitions import drop_files, file_key, split_file_key
from pipelines.defs.resources import PartnersResource, StoreResource
from pipelines.domain.drop_names import is_safe_name
from pipelines.domain.guard import Effect
from pipelines.domain.partners import PartnerSpec
from pipelines.domain.rejects import UNKNOWN_WAREHOUSE

REJECT_RATIO_WARN = 0.05
# The run tag with the batch's fold figures per account (files applied, rows written, seconds).
FOLD_TAG = "stockdrop/fold"
# Marks a step failure that is the file's recorded verdict (rejected whole or held), not a fault.
FILE_VERDICT = "file_verdict"
# The metadata entry of a file a batch stopped (rejected whole or held): its run of its own fails.
STOPPED = "stopped"
# The metadata entry of a file that failed for a reason outside it, in a batch (see above).
FILE_FAILED = "error"


def _version(db: SqlStore, file_id: str) -> FileVersion | None:
    with db.transaction() as conn:
        return db.get_file(conn, file_id)


def verdict(partner: str, name: str, stopped: Stopped) -> dg.Failure:
    """The failure of a file's partition that says why it did not reach the state."""
    hint = f" (`stockdrop approve {partner}/{name}` applies it)" if stopped.verdict == "held" else ""
    return dg.Failure(
        description=f"{name} {stopped.words}{hint}",
        allow_retries=False,
        metadata={FILE_VERDICT: stopped.verdict, "reason": text(stopped.reason)},
    )


class _Batch:
    """One step over the run's files: each file's metadata on its partition, and who failed how."""

    def __init__(self, context: dg.AssetExecutionContext):
        self.context = context
        self.keys: Sequence[str] = context.partition_keys
        self.stopped: dict[str, Stopped] = {}
        self.recorded: set[str] = set()
        # A run that only reports a verdict a batch recorded (defs/verdicts.py): it redoes nothing.
        self.verdict_run = VERDICT_TAG in context.run.tags

    def record(self, partner: str, name: str, metadata: dict, stopped: Stopped | None = None) -> None:
        key = file_key(partner, name)
        if stopped is not None:
            self.stopped[key] = stopped
            if len(self.keys) > 1:
                metadata = {**metadata, STOPPED: text(stopped.words)}
        self.context.add_asset_metadata(metadata, partition_key=key)
        self.recorded.add(key)

    @contextmanager
    def each(self, keys: Sequence[str]) -> Iterator[None]:
        """A failure under it fails these files (those not recorded yet) and no others; a run of
        one file fails as a whole, as it always has."""
        try:
            with in_one_line():
                yield
        except Exception as e:
            if len(self.keys) == 1:
                raise
            reason = e.description if isinstance(e, dg.Failure) and e.description else one_line(e)
            for key in keys:
                if key not in self.recorded:
                    self.context.add_asset_metadata({FILE_FAILED: text(reason)}, partition_key=key)
                    self.recorded.add(key)
            self.context.log.error(f"{len(keys)} file(s) failed, the first {keys[0]}: {reason}")

    def per_file(
        self,
        partners: PartnersResource,
        start: Callable[[PartnerSpec, DropSource], Callable[[str], tuple[dict, Stopped | None]]],
    ) -> None:
        """Each partner's files through `start(spec, source)(name) -> (metadata, stopped)`,
        one source (one SFTP session) per partner; `start` is where per-partner work goes."""
        for partner_name, names in by_partner(self.keys).items():
            with self.each([file_key(partner_name, n) for n in names]):
                spec = partners.spec(partner_name)
                with closing(partners.source(spec)) as source:
                    step = start(spec, source)
                    for name in names:
                        with self.each([file_key(partner_name, name)]):
                            self.record(partner_name, name, *step(name))

    def finish(self) -> dg.MaterializeResult:
        """The step's result; a run of one file that stopped fails with its verdict."""
        if len(self.keys) == 1 and self.stopped:
            ((key, stopped),) = self.stopped.items()
            raise verdict(*split_file_key(key), stopped)
        self.context.log.info(f"{len(self.keys)} file(s) in this run")
        return dg.MaterializeResult()

    def recorded_verdict(self, store: StoreResource) -> dg.MaterializeResult:
        """In a verdict run: fail with the file's verdict as the store has it now. Should the file
        have been approved or replaced since the batch, there is nothing to report."""
        (key,) = self.keys
        partner, name = split_file_key(key)
        db = store.store()
        with db.transaction() as conn:
            stopped = db.stopped(conn, partner, name)
        if stopped is not None:
            raise verdict(partner, name, stopped)
        return dg.MaterializeResult(metadata={"note": text("no verdict: the file is no longer rejected or held")})


@dg.asset(partitions_def=drop_files, group_name="drops", kinds={"sftp", "file"}, backfill_policy=BATCHES)
def landed_file(
    context: dg.AssetExecutionContext, store: StoreResource, partners: PartnersResource
) -> dg.MaterializeResult:
    """The raw file copied into the landing folder under its sha256 and recorded in the `drop_files` ledger."""
    batch = _Batch(context)
    if batch.verdict_run:
        return batch.recorded_verdict(store)

    def start(spec: PartnerSpec, source: DropSource):
        listed = {f.name: f for f in source.list_files()}  # one listing for the batch
        return partial(_land, context, store, partners, spec, source, listed)

    batch.per_file(partners, start)
    return batch.finish()


def _land(context, store: StoreResource, partners: PartnersResource, spec: PartnerSpec, source, listed, name: str):
    started = time.perf_counter()
    db = store.store()
    with db.transaction() as conn:
        previous = db.latest_version(conn, spec.name, name)
    remote = listed.get(name)
    result = land_file(db, store.paths(), spec, source, name, remote and remote.mtime, remote and remote.size)
    # Moved only once the landing is committed; parsed_rows moves the files it parses.
    if (
        result.outcome in ("duplicate", "rejected")
        and spec.after_processing == "move"
        and remote
        and is_safe_name(name)
    ):
        source.after_processing(name, rejected=result.outcome == "rejected")
    context.log.info(
        f"{name}: {result.outcome}"
        + (f" ({result.reason})" if result.reason else "")
        + (f", {result.size} bytes as {result.sha256}" if result.sha256 else "")
    )
    if previous and result.outcome == "new" and previous.file_id != result.file_id:
        partners.write_result(db, spec, _version(db, previous.file_id))  # now superseded
    if result.outcome == "rejected":
        partners.write_result(db, spec, result.file_id and _version(db, result.file_id) or None)
    metadata = {
        "outcome": result.outcome,
        "account": result.account,
        "sha256": result.sha256 or "",
        "bytes": dg.MetadataValue.int(result.size),
        "reason": text(result.reason or ""),
        "seconds": round(time.perf_counter() - started, 3),
    }
    return metadata, Stopped("rejected", result.reason or "rejected") if result.outcome == "rejected" else None


@dg.asset(
    partitions_def=drop_files,
    deps=[landed_file],
    group_name="drops",
    kinds={"polars", "pandera"},
    backfill_policy=BATCHES,
)
def parsed_rows(
    context: dg.AssetExecutionContext, store: StoreResource, partners: PartnersResource
) -> dg.MaterializeResult:
    """The file's rows validated by its pandera model: typed rows (Parquet) and parse rejects."""
    batch = _Batch(context)
    if batch.verdict_run:
        return batch.recorded_verdict(store)
    # The source connects only when a file is moved.
    batch.per_file(partners, lambda spec, source: partial(_parse, context, store, partners, spec, source))
    return batch.finish()


def _parse(context, store: StoreResource, partners: PartnersResource, spec: PartnerSpec, source, name: str):
    started = time.perf_counter()
    db = store.store()
    with db.transaction() as conn:
        current = db.latest_version(conn, spec.name, name)
    if current is None or current.status != "landed":
        status = current.status if current else "not landed"
        context.log.info(f"{name}: nothing new to parse (current version {status})")
        return {"status": status, "note": "no-op: nothing new to parse"}, None
    parsed = parse_file(db, current.file_id, spec)
    if spec.after_processing == "move":
        source.after_processing(name, rejected=parsed.status == "rejected")
    if parsed.status == "rejected":
        context.log.info(f"{name}: rejected whole: {parsed.reason}")
        partners.write_result(db, spec, _version(db, current.file_id))
        return {"status": "rejected", "reason": text(parsed.reason or "")}, Stopped(
            "rejected", parsed.reason or "rejected"
        )
    rejected_rows = 0 if parsed.rejects is None else parsed.rejects["line"].n_unique()
    context.log.info(f"{name}: {parsed.rows_read} rows read, {parsed.rows_valid} valid, {rejected_rows} rejected")
    metadata = {
        "status": parsed.status,
        "rows_read": dg.MetadataValue.int(parsed.rows_read),
        "rows_accepted": dg.MetadataValue.int(parsed.rows_valid),
        "rows_rejected": dg.MetadataValue.int(rejected_rows),
        "first_rejects": rejects_table(parsed.rejects),
        "seconds": round(time.perf_counter() - started, 3),
    }
    return metadata, None


# Per-file checks: their history says which file each result was for (Dagster 1.13 preview).
warnings.filterwarnings("ignore", category=dg.PreviewWarning, message=".*partitions_def on an AssetCheckSpec")
CHECKS = [
    dg.AssetCheckSpec(
        "reject_ratio",
        asset="file_events",
        partitions_def=drop_files,
        description="Share of the file's rows rejected (parse and fold). A warning above 5%; an "
        "error above the partner's `max_reject_ratio` (default 0.5) or when the file "
        "was rejected whole.",
    ),
    dg.AssetCheckSpec(
        "not_held",
        asset="file_events",
        partitions_def=drop_files,
        description="The file was not held by its partner's `guard`. A held file is archived and "
        "parsed but not applied until an operator approves it (`stockdrop approve`, or the "
        "decide_file job); its would-be effect is in this check's metadata.",
    ),
    dg.AssetCheckSpec(
        "no_unknown_warehouses",
        asset="file_events",
        partitions_def=drop_files,
        description="No row of the file names a warehouse its account has not set up "
        "(such rows are rejected, never created on the fly).",
    ),
]


FILE_EVENTS_DOC = (
    "The file's rows resolved against the catalog as of the file and folded into its account's state. "
    "Resolution happens in the fold because it depends on the catalog at the file's place in contract "
    "order (a late styles file changes what later rows resolve to)."
)


@dg.multi_asset(
    specs=[dg.AssetSpec("file_events", deps=[parsed_rows], group_name="drops", description=FILE_EVENTS_DOC)],
    partitions_def=drop_files,
    check_specs=CHECKS,
    backfill_policy=BATCHES,
    # Each file's check results are logged on its own partition, so the step returns none itself
    # (only a subsettable multi-asset may leave its check outputs out).
    can_subset=True,
)
def file_events(
    context: dg.AssetExecutionContext, store: StoreResource, partners: PartnersResource
) -> Iterator[dg.MaterializeResult]:
    batch = _Batch(context)
    if batch.verdict_run:
        yield batch.recorded_verdict(store)
        return
    db = store.store()
    members: dict[str, list[tuple[PartnerSpec, list[str]]]] = {}  # account -> its partners' files
    for partner_name, names in by_partner(batch.keys).items():
        spec = partners.spec(partner_name)
        members.setdefault(spec.account, []).append((spec, names))
    checks: list[dg.AssetCheckEvaluation] = []
    folds = []
    for account, files in members.items():
        with batch.each([file_key(spec.name, n) for spec, names in files for n in names]):  # folded together
            report = fold_account(db, store.paths(), account)
            folds.append(
                f"{account}: {report.files_applied} file(s) applied from file {report.started_from}, "
                f"{sum(report.rows_written.values())} row(s) written, {report.seconds:.2f} s"
            )
            context.log.info(f"{folds[-1]}; ATS change {report.ats_change_by_warehouse or 'none'}")
            for spec, names in files:
                for name in names:
                    with batch.each([file_key(spec.name, name)]):
                        metadata, evaluations, stopped = _folded(db, partners, spec, name, report)
                        checks += evaluations
                        batch.record(spec.name, name, metadata, stopped)
    if folds:  # the batch's own figures, on the run (each file's partition has only its own)
        context.instance.add_run_tags(context.run.run_id, {FOLD_TAG: "; ".join(folds)[:4000]})
    try:
        result = batch.finish()
    except dg.Failure:  # a file run alone that stopped: its checks on the run's partition, then the failure
        for check in checks:
            yield dg.AssetCheckResult(
                check_name=check.check_name, passed=check.passed, severity=check.severity, metadata=check.metadata
            )
        raise
    # Yielded: a multi-asset returning one result is read as a tuple of its outputs.
    yield result
    # After the materializations, each tied to its own file's: the check is current for that file.
    targets = _materialized_here(context, {c.partition for c in checks if c.partition})
    for check in checks:
        context.log_event(copy(check, target_materialization_data=targets.get(check.partition)))


def _materialized_here(context: dg.AssetExecutionContext, keys: set[str]) -> dict:
    """This run's file_events materialization of each of `keys`, read in one query (they are the
    newest: the queue runs one run per account at a time)."""
    if not keys:
        return {}
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("file_events"), asset_partitions=sorted(keys)), limit=len(keys)
    ).records
    return {
        r.partition_key: AssetCheckEvaluationTargetMaterializationData(
            run_id=r.run_id, storage_id=r.storage_id, timestamp=r.timestamp
        )
        for r in reversed(records)  # newest last, so it wins
        if r.run_id == context.run.run_id
    }


def _folded(db: SqlStore, partners: PartnersResource, spec: PartnerSpec, name: str, report: FoldReport):
    """The file's metadata, check evaluations and reject reason after its account's fold."""
    with db.transaction() as conn:
        current = db.latest_version(conn, spec.name, name)
        reason = current and current.status == "rejected" and db.file_reject_reason(conn, current.file_id)
    if current is None:  # e.g. still changing at its source: taken on a later poll, or its name rejected
        return {"effect": text("no-op: the file is not landed yet")}, [], None
    partners.write_result(db, spec, current)
    rejects = db.rejects(partner=spec.name, file=name)
    read = current.rows_read or 0
    ratio = rejects["line"].n_unique() / read if read else 0.0
    if current.status == "rejected":
        ratio = 1.0
    waiting = Effect.from_json(current.effect) if current.status == "held" else None
    unknown_wh = rejects.filter(rejects["reason"].str.starts_with(UNKNOWN_WAREHOUSE)).height
    mine = report.per_file.get(name)
    if current.status == "rejected":
        effect = {"effect": text(f"not applied: rejected whole ({reason or 'rejected'})")}
    elif current.status in ("held", "denied"):
        effect = {
            "effect": text(f"not applied: {current.status} ({current.decision_reason or 'by an operator'})"),
            **per_warehouse("would_change_ats", Effect.from_json(current.effect).ats_change_by_warehouse),
        }
    elif mine is None:
        effect = {
            "effect": text(
                "no-op: this version was already folded; its effect is recorded in the run "
                "that folded it (see this partition's earlier materializations)"
            )
        }
    else:
        changed = Effect.from_json(current.effect).ats_change_by_warehouse if current.effect else {}
        effect = {
            "rows_set": mine.get("rows_set", 0),
            "rows_zeroed": mine.get("rows_zeroed", 0),
            "rows_rejected_in_fold": mine.get("rows_rejected_in_fold", 0),
            **per_warehouse("ats_change", changed),
        }
    metadata = {
        "account": spec.account,
        "status": current.status,
        **effect,
        "rejects_total": dg.MetadataValue.int(rejects.height),
        "first_rejects": rejects_table(rejects),
    }
    key = file_key(spec.name, name)
    severity = dg.AssetCheckSeverity.ERROR if ratio > spec.max_reject_ratio else dg.AssetCheckSeverity.WARN

    def evaluation(check: str, passed: bool, severity: dg.AssetCheckSeverity, metadata: dict):
        return dg.AssetCheckEvaluation(
            asset_key=dg.AssetKey("file_events"),
            check_name=check,
            passed=passed,
            severity=severity,
            metadata=metadata,
            partition=key,
        )

    checks = [
        evaluation(
            "reject_ratio",
            ratio <= REJECT_RATIO_WARN,
            severity,
            {"ratio": round(ratio, 4), "warn_above": REJECT_RATIO_WARN, "error_above": spec.max_reject_ratio},
        ),
        evaluation(
            "not_held",
            waiting is None,
            dg.AssetCheckSeverity.ERROR,
            {
                "status": current.status,
                "reason": text(current.decision_reason or ""),
                "rows_zeroed": dg.MetadataValue.int(waiting.rows_zeroed if waiting else 0),
                **per_warehouse("ats_change", waiting.ats_change_by_warehouse if waiting else {}),
            },
        ),
        evaluation(
            "no_unknown_warehouses",
            unknown_wh == 0,
            dg.AssetCheckSeverity.WARN,
            {"rows": dg.MetadataValue.int(unknown_wh)},
        ),
    ]
    if current.status == "rejected":
        return metadata, checks, Stopped("rejected", reason or "rejected")
    if current.status == "held":
        return metadata, checks, Stopped("held", current.decision_reason or "held by the guard")
    return metadata, checks, None
