"""Request bodies built column-wise: the JSON and XML ElementTree and `json` would write, and
item sizes that add up to the body planned."""

from __future__ import annotations

import json
from xml.etree import ElementTree

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.adapters.channels import ChannelConfigError, channel_for
from pipelines.domain import joor_fields
from pipelines.domain.channel_items import ITEM_SCHEMA, KEY_SETS, records
from pipelines.domain.partners import ChannelSpec

text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=10)
WIRE = {ours: wire for pairs in joor_fields.ITEM_KEY_FIELDS.values() for ours, wire in pairs}


@st.composite
def item_rows(draw, keyed: bool = True) -> pl.DataFrame:
    rows = []
    for _ in range(draw(st.integers(1, 6))):
        row = {c: draw(text) for c in ITEM_SCHEMA if c not in ("key_set", "inventory", "change_from")}
        row["key_set"] = draw(st.sampled_from(list(KEY_SETS))) if keyed else None
        row["inventory"] = draw(st.integers(0, 10**6))
        row["inventory_date"] = draw(st.none() | st.dates().map(str))
        row["inventory_item_id"] = draw(st.none() | text)
        row["change_from"] = draw(st.none() | st.integers(0, 10**6))
        rows.append(row)
    return pl.DataFrame(rows, schema=ITEM_SCHEMA)


def joor_body(item) -> dict:
    body: dict = {WIRE[f]: v for f, v in item.keys}
    body |= {"warehouse": item.warehouse_code, "inventory": item.inventory}
    return body | ({"inventory_date": item.inventory_date} if item.inventory_date else {})


@settings(max_examples=60, deadline=None)
@given(rows=item_rows())
def test_joor_json_is_json_dumps_of_the_items_and_sizes_add_up(rows):
    channel = channel_for(ChannelSpec(name="joor", base_url="http://x"))

    body = channel.encode(rows)

    expected = {"inventory_items": {"inventory_item": [joor_body(i) for i in records(rows)]}}
    assert body == json.dumps(expected, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    assert (
        len(body) == channel.envelope_bytes + rows.select(channel.item_text().str.len_bytes() + 1).to_series().sum() - 1
    )


@settings(max_examples=60, deadline=None)
@given(rows=item_rows())
def test_joor_xml_is_what_element_tree_writes(rows):
    channel = channel_for(ChannelSpec(name="joor", base_url="http://x", body_format="xml"))

    root = ElementTree.Element("inventory_items")
    for item in records(rows):
        element = ElementTree.SubElement(root, "inventory_item")
        for name, value in joor_body(item).items():
            ElementTree.SubElement(element, name).text = str(value)
    assert channel.encode(rows) == ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)


@settings(max_examples=60, deadline=None)
@given(rows=item_rows(keyed=False))
def test_shopify_quantities_and_sizes(rows):
    channel = channel_for(ChannelSpec(name="shopify", base_url="http://x/admin/api/2026-10/graphql.json"))
    batch_key = "k" * 64

    body = channel._encode(rows.select(channel.item_text()).to_series().to_list(), batch_key)

    def gid(value, prefix):
        value = value or ""
        return value if value.startswith("gid://") else prefix + value

    variables = json.loads(body)["variables"]
    sent = variables["input"]
    assert variables["idempotencyKey"] == batch_key
    assert "ignoreCompareQuantity" not in sent and "compareQuantity" not in json.dumps(sent)
    assert sent["referenceDocumentUri"] == "gid://stockdrop/Push/" + batch_key
    assert sent["quantities"] == [
        {
            "inventoryItemId": gid(i.inventory_item_id, "gid://shopify/InventoryItem/"),
            "locationId": gid(i.location_id, "gid://shopify/Location/"),
            "quantity": i.inventory,
            "changeFromQuantity": i.change_from,  # explicit null when never set by us
        }
        for i in records(rows)
    ]
    assert (
        len(body) == channel.envelope_bytes + rows.select(channel.item_text().str.len_bytes() + 1).to_series().sum() - 1
    )


def test_shopify_versions_before_2026_04_and_batches_above_250_are_config_errors():
    def spec(**kw):
        return ChannelSpec(
            name="shopify", **{"base_url": "https://a.myshopify.com/admin/api/2026-10/graphql.json", **kw}
        )

    assert channel_for(spec()).api_version == "2026-10"
    assert channel_for(spec(base_url="https://a.myshopify.com/admin/api/2026-04/graphql.json"))
    with pytest.raises(ChannelConfigError, match="2026-01 is older than 2026-04"):
        channel_for(spec(base_url="https://a.myshopify.com/admin/api/2026-01/graphql.json"))
    with pytest.raises(ChannelConfigError, match="must end in /admin/api/<version>/graphql.json"):
        channel_for(spec(base_url="https://a.myshopify.com/graphql"))
    with pytest.raises(ChannelConfigError, match="cap of 250"):
        channel_for(spec(batch_items=251))
    assert channel_for(spec(batch_items=250))
