"""Drop file names: kinds, as-of, tokens, contract order, unsafe names."""

from datetime import UTC, datetime

import pytest

from pipelines.domain.drop_names import UnrecognisedFileName, is_in_progress, is_safe_name, parse_drop_name


def test_parses_kind_as_of_and_label_tokens():
    d = parse_drop_name("inventory_20261122T030000_overwrite-decpending.csv")
    assert d.kind == "inventory"
    assert d.as_of == datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
    assert d.mode_token == "overwrite"
    assert d.dec_pending_token is True


def test_tokens_are_separated_by_dash_or_underscore_and_last_wins():
    d = parse_drop_name("inventory_20261122T030000_seed_update_nodecpending.csv.gz")
    assert (d.mode_token, d.dec_pending_token, d.ext) == ("update", False, "csv.gz")
    assert parse_drop_name("inventory_20261122T030000_weekly.csv").mode_token is None


@pytest.mark.parametrize(
    "name",
    [
        "stock_20261122T030000.csv",
        "inventory_20261122.csv",
        "inventory_20261322T030000.csv",
        "inventory_20261122T030000.xlsx",
        "inventory_20261122T030000_bad label.csv",
        "INVENTORY_20261122T030000.csv",
    ],
)
def test_unrecognised_names_are_errors_that_say_so(name):
    with pytest.raises(UnrecognisedFileName, match="unrecognised file name"):
        parse_drop_name(name)


def test_contract_order_is_as_of_then_kind_then_name():
    names = [
        "orders_20261101T000000.csv",
        "inventory_20261101T000000.csv",
        "styles_20261101T000000.csv",
        "warehouses_20261102T000000.csv",
        "linesheets_20261101T000000.csv",
        "inventory_20261101T000000_b.csv",
    ]
    ordered = sorted(names, key=lambda n: parse_drop_name(n).order_key)
    assert ordered == [
        "linesheets_20261101T000000.csv",
        "styles_20261101T000000.csv",
        "inventory_20261101T000000.csv",
        "inventory_20261101T000000_b.csv",
        "orders_20261101T000000.csv",
        "warehouses_20261102T000000.csv",
    ]


@pytest.mark.parametrize(
    "name,safe",
    [
        ("inventory_20261101T000000.csv", True),
        ("../x.csv", False),
        ("a/b.csv", False),
        (".hidden.csv", False),
        ("x..csv", False),
        ("name\x00.csv", False),
        ("C:\\x.csv", False),
    ],
)
def test_safe_names(name, safe):
    assert is_safe_name(name) is safe


def test_in_progress_names():
    assert is_in_progress("inventory_20261101T000000.csv.part")
    assert is_in_progress(".inventory_20261101T000000.csv")
    assert not is_in_progress("inventory_20261101T000000.csv")
