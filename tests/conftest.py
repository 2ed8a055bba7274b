"""Shared factories: files in a temp inbox, typed rows through the real drop reader."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.adapters.drop_reader import read_drop
from pipelines.domain.partners import CsvDialect

EXAMPLES = Path(__file__).resolve().parent / "contract_examples"  # a copy of the contract's examples


@pytest.fixture
def write_drop(tmp_path):
    """write_drop(name, text, folder=None) -> Path: a drop file with exactly `text` as its bytes."""

    def _write(name: str, text: str | bytes, folder: Path | None = None) -> Path:
        target = folder or tmp_path / "inbox"
        target.mkdir(parents=True, exist_ok=True)
        path = target / name
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        return path

    return _write


@pytest.fixture
def parse(write_drop):
    """parse(kind, text, dialect=CsvDialect()) -> ParsedFile, through the real reader."""

    def _parse(kind: str, text: str | bytes, dialect: CsvDialect = CsvDialect(), name: str | None = None):
        path = write_drop(name or f"{kind}_20261101T000000.csv", text)
        return read_drop(path, kind, dialect, gz=False)

    return _parse


CATALOG = (
    "style_id,style_number,style_identifier,style_color_id,color_code,color_name,size_code,size_name,upc,continue_selling\n"
    "1001,TS100,FW26,5001,BLK,Black,S,Small,012345678905,\n"
    "1001,TS100,FW26,5001,BLK,Black,M,Medium,012345678912,\n"
    "1001,TS100,FW26,5002,WHT,White,S,Small,012345678929,\n"
    "2001,JK200,FW26,6001,NVY,Navy,L,Large,012345678936,false\n"
    "3001,SK300,FW26,7001,GRY,Grey,M,Medium,012345678943,true\n"
)
WAREHOUSES = (
    "warehouse_code,name,type,available_date,is_default\n"
    "NYC,New York,IMMEDIATE,,false\nSPRING,Spring,FUTURE,2027-02-01,false\n"
)
LINESHEETS = (
    "linesheet_code,name,made_to_order,inventory_policy\n"
    "FW26,Fall,false,\nDENY,Deny sheet,false,deny\nCONT,Continue sheet,false,continue\nMTO,Made to order,,\n"
    "CUSTOM,Custom,true,\n"
)


@pytest.fixture
def fold(tmp_path):
    """fold([(name, csv_text), ...], **partner_options) -> FoldState, applied in the given order.

    The catalog, warehouses and linesheets above are applied first unless `base=False`.
    """
    from pipelines.domain.drop_names import parse_drop_name
    from pipelines.domain.fold import FileToApply, apply_file, initial_state

    def _fold(files, state=None, base=True, collect=None, **options):
        if base:
            files = [
                ("warehouses_20261101T000000.csv", WAREHOUSES),
                ("linesheets_20261101T000000.csv", LINESHEETS),
                ("styles_20261101T000000.csv", CATALOG),
                *files,
            ]
        state = state or initial_state()
        for name, text in files:
            d = parse_drop_name(name)
            path = tmp_path / "f" / name
            path.parent.mkdir(exist_ok=True)
            path.write_text(text)
            parsed = read_drop(path, d.kind, CsvDialect(), gz=False)
            opts = {
                "mode": d.mode_token or options.get("mode", "update"),
                "dec_pending": d.dec_pending_token
                if d.dec_pending_token is not None
                else options.get("dec_pending", False),
                "overwrite_scope": options.get("overwrite_scope", "account"),
                "item_identifier": options.get("item_identifier", "auto"),
                "inventory_policy": options.get("inventory_policy", "continue"),
            }
            applied = apply_file(
                state,
                FileToApply(
                    file_id=name,
                    partner="p",
                    name=name,
                    sha256="x",
                    kind=d.kind,
                    as_of=d.as_of.replace(tzinfo=None),
                    rows=parsed.rows,
                    **opts,
                ),
            )
            if collect is not None:
                collect.append((name, parsed.rejects, applied))
            state = applied.state
        return state

    return _fold


def stock(state) -> dict:
    """{(warehouse_code, upc): (on_hand, pending, ats)} of a FoldState."""
    from pipelines.domain.fold import effective_inventory

    inv = effective_inventory(state).join(state.items.select("item_key", "upc"), on="item_key", how="left")
    return {(r["warehouse_code"], r["upc"]): (r["on_hand"], r["pending"], r["ats"]) for r in inv.to_dicts()}
