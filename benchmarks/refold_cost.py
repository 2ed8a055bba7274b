"""What a late file costs: re-folding from the overwrite's fold step versus from scratch.

Run: `.venv/bin/python benchmarks/refold_cost.py [--files 30] [--rows 50000] [--overwrite-at 20] [--store URL]`
(default store: a throwaway SQLite file; pass a `postgresql+psycopg://` URL to measure PostgreSQL).

A history of `--files` inventory files of `--rows` rows each (every SKU in three warehouses, the
file numbered `--overwrite-at` an overwrite, the others updates) is landed, parsed and folded once
(the fold from scratch). Then, each landed and parsed before its fold is timed:

- a late file dated after the overwrite: the fold starts at the overwrite's fold step and
  re-applies only the files after it;
- a late file dated before the overwrite: no fold step describes the new history before it, so
  every file is re-applied (but only the rows that changed are written);
- a re-drop of identical content: the tip's prefix hash matches, nothing is re-applied.

Printed per case: seconds, files re-applied, seconds per re-applied file, and the ratio to the
fold from scratch. The work should be proportional to the files since the fold step used.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl

from pipelines.adapters.data_paths import DataPaths
from pipelines.adapters.drop_source import LocalDropSource
from pipelines.adapters.folding import fold_account
from pipelines.adapters.landing import land_file
from pipelines.adapters.parsing import parse_file
from pipelines.adapters.store import SqlStore
from pipelines.domain.partners import PartnerSpec

WAREHOUSES = ["NYC", "LA", "SPRING"]
START_DAY = datetime(2021, 1, 1, 6)


def write_history(inbox: Path, files: int, rows: int, overwrite_at: int) -> None:
    skus = rows // len(WAREHOUSES)
    pl.DataFrame({"warehouse_code": WAREHOUSES}).write_csv(inbox / "warehouses_20201231T000000.csv")
    pl.DataFrame(
        {
            "style_number": [f"ST{i // 20:06d}" for i in range(skus)],
            "style_identifier": ["FW21"] * skus,
            "color_code": [f"{i % 4:03d}" for i in range(skus)],
            "size_name": [f"S{i % 5}" for i in range(skus)],
            "upc": [f"{i:012d}" for i in range(skus)],
        }
    ).write_csv(inbox / "styles_20201231T000000.csv")
    for n in range(1, files + 1):
        label = "_overwrite" if n == overwrite_at else ""
        inventory_file(inbox / f"inventory_{START_DAY + timedelta(days=n):%Y%m%dT%H%M%S}{label}.csv", skus, n)


def inventory_file(path: Path, skus: int, factor: int) -> None:
    n = skus * len(WAREHOUSES)
    pl.DataFrame(
        {
            "upc": [f"{i % skus:012d}" for i in range(n)],
            "warehouse_code": [WAREHOUSES[i // skus] for i in range(n)],
            "quantity": [(i * factor + factor) % 97 for i in range(n)],
        }
    ).write_csv(path)


class Run:
    def __init__(self, url: str, root: Path):
        self.store, self.paths = SqlStore(url), DataPaths(root / "data")
        self.inbox = root / "inbox"
        self.partner = PartnerSpec(source=str(self.inbox))
        self.source = LocalDropSource(self.inbox)

    def land_and_parse(self, names: list[str]) -> None:
        for name in names:
            landed = land_file(self.store, self.paths, self.partner, self.source, name)
            if landed.outcome == "new":
                parse_file(self.store, landed.file_id, self.partner)

    def fold(self):
        started = time.perf_counter()
        report = fold_account(self.store, self.paths, self.partner.account)
        return time.perf_counter() - started, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=30)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--overwrite-at", type=int, default=20)
    parser.add_argument(
        "--store", default=None, help="SQLAlchemy URL of an empty store (default: a temporary SQLite file)"
    )
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="stockdrop-refold-"))
    try:
        (root / "inbox").mkdir()
        write_history(root / "inbox", args.files, args.rows, args.overwrite_at)
        run = Run(args.store or f"sqlite:///{root / 'stockdrop.db'}", root)
        t = time.perf_counter()
        run.land_and_parse(sorted(p.name for p in run.inbox.iterdir()))
        print(
            f"{args.files} files x {args.rows} rows, overwrite at file {args.overwrite_at}; "
            f"landed and parsed in {time.perf_counter() - t:.1f} s"
        )
        scratch, report = run.fold()
        results = [("fold from scratch", scratch, report)]

        skus = args.rows // len(WAREHOUSES)
        after_day = START_DAY + timedelta(days=(args.overwrite_at + args.files) // 2, hours=6)
        before_day = START_DAY + timedelta(days=args.overwrite_at // 2, hours=6)
        cases = [
            ("late, after the overwrite", f"inventory_{after_day:%Y%m%dT%H%M%S}.csv", 1001),
            ("late, before the overwrite", f"inventory_{before_day:%Y%m%dT%H%M%S}.csv", 1002),
        ]
        for what, name, factor in cases:
            inventory_file(run.inbox / name, skus, factor)
            run.land_and_parse([name])
            seconds, report = run.fold()
            results.append((what, seconds, report))
        run.land_and_parse([cases[0][1]])
        seconds, report = run.fold()
        results.append(("re-drop (identical content)", seconds, report))

        print(f"{'case':<30} {'seconds':>8} {'from':>5} {'files':>6} {'s/file':>7} {'vs scratch':>10}")
        for what, seconds, report in results:
            per_file = seconds / report.files_applied if report.files_applied else 0.0
            print(
                f"{what:<30} {seconds:8.2f} {report.started_from:5d} {report.files_applied:6d} "
                f"{per_file:7.3f} {seconds / scratch:10.2f}"
            )
        run.store.dispose()
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
