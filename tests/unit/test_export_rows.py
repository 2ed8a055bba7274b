"""Export file rows and bytes (pure domain): columns, keys, clamping, injection safety, determinism."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.domain.export_rows import STOCK_COLUMNS, ExportOptions, export_tables, render_csv, safe_cell
from tests.snapshots import FUTURE_DATE, snapshot_frame, snapshot_row


@pytest.fixture
def make_snapshot():
    def make(*rows: dict):
        return snapshot_frame(list(rows))

    return make


def read(table, delimiter: str = ",") -> list[dict]:
    return list(csv.DictReader(io.StringIO(table.content.decode("utf-8")), delimiter=delimiter))


def tables_by_name(snapshot, **kwargs) -> dict:
    return {t.file_name: t for t in export_tables(snapshot, ExportOptions(**kwargs))}


@pytest.mark.parametrize("text", ["=HYPERLINK(1)", "+1", "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_cells_that_a_spreadsheet_would_evaluate_get_a_quote(text):
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize("value, expected", [("ST-01", "ST-01"), (None, ""), (0, "0"), (FUTURE_DATE, "2027-03-01")])
def test_ordinary_cells_are_unchanged(value, expected):
    assert safe_cell(value) == expected


def test_one_file_of_each_kind_per_warehouse(make_snapshot):
    snap = make_snapshot(snapshot_row(1), snapshot_row(2, warehouse_code="LA"))

    names = [t.file_name for t in export_tables(snap)]

    assert names == [
        "stock_acme_LA.csv",
        "joor_acme_LA.csv",
        "quantity_acme_LA.csv",
        "stock_acme_NYC.csv",
        "joor_acme_NYC.csv",
        "quantity_acme_NYC.csv",
    ]


def test_stock_file_clamps_ats_and_writes_iso_dates(make_snapshot):
    snap = make_snapshot(
        snapshot_row(1, ats=-4, on_hand=2, pending=6),
        snapshot_row(2, warehouse_code="FUT", warehouse_type="FUTURE", available_date=FUTURE_DATE),
    )

    tables = tables_by_name(snap)
    nyc = read(tables["stock_acme_NYC.csv"])
    fut = read(tables["stock_acme_FUT.csv"])

    assert tuple(nyc[0]) == STOCK_COLUMNS
    assert (nyc[0]["ats"], nyc[0]["on_hand"], nyc[0]["pending"], nyc[0]["available_date"]) == ("0", "2", "6", "")
    assert fut[0]["available_date"] == "2027-03-01"


def test_rows_are_sorted_by_style_keys_whatever_the_snapshot_order(make_snapshot):
    rows = [snapshot_row(n) for n in (9, 3, 27, 14)]

    forward = export_tables(make_snapshot(*rows))
    backward = export_tables(make_snapshot(*reversed(rows)))

    assert [t.content for t in forward] == [t.content for t in backward]
    keys = [(r["style_number"], r["color_code"], r["size_name"]) for r in read(forward[0])]
    assert keys == sorted(keys)


@pytest.mark.parametrize(
    "identifier, header",
    [
        ("upc", ["upc", "warehouse", "inventory", "inventory_date"]),
        (
            "style",
            ["style_number", "style_identifier", "color_code", "size", "warehouse", "inventory", "inventory_date"],
        ),
        ("ids", ["style_id", "style_color_id", "size_code", "warehouse", "inventory", "inventory_date"]),
    ],
)
def test_joor_file_keys_follow_item_identifier(make_snapshot, identifier, header):
    table = tables_by_name(make_snapshot(snapshot_row(1)), item_identifier=identifier)["joor_acme_NYC.csv"]

    assert table.content.decode().splitlines()[0].split(",") == header


def test_joor_auto_sends_upc_when_present_else_style_keys(make_snapshot):
    snap = make_snapshot(snapshot_row(1), snapshot_row(2, upc=None))

    rows = read(tables_by_name(snap)["joor_acme_NYC.csv"])

    assert (rows[0]["upc"], rows[0]["style_number"]) == ("000000000001", "")
    assert (rows[1]["upc"], rows[1]["style_number"], rows[1]["size"]) == ("", "ST-0000", "2")


def test_joor_file_leaves_out_skipped_and_unidentifiable_items_and_dates_only_future(make_snapshot):
    snap = make_snapshot(
        snapshot_row(1, skip_push=True),
        snapshot_row(2, skip_joor=True),
        snapshot_row(3, upc=None),
        snapshot_row(4, warehouse_code="FUT", warehouse_type="FUTURE", available_date=FUTURE_DATE),
        snapshot_row(5, available_date=FUTURE_DATE),
    )

    tables = tables_by_name(snap, item_identifier="upc", joor_delimiter="|")
    nyc = read(tables["joor_acme_NYC.csv"], delimiter="|")
    fut = read(tables["joor_acme_FUT.csv"], delimiter="|")

    assert [(r["upc"], r["inventory_date"]) for r in nyc] == [("000000000005", "")]
    assert fut[0]["inventory_date"] == "2027-03-01"
    assert b"|" in tables["joor_acme_NYC.csv"].content


def test_quantity_template_uses_upc_else_joined_style_keys(make_snapshot):
    snap = make_snapshot(snapshot_row(1, ats=-1), snapshot_row(2, upc=None), snapshot_row(3, skip_push=True))

    rows = read(tables_by_name(snap)["quantity_acme_NYC.csv"])

    assert rows == [{"sku": "000000000001", "quantity": "0"}, {"sku": "ST-0000|SS27|002|2", "quantity": "12"}]


def test_injected_formulas_are_neutralised_in_every_file(make_snapshot):
    snap = make_snapshot(snapshot_row(1, upc=None, style_number="=cmd|'/C calc'!A0", color_code="@x"))

    for table in export_tables(snap):
        for line in table.content.decode().splitlines()[1:]:
            for cell in next(csv.reader([line])):
                assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))


@settings(max_examples=50, deadline=None)
@given(text=st.text(min_size=1, max_size=12))
def test_rendered_cells_read_back_as_written_or_quoted(text):
    content = render_csv(["a", "b"], [[text, 1]])

    (row,) = list(csv.reader(io.StringIO(content.decode("utf-8"), newline="")))[1:]

    assert row[0] in (text, "'" + text)
    assert not row[0].startswith(("=", "+", "-", "@", "\t", "\r"))
