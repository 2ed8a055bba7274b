"""Real materializations of the file assets and the account assets on the sample drops."""

import dagster as dg
import polars as pl

from pipelines.defs.file_assets import FILE_VERDICT
from pipelines.defs.partitions import drop_files, file_key


def run_file(defs, instance, key):
    """Run a file's partition; a file rejected whole fails its step (and only that way)."""
    result = defs.resolve_job_def("apply_drop").execute_in_process(
        partition_key=key, instance=instance, raise_on_error=False
    )
    failures = [e.step_failure_data for e in result.all_events if e.is_step_failure]
    assert result.success or all(
        f.user_failure_data and f.user_failure_data.metadata.get(FILE_VERDICT) for f in failures
    ), failures
    return {
        e.asset_key.to_user_string(): e.materialization.metadata for e in result.get_asset_materialization_events()
    }, result


def test_file_assets_report_rows_rejects_and_effect(wired):
    defs, store, partners, instance = wired
    names = [
        "warehouses_20261116T000000.csv",
        "linesheets_20261116T000000.csv",
        "styles_20261116T000000.csv",
        "inventory_20261116T060000_seed.csv",
        "inventory_20261117T060000.csv",
    ]
    keys = [file_key("brand", n) for n in names]
    instance.add_dynamic_partitions(drop_files.name, keys)
    for key in keys[:-1]:
        run_file(defs, instance, key)
    meta, result = run_file(defs, instance, keys[-1])
    assert meta["landed_file"]["outcome"].value == "new"
    assert len(meta["landed_file"]["sha256"].value) == 64
    counts = meta["parsed_rows"]
    assert counts["rows_read"] == dg.IntMetadataValue(20) and counts["rows_rejected"] == dg.IntMetadataValue(1)
    assert isinstance(counts["rows_accepted"], dg.IntMetadataValue)
    assert [r.data["value"] for r in counts["first_rejects"].records] == ["4.5"]
    events = meta["file_events"]
    assert events["rows_set"].value == 13  # 12 listed + one identical duplicate pair
    assert events["rejects_total"] == dg.IntMetadataValue(6)
    assert all(isinstance(v, dg.IntMetadataValue) for k, v in events.items() if k.startswith("ats_change/"))
    assert any(r.data["reason"] == "unknown warehouse" for r in events["first_rejects"].records)
    checks = {(c.check_name, c.partition): c.passed for c in result.get_asset_check_evaluations()}
    assert checks == {
        ("reject_ratio", keys[-1]): False,
        ("no_unknown_warehouses", keys[-1]): False,
        ("not_held", keys[-1]): True,
    }

    again, _ = run_file(defs, instance, keys[-1])
    assert again["landed_file"]["outcome"].value == "duplicate"
    assert again["parsed_rows"]["note"].value == "no-op: nothing new to parse"
    assert again["file_events"]["effect"].value.startswith("no-op")


def test_a_file_rejected_whole_fails_its_partition_with_the_reason_and_a_good_one_succeeds(wired, inbox):
    defs, store, partners, instance = wired
    (inbox / "inventory_20261118T000000.csv").write_text("upc,quantity,QUANTITY\n1,2,3\n")
    bad, good = file_key("brand", "inventory_20261118T000000.csv"), file_key("brand", "styles_20261116T000000.csv")
    instance.add_dynamic_partitions(drop_files.name, [bad, good])
    job = defs.resolve_job_def("apply_drop")

    failed = job.execute_in_process(partition_key=bad, instance=instance, raise_on_error=False)
    succeeded = job.execute_in_process(partition_key=good, instance=instance)

    assert not failed.success and succeeded.success
    (failure,) = [e for e in failed.all_events if e.is_step_failure]
    assert failure.step_key == "parsed_rows"
    assert failure.step_failure_data.user_failure_data.description == (
        "inventory_20261118T000000.csv rejected whole: duplicate column 'quantity'"
    )
    status = instance.get_status_by_partition(dg.AssetKey("parsed_rows"), [bad, good], drop_files)
    assert status == {bad: dg.AssetPartitionStatus.FAILED, good: dg.AssetPartitionStatus.MATERIALIZED}
    assert store.store().rejects().filter(pl.col("file") == "inventory_20261118T000000.csv").height == 1


def test_state_exports_and_checks(wired, tmp_path):
    defs, store, partners, instance = wired
    inbox_names = sorted(p.name for p in (tmp_path / "inbox").iterdir())
    keys = [file_key("brand", n) for n in inbox_names]
    instance.add_dynamic_partitions(drop_files.name, keys)
    for key in keys:
        run_file(defs, instance, key)
    assets = {a.key.to_user_string(): a for a in defs.assets}
    res = {"store": store, "partners": partners}
    state = dg.materialize([assets["inventory_state"]], instance=instance, resources=res)
    meta = state.get_asset_materialization_events()[0].materialization.metadata
    assert meta["rows"] == dg.IntMetadataValue(store.store().state().height) and meta["rows"].value == 117
    assert {k for k in meta if k.startswith("ats/")} == {"ats/brand/NYC", "ats/brand/LA", "ats/brand/SPRING27"}
    assert sorted(instance.get_dynamic_partitions("warehouses")) == [
        "brand/DEFAULT",
        "brand/LA",
        "brand/NYC",
        "brand/SPRING27",
    ]
    export = dg.materialize([assets["warehouse_exports"]], instance=instance, resources=res, partition_key="brand/LA")
    files = export.get_asset_materialization_events()[0].materialization.metadata["files"].value
    assert sorted(f["kind"] for f in files) == ["joor", "quantity", "stock"]
    stock = pl.read_csv(tmp_path / "exports" / "stock_brand_LA.csv", infer_schema=False)
    assert stock.height == 46 and (stock["ats"].cast(pl.Int64) >= 0).all()
