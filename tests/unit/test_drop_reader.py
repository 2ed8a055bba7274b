"""Reading and validating drop files: dialect, identifiers as text, quantities, whole-file rejects."""

import gzip

import pytest

from pipelines.adapters.drop_reader import FileRejected, read_drop
from pipelines.domain.partners import CsvDialect


def test_identifiers_keep_leading_zeros_and_quantities_accept_trailing_zero_decimals(parse):
    p = parse("inventory", "upc,quantity\n012345678905,10\n000123,10.0\n")
    assert p.rows["upc"].to_list() == ["012345678905", "000123"]
    assert p.rows["quantity"].to_list() == [10, 10]
    assert p.rows["line"].to_list() == [2, 3]
    assert p.rejects.height == 0


@pytest.mark.parametrize(
    "value,reason",
    [
        ("10.5", "whole number"),
        ("-1", "whole number"),
        ("ten", "whole number"),
        ("", "required value is empty"),
    ],
)
def test_bad_quantities_are_rejected_with_line_column_value_reason(parse, value, reason):
    p = parse("inventory", f"upc,quantity\n012345678905,3\n012345678912,{value}\n")
    assert p.rows["line"].to_list() == [2]
    (r,) = p.rejects.to_dicts()
    assert (r["line"], r["column"]) == (3, "quantity")
    assert r["value"] == (value or None)
    assert reason in r["reason"]


def test_scientific_notation_upc_is_rejected_never_rounded(parse):
    p = parse("inventory", "upc,quantity\n1.23457E+11,4\n")
    assert p.rows.height == 0
    assert p.rejects.to_dicts() == [
        {"line": 2, "column": "upc", "value": "1.23457E+11", "reason": "identifier in scientific notation"}
    ]


def test_bom_case_and_space_insensitive_headers_and_trimmed_cells(parse):
    text = "\ufeff UPC , Warehouse Code ,QUANTITY\n 012345678905 , NYC , 7 \n"
    p = parse("inventory", text.encode("utf-8"))
    assert p.rows.select("upc", "warehouse_code", "quantity").to_dicts() == [
        {"upc": "012345678905", "warehouse_code": "NYC", "quantity": 7}
    ]


def test_partner_delimiter_and_encoding(parse):
    text = "upc;quantity;warehouse_code\n012345678905;5;MÜNCHEN\n".encode("cp1252")
    p = parse("inventory", text, CsvDialect(delimiter=";", encoding="cp1252"))
    assert p.rows["warehouse_code"].to_list() == ["MÜNCHEN"]


def test_undecodable_bytes_reject_the_whole_file_naming_the_line(parse):
    with pytest.raises(FileRejected, match="undecodable bytes for utf-8") as e:
        parse("inventory", b"upc,quantity\n012345678905,5\n01234\xff,3\n")
    assert e.value.line == 3


def test_missing_required_column_rejects_the_whole_file(parse):
    with pytest.raises(FileRejected, match="missing required column 'quantity'") as e:
        parse("inventory", "upc,qty\n012345678905,5\n")
    assert (e.value.line, e.value.column) == (1, "quantity")


def test_empty_file_and_duplicate_headers_are_structural(parse):
    with pytest.raises(FileRejected, match="empty file"):
        parse("inventory", "")
    with pytest.raises(FileRejected, match="duplicate column 'upc'"):
        parse("inventory", "upc,UPC ,quantity\n1,2,3\n")


def test_gzip_files_are_read(write_drop):
    path = write_drop("inventory_20261101T000000.csv.gz", gzip.compress(b"upc,quantity\n012345678905,5\n"))
    p = read_drop(path, "inventory", CsvDialect(), gz=True)
    assert p.rows["quantity"].to_list() == [5]


def test_orders_statuses_dates_and_booleans(parse):
    p = parse(
        "orders",
        "order_id,upc,quantity,status,order_date,updated_at,restock,cancelled_by\n"
        "A1,012345678905,2,pending,2026-11-03,2026-11-04T10:00:00Z,no,Merchant\n"
        "A2,012345678905,0,Pending,2026-11-03,,,\n"
        "A3,012345678905,1,Backorder,2026-11-03,,,\n"
        "A4,012345678905,1,Notes,,,,\n",
    )
    assert p.rows.select("order_id", "status", "restock", "cancelled_by").to_dicts() == [
        {"order_id": "A1", "status": "Pending", "restock": False, "cancelled_by": "merchant"}
    ]
    assert str(p.rows["updated_at"][0]) == "2026-11-04 10:00:00"
    reasons = {(r["line"], r["column"]): r["reason"] for r in p.rejects.to_dicts()}
    assert reasons == {
        (3, "quantity"): "quantity must be a whole number > 0",
        (4, "status"): "unknown status",
        (5, "order_date"): "required value is empty",
    }


def test_warehouses_types_and_dates(parse):
    p = parse(
        "warehouses",
        "warehouse_code,type,available_date,is_default\nNYC,immediate,,TRUE\nSPR,FUTURE,2027-02-30,\nLA,SOMEDAY,,\n",
    )
    assert p.rows.select("warehouse_code", "type", "is_default").to_dicts() == [
        {"warehouse_code": "NYC", "type": "IMMEDIATE", "is_default": True}
    ]
    assert {(r["line"], r["column"]) for r in p.rejects.to_dicts()} == {(3, "available_date"), (4, "type")}
