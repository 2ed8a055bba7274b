"""`reconcile_channels`: the UI's `stockdrop reconcile` (channels.md "Drift").

Launchpad config: `apply` (set ours for each difference), optionally `partner` and `channel`.
The differences go on the run as a table per (partner, channel) and, as an observation of
`channel_pushes`, where an operator looks for what the channels hold.
"""

from typing import Any

import dagster as dg

from pipelines.adapters.failures import is_machinery, one_line
from pipelines.adapters.reconcile import NoChannelRead, Reconciliation, reconcile_channel
from pipelines.defs.failures import in_one_line
from pipelines.defs.metadata import text
from pipelines.defs.resources import PartnersResource, StoreResource
from pipelines.defs.state_assets import channel_snapshots

MAX_ROWS_SHOWN = 200


class ReconcileConfig(dg.Config):
    apply: bool = False  # set ours for each difference, compared against what was read
    partner: str | None = None
    channel: str | None = None


@dg.op(out={})
def reconcile(
    context: dg.OpExecutionContext, config: ReconcileConfig, store: StoreResource, partners: PartnersResource
):
    """Read what each channel holds, list what differs from ours, and with `apply` set ours."""
    with in_one_line():
        db = store.store()
        metadata: dict[str, Any] = {}
        for spec, channel, snapshot in channel_snapshots(db, partners):
            if (config.partner and spec.name != config.partner) or (config.channel and channel.name != config.channel):
                continue
            key = f"{spec.name}/{channel.name}"
            try:
                result = reconcile_channel(
                    db.engine, snapshot(), spec, channel, partners.token(channel.token), apply=config.apply
                )
            except NoChannelRead as e:
                metadata[f"{key}/not_reconciled"] = text(str(e))
                context.log.warning(str(e))
                continue
            except Exception as e:
                if is_machinery(e):
                    raise
                metadata[f"{key}/problem"] = text(one_line(e))
                context.log.error(f"{key}: {one_line(e)}")
                continue
            metadata.update(describe(key, result))
            context.log.info(f"{key}: {result.differences.height} difference(s) in {result.items} item(s)")
        yield dg.AssetObservation(
            asset_key="channel_pushes", metadata=metadata or {"channels": "no channel configured"}
        )


def describe(key: str, result: Reconciliation) -> dict[str, Any]:
    """A reconciliation as metadata: counts, the differences as a table, and what went wrong."""
    shown = result.differences.head(MAX_ROWS_SHOWN)
    lines = ["| warehouse | item | location | ours | theirs |", "|---|---|---|---|---|"]
    for r in shown.iter_rows(named=True):
        theirs = "" if r["theirs"] is None else r["theirs"]
        lines.append(
            f"| {r['warehouse_code']} | {r['inventory_item_id']} | {r['location_id']} | {r['ours']} | {theirs} |"
        )
    out: dict[str, Any] = {
        f"{key}/items_compared": dg.MetadataValue.int(result.items),
        f"{key}/differences": dg.MetadataValue.int(result.differences.height),
        f"{key}/reads": dg.MetadataValue.int(result.requests),
    }
    if result.differences.height:
        out[f"{key}/differing_items"] = dg.MetadataValue.md("\n".join(lines))
    if result.problem:
        out[f"{key}/problem"] = text(result.problem)
    if result.applied is not None:
        out[f"{key}/items_set"] = dg.MetadataValue.int(result.applied.items_acknowledged)
        if not result.applied.ok:
            out[f"{key}/apply_problem"] = text(result.applied.undone())
    return out


@dg.job(
    description="Read what each channel holds, list the items that differ from ours and, with apply: true, set ours."
)
def reconcile_channels():
    reconcile()
