"""`stockdrop push`, `push --retry-failed` and `stockdrop reconcile` against the Shopify stand-in, from dropped files."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.integration.channel_standins import ShopifyStandIn

pytestmark = pytest.mark.integration

TOKEN = "shpat-cli-s3cr3t"
LOCATION = "gid://shopify/Location/7"
ITEMS = [f"gid://shopify/InventoryItem/{n}" for n in (101, 102, 103)]


def run(*args, env):
    return subprocess.run(
        [sys.executable, "-m", "pipelines", *args], capture_output=True, text=True, env=env, timeout=300
    )


@pytest.fixture
def shop():
    server = ShopifyStandIn(TOKEN, {(i, LOCATION): 0 for i in ITEMS})
    yield server
    server.close()


@pytest.fixture
def setup(tmp_path, shop):
    inbox = tmp_path / "drops"
    inbox.mkdir()
    (inbox / "warehouses_20261101T000000.csv").write_text(
        "warehouse_code,name,type,available_date,is_default\nNYC,New York,IMMEDIATE,,true\n"
    )
    (inbox / "styles_20261101T000000.csv").write_text(
        "style_number,style_identifier,color_code,color_name,size_name,upc,created_by,inventory_item_id\n"
        + "".join(f"TEE,FW26,BLK,Black,{s},00000000000{n},shopify,{ITEMS[n][-3:]}\n" for n, s in enumerate("SML"))
    )
    (inbox / "inventory_20261102T080000.csv").write_text(
        "upc,warehouse_code,quantity\n000000000000,NYC,5\n000000000001,NYC,6\n000000000002,NYC,7\n"
    )
    partners = tmp_path / "partners.yaml"
    partners.write_text(
        "partners:\n  brand:\n    account: brand\n    source: drops\n    settle_s: 0\n    channels:\n"
        f"      shopify:\n        base_url: '{shop.endpoint}'\n        token: {{env: BRAND_SHOPIFY}}\n"
        f"        locations: {{NYC: '{LOCATION}'}}\n        max_attempts: 2\n        backoff_initial_s: 0.01\n"
    )
    env = {**os.environ, "BRAND_SHOPIFY": "expired", "STOCKDROP_DATA_DIR": str(tmp_path / "data")}
    store = f"sqlite:///{tmp_path}/s.db"
    return partners, store, env


def test_push_exits_1_in_our_words_while_the_token_is_refused_then_delivers_everything(setup, shop):
    partners, store, env = setup

    synced = run("sync", "--partners", str(partners), "--store", store, env=env)
    pushed = run("push", "--partners", str(partners), "--store", store, env=env)

    assert synced.returncode == 1 and pushed.returncode == 1
    for result in (synced, pushed):
        assert "push brand/shopify: 401 Unauthorized — check the token" in result.stderr
        assert "expired" not in result.stderr
    assert [shop.levels[(i, LOCATION)] for i in ITEMS] == [0, 0, 0]

    env["BRAND_SHOPIFY"] = TOKEN
    fixed = run("push", "--partners", str(partners), "--store", store, env=env)
    assert fixed.returncode == 0, fixed.stderr
    assert [shop.levels[(i, LOCATION)] for i in ITEMS] == [5, 6, 7]
    assert TOKEN not in fixed.stderr + fixed.stdout


def test_reconcile_lists_the_difference_exits_1_and_apply_repairs(setup, shop):
    partners, store, env = setup
    env["BRAND_SHOPIFY"] = TOKEN
    assert run("sync", "--partners", str(partners), "--store", store, env=env).returncode == 0
    shop.sell(ITEMS[1], LOCATION, 2)

    found = run("reconcile", "--partners", str(partners), "--store", store, env=env)

    assert found.returncode == 1, found.stderr
    assert found.stdout.splitlines() == [
        "partner,channel,item,location,ours,theirs",
        f"brand,shopify,102,{LOCATION},6,4",
    ]
    applied = run("reconcile", "--partners", str(partners), "--store", store, "--apply", env=env)
    assert applied.returncode == 1 and "set ours on 1 item(s)" in applied.stderr
    assert shop.levels[(ITEMS[1], LOCATION)] == 6
    clean = run("reconcile", "--partners", str(partners), "--store", store, "--format", "json", env=env)
    assert clean.returncode == 0 and clean.stdout.strip() == "[]"


def test_reconcile_names_a_channel_without_a_read(tmp_path):
    partners = tmp_path / "partners.yaml"
    partners.write_text(
        "partners:\n  brand:\n    account: brand\n    source: drops\n"
        "    channels:\n      joor: {base_url: 'http://127.0.0.1:9'}\n"
    )
    (tmp_path / "drops").mkdir()
    store = f"sqlite:///{tmp_path}/s.db"
    env = {**os.environ, "STOCKDROP_DATA_DIR": str(tmp_path / "data")}
    assert run("sync", "--partners", str(partners), "--store", store, env=env).returncode == 0

    result = run("reconcile", "--partners", str(partners), "--store", store, "--channel", "joor", env=env)

    assert result.returncode == 2
    assert "joor: its API offers no read of what it holds" in result.stderr
