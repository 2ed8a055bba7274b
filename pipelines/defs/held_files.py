"""Decisions in the Dagster UI: the `decide_file` job approves or denies one file version
(launchpad config: `file: partner/name`, `decision: approve | deny`), like `stockdrop approve/deny`:
approve a held (or denied) file, deny a held one or take an applied one back out."""

from typing import Literal

import dagster as dg

from pipelines.adapters.held_files import decide as decide_version
from pipelines.defs.failures import in_one_line
from pipelines.defs.metadata import per_warehouse
from pipelines.defs.partitions import file_key
from pipelines.defs.resources import PartnersResource, StoreResource


class Decision(dg.Config):
    file: str  # partner/name, as `stockdrop held` or `report` lists it
    decision: Literal["approve", "deny"]


@dg.op(out={})
def decide(context: dg.OpExecutionContext, config: Decision, store: StoreResource, partners: PartnersResource):
    """Record the decision; the account is re-folded when its history changed."""
    with in_one_line():
        partner, name = config.file.split("/", 1)
        db = store.store()
        report = decide_version(db, store.paths(), partner, name, config.decision)
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


@dg.job(
    description="Approve a held or denied file, or deny a held file or take an applied one back out "
    "(config: file = partner/name, decision)."
)
def decide_file():
    decide()
