"""The partners file: every key, defaults, unknown keys and the poll-interval floor."""

import pytest

from pipelines.adapters.partners_file import PartnersFileError, load_partners
from pipelines.domain.channel_items import items_per_batch
from pipelines.domain.partners import MIN_POLL_INTERVAL_S, EnvRef


def write(tmp_path, text):
    path = tmp_path / "partners.yaml"
    path.write_text(text)
    return path


def test_full_partner_is_parsed_with_env_references_and_relative_paths(tmp_path):
    specs = load_partners(
        write(
            tmp_path,
            """
partners:
  acme:
    account: acme
    source: sftp://acme@sftp.example.com:22/outbound
    known_hosts: /etc/stockdrop/known_hosts
    private_key: {env: ACME_SFTP_KEY}
    settle_s: 45
    item_identifier: upc
    inventory_policy: deny
    inventory: {mode: overwrite, dec_pending: true, overwrite_scope: warehouses_in_file}
    csv: {delimiter: ";", encoding: cp1252}
    poll_interval_s: 600
    exports: {dir: out/, outbox: /inbound/stock}
    channels:
      joor: {base_url: "https://api.jooraccess.com", token: {env: ACME_JOOR_TOKEN}, batch_items: 500}
      shopify: {base_url: "https://x.myshopify.com/admin/api/2026-10/graphql.json", locations: {NYC: "gid://shopify/Location/1"}}
  local:
    account: brand2
    source: inbox
""",
        )
    )
    acme = specs["acme"]
    assert acme.is_sftp and acme.private_key == EnvRef("ACME_SFTP_KEY")
    assert (acme.inventory.mode, acme.inventory.dec_pending, acme.inventory.overwrite_scope) == (
        "overwrite",
        True,
        "warehouses_in_file",
    )
    assert acme.profile.csv.delimiter == ";" and acme.exports.dir == str(tmp_path / "out")
    assert [c.name for c in acme.channels] == ["joor", "shopify"]
    assert acme.channels[0].token == EnvRef("ACME_JOOR_TOKEN") and acme.channels[0].batch_items == 500
    assert acme.channels[1].locations == (("NYC", "gid://shopify/Location/1"),)
    local = specs["local"]
    assert local.source == str(tmp_path / "inbox")
    assert (local.settle_s, local.item_identifier, local.inventory_policy, local.poll_interval_s) == (
        30,
        "auto",
        "continue",
        MIN_POLL_INTERVAL_S,
    )


def test_unknown_key_is_an_error_naming_it(tmp_path):
    with pytest.raises(PartnersFileError, match=r"partners\.a\.inventory\.moed: unknown key"):
        load_partners(write(tmp_path, "partners:\n  a: {account: x, source: d, inventory: {moed: seed}}\n"))


def test_poll_interval_below_the_minimum_names_the_minimum(tmp_path):
    with pytest.raises(PartnersFileError, match=f"never set below the minimum of {MIN_POLL_INTERVAL_S}"):
        load_partners(write(tmp_path, "partners:\n  a: {account: x, source: d, poll_interval_s: 10}\n"))


def test_sftp_source_requires_known_hosts(tmp_path):
    with pytest.raises(PartnersFileError, match="known_hosts: required"):
        load_partners(write(tmp_path, "partners:\n  a: {account: x, source: 'sftp://u@h/in'}\n"))


def test_bad_values_and_missing_file(tmp_path):
    with pytest.raises(PartnersFileError, match="item_identifier"):
        load_partners(write(tmp_path, "partners:\n  a: {account: x, source: d, item_identifier: sku}\n"))
    with pytest.raises(PartnersFileError, match="cannot read partners file"):
        load_partners(tmp_path / "nope.yaml")


def test_guard_and_results_options(tmp_path):
    specs = load_partners(
        write(
            tmp_path,
            "partners:\n  a:\n    account: a\n    source: in\n"
            "    guard: {max_ats_drop_pct: 50, min_overwrite_rows_pct: 12.5}\n"
            "    results: {dir: results/, outbox: /inbound/results}\n"
            "  b: {account: b, source: in2, guard: {}}\n",
        )
    )
    a, b = specs["a"], specs["b"]
    assert (a.guard.max_ats_drop_pct, a.guard.max_zeroed_pct, a.guard.min_overwrite_rows_pct) == (50, None, 12.5)
    assert a.results.dir == str((tmp_path / "results").resolve()) and a.results.outbox == "/inbound/results"
    assert not b.guard.any and not b.results.any  # absent or {}: no guard, no results
    for bad, where in (
        ("guard: {max_drop: 5}", "partners.a.guard.max_drop: unknown key"),
        ("guard: {max_zeroed_pct: 150}", "partners.a.guard.max_zeroed_pct"),
        ("results: {folder: x}", "partners.a.results.folder: unknown key"),
    ):
        with pytest.raises(PartnersFileError, match=where.replace(".", r"\.")):
            load_partners(write(tmp_path, f"partners:\n  a:\n    account: a\n    source: in\n    {bad}\n"))


@pytest.mark.parametrize(
    "channel, message",
    [
        (
            "shopify: {base_url: 'https://a.myshopify.com/admin/api/2025-10/graphql.json'}",
            r"partners\.a\.channels\.shopify: .*2025-10 is older than 2026-04",
        ),
        (
            "shopify: {base_url: 'https://a.myshopify.com/admin/api/2026-10/graphql.json', batch_items: 1000}",
            r"partners\.a\.channels\.shopify: .*batch_items 1000 is above the channel's cap of 250",
        ),
        ("shopify: {base_url: 'https://a.myshopify.com/admin/api/2026-10/graphql.json', on_drift: keep}", "on_drift"),
    ],
)
def test_channel_settings_are_checked_on_load(tmp_path, channel, message):
    with pytest.raises(PartnersFileError, match=message):
        load_partners(
            write(tmp_path, f"partners:\n  a:\n    account: x\n    source: d\n    channels:\n      {channel}\n")
        )


def test_shopify_batches_default_to_its_cap_and_on_drift_to_ours(tmp_path):
    specs = load_partners(
        write(
            tmp_path,
            "partners:\n  a:\n    account: x\n    source: d\n    channels:\n"
            "      shopify: {base_url: 'https://a.myshopify.com/admin/api/2026-10/graphql.json', on_drift: report}\n"
            "      joor: {base_url: 'https://api.jooraccess.com'}\n",
        )
    )
    joor, shopify = specs["a"].channels
    assert (shopify.batch_items, shopify.on_drift, joor.on_drift) == (None, "report", "ours")
    assert items_per_batch("shopify", shopify.batch_items) == 250 and items_per_batch("joor", joor.batch_items) == 1000


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "partners:\n  a:\n    account: x\n    account: y\n    source: d\n",
            r"duplicate key 'account' \(first at line 3\)",
        ),
        ("partners:\n  a: {account: x, source: d}\n  a: {account: y, source: e}\n", "duplicate key 'a'"),
        (
            "partners:\n  a: {account: x, source: d}\n  b: {account: y, source: d}\n",
            r"partners\.b\.source: the same source as partner 'a' of another account \('x'\)",
        ),
        (
            "partners:\n  a: {account: x, source: d, results: {dir: d/results}}\n",
            r"partners\.a\.results\.dir: .* inside",
        ),
        ("partners:\n  a: {account: x, source: d, exports: {dir: d}}\n", r"partners\.a\.exports\.dir: .* inside"),
    ],
)
def test_partners_file_mistakes_that_would_route_stock_wrongly_are_refused(tmp_path, text, message):
    with pytest.raises(PartnersFileError, match=message):
        load_partners(write(tmp_path, text))


def test_two_partners_of_one_account_may_share_a_source(tmp_path):
    specs = load_partners(write(tmp_path, "partners:\n  a: {account: x, source: d}\n  b: {account: x, source: d}\n"))
    assert {s.account for s in specs.values()} == {"x"}
