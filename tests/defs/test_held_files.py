"""A held file in Dagster: its partition is failed with the guard's reason and the `not_held`
check fails with the would-be effect; the decide_file job applies it at its place, as
`stockdrop approve` does, and the partition turns green."""

import json

import dagster as dg

from pipelines.defs import build_definitions
from pipelines.defs.partitions import drop_files, file_key
from pipelines.defs.resources import PartnersResource, StoreResource
from tests.defs.test_assets import run_file

HELD = "inventory_20261123T060000_overwrite.csv"


def guarded(tmp_path, inbox):
    partners_file = tmp_path / "guarded.yaml"
    partners_file.write_text(
        f"partners:\n  brand:\n    account: brand\n    source: {inbox}\n    settle_s: 0\n"
        f"    results: {{dir: {tmp_path / 'results'}}}\n"
        "    guard: {max_ats_drop_pct: 50, max_zeroed_pct: 25, min_overwrite_rows_pct: 50}\n"
    )
    store = StoreResource(url=f"sqlite:///{tmp_path / 'store.db'}", data_dir=str(tmp_path / "data"))
    partners = PartnersResource(partners_file=str(partners_file))
    return build_definitions(store, partners), store


def test_a_held_file_shows_on_its_partition_and_the_decide_job_applies_it(tmp_path, inbox):
    defs, store = guarded(tmp_path, inbox)
    names = sorted(p.name for p in inbox.iterdir() if p.name.startswith(("warehouses", "styles", "inventory_2026111")))
    keys = [file_key("brand", n) for n in [*names, HELD]]
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(drop_files.name, keys)
        for key in keys[:-1]:
            run_file(defs, instance, key)
        before = store.store().state()
        meta, result = run_file(defs, instance, keys[-1])  # a held file fails as its verdict, not as a fault
        (failure,) = [e for e in result.all_events if e.is_step_failure]
        assert failure.step_key == "file_events" and "file_events" not in meta
        description = failure.step_failure_data.user_failure_data.description
        assert description.startswith(f"{HELD} held: ") and f"stockdrop approve brand/{HELD}" in description
        status = instance.get_status_by_partition(dg.AssetKey("file_events"), [keys[-1]], drop_files)
        assert status == {keys[-1]: dg.AssetPartitionStatus.FAILED}
        (check,) = [c for c in result.get_asset_check_evaluations() if c.check_name == "not_held"]
        assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
        assert "over max_zeroed_pct 25" in check.metadata["reason"].value
        assert check.metadata["rows_zeroed"].value > 0
        assert store.store().state().equals(before)
        result_file = json.loads((tmp_path / "results" / f"{HELD}.result.json").read_text())
        assert result_file["status"] == "held" and result_file["ats_change_by_warehouse"]

        decided = defs.resolve_job_def("decide_file").execute_in_process(
            instance=instance,
            run_config={"ops": {"decide": {"config": {"file": f"brand/{HELD}", "decision": "approve"}}}},
        )
        assert decided.success
        (event,) = decided.get_asset_materialization_events()
        assert event.asset_key == dg.AssetKey("file_events") and event.partition == keys[-1]
        assert event.materialization.metadata["status"].value == "parsed"
        status = instance.get_status_by_partition(dg.AssetKey("file_events"), [keys[-1]], drop_files)
        assert status == {keys[-1]: dg.AssetPartitionStatus.MATERIALIZED}
        after = store.store().state()
        assert not after.equals(before) and store.store().held_files() == []
        assert json.loads((tmp_path / "results" / f"{HELD}.result.json").read_text())["status"] == "applied"
