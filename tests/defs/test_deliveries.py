"""A partner gone quiet (cli.md v1.1, `expect_every_h`): its check fails and `report` lists it as late."""

import os
import subprocess
import sys
import time

import dagster as dg

from pipelines.defs import build_definitions
from pipelines.defs.resources import PartnersResource, StoreResource
from pipelines.domain.deliveries import DeliveryStatus

CATALOG = "style_number,style_identifier,color_code,size_name,upc\nTS100,FW26,BLK,S,012345678905\n"


def test_lateness_is_measured_from_the_source_mtime():
    now = 1_000_000.0
    assert DeliveryStatus("p", 24, now - 25 * 3600, now).late
    assert not DeliveryStatus("p", 24, now - 23 * 3600, now).late
    assert DeliveryStatus("p", 24, None, now).late  # nothing delivered yet


def test_a_quiet_partner_fails_its_check_and_report_lists_it(tmp_path):
    for partner, hours_ago in (("quiet", 30), ("lively", 1)):
        inbox = tmp_path / partner
        inbox.mkdir()
        path = inbox / "styles_20261101T000000.csv"
        path.write_text(CATALOG)
        then = time.time() - hours_ago * 3600
        os.utime(path, (then, then))
    partners_file = tmp_path / "partners.yaml"
    partners_file.write_text(
        "partners:\n"
        "  quiet: {account: quiet, source: quiet, settle_s: 0, expect_every_h: 24}\n"
        "  lively: {account: lively, source: lively, settle_s: 0, expect_every_h: 24}\n"
    )
    store = f"sqlite:///{tmp_path}/s.db"
    synced = subprocess.run(
        [sys.executable, "-m", "pipelines", "sync", "--partners", str(partners_file), "--store", store],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert synced.returncode == 0, synced.stderr

    defs = build_definitions(StoreResource(url=store), PartnersResource(partners_file=str(partners_file)))
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("partner_deliveries").execute_in_process(instance=instance, raise_on_error=False)
    outcome = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert outcome == {"delivers_quiet": False, "delivers_lively": True}

    report = subprocess.run(
        [sys.executable, "-m", "pipelines", "report", "--partners", str(partners_file), "--store", store],
        capture_output=True,
        text=True,
        timeout=300,
    ).stdout
    late = [line for line in report.splitlines() if line.startswith("Late:")]
    assert len(late) == 1 and late[0].startswith("Late: quiet: last file delivered 30.0 h ago")
