"""What an operator sees after a batch (issue 24), read from the instance as the UI reads it.

One batch of the sample drops with a guard: a file rejected whole by its header, a name the
contract does not know, a held overwrite and eleven good files. Exactly the stopped files are
failed (where they stopped, with the reason), each check result is on its own file's partition
and current for it, and each file's metadata holds its own figures only. Approving the held file
and sending a fixed version of the rejected one turn them green.
"""

import dagster as dg

from pipelines.defs.batches import ACCOUNT_TAG, VERDICT_TAG
from pipelines.defs.file_assets import FOLD_TAG, STOPPED
from pipelines.defs.partitions import drop_files, file_key
from pipelines.defs.resources import PartnersResource, StoreResource
from pipelines.defs.runner import Runner
from pipelines.defs.verdicts import FILE_ASSETS, VerdictRun, verdict_runs

BAD = "inventory_20261121T060000_bad.csv"  # its header lacks quantity: rejected whole at parse
UNKNOWN = "stock_update_final.csv"  # not a contract name: rejected whole at landing
HELD = "inventory_20261123T060000_overwrite.csv"  # zeroes too much: held by the guard
CHECKS = ("reject_ratio", "not_held", "no_unknown_warehouses")


def _runner(tmp_path, inbox) -> Runner:
    partners_file = tmp_path / "partners.yaml"
    partners_file.write_text(
        f"partners:\n  brand:\n    account: brand\n    source: {inbox}\n    settle_s: 0\n"
        "    guard: {max_ats_drop_pct: 50, max_zeroed_pct: 25, min_overwrite_rows_pct: 50}\n"
    )
    store = StoreResource(url=f"sqlite:///{tmp_path / 'store.db'}", data_dir=str(tmp_path / "data"))
    return Runner(store, PartnersResource(partners_file=str(partners_file)))


def _status(instance, asset: str, keys: list[str]) -> dict[str, dg.AssetPartitionStatus]:
    return instance.get_status_by_partition(dg.AssetKey(asset), keys, drop_files)


def _failed(instance, asset: str, keys: list[str]) -> set[str]:
    return {k for k, s in _status(instance, asset, keys).items() if s == dg.AssetPartitionStatus.FAILED}


def _failure_descriptions(instance) -> dict[str, str]:
    """Each failed file's reason, as its failed run shows it (the latest failed step of the partition)."""
    reasons = {}
    for run in instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE])):
        for record in instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE).records:
            data = record.event_log_entry.dagster_event.step_failure_data
            reasons[run.tags["dagster/partition"]] = data.user_failure_data.description
    return reasons


def test_a_batch_fails_exactly_its_stopped_files_each_check_and_figure_on_its_own_file(tmp_path, inbox, monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)  # an instance of this test's own
    runner = _runner(tmp_path, inbox)
    spec = runner.partners.spec("brand")
    names = sorted(p.name for p in inbox.iterdir())
    keys = [file_key("brand", n) for n in names]
    runner.apply_files(spec, names)  # one batch; a stopped file is not a failure of the sync
    instance = runner.instance
    runs = instance.get_runs(dg.RunsFilter(job_name="apply_drop"))
    (batch,) = [r for r in runs if VERDICT_TAG not in r.tags]
    assert len(runs) == 1 + 3  # the batch, and a run of its own for each stopped file

    # exactly the stopped files are red, from the asset where they stopped on
    assert _failed(instance, "landed_file", keys) == {file_key("brand", UNKNOWN)}
    assert _failed(instance, "parsed_rows", keys) == {file_key("brand", UNKNOWN), file_key("brand", BAD)}
    assert _failed(instance, "file_events", keys) == {file_key("brand", n) for n in (UNKNOWN, BAD, HELD)}
    good = [k for k in keys if k not in _failed(instance, "file_events", keys)]
    assert len(good) == len(names) - 3
    assert set(_status(instance, "file_events", good).values()) == {dg.AssetPartitionStatus.MATERIALIZED}
    reasons = _failure_descriptions(instance)
    assert reasons[file_key("brand", BAD)].startswith(f"{BAD} rejected whole: ")
    assert reasons[file_key("brand", UNKNOWN)].startswith(f"{UNKNOWN} rejected whole: unrecognised file name")
    assert reasons[file_key("brand", HELD)].startswith(f"{HELD} held: ")
    assert f"stockdrop approve brand/{HELD}" in reasons[file_key("brand", HELD)]

    # each check's result is on its own file's partition, current for that file's materialization
    infos = instance.event_log_storage.get_asset_check_partition_info(
        [dg.AssetCheckKey(dg.AssetKey("file_events"), c) for c in CHECKS]
    )
    by = {(i.check_key.name, i.partition_key): i for i in infos}
    assert {k for _, k in by} == set(keys)
    assert all(i.is_current for i in infos), [i for i in infos if not i.is_current]
    failed = {(c, k) for (c, k), i in by.items() if i.latest_execution_status.value == "FAILED"}
    assert ("not_held", file_key("brand", HELD)) in failed
    assert {k for c, k in failed if c == "not_held"} == {file_key("brand", HELD)}
    assert {("reject_ratio", file_key("brand", n)) for n in (BAD, UNKNOWN)} <= failed
    for check in CHECKS:
        history = instance.event_log_storage.get_asset_check_execution_history(
            dg.AssetCheckKey(dg.AssetKey("file_events"), check), limit=100
        )
        for record in history:  # each evaluation names the file it was for, and targets that file
            evaluation = record.event.dagster_event.event_specific_data
            target = evaluation.target_materialization_data
            assert target is not None and record.partition == evaluation.partition
            (mat,) = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=dg.AssetKey("file_events"), storage_ids=[target.storage_id]), limit=1
            ).records
            assert mat.partition_key == record.partition

    # each file's metadata is its own; the batch's figures are on the run
    latest = {
        k: instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey("file_events"), asset_partitions=[k]), limit=1
        ).records[0]
        for k in keys
    }
    assert {r.run_id for r in latest.values()} == {batch.run_id}
    for record in latest.values():
        meta = record.asset_materialization.metadata
        assert not {"files_in_run", "files_in_fold", "refold_from_file", "seconds"} & set(meta)
        assert not any(name.startswith("rows_written/") for name in meta)
    rows_set = {k: r.asset_materialization.metadata.get("rows_set") for k, r in latest.items()}
    assert len({v.value for v in rows_set.values() if v is not None}) > 3  # figures differ file by file
    assert "file(s) applied" in instance.get_run_by_id(batch.run_id).tags[FOLD_TAG]
    assert STOPPED in latest[file_key("brand", HELD)].asset_materialization.metadata

    # the state says what it took in, though the batch's fold applied the files before it
    runner.publish(exports=False, pushes=True)
    assert _state_figures(instance) == (len(names) - 3, len(names) - 3, 0)
    pushes = instance.get_latest_materialization_event(dg.AssetKey("channel_pushes")).asset_materialization
    assert pushes.metadata["channels"].value == "no channel configured"

    # approve the held file; a fixed version of the rejected one: both green again
    runner.decide(f"brand/{HELD}", "approve")
    (inbox / BAD).write_text("upc,warehouse_code,quantity\n040000007919,NYC,3\n")
    runner.apply_files(spec, [BAD])
    assert _failed(instance, "file_events", keys) == {file_key("brand", UNKNOWN)}
    assert _failed(instance, "parsed_rows", keys) == {file_key("brand", UNKNOWN)}
    runner.publish(exports=False, pushes=False)
    assert _state_figures(instance) == (len(names) - 1, 2, 0)
    # every run under its job's name
    assert {r.job_name for r in instance.get_runs()} == {"apply_drop", "fold_state", "push_channels", "decide_file"}


def _state_figures(instance) -> tuple[int, int, int]:
    meta = instance.get_latest_materialization_event(dg.AssetKey("inventory_state")).asset_materialization.metadata
    return tuple(meta[k].value for k in ("files_in_state", "files_in_state_change", "files_applied_by_this_fold"))


def test_verdict_runs_start_where_the_file_first_stopped():
    def m(asset, key, stopped):
        return dg.AssetMaterialization(asset, partition=key, metadata={STOPPED: "x"} if stopped else {})

    runs = verdict_runs(
        [
            m("landed_file", "p/a", False), m("parsed_rows", "p/a", True), m("file_events", "p/a", True),
            m("landed_file", "p/b", True), m("file_events", "p/b", True),
            m("file_events", "p/c", True), m("file_events", "p/d", False),
        ],
        "acct",
    )  # fmt: skip
    assert sorted(runs, key=lambda r: r.key) == [
        VerdictRun("p/a", "parsed_rows", "acct"),
        VerdictRun("p/b", "landed_file", "acct"),
        VerdictRun("p/c", "file_events", "acct"),
    ]
    (a,) = [r for r in runs if r.key == "p/a"]
    assert a.assets == [dg.AssetKey(x) for x in FILE_ASSETS[1:]]
    assert a.tags == {VERDICT_TAG: "parsed_rows", ACCOUNT_TAG: "acct"}
