"""SFTP drops end to end through Dagster: `sync` and the sensor on a real sshd, exports to the outbox."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg

from pipelines.defs import build_definitions
from pipelines.defs.resources import PartnersResource, StoreResource
from tests.conftest import EXAMPLES

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data" / "drops"


def partners_yaml(tmp_path, sshd, inbox, outbox, **extra) -> Path:
    options = "".join(f"    {k}: {v}\n" for k, v in extra.items())
    path = tmp_path / "partners.yaml"
    path.write_text(
        "partners:\n  acme:\n    account: acme\n"
        f"    source: sftp://{sshd.user}@{sshd.host}:{sshd.port}{inbox}\n"
        f"    known_hosts: {sshd.known_hosts}\n    private_key: {{env: ACME_SFTP_KEY}}\n"
        f"    settle_s: 0\n    exports: {{dir: {tmp_path / 'exports'}, outbox: {outbox}}}\n" + options
    )
    return path


def test_sync_over_sftp_lands_every_kind_and_uploads_exports_and_results(tmp_path, sshd):
    inbox, outbox, results = sshd.folder("inbox"), sshd.folder("outbox"), sshd.folder("results")
    for f in (EXAMPLES / "02-orders-allocation" / "drops").iterdir():
        shutil.copy(f, inbox / f.name)
    sshd.give_to_user(inbox)
    partners = partners_yaml(tmp_path, sshd, inbox, outbox, results=f"{{outbox: {results}}}")
    store = f"sqlite:///{tmp_path}/s.db"
    env = {**os.environ, "ACME_SFTP_KEY": sshd.client_key_pem}
    run = subprocess.run(
        [sys.executable, "-m", "pipelines", "sync", "--partners", str(partners), "--store", store],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert "7 new stable file(s) of 7 listed" in run.stderr
    assert sshd.client_key_pem.splitlines()[1] not in run.stderr + run.stdout
    state = subprocess.run(
        [sys.executable, "-m", "pipelines", "state", "--store", store], capture_output=True, text=True, env=env
    ).stdout
    expected = (EXAMPLES / "02-orders-allocation" / "expected_state.csv").read_text().replace("default,", "acme,")
    assert state == expected
    uploaded = sorted(p.name for p in outbox.iterdir())
    assert "stock_acme_DEFAULT.csv" in uploaded and not [n for n in uploaded if n.endswith(".part")]
    assert (outbox / "stock_acme_DEFAULT.csv").read_bytes() == (
        tmp_path / "exports" / "stock_acme_DEFAULT.csv"
    ).read_bytes()
    # the partner's answer, per file, in its SFTP results folder
    answered = sorted(p.name for p in results.iterdir())
    dropped = sorted(p.name for p in (EXAMPLES / "02-orders-allocation" / "drops").iterdir())
    assert answered == sorted(f"{n}.result.{ext}" for n in dropped for ext in ("csv", "json"))
    rejects = subprocess.run(
        [sys.executable, "-m", "pipelines", "rejects", "--store", store], capture_output=True, text=True, env=env
    ).stdout.splitlines()[1:]
    for name in dropped:
        mine = [line.split(",", 2)[2] for line in rejects if line.split(",")[1] == name]
        assert (results / f"{name}.result.csv").read_text().splitlines()[1:] == mine, name
        assert '"status": "applied"' in (results / f"{name}.result.json").read_text()


def test_sensor_and_job_over_sftp_with_move_after_processing(tmp_path, sshd, monkeypatch):
    inbox, outbox = sshd.folder("inbox"), sshd.folder("outbox")
    for f in (EXAMPLES / "01-keys-update-overwrite" / "drops").iterdir():
        shutil.copy(f, inbox / f.name)
    (inbox / "not_a_drop.csv").write_text("x\n")
    sshd.give_to_user(inbox)
    monkeypatch.setenv("ACME_SFTP_KEY", sshd.client_key_pem)
    partners = PartnersResource(
        partners_file=str(partners_yaml(tmp_path, sshd, inbox, outbox, after_processing="move"))
    )
    store = StoreResource(url=f"sqlite:///{tmp_path}/s.db")
    defs = build_definitions(store, partners)
    sensor = defs.resolve_sensor_def("drops_acme")
    with dg.instance_for_test() as instance:
        result = sensor(dg.build_sensor_context(instance=instance, resources={"partners": partners, "store": store}))
        keys = list(result.dynamic_partitions_requests[0].partition_keys)
        assert len(keys) == 5
        [batch] = result.run_requests  # the tick's five files in one run: one session, one listing
        instance.add_dynamic_partitions("drop_files", keys)
        run = defs.resolve_job_def("apply_drop").execute_in_process(instance=instance, tags=batch.tags)
        # The file rejected whole (an unrecognised name) does not fail the batch: its partition says
        # so, and its reject_ratio check fails as an error; the others are applied.
        landed = {
            e.step_materialization_data.materialization.partition: e.step_materialization_data.materialization
            for e in run.all_events
            if e.is_step_materialization and e.asset_key == dg.AssetKey("landed_file")
        }
        assert sorted(landed) == sorted(keys)
        assert [k for k, m in landed.items() if m.metadata["outcome"].value == "rejected"] == ["acme/not_a_drop.csv"]
        errors = [
            e.partition
            for e in run.get_asset_check_evaluations()
            if e.check_name == "reject_ratio" and not e.passed and e.severity == dg.AssetCheckSeverity.ERROR
        ]
        assert errors == ["acme/not_a_drop.csv"]
    state = store.store().state()
    assert state.height == 4 and state.filter(state["warehouse_code"] == "DEFAULT")["on_hand"].to_list() == [8]
    assert sorted(p.name for p in (inbox / "processed").iterdir()) == sorted(
        p.name for p in (EXAMPLES / "01-keys-update-overwrite" / "drops").iterdir()
    )
    assert [p.name for p in (inbox / "rejected").iterdir()] == ["not_a_drop.csv"]
    assert [p.name for p in inbox.iterdir() if p.is_file()] == []


def test_an_unreadable_file_is_reported_and_the_others_are_processed(tmp_path, sshd):
    assert sshd.created_user, "permissions need a non-root login user (the fixture makes one as root)"
    inbox, outbox = sshd.folder("inbox"), sshd.folder("outbox")
    for f in (EXAMPLES / "03-late-drop" / "drops").iterdir():
        shutil.copy(f, inbox / f.name)
    locked = inbox / "inventory_20261103T080000.csv"
    locked.write_text("upc,quantity\n012345678905,1\n")
    locked.chmod(0)
    partners = partners_yaml(tmp_path, sshd, inbox, outbox)
    store = f"sqlite:///{tmp_path}/s.db"
    env = {**os.environ, "ACME_SFTP_KEY": sshd.client_key_pem, "STOCKDROP_DATA_DIR": str(tmp_path / "data")}
    run = subprocess.run(
        [sys.executable, "-m", "pipelines", "sync", "--partners", str(partners), "--store", store],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert run.returncode == 1
    assert "1 of 5 file(s) failed" in run.stderr and "permission denied" in run.stderr
    rejects = subprocess.run(
        [sys.executable, "-m", "pipelines", "rejects", "--store", store], capture_output=True, text=True, env=env
    ).stdout
    assert "acme,inventory_20261103T080000.csv,,,,not downloaded: permission denied" in rejects
    state = subprocess.run(
        [sys.executable, "-m", "pipelines", "state", "--store", store], capture_output=True, text=True, env=env
    ).stdout
    assert "acme,DEFAULT,012345678905,TS100,FW26,BLK,Small,6,0,6," in state

    locked.chmod(0o644)  # fixed on the server: the next sync lands it and the reject is gone
    rerun = subprocess.run(
        [sys.executable, "-m", "pipelines", "sync", "--partners", str(partners), "--store", store],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert rerun.returncode == 0, rerun.stderr
    assert (
        "not downloaded"
        not in subprocess.run(
            [sys.executable, "-m", "pipelines", "rejects", "--store", store], capture_output=True, text=True, env=env
        ).stdout
    )
