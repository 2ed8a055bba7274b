"""A partner gone quiet: one check per partner with `expect_every_h`, run hourly by a schedule."""

from __future__ import annotations

import re
import time

import dagster as dg

from pipelines.defs.file_assets import landed_file
from pipelines.defs.resources import StoreResource
from pipelines.domain.deliveries import DeliveryStatus
from pipelines.domain.partners import PartnerSpec


def delivery_check(spec: PartnerSpec) -> dg.AssetChecksDefinition:
    """Fails (as an error) when the partner delivered no new file within its `expect_every_h`."""
    assert spec.expect_every_h is not None
    every_h = spec.expect_every_h

    @dg.asset_check(
        asset=landed_file,
        name="delivers_" + re.sub(r"\W", "_", spec.name),
        description=f"Partner {spec.name} delivers a new file at least every {every_h:g} h "
        "(by the file's modification time at the source).",
    )
    def _check(store: StoreResource) -> dg.AssetCheckResult:
        status = DeliveryStatus(spec.name, every_h, store.store().last_delivery(spec.name), time.time())
        hours = status.hours_since
        return dg.AssetCheckResult(
            passed=not status.late,
            severity=dg.AssetCheckSeverity.ERROR,
            description=status.describe(),
            metadata={
                "hours_since_last_delivery": dg.MetadataValue.float(round(hours, 2) if hours is not None else -1.0),
                "expect_every_h": dg.MetadataValue.float(float(every_h)),
            },
        )

    return _check


def delivery_checks(specs: list[PartnerSpec]) -> list[dg.AssetChecksDefinition]:
    return [delivery_check(s) for s in specs if s.expect_every_h is not None]


def deliveries_schedule(checks: list[dg.AssetChecksDefinition]) -> dg.ScheduleDefinition:
    job = dg.define_asset_job(
        "partner_deliveries",
        selection=dg.AssetSelection.checks(*checks),
        description="Whether each partner with expect_every_h delivered in time.",
    )
    return dg.ScheduleDefinition(
        job=job, cron_schedule="15 * * * *", execution_timezone="UTC", default_status=dg.DefaultScheduleStatus.RUNNING
    )
