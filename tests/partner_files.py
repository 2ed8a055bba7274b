"""Files written the way partners write them (for the profile tests and the sample partner):
XLSX workbooks through xlsxwriter, with numbers as numbers and sheets in any order."""

from __future__ import annotations

import re
from pathlib import Path

import xlsxwriter

_NUMBER = re.compile(r"-?(0|[1-9][0-9]{0,14})")  # what a spreadsheet would hold as a number


def write_xlsx(path: Path, sheets: list[tuple[str, list[list[str | None]]]], numbers: bool = True) -> None:
    """One sheet per (name, rows); row 1 of a sheet is rows[0]. With `numbers`, a cell that looks
    like a whole number is written as a number (a UPC loses its leading zeros, as Excel does)."""
    book = xlsxwriter.Workbook(str(path))
    for name, rows in sheets:
        sheet = book.add_worksheet(name)
        for r, row in enumerate(rows):
            for c, cell in enumerate(row):
                if cell is None or cell == "":
                    continue
                if numbers and _NUMBER.fullmatch(cell):
                    sheet.write_number(r, c, int(cell))
                else:
                    sheet.write_string(r, c, cell)
    book.close()
