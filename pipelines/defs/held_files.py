"""Held files in the Dagster UI: the `decide_held_file` job approves or denies one held file
(launchpad config: `file: partner/name`, `decision: approve | deny`), like `stockdrop approve/deny`."""

from typing import Literal

import dagster as dg

from pipelines.adapters.held_files import decide
from pipelines.defs.failures import in_one_line
from pipelines.defs.metadata import per_warehouse
from pipelines.defs.partitions import file_key
from pipelines.defs.resources import PartnersResource, StoreResource


class Decision(dg.Config):
    file: str  # partner/name, as `stockdrop held` lists it
    decision: Literal["approve", "deny"]


@dg.op(out={})
def decide_held(context: dg.OpExecutionContext, config: Decision, store: StoreResource, partners: PartnersResource):
    """Record the decision; an approved file is folded in at its place in contract order."""
    with in_one_line():
        partner, name = config.file.split("/", 1)
        db = store.store()
        report = decide(db, store.paths(), partner, name, config.decision)
        with db.transaction() as conn:
            now = db.latest_version(conn, partner, name)
        assert now is not None
        specs = partners.specs()
        if partner in specs:
            partners.write_result(db, specs[partner], now)
        context.log.info(f"{config.file}: {config.decision}: its version is now {now.status}")
        # The file's partition shows the decision (it was held there).
        yield dg.AssetMaterialization(
            asset_key="file_events",
            partition=file_key(partner, name),
            metadata={
                "status": now.status,
                "decision": now.decision or "",
                **({"refold_from_file": dg.MetadataValue.int(report.started_from)} if report else {}),
                **(per_warehouse("ats_change", report.ats_change_by_warehouse) if report else {}),
            },
        )


@dg.job(description="Approve or deny one held file (config: file = partner/name, decision).")
def decide_held_file():
    decide_held()
