"""File-partitioned assets: one partition per dropped file, `<partner>/<name>`.

landed_file -> parsed_rows -> file_events. Each is a thin call into the adapters; the metadata
is what an operator looks at when asking "what happened to this file?".
"""

import time
from contextlib import closing

import dagster as dg

from pipelines.adapters.folding import fold_account
from pipelines.adapters.landing import land_file
from pipelines.adapters.parsing import parse_file
from pipelines.defs.failures import in_one_line
from pipelines.defs.metadata import by_warehouse, rejects_table
from pipelines.defs.partitions import drop_files, split_file_key
from pipelines.defs.resources import PartnersResource, StoreResource
from pipelines.domain.drop_names import is_safe_name
from pipelines.domain.rejects import UNKNOWN_WAREHOUSE

REJECT_RATIO_LIMIT = 0.05
FOLD_POOL = "stockdrop_fold"


@dg.asset(partitions_def=drop_files, group_name="drops", kinds={"sftp", "file"})
def landed_file(context: dg.AssetExecutionContext, store: StoreResource, partners: PartnersResource) -> dg.MaterializeResult:
    """The raw file copied into landing/<account>/<sha256> and recorded in the `drop_files` ledger."""
    with in_one_line():
        started = time.perf_counter()
        partner_name, name = split_file_key(context.partition_key)
        spec = partners.spec(partner_name)
        with closing(partners.source(spec)) as source:
            listed = {f.name: f for f in source.list_files()}
            remote = listed.get(name)
            result = land_file(store.store(), store.paths(), spec, source, name, remote and remote.mtime,
                               remote and remote.size)
            # Moved only once the landing is committed; parsed_rows moves the files it parses.
            if result.outcome in ("duplicate", "rejected") and spec.after_processing == "move" and remote \
                    and is_safe_name(name):
                source.after_processing(name, rejected=result.outcome == "rejected")
        return dg.MaterializeResult(metadata={
            "outcome": result.outcome, "account": result.account, "sha256": result.sha256 or "",
            "bytes": result.size, "reason": result.reason or "", "seconds": round(time.perf_counter() - started, 3),
        })


@dg.asset(partitions_def=drop_files, deps=[landed_file], group_name="drops", kinds={"polars", "pandera"})
def parsed_rows(context: dg.AssetExecutionContext, store: StoreResource, partners: PartnersResource) -> dg.MaterializeResult:
    """The file's rows validated by its pandera model: typed rows (Parquet) and parse rejects."""
    with in_one_line():
        started = time.perf_counter()
        partner_name, name = split_file_key(context.partition_key)
        spec = partners.spec(partner_name)
        db = store.store()
        with db.transaction() as conn:
            current = db.latest_version(conn, partner_name, name)
        if current is None or current["status"] != "landed":
            status = current["status"] if current else "not landed"
            return dg.MaterializeResult(metadata={"status": status, "note": "nothing new to parse"})
        parsed = parse_file(db, current["file_id"], spec.csv, spec.max_decompressed_mb)
        if spec.after_processing == "move":
            with closing(partners.source(spec)) as source:
                source.after_processing(name, rejected=parsed.status == "rejected")
        rejected = 0 if parsed.rejects is None else parsed.rejects["line"].n_unique()
        return dg.MaterializeResult(metadata={
            "status": parsed.status, "reason": parsed.reason or "", "rows_read": parsed.rows_read,
            "rows_accepted": parsed.rows_valid, "rows_rejected": rejected,
            "first_rejects": rejects_table(parsed.rejects), "seconds": round(time.perf_counter() - started, 3),
        })


@dg.asset(partitions_def=drop_files, deps=[parsed_rows], group_name="drops", pool=FOLD_POOL,
          check_specs=[dg.AssetCheckSpec("reject_ratio", asset="file_events"),
                       dg.AssetCheckSpec("no_unknown_warehouses", asset="file_events")])
def file_events(context: dg.AssetExecutionContext, store: StoreResource, partners: PartnersResource) -> dg.MaterializeResult:
    """The file's rows resolved against the catalog as of the file and folded into its account's state.

    Resolution happens in the fold because it depends on the catalog at the file's place in
    contract order (a late styles file changes what later rows resolve to).
    """
    with in_one_line():
        partner_name, name = split_file_key(context.partition_key)
        spec = partners.spec(partner_name)
        db = store.store()
        report = fold_account(db, store.paths(), spec.account)
        mine = report.per_file.get(name, {})
        with db.transaction() as conn:
            current = db.latest_version(conn, partner_name, name)
        rejects = db.rejects(partner=partner_name, file=name)
        unknown_wh = rejects.filter(rejects["reason"].str.starts_with(UNKNOWN_WAREHOUSE)).height
        read = (current or {}).get("rows_read") or 0
        whole_file_rejected = current is None or current["status"] == "rejected"
        ratio = 1.0 if whole_file_rejected else (rejects["line"].n_unique() / read if read else 0.0)
        return dg.MaterializeResult(
            metadata={
                "account": spec.account, "files_in_fold": report.files_applied,
                "refold_from_file": report.started_from, "file_effect": dg.MetadataValue.json(mine),
                "ats_change_by_warehouse": by_warehouse(report.ats_change_by_warehouse),
                "rows_written": dg.MetadataValue.json(report.rows_written),
                "rejects_total": rejects.height, "first_rejects": rejects_table(rejects),
                "seconds": round(report.seconds, 3),
            },
            check_results=[
                dg.AssetCheckResult(check_name="reject_ratio", passed=ratio <= REJECT_RATIO_LIMIT,
                                    severity=dg.AssetCheckSeverity.WARN,
                                    metadata={"ratio": round(ratio, 4), "limit": REJECT_RATIO_LIMIT}),
                dg.AssetCheckResult(check_name="no_unknown_warehouses", passed=unknown_wh == 0,
                                    severity=dg.AssetCheckSeverity.WARN, metadata={"rows": unknown_wh}),
            ],
        )
