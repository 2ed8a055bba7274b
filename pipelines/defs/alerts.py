"""Alerts in Dagster (alerts.md): the `deliver_alerts` sensor (on by default, every 60 s) finds
and delivers what the store records, and the `alerts_delivered` check shows a destination that
keeps failing (evaluated by the sensor after each pass, and runnable from the UI)."""

import dagster as dg

from pipelines.adapters.alerting import alert_pass, failing_destinations
from pipelines.defs.metadata import text
from pipelines.defs.resources import PartnersResource, StoreResource
from pipelines.defs.state_assets import channel_pushes

CHECK = "alerts_delivered"


def _evaluation(store: StoreResource) -> tuple[bool, dict]:
    failing = failing_destinations(store.store())
    metadata = {
        "failing_destinations": dg.MetadataValue.json(failing),
        "summary": text(
            "; ".join(f"{d}: {e}" for d, e in sorted(failing.items())) or "every destination takes its alerts"
        ),
    }
    return not failing, metadata


@dg.asset_check(
    asset=channel_pushes,
    name=CHECK,
    description="Every alert destination takes its alerts: none has a delivery that failed 3 times or more.",
)
def alerts_delivered(store: StoreResource) -> dg.AssetCheckResult:
    passed, metadata = _evaluation(store)
    return dg.AssetCheckResult(passed=passed, severity=dg.AssetCheckSeverity.ERROR, metadata=metadata)


@dg.sensor(
    name="deliver_alerts",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Finds what the store records that a person should hear of (alerts.md) and delivers it, "
    "once per destination.",
)
def deliver_alerts(context: dg.SensorEvaluationContext, store: StoreResource, partners: PartnersResource):
    settings = partners.alert_settings()
    if not settings.any:
        return dg.SkipReason("no alerts configured (partners file, `alerts:`)")
    report = alert_pass(store.store(), partners.specs(), settings)
    context.log.info(
        f"{len(report.found)} alert(s) found; delivered {sum(report.delivered.values())}, "
        f"failed {sum(report.failed.values())}"
    )
    passed, metadata = _evaluation(store)
    return dg.SensorResult(
        asset_events=[
            dg.AssetCheckEvaluation(
                asset_key=channel_pushes.key,
                check_name=CHECK,
                passed=passed,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata=metadata,
            )
        ]
    )
