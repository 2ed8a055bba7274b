"""Reading through a partner profile (issue 27):

1. **XLSX**: a 1M-row inventory sheet (under a title row, on the second sheet, the partner's
   headers, UPCs stored as numbers) read through its profile (`read_drop`: calamine, header
   aliases, `zero_pad`, value map and pattern, validation, casts) ÷ polars' `read_excel` of the
   same sheet alone (target ≤ 2×).
2. **CSV**: a 1M-row inventory file in the partner's dialect (aliases, `;`, quantities as `10+`
   and `Out of Stock`) read through its profile ÷ the same rows in our dialect read as the
   contract says (target ≤ 1.2×).

Each read runs in a fresh child process; pairs alternate and the median of the ratios is shown.

Usage: python benchmarks/profiles.py [--rows 1000000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PROFILE = {
    "columns": {"inventory": {"upc": ["EAN/UPC", "EAN"], "warehouse_code": "Whse", "quantity": "Qty On Hand"}},
    "values": {
        "quantity": {"map": {"out of stock": 0, "in stock": 10}, "pattern": r"(\d+)\+"},
        "upc": {"zero_pad": 12},
    },
}


def partner_quantity(n: int) -> str:
    return "Out of Stock" if n % 50 == 0 else f"{n % 50}+" if n % 7 == 0 else str(n % 50)


def write_files(folder: Path, rows: int) -> dict[str, Path]:
    import xlsxwriter

    ours = folder / "ours.csv"
    with ours.open("w") as f:
        f.write("upc,warehouse_code,quantity\n")
        f.writelines(f"{n:012d},NYC,{0 if n % 50 == 0 else n % 50}\n" for n in range(rows))
    theirs = folder / "theirs.csv"
    with theirs.open("w") as f:
        f.write("EAN;Whse;Qty On Hand\n")
        f.writelines(f"{n:012d};NYC;{partner_quantity(n)}\n" for n in range(rows))
    book_path = folder / "theirs.xlsx"
    book = xlsxwriter.Workbook(str(book_path), {"constant_memory": True})
    book.add_worksheet("Notes").write(0, 0, "exported")
    sheet = book.add_worksheet("Inventory")
    sheet.write(0, 0, "Stock report")
    for c, h in enumerate(["EAN", "Whse", "Qty On Hand"]):
        sheet.write(1, c, h)
    for n in range(rows):
        sheet.write_number(n + 2, 0, n)  # a UPC Excel keeps as a number: leading zeros gone
        sheet.write_string(n + 2, 1, "NYC")
        sheet.write_string(n + 2, 2, partner_quantity(n))
    book.close()
    return {"ours": ours, "theirs_csv": theirs, "theirs_xlsx": book_path}


def child(what: str, path: str) -> None:
    import polars as pl
    import yaml

    from pipelines.adapters.drop_reader import read_drop
    from pipelines.adapters.partners_file import load_partners
    from pipelines.domain.partners import CsvDialect

    with tempfile.TemporaryDirectory() as folder:  # the profile as an operator writes it
        partners = Path(folder) / "partners.yaml"
        partners.write_text(yaml.safe_dump({"partners": {"bench": {"account": "a", "source": folder, **PROFILE}}}))
        profile = load_partners(partners)["bench"].profile
    started = time.perf_counter()
    if what == "read_excel":
        rows = pl.read_excel(path, sheet_name="Inventory", engine="calamine").height
    elif what == "xlsx":
        parsed = read_drop(Path(path), "inventory", CsvDialect(), False, header_row=2, sheet="Inventory",
                           layout="xlsx", profile=profile)  # fmt: skip
        rows = parsed.rows.height
    elif what == "theirs_csv":
        rows = read_drop(Path(path), "inventory", CsvDialect(";"), False, profile=profile).rows.height
    else:
        rows = read_drop(Path(path), "inventory", CsvDialect(), False).rows.height
    print(json.dumps({"seconds": time.perf_counter() - started, "rows": rows}))


def timed(what: str, path: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", what, str(path)], capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--child", nargs=2)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return 0
    with tempfile.TemporaryDirectory(prefix="stockdrop-profiles-") as folder:
        t = time.perf_counter()
        files = write_files(Path(folder), args.rows)
        print(f"{args.rows} rows written in {time.perf_counter() - t:.1f} s")
        for label, (measured, m_path), (floor, f_path), target in (
            ("XLSX through the profile ÷ read_excel", ("xlsx", files["theirs_xlsx"]),
             ("read_excel", files["theirs_xlsx"]), 2.0),
            ("CSV through the profile ÷ our dialect", ("theirs_csv", files["theirs_csv"]),
             ("ours", files["ours"]), 1.2),
        ):  # fmt: skip
            ratios = []
            for _ in range(args.repeat):
                f = timed(floor, f_path)
                m = timed(measured, m_path)
                ratios.append(m["seconds"] / f["seconds"])
                print(f"  {label}: {m['seconds']:.2f} s ({m['rows']} rows) / {f['seconds']:.2f} s = {ratios[-1]:.2f}×")
            print(f"{label}: median {statistics.median(ratios):.2f}× (target ≤ {target}×)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
