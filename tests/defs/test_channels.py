"""The channels in Dagster: drift on `channel_pushes`' metadata, and the `reconcile_channels` job."""

from __future__ import annotations

import dagster as dg
import pytest

from pipelines.adapters.failures import PipelineFailed
from pipelines.defs.resources import PartnersResource, StoreResource
from pipelines.defs.runner import Runner
from tests.integration.channel_standins import ShopifyStandIn

TOKEN = "shpat-defs"
LOCATION = "gid://shopify/Location/3"
ITEMS = [f"gid://shopify/InventoryItem/{n}" for n in (201, 202)]


@pytest.fixture
def shop():
    server = ShopifyStandIn(TOKEN, {(i, LOCATION): 0 for i in ITEMS})
    yield server
    server.close()


@pytest.fixture
def runner(tmp_path, shop, monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.setenv("DEFS_SHOPIFY", TOKEN)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "warehouses_20261101T000000.csv").write_text(
        "warehouse_code,name,type,available_date,is_default\nNYC,New York,IMMEDIATE,,true\n"
    )
    (inbox / "styles_20261101T000000.csv").write_text(
        "style_number,style_identifier,color_code,color_name,size_name,upc,created_by,inventory_item_id\n"
        f"TEE,FW26,BLK,Black,S,000000000001,shopify,{ITEMS[0]}\nTEE,FW26,BLK,Black,M,000000000002,shopify,{ITEMS[1]}\n"
    )
    (inbox / "inventory_20261102T080000.csv").write_text(
        "upc,warehouse_code,quantity\n000000000001,NYC,5\n000000000002,NYC,6\n"
    )
    partners_file = tmp_path / "partners.yaml"
    partners_file.write_text(
        f"partners:\n  brand:\n    account: brand\n    source: {inbox}\n    settle_s: 0\n    channels:\n"
        f"      shopify: {{base_url: '{shop.endpoint}', token: {{env: DEFS_SHOPIFY}}, locations: {{NYC: '{LOCATION}'}}}}\n"
    )
    partners = PartnersResource(partners_file=str(partners_file))
    runner = Runner(StoreResource(url=f"sqlite:///{tmp_path / 'store.db'}"), partners)
    spec = partners.spec("brand")
    runner.apply_files(spec, sorted(p.name for p in inbox.iterdir()))
    return runner, spec, inbox


def latest_metadata(instance, kind):
    records = (
        instance.fetch_materializations(dg.AssetKey("channel_pushes"), limit=1).records
        if kind == "m"
        else (instance.fetch_observations(dg.AssetKey("channel_pushes"), limit=1).records)
    )
    event = records[0].event_log_entry.asset_materialization or records[0].event_log_entry.asset_observation
    return event.metadata


def test_drift_shows_on_channel_pushes_and_reconcile_lists_and_repairs(runner, shop):
    runner, spec, inbox = runner
    runner.publish(exports=False, pushes=True)
    assert [shop.levels[(i, LOCATION)] for i in ITEMS] == [5, 6]

    shop.sell(ITEMS[0], LOCATION, 2)  # Shopify: 3
    (inbox / "inventory_20261103T080000.csv").write_text("upc,warehouse_code,quantity\n000000000001,NYC,9\n")
    runner.apply_files(spec, ["inventory_20261103T080000.csv"])
    runner.publish(exports=False, pushes=True)

    meta = latest_metadata(runner.instance, "m")
    assert meta["brand/shopify/drift"].value == 1
    assert "| NYC | " + ITEMS[0] in meta["brand/shopify/drift_found"].value
    assert shop.levels[(ITEMS[0], LOCATION)] == 9  # on_drift: ours

    shop.edit(ITEMS[1], LOCATION, 40)
    job = runner.defs.resolve_job_def("reconcile_channels")
    listed = job.execute_in_process(instance=runner.instance, run_config={"ops": {"reconcile": {"config": {}}}})
    assert listed.success
    observed = latest_metadata(runner.instance, "o")
    assert observed["brand/shopify/differences"].value == 1 and observed["brand/shopify/items_compared"].value == 2
    assert f"| {ITEMS[1]} | {LOCATION} | 6 | 40 |" in observed["brand/shopify/differing_items"].value

    config = {"ops": {"reconcile": {"config": {"apply": True}}}}
    assert job.execute_in_process(instance=runner.instance, run_config=config).success
    assert latest_metadata(runner.instance, "o")["brand/shopify/items_set"].value == 1
    assert shop.levels[(ITEMS[1], LOCATION)] == 6


def test_a_refused_token_fails_the_check_with_our_words(runner, shop, monkeypatch):
    runner, spec, _ = runner
    monkeypatch.setenv("DEFS_SHOPIFY", "wrong")
    with pytest.raises(PipelineFailed):
        runner.push()
    checks = runner.instance.event_log_storage.get_asset_check_execution_history(
        dg.AssetCheckKey(dg.AssetKey("channel_pushes"), "pushes_acknowledged"), limit=1
    )
    evaluation = checks[0].event.dagster_event.event_specific_data
    assert not evaluation.passed
    assert evaluation.metadata["problems"].value == {"brand/shopify": "401 Unauthorized — check the token"}
