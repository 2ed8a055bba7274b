"""Fuzz (issue 11): random drop files of every kind, cells drawn from adversarial strategies.

Any Unicode (control characters included), strings up to 10,000 characters, extreme and
malformed numbers, invalid and offset datetimes, odd and duplicated headers, ragged rows, mixed
line endings, gzip and undecodable bytes; and (v1.2) digits that are not ASCII, NFC/NFD pairs,
blank lines of spaces and tabs (before the header too) and lines longer than 1 MiB. For every example:

- `stockdrop replay` exits 0 (SQLite, through the CLI);
- every data line of every file is either read (and folded) or rejected with a reason, and a file
  rejected whole says why;
- PostgreSQL (the same adapters the CLI's assets call) ends with exactly SQLite's state and rejects;
- a clean file dropped afterwards is applied.
"""

from __future__ import annotations

import gzip
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import schemas
from pipelines.adapters.data_paths import DataPaths
from pipelines.adapters.store import SqlStore
from tests.integration.postgres_server import create_database
from tests.integration.store_replay import replay

pytestmark = pytest.mark.integration

KINDS = ("warehouses", "linesheets", "styles", "inventory", "orders")
BASE_CATALOG = (
    "style_number,style_identifier,color_code,size_name,upc\n"
    "TS100,FW26,BLK,S,012345678905\nTS100,FW26,BLK,M,012345678912\n"
)
CLEAN = "style_number,style_identifier,color_code,size_name,warehouse_code,quantity\nTS100,FW26,BLK,S,DEFAULT,7\n"
BREAKS = re.compile(r"\r\n|\r|\n")

plausible = st.sampled_from(
    [
        "012345678905",
        "012345678912",
        "TS100",
        "FW26",
        "BLK",
        "S",
        "M",
        "DEFAULT",
        "NYC",
        "FUTURE",
        "IMMEDIATE",
        "true",
        "no",
        "Pending",
        "approved",
        "Cancelled",
        "Shipped",
        "Notes",
        "merchant",
        "market",
        "MTO",
        "deny",
        "continue",
        "2026-11-03",
        "2026-11-17T23:00:00-08:00",
        "2026-11-18 07:00:00Z",
        "2026-02-30",
        "2026-13-45T10:00",
        "10",
        "10.0",
        "0",
        "-1",
        "10.5",
        "1e3",
        "1.23457E+11",
        "1000000000",
        "1000000001",
        "9223372036854775808",
        "",
        " ",
        "NaN",
    ]
)
adversarial = st.one_of(
    plausible,
    st.text(st.characters(codec="utf-8"), max_size=12),
    st.integers(-(2**70), 2**70).map(str),
    st.builds(lambda c, n: c * n, st.characters(codec="utf-8"), st.integers(90, 10_000)),
    st.sampled_from(["\x00", "A\x1fB", "a\r\nb", '"quoted"', "x,y", "\ufeff", "\u2028", "é" * 101]),
    # v1.2: digits that are not ASCII, one identifier typed in NFC and NFD.
    st.sampled_from(
        ["２３", "1０", "٣", "2026-11-17T２３:00:00", "2026-11-17T23:00:00+０５:００", "CAF\u00c9", "CAFE\u0301"]
    ),
)
blank_line = st.sampled_from(["", " ", "\t", "  \t "])


@dataclass(frozen=True, repr=False)
class Drop:
    name: str
    data: bytes
    lines: tuple[int, ...]  # the physical line each data record starts on (1 = header)
    structural: bool  # certain to be rejected whole (duplicate header, undecodable bytes)

    def __repr__(self) -> str:
        return f"Drop({self.name!r}, {len(self.data)} bytes, lines={self.lines}, head={self.data[:300]!r})"


def csv_record(cells: list[str], ending: str) -> str:
    """One CSV record: a cell is quoted when it holds the delimiter, a quote or a line break."""

    def cell(c: str) -> str:
        return '"' + c.replace('"', '""') + '"' if any(ch in c for ch in ',"\r\n') else c

    return ",".join(cell(c) for c in cells) + ending


@st.composite
def drop_files(draw, n: int) -> Drop:
    kind = draw(st.sampled_from(KINDS))
    declared = list(schemas.MODELS[kind].columns)
    columns = draw(st.lists(st.sampled_from(declared), min_size=1, max_size=len(declared), unique=True))
    required = [c for c in declared if schemas.MODELS[kind].columns[c].required]
    if draw(st.booleans()):
        columns = required + [c for c in columns if c not in required]
    header = [draw(st.sampled_from([c, c.upper(), f" {c.title()} ", c.replace("_", " ")])) for c in columns]
    duplicated = draw(st.integers(0, 9)) == 0
    if duplicated:
        header.append(draw(st.sampled_from([columns[0].upper(), f"  {columns[0]}"])))
    if draw(st.integers(0, 5)) == 0:
        header.append(draw(st.sampled_from(["colour", "", "Notes about this"])))
    endings = st.sampled_from(["\n", "\r\n", "\r"])
    # Blank lines (spaces and tabs) before the header too; each ends with LF so it never merges
    # with a lone CR before it into a CRLF.
    text = "".join(line + "\n" for line in draw(st.lists(blank_line, max_size=2)))
    text, lines = text + csv_record(header, draw(endings)), []
    for _ in range(draw(st.integers(0, 6))):
        row = [draw(adversarial) for _ in header]
        if draw(st.integers(0, 6)) == 0:  # ragged
            row = row[:-1] if len(row) > 1 and draw(st.booleans()) else row + [draw(adversarial)]
        if draw(st.integers(0, 15)) == 0:  # a line longer than 1 MiB (plain cells: one physical line)
            row = ["9" * ((1 << 20) + 1)] + ["x"] * (len(row) - 1)
        if len(row) == 1 and not row[0].strip(" \t"):
            row = ["x"]  # a lone blank cell would make a blank line, which is no record
        lines.append(len(BREAKS.findall(text)) + 1)
        text += csv_record(row, draw(endings))
        if draw(st.integers(0, 4)) == 0:
            text += draw(blank_line) + "\n"
    data = text.encode()
    undecodable = draw(st.integers(0, 14)) == 0
    if undecodable:
        data = data + b"\xff\xfe\n"
    name = f"{kind}_202611{n + 2:02d}T000000.csv"
    if draw(st.integers(0, 4)) == 0:
        name, data = name + ".gz", gzip.compress(data)
    return Drop(name, data, tuple(lines), duplicated or undecodable)


examples = st.integers(1, 4).flatmap(lambda k: st.tuples(*(drop_files(i) for i in range(k))))


def _cli_replay(inbox: Path, store: str, data: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pipelines", "replay", str(inbox), "--store", store],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "STOCKDROP_DATA_DIR": str(data)},
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr


def _every_line_accounted_for(store: SqlStore, drops: tuple[Drop, ...]) -> None:
    f = store.t["drop_files"]
    with store.engine.connect() as conn:
        ledger = {r.name: r for r in conn.execute(f.select().where(f.c.status != "superseded"))}
    rejects = store.rejects()
    for drop in drops:
        row = ledger[drop.name]
        mine = rejects.filter(pl.col("file") == drop.name)
        if row.status == "rejected":
            with store.engine.connect() as conn:
                whole = (
                    conn.execute(
                        sa.text("SELECT reason FROM rejects WHERE file_id = :f AND stage = 'file'"), {"f": row.file_id}
                    )
                    .scalars()
                    .all()
                )
            assert len(whole) == 1 and whole[0], drop.name
            continue
        assert row.status == "parsed" and not drop.structural, (drop.name, row.status)
        read = set(pl.read_parquet(row.events_path)["line"].to_list())
        rejected = set(mine["line"].drop_nulls().to_list())
        assert read | rejected == set(drop.lines), drop.name
        assert all(reason for reason in mine["reason"].to_list())


def _comparable(store: SqlStore) -> tuple[list, list]:
    return store.state().drop("account").rows(), store.rejects().drop("partner").sort(pl.all()).rows()


@settings(
    max_examples=4,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)
@given(drops=examples)
def test_random_adversarial_drops_are_applied_or_rejected_alike_on_both_backends(tmp_path_factory, pg_server, drops):
    root = tmp_path_factory.mktemp("fuzz")
    inbox = root / "inbox"
    inbox.mkdir()
    (inbox / "styles_20261101T000000.csv").write_text(BASE_CATALOG)
    for drop in drops:
        (inbox / drop.name).write_bytes(drop.data)

    sqlite_url = f"sqlite:///{root}/s.db"
    _cli_replay(inbox, sqlite_url, root / "sqlite-data")
    lite = SqlStore(sqlite_url)
    pg = SqlStore(create_database(pg_server, "fuzz"))
    try:
        _every_line_accounted_for(lite, drops)
        replay(pg, DataPaths(root / "pg-data"), inbox)
        assert _comparable(pg) == _comparable(lite)

        (inbox / "inventory_20261129T000000.csv").write_text(CLEAN)  # after every fuzz file, never in the future
        _cli_replay(inbox, sqlite_url, root / "sqlite-data")
        replay(pg, DataPaths(root / "pg-data"), inbox)
        for store in (lite, pg):
            row = store.state().filter(
                (pl.col("warehouse_code") == "DEFAULT")
                & (pl.col("style_number") == "TS100")
                & (pl.col("size_name") == "S")
            )
            assert row["on_hand"].to_list() == [7]
        assert _comparable(pg) == _comparable(lite)
    finally:
        lite.dispose()
        pg.dispose()
