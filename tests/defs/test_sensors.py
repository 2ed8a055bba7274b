"""The drop sensor: one partition per new stable file, in contract order, never twice; a tick's
files in batch runs (ranges of the partitions it adds)."""

import json
import os

import dagster as dg

from pipelines.defs.batches import ACCOUNT_TAG
from pipelines.defs.sensors import apply_drop_job, drop_sensor, new_stable_files
from pipelines.domain.drop_names import parse_drop_name


def covered(run_request: dg.RunRequest, order: list[str]) -> list[str]:
    """The partition keys a ranged run request covers, given the partitions in the order added."""
    span = run_request.partition_key_range
    assert span is not None and run_request.partition_key is None
    return order[order.index(span.start) : order.index(span.end) + 1]


def test_sensor_requests_each_new_file_once_in_contract_order(wired, inbox):
    defs, store, partners, instance = wired
    spec = partners.spec("brand")
    sensor = drop_sensor(spec, apply_drop_job)
    ctx = dg.build_sensor_context(instance=instance, resources={"partners": partners, "store": store})
    result = sensor(ctx)
    keys = list(result.dynamic_partitions_requests[0].partition_keys)
    names = [k.split("/", 1)[1] for k in keys]
    recognised = [n for n in names if n != "stock_update_final.csv"]
    assert len(names) == len(os.listdir(inbox))
    assert recognised == sorted(recognised, key=lambda n: parse_drop_name(n).order_key)
    assert names[-1] == "stock_update_final.csv"  # unrecognised names are still requested, to be reported
    # One batch: the tick's files in one run, tagged with their account.
    [batch] = result.run_requests
    assert covered(batch, keys) == keys and batch.tags[ACCOUNT_TAG] == spec.account
    instance.add_dynamic_partitions("drop_files", keys)

    again = sensor(
        dg.build_sensor_context(
            instance=instance, cursor=result.cursor, resources={"partners": partners, "store": store}
        )
    )
    assert again.run_requests == []

    # A new file and a changed one: the changed one's partition was added long ago, so it runs
    # alone; the new one is added last.
    (inbox / "inventory_20261123T060000.csv").write_text("upc,quantity\n040000300922,5\n")
    changed = inbox / names[0]
    changed.write_text(changed.read_text() + "\n")
    os.utime(changed, (1, 1))
    third = sensor(
        dg.build_sensor_context(
            instance=instance, cursor=again.cursor, resources={"partners": partners, "store": store}
        )
    )
    order = [*keys, "brand/inventory_20261123T060000.csv"]
    assert [covered(r, order) for r in third.run_requests] == [[keys[0]], ["brand/inventory_20261123T060000.csv"]]
    assert len({r.run_key for r in third.run_requests}) == 2


def test_a_growing_file_is_not_requested_until_stable(wired, inbox):
    _, _, partners, _ = wired
    spec = partners.spec("brand").__class__(**{**partners.spec("brand").__dict__, "settle_s": 30})
    for f in inbox.iterdir():
        f.unlink()
    growing = inbox / "inventory_20261123T060000.csv"
    growing.write_text("upc,quantity\n")
    todo, cursor = new_stable_files(spec, partners, {}, now=1000.0)
    assert todo == []
    with open(growing, "a") as f:
        f.write("040000300922,5\n")
    todo, cursor = new_stable_files(spec, partners, cursor, now=1040.0)
    assert todo == []
    todo, cursor = new_stable_files(spec, partners, cursor, now=1069.0)
    assert todo == []
    todo, cursor = new_stable_files(spec, partners, json.loads(json.dumps(cursor)), now=1071.0)
    assert [f.name for f in todo] == ["inventory_20261123T060000.csv"]


def test_new_files_request_the_state_and_its_exports_even_with_a_failed_file_upstream(wired, inbox):
    from pipelines.defs.partitions import drop_files, file_key

    defs, store, partners, instance = wired
    names = ["warehouses_20261116T000000.csv", "styles_20261116T000000.csv", "inventory_20261116T060000_seed.csv"]
    keys = [file_key("brand", n) for n in names]
    # a partition whose file vanished before its run: it stays missing (its run would fail)
    instance.add_dynamic_partitions(drop_files.name, [*keys, file_key("brand", "inventory_20261199T000000.csv")])
    before = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    for key in keys:
        assert defs.resolve_job_def("apply_drop").execute_in_process(partition_key=key, instance=instance).success
    after = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=before.cursor)
    assert after.get_num_requested(dg.AssetKey("inventory_state")) == 1
    assert after.get_num_requested(dg.AssetKey("file_events")) == 0  # file runs come from the drop sensor


def test_files_already_processed_by_sync_are_not_requested_again(wired, inbox):
    from pipelines.adapters.drop_source import LocalDropSource
    from pipelines.adapters.landing import land_file
    from pipelines.adapters.parsing import parse_file

    defs, store, partners, instance = wired
    spec = partners.spec("brand")
    source = LocalDropSource(inbox)
    listed = {f.name: f for f in source.list_files()}
    done = "inventory_20261117T060000.csv"
    landed = land_file(store.store(), store.paths(), spec, source, done, listed[done].mtime)
    parse_file(store.store(), landed.file_id, spec)
    result = drop_sensor(spec, apply_drop_job)(
        dg.build_sensor_context(instance=instance, resources={"partners": partners, "store": store})
    )
    names = [k.split("/", 1)[1] for k in result.dynamic_partitions_requests[0].partition_keys]
    assert done not in names and len(names) == len(listed) - 1
