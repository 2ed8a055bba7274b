"""Account-level assets: the folded inventory state, per-warehouse exports, and API pushes."""

import time
from contextlib import closing
from pathlib import Path

import dagster as dg

from pipelines.adapters.export_patching import export_warehouse
from pipelines.adapters.failures import is_machinery, one_line
from pipelines.adapters.folding import fold_account
from pipelines.adapters.push_ledger import push_account
from pipelines.adapters.state_tables import StateTables
from pipelines.defs.failures import in_one_line
from pipelines.defs.file_assets import file_events
from pipelines.defs.metadata import per_warehouse, text
from pipelines.defs.partitions import split_warehouse_key, warehouse_key, warehouses
from pipelines.defs.resources import PartnersResource, StoreResource

# Like AutomationCondition.eager(), but a missing or failed file partition upstream does not hold
# the account's state and exports back (eager waits until every upstream partition exists).
ON_NEW_FILES = (
    (dg.AutomationCondition.newly_missing() | dg.AutomationCondition.any_deps_updated()).since_last_handled()
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
).with_label("on new files")


def _accounts(store: StoreResource, partners: PartnersResource) -> list[str]:
    with store.store().transaction() as conn:
        known = set(store.store().accounts_with_files(conn))
    return sorted(known | {s.account for s in partners.specs().values()})


@dg.asset(
    deps=[file_events],
    group_name="state",
    automation_condition=ON_NEW_FILES,
    check_specs=[
        dg.AssetCheckSpec(
            "no_oversold_rows",
            asset="inventory_state",
            description="No (warehouse, SKU) has claimed more than it holds (ats < 0). "
            "A warning: continue-selling lines may oversell on purpose.",
        )
    ],
)
def inventory_state(
    context: dg.AssetExecutionContext, store: StoreResource, partners: PartnersResource
) -> dg.MaterializeResult:
    """One row per (account, warehouse, SKU): on_hand, pending, ats, available_date — every account folded up to date."""
    with in_one_line():
        started = time.perf_counter()
        db = store.store()
        reports = {a: fold_account(db, store.paths(), a) for a in _accounts(store, partners)}
        keys = [warehouse_key(a, w) for a, w in db.warehouses()]
        new_keys = [k for k in keys if not context.instance.has_dynamic_partition(warehouses.name, k)]
        if new_keys:
            context.instance.add_dynamic_partitions(warehouses.name, new_keys)
        stock = db.stock_by_warehouse()
        where = [f"{r['account']}/{r['warehouse_code']}" for r in stock.iter_rows(named=True)]
        changes = {f"{a}/{w}": v for a, r in reports.items() for w, v in r.ats_change_by_warehouse.items()}
        with db.transaction() as conn:
            in_state = db.parsed_file_counts(conn)
        # What the state took in since it was last materialized: the file runs usually folded the
        # files already, so what this step's own fold applied says little.
        before = _previous_int(context, "files_in_state")
        folded_here = sum(r.files_applied for r in reports.values())
        context.log.info(
            f"{len(reports)} account(s) folded ({folded_here} file(s) applied by this fold); "
            f"{sum(in_state.values())} file(s) in the state; {int(stock['rows'].sum())} rows; "
            f"ATS change {changes or 'none'}"
        )
        return dg.MaterializeResult(
            metadata={
                "rows": dg.MetadataValue.int(int(stock["rows"].sum())),
                "files_in_state": dg.MetadataValue.int(sum(in_state.values())),
                "files_in_state_change": dg.MetadataValue.int(sum(in_state.values()) - (before or 0)),
                "files_applied_by_this_fold": dg.MetadataValue.int(folded_here),
                **per_warehouse("files_in_state", in_state),
                "seconds": round(time.perf_counter() - started, 3),
                **per_warehouse("ats", dict(zip(where, stock["ats"].to_list()))),
                **per_warehouse("ats_change", changes),
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name="no_oversold_rows",
                    passed=int(stock["oversold_rows"].sum()) == 0,
                    severity=dg.AssetCheckSeverity.WARN,
                    metadata={
                        "oversold_rows": dg.MetadataValue.int(int(stock["oversold_rows"].sum())),
                        "units_oversold": dg.MetadataValue.int(int(stock["units_oversold"].sum())),
                    },
                )
            ],
        )


def _previous_int(context: dg.AssetExecutionContext, name: str) -> int | None:
    """An int entry of the asset's latest materialization, if it has one."""
    event = context.instance.get_latest_materialization_event(context.asset_key)
    entry = event and event.asset_materialization and event.asset_materialization.metadata.get(name)
    return int(entry.value) if isinstance(entry, dg.IntMetadataValue) and entry.value is not None else None


class ExportConfig(dg.Config):
    out_dir: str | None = None  # write here instead of the partners' export folders


@dg.asset(
    deps=[inventory_state],
    partitions_def=warehouses,
    group_name="outputs",
    automation_condition=ON_NEW_FILES,
    kinds={"csv"},
)
def warehouse_exports(
    context: dg.AssetExecutionContext, config: ExportConfig, store: StoreResource, partners: PartnersResource
) -> dg.MaterializeResult:
    """The warehouse's export files: stock CSV, JOOR flat file and quantity template (one row per SKU)."""
    with in_one_line():
        account, code = split_warehouse_key(context.partition_key)
        db = store.store()
        specs = [s for s in partners.specs().values() if s.account == account]
        targets = [s for s in specs if s.exports.dir or s.exports.outbox] or specs[:1]
        written, runs = [], []
        for spec in targets or [None]:
            folder = config.out_dir or (spec and spec.exports.dir) or store.paths().exports() / account
            run = export_warehouse(db, store.paths(), account, code, folder, spec.export_options if spec else None)
            if spec and spec.exports.outbox:
                with closing(partners.source(spec)) as source:
                    for f in run.files:
                        source.upload(f.path, f.path.name)
            written += run.files
            runs.append(run)
        context.log.info(
            f"{account}/{code}: {len(written)} file(s) written, "
            f"{sum(f.rows_changed for f in written if f.kind == 'stock')} stock row(s) changed"
        )
        return dg.MaterializeResult(
            metadata={
                "rows": max((r.rows for r in runs), default=0),
                "patched": all(r.patched for r in runs),
                "rows_rendered": sum(r.rows_rendered for r in runs),
                "written_in_full_because": "; ".join(
                    sorted({r.written_in_full_because for r in runs if r.written_in_full_because})
                ),
                "files": dg.MetadataValue.json(
                    [
                        {
                            "path": str(f.path),
                            "kind": f.kind,
                            "rows": f.rows,
                            "bytes": f.bytes,
                            "rows_changed": f.rows_changed,
                            "sha256": f.sha256,
                        }
                        for f in written
                    ]
                ),
                "rows_changed_vs_previous_export": sum(f.rows_changed for f in written if f.kind == "stock"),
                "bytes": sum(f.bytes for f in written),
                "path": dg.MetadataValue.path(str(Path(written[0].path).parent)) if written else "",
            }
        )


class PushConfig(dg.Config):
    """`stockdrop push --retry-failed`: send items the channels refused before again."""

    retry_failed: bool = False


@dg.asset(
    deps=[inventory_state],
    group_name="outputs",
    automation_condition=ON_NEW_FILES,
    check_specs=[
        dg.AssetCheckSpec(
            "pushes_acknowledged",
            asset="channel_pushes",
            description="Every item due was acknowledged by its channel: none refused (now or "
            "before, until its value changes), no request left unanswered (a token, a URL, an "
            "outage), and every configured channel could push.",
        )
    ],
)
def channel_pushes(
    context: dg.AssetExecutionContext, config: PushConfig, store: StoreResource, partners: PartnersResource
) -> dg.MaterializeResult:
    """What each configured API channel has been sent, acknowledged, refused and was found to hold
    instead (drift), per (partner, channel)."""
    with in_one_line():
        db = store.store()
        reports, problems = {}, {}
        for spec, channel, snapshot in channel_snapshots(db, partners):
            key = f"{spec.name}/{channel.name}"
            try:
                mode = "overwrite" if spec.inventory.mode == "overwrite" else "update"
                reports[key] = push_account(
                    db.engine,
                    snapshot(),
                    spec,
                    channel,
                    partners.token(channel.token),
                    mode=mode,
                    retry_failed=config.retry_failed,
                )
            except Exception as e:  # one channel that cannot push (a missing secret…) stops no other
                if is_machinery(e):
                    raise
                problems[key] = f"not pushed: {one_line(e)}"
                context.log.error(f"{key}: {problems[key]}")
        failed = {k: r.failures for k, r in reports.items() if not r.ok}
        problems.update({k: r.undone() for k, r in reports.items() if not r.ok})
        for key, r in reports.items():
            context.log.info(
                f"{key}: {r.items_selected} item(s) selected, {r.batches_sent} batch(es) sent, "
                f"{r.items_acknowledged} item(s) acknowledged, {r.items_failed} refused, "
                f"{r.batches_pending} batch(es) pending, {len(r.drift)} drift finding(s)"
            )
            for finding in r.drift:
                context.log.warning(f"{key}: drift: {finding.describe()}")
        if not reports and not problems:
            context.log.info("no channel configured: nothing to push")
        return dg.MaterializeResult(
            metadata={
                "channels": text(", ".join(sorted({*reports, *problems})) or "no channel configured"),
                **{
                    f"{k}/{field}": dg.MetadataValue.int(getattr(r, field))
                    for k, r in sorted(reports.items())
                    for field in (
                        "items_selected",
                        "batches_sent",
                        "items_acknowledged",
                        "items_failed",
                        "items_refused_before",
                        "batches_pending",
                        "items_unchanged",
                    )
                },
                **{f"{k}/drift": dg.MetadataValue.int(len(r.drift)) for k, r in sorted(reports.items())},
                # What the quantity rules cost in sellable stock: units kept from the channel.
                **{
                    f"{k}/held_back/{step}": dg.MetadataValue.int(units)
                    for k, r in sorted(reports.items())
                    for step, units in r.held_back.items()
                    if r.held_back.get("total")
                },
                **{
                    f"{k}/drift_found": dg.MetadataValue.md(drift_table(r.drift))
                    for k, r in sorted(reports.items())
                    if r.drift
                },
                **{f"{k}/problem": text(p) for k, p in sorted(problems.items())},
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name="pushes_acknowledged",
                    passed=not problems,
                    severity=dg.AssetCheckSeverity.ERROR,
                    metadata={
                        "failed": dg.MetadataValue.json({k: [list(map(str, f)) for f in v] for k, v in failed.items()}),
                        "problems": dg.MetadataValue.json(problems),
                        "drift": dg.MetadataValue.json(
                            {k: [d.describe() for d in r.drift] for k, r in sorted(reports.items()) if r.drift}
                        ),
                    },
                )
            ],
        )


def channel_snapshots(db, partners: PartnersResource):
    """(partner, channel, snapshot()) for every configured channel; each account's state is read
    once, when first asked for."""
    cache: dict[str, object] = {}

    def reader(account: str):
        def read():
            if account not in cache:
                with db.transaction() as conn:
                    cache[account] = StateTables(db).outbound(conn, account)
            return cache[account]

        return read

    for spec in partners.specs().values():
        for channel in spec.channels:
            yield spec, channel, reader(spec.account)


def drift_table(findings) -> str:
    """Drift findings as a Markdown table (the UI renders it)."""
    lines = ["| warehouse | item | location | expected | found | ours | done |", "|---|---|---|---|---|---|---|"]
    for d in findings[:200]:
        lines.append(
            f"| {d.warehouse_code} | {d.inventory_item_id or '/'.join(d.sku)} | {d.location_id or ''} | "
            f"{'' if d.expected is None else d.expected} | {'' if d.found is None else d.found} | {d.ours} | {d.on_drift} |"
        )
    return "\n".join(lines)


# The account-level assets as named jobs, for the CLI's runs (the UI lists runs by their job).
fold_state_job = dg.define_asset_job(
    "fold_state", selection=[inventory_state], description="Fold every account's state."
)
write_exports_job = dg.define_asset_job(
    "write_exports", selection=[warehouse_exports], description="Write one warehouse's export files."
)
push_channels_job = dg.define_asset_job(
    "push_channels", selection=[channel_pushes], description="Send every channel what is due."
)
STATE_JOBS = {
    "inventory_state": fold_state_job,
    "warehouse_exports": write_exports_job,
    "channel_pushes": push_channels_job,
}
