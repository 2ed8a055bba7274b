"""Partner profiles (drops.md v1.2): a file written the partner's way, read back through its
profile, gives the rows, rejects and line numbers (shifted by its title rows) of the contract file.

The property draws contract inventory files (valid and invalid values) and profiles (header
aliases spelt any way, title rows, delimiters, encodings, CSV or XLSX with the sheet anywhere,
quantities through a value map and a pattern, UPCs stored as numbers and padded back), writes
the file the partner's way and compares the two readings.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.adapters.drop_reader import FileRejected, read_drop
from pipelines.domain.drop_names import UnrecognisedFileName
from pipelines.domain.partners import CsvDialect
from pipelines.domain.profiles import (
    AsOfFromName,
    ColumnSource,
    FileRule,
    Profile,
    TableOptions,
    ValueRules,
    header_key,
    read_name,
)
from tests.partner_files import write_xlsx

ALIASES = {
    "upc": ["EAN/UPC", "UPC Code", "ean"],
    "warehouse_code": ["Whse", "Warehouse"],
    "quantity": ["Qty On Hand", "QTY", "On-Hand Qty"],
}
QUANTITY_RULES = ValueRules(map=(("Out of Stock", "0"),), pattern=r"(\d+)\+")


def _spelt(alias: str, style: int) -> str:
    """The same header as a partner's tool might write it (it normalises to the same key)."""
    return [alias, alias.upper(), f"  {alias.lower()} ", alias.replace(" ", "-"), alias.replace("/", " / ")][style]


rows = st.lists(
    st.fixed_dictionaries(
        {
            "upc": st.one_of(st.from_regex(r"0{1,4}[1-9][0-9]{7,10}", fullmatch=True), st.just("12AB")),
            "warehouse_code": st.sampled_from(["NYC", "LA", "MÜN"]),
            "quantity": st.one_of(st.integers(0, 500).map(str), st.sampled_from(["-3", "1.5", "x"])),
        }
    ).filter(lambda r: len(r["upc"]) in (4, 12)),
    min_size=1,
    max_size=12,
)


@st.composite
def layouts(draw):
    xlsx = draw(st.booleans())
    return {
        "xlsx": xlsx,
        "title_rows": draw(st.integers(0, 3)),
        "delimiter": draw(st.sampled_from([",", ";", "\t", "|"])),
        "encoding": draw(st.sampled_from(["utf-8", "cp1252", "utf-16"])),
        "sheet_at": draw(st.integers(0, 2)),
        "aliases": {c: draw(st.sampled_from(a)) for c, a in ALIASES.items()},
        "spelling": {c: draw(st.integers(0, 4)) for c in ALIASES},
        "order": draw(st.permutations(list(ALIASES))),
        "encodings": draw(st.lists(st.integers(0, 2), min_size=12, max_size=12)),
    }


def _partner_value(column: str, value: str, how: int) -> str:
    if column == "quantity" and value.isdigit():
        return [value, f"{value}+", "out of stock" if value == "0" else value][how]
    return value


def _read(path: Path, **kwargs):
    try:
        return read_drop(path, "inventory", kwargs.pop("dialect", CsvDialect()), gz=False, **kwargs)
    except FileRejected as e:
        return e.reason


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows, layouts())
def test_a_file_written_the_partners_way_reads_back_as_the_contract_file(data, layout):
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        contract = folder / "contract.csv"
        contract.write_text(
            "upc,warehouse_code,quantity\n"
            + "".join(f"{r['upc']},{r['warehouse_code']},{r['quantity']}\n" for r in data)
        )
        order = layout["order"]
        headers = {c: _spelt(layout["aliases"][c], layout["spelling"][c]) for c in order}
        titles = [[f"Stock report, page {n + 1}"] for n in range(layout["title_rows"])]
        body = [[_partner_value(c, r[c], layout["encodings"][i % 12]) for c in order] for i, r in enumerate(data)]
        header_row = layout["title_rows"] + 1
        profile = Profile(
            columns=(("inventory", tuple((c, ColumnSource(aliases=(layout["aliases"][c],))) for c in ALIASES)),),
            values=(("quantity", QUANTITY_RULES), ("upc", ValueRules(zero_pad=12))),
        )
        if layout["xlsx"]:
            partner = folder / "stock.xlsx"
            sheets = [("Notes", [["exported"]]), ("Other", [["x"]])]
            sheets.insert(layout["sheet_at"], ("Inventory", [*titles, [headers[c] for c in order], *body]))
            write_xlsx(partner, sheets)  # numbers as numbers: a UPC loses its leading zeros
            got = _read(partner, header_row=header_row, sheet="inventory", layout="xlsx", profile=profile)
        else:
            partner = folder / "stock.txt"
            d = layout["delimiter"]
            text = "".join(f"{t[0]}\n" for t in titles) + d.join(headers[c] for c in order) + "\n"
            text += "".join(d.join(row) + "\n" for row in body)
            partner.write_bytes(text.encode(layout["encoding"]))
            dialect = CsvDialect(d, layout["encoding"])
            got = _read(partner, dialect=dialect, header_row=header_row, profile=profile)
        want = _read(contract)
        assert not isinstance(got, str) and not isinstance(want, str), (got, want)
        shift = layout["title_rows"]
        assert got.rows.with_columns(pl.col("line") - shift).equals(want.rows)
        back = {v: k for k, v in got.headers.items()}
        rejects = got.rejects.with_columns(pl.col("line") - shift, pl.col("column").replace(back))
        assert rejects.sort("line", "column").equals(want.rejects.sort("line", "column"))
        assert got.rows_read == want.rows_read


def test_headers_match_after_normalising_and_a_reject_names_the_partners_header(tmp_path):
    assert header_key(" Qty On-Hand ") == header_key("qty_on_hand") == "qty_on_hand"
    assert header_key("EAN/UPC") == "ean_upc" and header_key("(Qty)") == "qty"
    path = tmp_path / "stock.csv"
    path.write_text("EAN;Whse;Qty On Hand\n12345678905;NYC;5+\n012345678905;NYC;lots\n;NYC;-3\n")
    profile = Profile(
        columns=(
            (
                "inventory",
                (("upc", ColumnSource(aliases=("UPC Code", "EAN"))), ("quantity", ColumnSource(("Qty On Hand",)))),
            ),
        ),
        values=(
            ("quantity", ValueRules(pattern=r"(\d+)\+", negative="zero")),
            ("upc", ValueRules(zero_pad=12)),
        ),
    )
    parsed = read_drop(path, "inventory", CsvDialect(";"), gz=False, profile=profile)
    assert parsed.rows.select("line", "upc", "quantity").rows() == [(2, "012345678905", 5), (4, None, 0)]
    (reject,) = parsed.rejects.filter(pl.col("line") == 3).rows(named=True)
    assert (reject["column"], reject["value"]) == ("Qty On Hand", "lots")  # as the partner wrote it


def test_a_template_builds_an_identifier_and_a_constant_fills_a_column(tmp_path):
    path = tmp_path / "catalog.csv"
    path.write_text(
        "Style,Season,Drop,Colour,Size,EAN\nPARKA,FW26,D1,NVY,M,012345000017\nBERET,,D2,CRM,OS,012345000031\n"
    )
    profile = Profile(
        columns=(
            (
                "styles",
                (
                    ("style_number", ColumnSource(("Style",))),
                    ("style_identifier", ColumnSource(template="{Season}-{Drop}")),
                    ("color_code", ColumnSource(("Colour",))),
                    ("size_name", ColumnSource(("Size",))),
                    ("upc", ColumnSource(("EAN",))),
                    ("created_by", ColumnSource(value="joor")),
                ),
            ),
        ),
    )
    parsed = read_drop(path, "styles", CsvDialect(), gz=False, profile=profile)
    assert parsed.rows.select("style_identifier", "created_by").rows() == [("FW26-D1", "joor")]
    (reject,) = parsed.rejects.rows(named=True)  # an empty referenced cell: the value is missing
    assert (reject["line"], reject["column"]) == (3, "style_identifier")


@pytest.mark.parametrize(
    "sources, reason",
    [
        ({"quantity": ColumnSource(("Qty",))}, "missing required column 'quantity' (tried Qty, quantity)"),
        ({"style_identifier": ColumnSource(template="{Season}")}, "names 'Season', which the file lacks"),
    ],
)
def test_a_file_the_profile_cannot_read_is_rejected_whole_naming_what_was_tried(tmp_path, sources, reason):
    path = tmp_path / "f.csv"
    path.write_text("upc,style_number,color_code,size_name,warehouse_code,amount\n1,A,B,C,NYC,3\n")
    kind = "styles" if "style_identifier" in sources else "inventory"
    profile = Profile(columns=((kind, tuple(sources.items())),))
    with pytest.raises(FileRejected) as e:
        read_drop(path, kind, CsvDialect(), gz=False, profile=profile)
    assert reason in e.value.reason


def test_a_missing_sheet_a_legacy_xls_and_an_oversized_workbook_are_rejected_whole(tmp_path):
    book = tmp_path / "s.xlsx"
    write_xlsx(book, [("Data", [["upc", "quantity"], ["40000007919", "1"]])])  # the UPC stored as a number
    with pytest.raises(FileRejected, match="no sheet 'Inventory'"):
        read_drop(book, "inventory", CsvDialect(), gz=False, layout="xlsx", sheet="Inventory")
    with pytest.raises(FileRejected, match=r"legacy \.xls: save it as \.xlsx or CSV"):
        read_drop(book, "inventory", CsvDialect(), gz=False, layout="xls")
    big = tmp_path / "big.xlsx"
    write_xlsx(big, [("Data", [["upc", "quantity"], *([["012345678905", "1"]] * 40_000)])], numbers=False)
    with pytest.raises(FileRejected, match="decompressed content exceeds max_decompressed_mb"):
        read_drop(big, "inventory", CsvDialect(), gz=False, layout="xlsx", max_decompressed_mb=1)
    assert read_drop(book, "inventory", CsvDialect(), gz=False, layout="xlsx").rows["upc"].to_list() == [
        "40000007919"  # a number in an identifier column is its integer text (no profile pads it here)
    ]


def test_names_that_are_not_ours_get_kind_as_of_and_label_from_the_first_rule():
    rules = (
        FileRule("STOCK_*.xlsx", "inventory", AsOfFromName(r"STOCK_(\d{12})", "%Y%m%d%H%M"), "overwrite"),
        FileRule("onhand.csv", "inventory", "mtime"),
    )
    profile = Profile(files=rules)
    stock = read_name(profile, "STOCK_202612060800.xlsx", None)
    assert (stock.kind, stock.as_of.isoformat(), stock.mode_token) == (
        "inventory",
        "2026-12-06T08:00:00+00:00",
        "overwrite",
    )
    midnight = datetime(2026, 12, 6, tzinfo=UTC)
    assert read_name(profile, "onhand.csv", midnight.timestamp() + 0.7).as_of == midnight
    assert read_name(profile, "inventory_20261206T080000.csv", None).kind == "inventory"  # ours, unmatched
    with pytest.raises(UnrecognisedFileName, match="cannot read as-of from the name"):
        read_name(profile, "STOCK_2026.xlsx", None)
    assert profile.table_options("x.tsv").delimiter == "\t"
    assert Profile(csv=TableOptions(delimiter=";")).table_options("x.tsv").delimiter == ";"


@given(st.lists(st.sampled_from(["0", "7", "12+", "Out of Stock", "IN STOCK", "-3", "x", None, "", "007"]), min_size=1))
@settings(max_examples=30, deadline=None)
def test_a_column_of_few_values_is_ruled_as_each_row_would_be(cells):
    from pipelines.domain.profiles import _ruled, _ruled_column

    rules = ValueRules(map=(("out of stock", "0"), ("in stock", "10")), pattern=r"(\d+)\+", negative="zero", zero_pad=3)
    column = pl.Series("quantity", (cells * (20_000 // len(cells) + 1))[:20_000], dtype=pl.String)
    by_row = pl.select(_ruled(pl.lit(column), rules, True)).to_series()
    assert _ruled_column(column, rules).to_list() == by_row.to_list()  # ruled once per distinct value
