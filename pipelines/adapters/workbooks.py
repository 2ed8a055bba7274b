"""Finding a sheet in an XLSX workbook (a zip of XML parts) before polars' calamine reader reads it:
its size unpacked (bounded before anything is decompressed), which sheet a name or index means,
and the sheet row its cells start on (calamine's rows start at the first cell holding a value,
and line numbers are the sheet's row numbers)."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from xml.etree import ElementTree

from pipelines.adapters.failures import one_line

_RELATIONSHIP_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
_CELL_ROW = re.compile(r"[A-Za-z]+([0-9]+)")


class WorkbookRejected(ValueError):
    """The workbook cannot be read as the profile says: the file is rejected whole."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def find_sheet(path: Path, sheet: str | int | None, max_bytes: int) -> tuple[str, int | None]:
    """(the sheet's name, the row its first value is on, None when it holds none) of `sheet`: a
    name (case-insensitive), a 1-based index, or None for the first."""
    try:
        with zipfile.ZipFile(path) as book:
            # The sizes the zip declares, summed before any part is unpacked (a bomb is never opened).
            if sum(i.file_size for i in book.infolist()) > max_bytes:
                raise WorkbookRejected(f"decompressed content exceeds max_decompressed_mb ({max_bytes >> 20} MB)")
            sheets = _sheets(book)
            if sheet is None:
                chosen = sheets[:1]
            elif isinstance(sheet, int):
                chosen = sheets[sheet - 1 : sheet] if sheet >= 1 else []
            else:
                chosen = [s for s in sheets if s[0].lower() == sheet.lower()]
            if not chosen:
                raise WorkbookRejected(f"no sheet {sheet!r}" if sheet is not None else "no sheet in the workbook")
            name, member = chosen[0]
            return name, _first_row(book, member)
    except (zipfile.BadZipFile, KeyError, ElementTree.ParseError) as e:
        raise WorkbookRejected(f"not a valid XLSX file: {one_line(e)}") from None


def _sheets(book: zipfile.ZipFile) -> list[tuple[str, str]]:
    """(name, member path of its XML) of every sheet, in workbook order."""
    rels = ElementTree.fromstring(book.read("xl/_rels/workbook.xml.rels"))
    targets = {r.get("Id"): r.get("Target", "") for r in rels}
    sheets = []
    for sheet in ElementTree.fromstring(book.read("xl/workbook.xml")).iter():
        if sheet.tag.endswith("}sheet"):
            target = targets.get(sheet.get(_RELATIONSHIP_ID), "")
            sheets.append((sheet.get("name", ""), target.lstrip("/") if target.startswith("/") else f"xl/{target}"))
    return sheets


def _first_row(book: zipfile.ZipFile, member: str) -> int | None:
    """The sheet row of its first cell holding a value: where calamine's rows start."""
    with book.open(member) as xml:
        for _, cell in ElementTree.iterparse(xml):
            if cell.tag.endswith("}c") and any(child.tag.endswith(("}v", "}is")) for child in cell):
                found = _CELL_ROW.fullmatch(cell.get("r", ""))
                return int(found.group(1)) if found else None
    return None
