"""Real materializations of the file assets and the account assets on the sample drops."""
import dagster as dg
import polars as pl

from pipelines.defs.partitions import drop_files, file_key


def run_file(defs, instance, key):
    result = defs.resolve_job_def("apply_drop").execute_in_process(partition_key=key, instance=instance)
    assert result.success
    return {e.asset_key.to_user_string(): e.materialization.metadata
            for e in result.get_asset_materialization_events()}, result


def test_file_assets_report_rows_rejects_and_effect(wired):
    defs, store, partners, instance = wired
    names = ["warehouses_20261116T000000.csv", "linesheets_20261116T000000.csv", "styles_20261116T000000.csv",
             "inventory_20261116T060000_seed.csv", "inventory_20261117T060000.csv"]
    keys = [file_key("brand", n) for n in names]
    instance.add_dynamic_partitions(drop_files.name, keys)
    for key in keys[:-1]:
        run_file(defs, instance, key)
    meta, result = run_file(defs, instance, keys[-1])
    assert meta["landed_file"]["outcome"].value == "new"
    assert len(meta["landed_file"]["sha256"].value) == 64
    assert meta["parsed_rows"]["rows_read"].value == 20
    assert meta["parsed_rows"]["rows_rejected"].value == 1
    assert "4.5" in meta["parsed_rows"]["first_rejects"].value
    events = meta["file_events"]
    assert events["file_effect"].value["rows_set"] == 13  # 12 listed + one identical duplicate pair
    assert events["rejects_total"].value == 6
    assert "unknown warehouse" in events["first_rejects"].value
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks == {"reject_ratio": False, "no_unknown_warehouses": False}

    again, _ = run_file(defs, instance, keys[-1])
    assert again["landed_file"]["outcome"].value == "duplicate"
    assert again["parsed_rows"]["note"].value == "nothing new to parse"


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
    assert meta["rows"].value == store.store().state().height == 117
    assert set(meta["ats_by_warehouse"].value) == {"brand/NYC", "brand/LA", "brand/SPRING27"}
    assert sorted(instance.get_dynamic_partitions("warehouses")) == ["brand/DEFAULT", "brand/LA", "brand/NYC",
                                                                     "brand/SPRING27"]
    export = dg.materialize([assets["warehouse_exports"]], instance=instance, resources=res, partition_key="brand/LA")
    files = export.get_asset_materialization_events()[0].materialization.metadata["files"].value
    assert sorted(f["kind"] for f in files) == ["joor", "quantity", "stock"]
    stock = pl.read_csv(tmp_path / "exports" / "stock_brand_LA.csv", infer_schema=False)
    assert stock.height == 46 and (stock["ats"].cast(pl.Int64) >= 0).all()
