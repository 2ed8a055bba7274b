"""Quantity rules through the CLI against the JOOR stand-in (channels.md "Quantity rules per
channel"): JOOR holds exactly the ruled values, the joor_ export agrees, a rule change sends exactly
the items whose shown value changed, and explain's last row is what was sent."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import polars as pl
import pytest

from tests.integration.channel_standins import JoorStandIn

pytestmark = pytest.mark.integration

TOKEN = "joor-rules-token"
UPCS = [f"00000000000{n}" for n in range(6)]


def cli(*args, env):
    return subprocess.run(
        [sys.executable, "-m", "pipelines", *args], capture_output=True, text=True, env=env, timeout=300
    )


def partners_yaml(inbox, joor_url, exports, rules: str) -> str:
    return (
        f"partners:\n  brand:\n    account: brand\n    source: {inbox}\n    settle_s: 0\n    item_identifier: upc\n"
        f"    exports: {{dir: {exports}}}\n"
        f"    channels:\n      joor: {{base_url: '{joor_url}', token: {{env: BRAND_JOOR}}, max_attempts: 2}}\n"
        f"    quantity_rules:\n      joor: {rules}\n"
    )


def test_joor_holds_the_ruled_values_the_export_agrees_and_a_rule_change_sends_only_what_changed(tmp_path):
    inbox, exports = tmp_path / "inbox", tmp_path / "exports"
    inbox.mkdir()
    (inbox / "warehouses_20261101T000000.csv").write_text(
        "warehouse_code,name,type,available_date,is_default\nNYC,New York,IMMEDIATE,,true\nLA,LA,IMMEDIATE,,false\n"
    )
    (inbox / "styles_20261101T000000.csv").write_text(
        "style_number,style_identifier,color_code,size_name,upc\n"
        + "".join(f"{'TEE' if n < 3 else 'CAP'},FW26,BLK,{n},{u}\n" for n, u in enumerate(UPCS))
    )
    quantities = {UPCS[0]: 100, UPCS[1]: 3, UPCS[2]: 10, UPCS[3]: 57, UPCS[4]: 1000, UPCS[5]: 0}
    (inbox / "inventory_20261102T080000.csv").write_text(
        "upc,warehouse_code,quantity\n" + "".join(f"{u},NYC,{q}\n" for u, q in quantities.items())
    )
    joor = JoorStandIn(TOKEN, set(UPCS), {"NYC", "LA"})
    partners = tmp_path / "partners.yaml"
    env = {**os.environ, "BRAND_JOOR": TOKEN, "STOCKDROP_DATA_DIR": str(tmp_path / "data")}
    store = f"sqlite:///{tmp_path}/s.db"
    try:
        rules = "{buffer: 2, percent: 57, zero_below: 3, max: 500, styles: {CAP: {percent: 100}}}"
        partners.write_text(partners_yaml(inbox, joor.url, exports, rules))
        synced = cli("sync", "--partners", str(partners), "--store", store, env=env)
        assert synced.returncode == 0, synced.stderr

        # TEE: 57% after 2 back (100 -> 98 -> 55; 3 -> 1 -> 0; 10 -> 8 -> 4); CAP: 100% (57 -> 55, 1000 -> 998 -> 500, 0).
        expected = {UPCS[0]: 55, UPCS[1]: 0, UPCS[2]: 4, UPCS[3]: 55, UPCS[4]: 500, UPCS[5]: 0}
        assert {u: joor.inventory[("NYC", u)] for u in UPCS} == expected
        exported = pl.read_csv(exports / "joor_brand_NYC.csv", infer_schema=False)
        assert dict(zip(exported["upc"], map(int, exported["inventory"]), strict=True)) == expected
        stock = pl.read_csv(exports / "stock_brand_NYC.csv", infer_schema=False)  # never ruled
        assert dict(zip(stock["upc"], map(int, stock["ats"]), strict=True)) == quantities
        explained = cli(
            "explain",
            "--store",
            store,
            "--account",
            "brand",
            "--warehouse",
            "NYC",
            "--upc",
            UPCS[4],
            "--channel",
            "joor",
            "--partners",
            str(partners),
            env=env,
        )
        assert explained.returncode == 0, explained.stderr
        last = explained.stdout.splitlines()[-1].split(",")
        assert (last[4], int(last[5])) == ("channel:max", expected[UPCS[4]])

        # A rule change is a change of what is due: only the items whose shown value changed go.
        sent_before = len(joor.requests)
        partners.write_text(partners_yaml(inbox, joor.url, exports, rules.replace("percent: 57", "percent: 29")))
        pushed = cli("push", "--partners", str(partners), "--store", store, env=env)
        assert pushed.returncode == 0, pushed.stderr
        items = [
            i for r in joor.requests[sent_before:] for i in json.loads(r["body"])["inventory_items"]["inventory_item"]
        ]
        # TEE 100: 98 -> 28 (29% of 98 = 28.42); TEE 10: 8 -> 2 -> 0 (below 3); the rest unchanged.
        assert sorted((i["upc"], i["inventory"]) for i in items) == [(UPCS[0], 28), (UPCS[2], 0)]
    finally:
        joor.close()
