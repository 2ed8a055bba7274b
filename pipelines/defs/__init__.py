"""Dagster wiring: assets, sensors, schedules, checks and jobs over the adapters."""

from __future__ import annotations

import dagster as dg

from pipelines.defs.alerts import alerts_delivered, deliver_alerts
from pipelines.defs.deliveries import deliveries_schedule, delivery_checks
from pipelines.defs.dry_run import check_file
from pipelines.defs.executors import chosen_executor
from pipelines.defs.file_assets import file_events, landed_file, parsed_rows
from pipelines.defs.held_files import decide_file
from pipelines.defs.reconcile import reconcile_channels
from pipelines.defs.resources import PartnersResource, StoreResource
from pipelines.defs.sensors import (
    apply_drop_job,
    daily_release_job,
    daily_release_schedule,
    drop_sensor,
    publish_sensor,
)
from pipelines.defs.state_assets import STATE_JOBS, channel_pushes, inventory_state, warehouse_exports
from pipelines.defs.verdicts import file_verdicts

ASSETS = [landed_file, parsed_rows, file_events, inventory_state, warehouse_exports, channel_pushes]


def build_definitions(store: StoreResource, partners: PartnersResource) -> dg.Definitions:
    """The one set of definitions the UI, the daemon and the CLI all run."""
    specs = list(partners.specs().values())
    checks = delivery_checks(specs)
    return dg.Definitions(
        assets=ASSETS,
        asset_checks=[*checks, alerts_delivered],
        jobs=[apply_drop_job, *STATE_JOBS.values(), daily_release_job, decide_file, check_file, reconcile_channels],
        sensors=[
            *(drop_sensor(spec, apply_drop_job) for spec in specs),
            publish_sensor,
            deliver_alerts,
            file_verdicts(apply_drop_job),
        ],
        schedules=[daily_release_schedule, *([deliveries_schedule(checks)] if checks else [])],
        resources={"store": store, "partners": partners},
        executor=chosen_executor(),
    )
