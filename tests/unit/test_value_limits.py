"""The parsing gate (drops.md "Value limits (v1.1)"): each cell judged on its own, limits enforced,
datetimes in every accepted form read as the same UTC instant; property tests for bad input."""

from __future__ import annotations

import gzip
import itertools
import tempfile
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pipelines.adapters.drop_reader import FileRejected, read_drop
from pipelines.domain.item_keys import SKU_COLUMNS, item_key_expr, split_item_key
from pipelines.domain.name_parts import decode, encode, file_name_part
from pipelines.domain.partners import CsvDialect
from schemas.columns import DATETIME, QUANTITY_MAX, parse_datetime

ORDERS_HEADER = "order_id,upc,quantity,status,order_date\n"
SAME_INSTANT = [
    "2026-11-18T07:00:00Z",
    "2026-11-18 07:00:00Z",
    "2026-11-18T07:00:00+00:00",
    "2026-11-17T23:00:00-08:00",
    "2026-11-17T23:00:00-0800",
    "2026-11-18T07:00",
    "2026-11-18T07:00:00",
    "2026-11-18T07:00:00.000000",
    "2026-11-18t07:00:00z",
    "2026-11-18T12:30:00+05:30",
    "2026-11-18 09:00:00.0+02:00",
]


def order_dates(parse, cells: list[str]):
    p = parse("orders", ORDERS_HEADER + "".join(f"A{i},1,1,Pending,{c}\n" for i, c in enumerate(cells)))
    return p


def test_every_accepted_datetime_form_is_the_same_utc_instant(parse):
    p = order_dates(parse, SAME_INSTANT)
    assert p.rejects.height == 0
    assert set(p.rows["order_date"].to_list()) == {datetime(2026, 11, 18, 7, 0)}


def test_a_cell_is_parsed_on_its_own_whatever_the_cell_before_it(parse):
    # A date-only cell first once made the next cell's offset and time vanish.
    p = order_dates(parse, ["2026-11-17", "2026-11-17T23:00:00-08:00"])
    assert p.rows["order_date"].to_list() == [datetime(2026, 11, 17), datetime(2026, 11, 18, 7, 0)]


@pytest.mark.parametrize(
    "cell",
    [
        "2026-13-45T10:00:00",
        "2026-11-17T25:61:00",
        "2026-02-30",
        "2026-11-17T10:00:60",
        "1899-12-31",
        "9999-12-31T23:00:00-05:00",
        "2026-11-17Z",
        "17/11/2026",
        "2026-11-17T10:00:00+24:00",
        "2026-11-17 T10:00",
    ],
)
def test_impossible_or_unlisted_datetimes_are_row_rejects_never_replaced(parse, cell):
    p = order_dates(parse, ["2026-11-17T10:00:00Z", cell])
    assert p.rows["order_id"].to_list() == ["A0"]
    (r,) = p.rejects.to_dicts()
    assert (r["line"], r["column"], r["value"]) == (3, "order_date", cell)
    assert "date" in r["reason"]


# Digits are ASCII (drops.md v1.2): full-width and Arabic-Indic digits are rejects, never read.
OTHER_DIGITS = st.sampled_from(["２", "３", "٣", "۵", "४", "𝟗"])


@pytest.mark.parametrize(
    "cell", ["2026-11-17T２３:00:00", "2026-11-17T23:00:00+０５:００", "２０２６-11-17", "2026-11-17T23:00:00-0٨:00"]
)
def test_datetimes_with_other_digits_are_rejects_not_midnight(parse, cell):
    p = order_dates(parse, ["2026-11-17T10:00:00Z", cell])
    assert p.rows["order_id"].to_list() == ["A0"]
    (r,) = p.rejects.to_dicts()
    assert (r["line"], r["value"]) == (3, cell) and "date" in r["reason"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ascii_qty=st.integers(0, 999), digit=OTHER_DIGITS, where=st.integers(0, 3))
def test_a_quantity_with_any_non_ascii_digit_is_a_reject(parse, ascii_qty, digit, where):
    text = str(ascii_qty)
    cell = text[:where] + digit + text[where:]
    p = parse("inventory", f"upc,quantity\n012345678905,{cell}\n")
    assert p.rows.height == 0
    (r,) = p.rejects.to_dicts()
    assert (r["column"], r["value"]) == ("quantity", cell) and "whole number" in r["reason"]


@settings(max_examples=300, deadline=None)
@given(
    st.datetimes(min_value=datetime(1901, 1, 2), max_value=datetime(9998, 12, 30)),
    st.integers(-23 * 60 - 59, 23 * 60 + 59),
    st.sampled_from(["T", " ", "t"]),
    st.booleans(),
    st.booleans(),
)
def test_datetime_parse_agrees_with_pythons_reading_of_the_same_text(moment, offset_min, sep, colon, fraction):
    moment = moment.replace(microsecond=moment.microsecond if fraction else 0)
    tz = timezone(timedelta(minutes=offset_min))
    sign, hhmm = ("-" if offset_min < 0 else "+"), divmod(abs(offset_min), 60)
    offset = f"{sign}{hhmm[0]:02d}{':' if colon else ''}{hhmm[1]:02d}"
    text = moment.strftime(f"%Y-%m-%d{sep}%H:%M:%S") + (f".{moment.microsecond:06d}" if fraction else "") + offset
    parsed = pl.select(parse_datetime(pl.lit(text))).item()
    assert parsed == moment.replace(tzinfo=tz).astimezone(UTC).replace(tzinfo=None)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_any_text_is_either_a_valid_instant_or_rejected_never_an_error(text):
    cell = text.strip() or None
    frame = pl.DataFrame({"c": [cell]}, schema={"c": pl.String})
    valid = frame.select(DATETIME.valid(pl.col("c"))).item()
    value = frame.select(DATETIME.cast(pl.col("c"))).item()
    failing = [reason for reason, fails in DATETIME.failing_rules() if frame.select(fails(pl.col("c"))).item()]
    assert len(failing) == (0 if valid else 1)  # a bad cell is reported once, with its first failing rule
    assert valid == (cell is None or value is not None)


@settings(max_examples=200, deadline=None)
@given(st.integers(-(10**30), 10**30), st.sampled_from(["", ".0", ".00", ".5"]))
def test_quantities_are_whole_numbers_within_the_limit(n, suffix):
    p = _parse_text("inventory", f"upc,quantity\n1,{n}{suffix}\n")
    ok = 0 <= n <= QUANTITY_MAX and suffix != ".5"
    assert (p.rows["quantity"].to_list() == [n]) == ok
    assert p.rejects.height == (0 if ok else 1)


def _parse_text(kind: str, text: str, dialect: CsvDialect = CsvDialect()):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"{kind}_20261101T000000.csv"
        path.write_bytes(text.encode())
        return read_drop(path, kind, dialect, gz=False)


@pytest.mark.parametrize(
    "cell,reason",
    [
        ("A\x1fB", "identifier contains a control character"),
        ("A\x00B", "identifier contains a control character"),
        ("X" * 101, "identifier longer than 100 characters"),
        ("1.23457E+11", "identifier in scientific notation"),
    ],
)
def test_identifiers_outside_the_limits_are_row_rejects(parse, cell, reason):
    p = parse("inventory", f"upc,quantity\n012345678905,1\n{cell},2\n")
    assert p.rows["line"].to_list() == [2]
    assert p.rejects.select("line", "column", "reason").to_dicts() == [{"line": 3, "column": "upc", "reason": reason}]


def test_identifiers_and_text_at_their_limits_pass(parse):
    code, name = "é" * 100, "😀" * 200
    p = parse("warehouses", f"warehouse_code,name\n{code},{name}\n{code}x,{name}\n")
    assert p.rows.select("warehouse_code", "name").rows() == [(code, name)]
    assert p.rejects["line"].to_list() == [3]


@pytest.mark.parametrize("header", ["upc,quantity,quantity", "upc,Quantity, QUANTITY ", "quantity ,upc, QUANTITY "])
def test_a_header_naming_a_column_twice_rejects_the_file(parse, header):
    with pytest.raises(FileRejected, match="duplicate column"):
        parse("inventory", f"{header}\n1,2,3\n")


def test_line_numbers_count_physical_lines_when_a_quoted_cell_spans_lines(parse):
    p = parse("inventory", 'upc,quantity,warehouse_code\n1,2,"NY\nC"\n012345678905,x,\n')
    assert p.rejects.select("line", "column").to_dicts() == [
        {"line": 2, "column": "warehouse_code"},
        {"line": 4, "column": "quantity"},
    ]


def test_ragged_rows_are_row_rejects_and_the_rest_of_the_file_is_read(parse):
    for text in ("upc,quantity\n1,2\n3\n4,5,6\n\n7,8\n", 'upc,quantity\n"1",2\n3\n4,5,6\n\n7,8\n'):
        p = parse("inventory", text)
        assert p.rows["line"].to_list() == [2, 6]
        assert [r["line"] for r in p.rejects.to_dicts()] == [3, 4]
        assert all("malformed row" in r for r in p.rejects["reason"])


@pytest.mark.parametrize("ending", ["\r", "\r\n", "\n"])
def test_any_line_ending_reads_the_same(parse, ending):
    p = parse("inventory", ending.join(["upc,quantity", "1,2", "3,4", ""]))
    assert p.rows.select("line", "upc", "quantity").rows() == [(2, "1", 2), (3, "3", 4)]


def test_an_unterminated_quote_names_the_line_that_cannot_be_read(parse):
    with pytest.raises(FileRejected, match="line 3 cannot be read") as e:
        parse("inventory", 'upc,quantity\n1,2\n"3,4\n5,6\n')
    assert e.value.line == 3


def test_a_compressed_file_over_the_cap_is_rejected_whole(write_drop):
    path = write_drop("inventory_20261101T000000.csv.gz", gzip.compress(b"upc,quantity\n" + b"1,2\n" * 600_000))
    with pytest.raises(FileRejected, match="max_decompressed_mb"):
        read_drop(path, "inventory", CsvDialect(), gz=True, max_decompressed_mb=1)
    assert read_drop(path, "inventory", CsvDialect(), gz=True, max_decompressed_mb=3).rows.height == 600_000


sku_parts = st.lists(st.sampled_from(["a", "%", "\x1f", "1", "F", "%1F", "%25", "é"]), max_size=6).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.tuples(sku_parts, sku_parts, sku_parts, sku_parts), st.tuples(sku_parts, sku_parts, sku_parts, sku_parts))
def test_item_keys_are_injective_and_split_back_whatever_the_cells_hold(a, b):
    frame = pl.DataFrame([a, b], schema=list(SKU_COLUMNS), orient="row").with_columns(item_key_expr().alias("item_key"))
    keys = frame["item_key"].to_list()
    assert (keys[0] == keys[1]) == (a == b)
    back = split_item_key(frame.select("item_key"))
    assert back.select(SKU_COLUMNS).rows() == [a, b]


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=1, max_size=300), st.text(min_size=1, max_size=300))
def test_name_parts_are_reversible_injective_and_safe(a, b):
    for text in (a, b):
        part = encode(text)
        assert decode(part) == text
        assert "/" not in part and "..." not in part and not any(ord(c) < 32 for c in part)
        assert len(file_name_part(text).encode()) <= 200
    assert (encode(a) == encode(b)) == (a == b)
    assert encode("NYC") == "NYC" and encode("A B") == "A%20B"


def test_the_control_character_class_is_exactly_unicode_category_cc():
    import unicodedata

    from schemas.columns import CONTROL

    chars = [chr(i) for i in range(0x3000)]
    found = pl.Series(chars).str.contains(CONTROL).to_list()
    assert found == [unicodedata.category(c) == "Cc" for c in chars]


@pytest.mark.parametrize("quoted", [False, True])  # the fast path, and the careful one (a quote char)
@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"])
def test_blank_lines_of_spaces_and_tabs_are_skipped_before_the_header_too(parse, quoted, ending):
    cell = '"012345678905"' if quoted else "012345678905"
    lines = ["", "   ", "\t", "upc,quantity", f"{cell},2", " \t ", "", "012345678912,4", "  "]
    p = parse("inventory", ending.join(lines) + ending)
    assert p.rejects.height == 0
    assert p.rows.select("line", "upc", "quantity").rows() == [(5, "012345678905", 2), (8, "012345678912", 4)]


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"])
@pytest.mark.parametrize("gz", [False, True])
def test_a_line_longer_than_1_mib_is_a_row_reject_and_the_rest_is_read(write_drop, ending, gz):
    long_cell = "9" * ((1 << 20) + 5)
    lines = ["upc,quantity", "012345678905,2", f"012345678912,{long_cell}", "012345678929,4", "x" * 3000 + ",1"]
    text = ending.join(lines) + ending
    name = "inventory_20261101T000000.csv" + (".gz" if gz else "")
    path = write_drop(name, gzip.compress(text.encode()) if gz else text)

    p = read_drop(path, "inventory", CsvDialect(), gz=gz)

    assert p.rows.select("line", "upc").rows() == [(2, "012345678905"), (4, "012345678929")]
    too_long = p.rejects.filter(pl.col("reason").str.starts_with("line too long"))
    assert too_long["line"].to_list() == [3] and p.rows_read == 4


@settings(max_examples=60, deadline=None)
@given(
    lines=st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")), max_size=12),
    endings=st.lists(st.sampled_from([b"\n", b"\r\n", b"\r"]), min_size=12, max_size=12),
    limit=st.integers(1, 30),
    chunk=st.integers(1, 50),
)
def test_bounding_lines_empties_exactly_the_long_ones_whatever_the_chunks(lines, endings, limit, chunk):
    from pipelines.adapters.drop_reader import _bounded

    pairs = list(zip(lines, endings, strict=False))
    # A lone CR before an empty line ending in LF is a CRLF: one line, not two.
    assume(not any(e == b"\r" and not nxt and ne.startswith(b"\n") for (_, e), (nxt, ne) in itertools.pairwise(pairs)))
    data = b"".join(line + end for line, end in pairs)
    pieces = [data[i : i + chunk] for i in range(0, len(data), chunk)]

    out, too_long = _bounded(iter(pieces), limit=limit)

    assert too_long == [n for n, line in enumerate(lines, start=1) if len(line) > limit]
    expected = b"".join((b"" if len(line) > limit else line) + end for line, end in zip(lines, endings, strict=False))
    assert out == expected
