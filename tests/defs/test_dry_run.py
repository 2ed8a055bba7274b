"""The check_file job: the dry run from the UI, on the sample partner that sends XLSX."""

import dagster as dg

from pipelines.defs import build_definitions
from pipelines.defs.resources import PartnersResource, StoreResource
from tests.defs.conftest import SAMPLE_DROPS

SAMPLE = SAMPLE_DROPS.parent


def run(tmp_path, file, partner="northwind"):
    defs = build_definitions(
        StoreResource(url=f"sqlite:///{tmp_path / 'never.db'}"),
        PartnersResource(partners_file=str(SAMPLE / "partners.yaml")),
    )
    config = {"ops": {"dry_run": {"config": {"file": str(file), "partner": partner}}}}
    with dg.instance_for_test() as instance:
        return defs.resolve_job_def("check_file").execute_in_process(
            run_config=config, instance=instance, raise_on_error=False
        )


def test_the_dry_run_job_shows_rejects_and_counts_and_lands_nothing(tmp_path):
    result = run(tmp_path, SAMPLE / "northwind" / "STOCK_202611170800.xlsx")
    assert result.success
    (output,) = [e for e in result.all_events if e.is_successful_output]
    meta = output.event_specific_data.metadata
    assert (meta["rows_read"].value, meta["rows_accepted"].value, meta["rows_rejected"].value) == (6, 5, 1)
    assert meta["read_as"].value == "inventory as of 2026-11-17T08:00:00"
    assert [r.data["column"] for r in meta["rejects"].records] == ["Qty On Hand"]
    assert not (tmp_path / "never.db").exists()


def test_a_file_that_would_be_rejected_whole_fails_the_run_with_the_reason(tmp_path):
    result = run(tmp_path, SAMPLE / "drops" / "stock_update_final.csv", partner="demo")
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    assert failure.step_failure_data.user_failure_data.description.startswith(
        "stock_update_final.csv would be rejected whole: unrecognised file name"
    )
