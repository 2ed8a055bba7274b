"""File-partitioned assets: one partition per dropped file, `{partner}/{name}`.

landed_file -> parsed_rows -> file_events. Each is a thin call into the adapters; the metadata
is what an operator looks at when asking "what happened to this file?". A file rejected whole
fails its partition (red in the UI) with the reason as the failure's description; its rejects
are recorded before, and `stockdrop replay`/`sync` count it as processed.
"""

import time
import warnings
from contextlib import closing

import dagster as dg

from pipelines.adapters.folding import fold_account
from pipelines.adapters.landing import land_file
from pipelines.adapters.parsing import parse_file
from pipelines.defs.failures import in_one_line
from pipelines.defs.metadata import per_warehouse, rejects_table, text
from pipelines.defs.partitions import drop_files, split_file_key
from pipelines.defs.resources import PartnersResource, StoreResource
from pipelines.domain.drop_names import is_safe_name
from pipelines.domain.guard import Effect
from pipelines.domain.rejects import UNKNOWN_WAREHOUSE

REJECT_RATIO_WARN = 0.05
# Marks a step failure that is a file rejected whole (its rejects are recorded), not a fault.
FILE_REJECTED = "file_rejected"


def _version(db, file_id: str):
    with db.transaction() as conn:
        return db.get_file(conn, file_id)


def rejected(name: str, reason: str) -> dg.Failure:
    return dg.Failure(
        description=f"{name} rejected whole: {reason}",
        allow_retries=False,
        metadata={FILE_REJECTED: True, "reason": text(reason)},
    )


@dg.asset(partitions_def=drop_files, group_name="drops", kinds={"sftp", "file"})
def landed_file(
    context: dg.AssetExecutionContext, store: StoreResource, partners: PartnersResource
) -> dg.MaterializeResult:
    """The raw file copied into the landing folder under its sha256 and recorded in the `drop_files` ledger."""
    with in_one_line():
        started = time.perf_counter()
        partner_name, name = split_file_key(context.partition_key)
        spec = partners.spec(partner_name)
        db = store.store()
        with db.transaction() as conn:
            previous = db.latest_version(conn, partner_name, name)
        with closing(partners.source(spec)) as source:
            listed = {f.name: f for f in source.list_files()}
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
            partners.write_result(db, spec, result.file_id and _version(db, result.file_id))
            raise rejected(name, result.reason or "rejected")
        return dg.MaterializeResult(
            metadata={
                "outcome": result.outcome,
                "account": result.account,
                "sha256": result.sha256 or "",
                "bytes": dg.MetadataValue.int(result.size),
                "reason": text(result.reason or ""),
                "seconds": round(time.perf_counter() - started, 3),
            }
        )


@dg.asset(partitions_def=drop_files, deps=[landed_file], group_name="drops", kinds={"polars", "pandera"})
def parsed_rows(
    context: dg.AssetExecutionContext, store: StoreResource, partners: PartnersResource
) -> dg.MaterializeResult:
    """The file's rows validated by its pandera model: typed rows (Parquet) and parse rejects."""
    with in_one_line():
        started = time.perf_counter()
        partner_name, name = split_file_key(context.partition_key)
        spec = partners.spec(partner_name)
        db = store.store()
        with db.transaction() as conn:
            current = db.latest_version(conn, partner_name, name)
        if current is None or current.status != "landed":
            status = current.status if current else "not landed"
            context.log.info(f"{name}: nothing new to parse (current version {status})")
            return dg.MaterializeResult(metadata={"status": status, "note": "no-op: nothing new to parse"})
        parsed = parse_file(db, current.file_id, spec.csv, spec.max_decompressed_mb)
        if spec.after_processing == "move":
            with closing(partners.source(spec)) as source:
                source.after_processing(name, rejected=parsed.status == "rejected")
        if parsed.status == "rejected":
            context.log.info(f"{name}: rejected whole: {parsed.reason}")
            partners.write_result(db, spec, _version(db, current.file_id))
            raise rejected(name, parsed.reason or "rejected")
        rejected_rows = 0 if parsed.rejects is None else parsed.rejects["line"].n_unique()
        context.log.info(f"{name}: {parsed.rows_read} rows read, {parsed.rows_valid} valid, {rejected_rows} rejected")
        return dg.MaterializeResult(
            metadata={
                "status": parsed.status,
                "rows_read": dg.MetadataValue.int(parsed.rows_read),
                "rows_accepted": dg.MetadataValue.int(parsed.rows_valid),
                "rows_rejected": dg.MetadataValue.int(rejected_rows),
                "first_rejects": rejects_table(parsed.rejects),
                "seconds": round(time.perf_counter() - started, 3),
            }
        )


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
        "decide_held_file job); its would-be effect is in this check's metadata.",
    ),
    dg.AssetCheckSpec(
        "no_unknown_warehouses",
        asset="file_events",
        partitions_def=drop_files,
        description="No row of the file names a warehouse its account has not set up "
        "(such rows are rejected, never created on the fly).",
    ),
]


@dg.asset(partitions_def=drop_files, deps=[parsed_rows], group_name="drops", check_specs=CHECKS)
def file_events(
    context: dg.AssetExecutionContext, store: StoreResource, partners: PartnersResource
) -> dg.MaterializeResult:
    """The file's rows resolved against the catalog as of the file and folded into its account's state.

    Resolution happens in the fold because it depends on the catalog at the file's place in
    contract order (a late styles file changes what later rows resolve to).
    """
    with in_one_line():
        partner_name, name = split_file_key(context.partition_key)
        spec = partners.spec(partner_name)
        db = store.store()
        report = fold_account(db, store.paths(), spec.account)
        with db.transaction() as conn:
            current = db.latest_version(conn, partner_name, name)
            reason = current and current.status == "rejected" and db.file_reject_reason(conn, current.file_id)
        if current is None:  # e.g. still changing at its source: taken on a later poll
            context.log.info(f"{name}: not landed yet; nothing to fold")
            return dg.MaterializeResult(metadata={"effect": text("no-op: the file is not landed yet")})
        partners.write_result(db, spec, current)
        if current.status == "rejected":
            raise rejected(name, reason or "rejected")
        waiting = Effect.from_json(current.effect) if current.status == "held" else None
        rejects = db.rejects(partner=partner_name, file=name)
        unknown_wh = rejects.filter(rejects["reason"].str.starts_with(UNKNOWN_WAREHOUSE)).height
        read = current.rows_read or 0
        ratio = rejects["line"].n_unique() / read if read else 0.0
        mine = report.per_file.get(name)
        if current.status in ("held", "denied"):
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
            effect = {
                "rows_set": mine.get("rows_set", 0),
                "rows_zeroed": mine.get("rows_zeroed", 0),
                "rows_rejected_in_fold": mine.get("rows_rejected_in_fold", 0),
                **per_warehouse("ats_change", report.ats_change_by_warehouse),
                **per_warehouse("rows_written", report.rows_written),
            }
        context.log.info(
            f"{name}: folded into {spec.account} ({report.files_applied} file(s) applied from file "
            f"{report.started_from}); {rejects.height} reject(s), ATS change "
            f"{report.ats_change_by_warehouse or 'none'}"
        )
        severity = dg.AssetCheckSeverity.ERROR if ratio > spec.max_reject_ratio else dg.AssetCheckSeverity.WARN
        return dg.MaterializeResult(
            metadata={
                "account": spec.account,
                "status": current.status,
                "files_in_fold": dg.MetadataValue.int(report.files_applied),
                "refold_from_file": dg.MetadataValue.int(report.started_from),
                **effect,
                "rejects_total": dg.MetadataValue.int(rejects.height),
                "first_rejects": rejects_table(rejects),
                "seconds": round(report.seconds, 3),
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name="reject_ratio",
                    passed=ratio <= REJECT_RATIO_WARN,
                    severity=severity,
                    metadata={
                        "ratio": round(ratio, 4),
                        "warn_above": REJECT_RATIO_WARN,
                        "error_above": spec.max_reject_ratio,
                    },
                ),
                dg.AssetCheckResult(
                    check_name="not_held",
                    passed=waiting is None,
                    severity=dg.AssetCheckSeverity.ERROR,
                    metadata={
                        "status": current.status,
                        "reason": text(current.decision_reason or ""),
                        "rows_zeroed": dg.MetadataValue.int(waiting.rows_zeroed if waiting else 0),
                        **per_warehouse("ats_change", waiting.ats_change_by_warehouse if waiting else {}),
                    },
                ),
                dg.AssetCheckResult(
                    check_name="no_unknown_warehouses",
                    passed=unknown_wh == 0,
                    severity=dg.AssetCheckSeverity.WARN,
                    metadata={"rows": dg.MetadataValue.int(unknown_wh)},
                ),
            ],
        )
