"""The same 10,000-row update on stores of 200k, 2M and 10M rows, on SQLite and PostgreSQL.

Run: `.venv/bin/python benchmarks/store_scale.py [--sizes 200000,2000000,10000000]
[--update-rows 10000] [--backends sqlite,postgresql]` (PostgreSQL: the server binaries, as the
integration tests use).

For each size, a store is built by the pipeline itself (a warehouses file, a styles file of
size/5 SKUs and a full `overwrite` inventory file of `size` rows over 5 warehouses, landed,
parsed and folded through the adapters). Then, each in a fresh child process (so peak RSS is the
run's own, `VmHWM`: see `process_memory`), two different 10,000-row update files naming random SKUs in random
warehouses are landed, parsed and folded. What is timed is the run net of start-up (imports,
store open); the better of the two is kept.

Target (issue 12): time on the largest store ≤ 1.3× the smallest, peak RSS ≤ 500 MB on every size.
The export files of the touched warehouses are brought up to date in a separate child and
printed for information: a patch copies the unchanged bytes of each touched warehouse's files,
so its cost follows the size of those files, not the update.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

START = time.perf_counter()
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import polars as pl  # noqa: E402

from benchmarks.process_memory import peak_rss_mb  # noqa: E402

WAREHOUSES = [f"WH{w}" for w in range(1, 6)]
CATALOG = ["warehouses_20261101T000000.csv", "styles_20261101T000000.csv"]
FULL = "inventory_20261102T080000_overwrite.csv"
UPDATES = ["inventory_20261103T080000.csv", "inventory_20261104T080000.csv"]


def generate(folder: Path, size: int, update_rows: int) -> None:
    skus = size // len(WAREHOUSES)
    pl.DataFrame({"warehouse_code": WAREHOUSES, "type": "IMMEDIATE"}).write_csv(folder / CATALOG[0])
    i = pl.int_range(0, skus, eager=True).alias("i")
    styles = pl.DataFrame(i).select(
        pl.format("ST{}", (pl.col("i") // 20).cast(pl.String).str.zfill(7)).alias("style_number"),
        pl.lit("FW26").alias("style_identifier"),
        pl.format("C{}", (pl.col("i") // 4) % 5).alias("color_code"),
        pl.format("S{}", pl.col("i") % 4).alias("size_name"),
        ("0" + pl.col("i").cast(pl.String).str.zfill(11)).alias("upc"),
    )
    styles.write_csv(folder / CATALOG[1])
    pl.concat(
        [
            styles.select(
                "upc",
                pl.lit(code).alias("warehouse_code"),
                ((pl.col("upc").str.slice(8).cast(pl.Int64) + w) % 500).alias("quantity"),
            )
            for w, code in enumerate(WAREHOUSES)
        ]
    ).write_csv(folder / FULL)
    for n, name in enumerate(UPDATES, start=1):
        picks = pl.DataFrame(
            {
                "sku": pl.Series(range(skus)).sample(update_rows, seed=n, with_replacement=False),
                "wh": pl.Series(range(len(WAREHOUSES))).sample(update_rows, seed=n + 10, with_replacement=True),
            }
        )
        picks.select(
            ("0" + pl.col("sku").cast(pl.String).str.zfill(11)).alias("upc"),
            pl.col("wh").replace_strict(dict(enumerate(WAREHOUSES)), return_dtype=pl.String).alias("warehouse_code"),
            ((pl.col("sku") * 3 + n) % 700).alias("quantity"),
        ).write_csv(folder / name)


def child(cfg: dict) -> None:
    """Land, parse and fold `cfg["files"]` (or export, `cfg["export"]`); prints one JSON line."""
    from pipelines.adapters.data_paths import DataPaths
    from pipelines.adapters.drop_source import LocalDropSource
    from pipelines.adapters.export_patching import export_warehouse
    from pipelines.adapters.folding import fold_account
    from pipelines.adapters.landing import land_file
    from pipelines.adapters.parsing import parse_file
    from pipelines.adapters.store import SqlStore
    from pipelines.domain.partners import PartnerSpec

    store = SqlStore(cfg["url"])
    paths = DataPaths(Path(cfg["data"]))
    partner = PartnerSpec(source=cfg["inbox"])
    started = time.perf_counter()
    out: dict = {"start_up": started - START}
    if cfg.get("export"):
        runs = [
            export_warehouse(store, paths, partner.account, code, paths.exports() / partner.account)
            for _a, code in store.warehouses(partner.account)
        ]
        out["rows_rendered"] = sum(r.rows_rendered for r in runs)
        out["patched"] = all(r.patched for r in runs)
    else:
        source = LocalDropSource(Path(cfg["inbox"]))
        for name in cfg["files"]:
            landed = land_file(store, paths, partner, source, name)
            parse_file(store, landed.file_id, partner)
        report = fold_account(store, paths, partner.account)
        out["rows_written"] = report.rows_written
        out["files_applied"] = report.files_applied
    out["seconds"] = time.perf_counter() - started
    out["peak_rss_mb"] = peak_rss_mb()
    store.dispose()
    print(json.dumps(out))


def floor_upsert(db_path: Path, rows: int, seed: int) -> float:
    """SQLite's floor for an update: one raw executemany upsert of `rows` existing keys (picked at
    random, untimed) and its commit, our pragmas; the essential write, whose cost grows with the
    depth of the table's B-tree and the scattered pages it dirties."""
    db = sqlite3.connect(db_path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    keys = "account, warehouse_code, style_number, style_identifier, color_code, size_name"
    top = db.execute("SELECT max(rowid) FROM inventory").fetchone()[0]
    rnd = random.Random(seed)
    found = (
        db.execute(f"SELECT {keys} FROM inventory WHERE rowid = ?", (i,)).fetchone()
        for i in rnd.sample(range(1, top + 1), min(rows, top))
    )
    values = [(*key, rnd.randrange(500)) for key in found if key]
    rnd.shuffle(values)
    sql = f"INSERT INTO inventory ({keys}, on_hand, pending, ats) VALUES (?,?,?,?,?,?,?,0,0) ON CONFLICT ({keys}) DO UPDATE SET on_hand = excluded.on_hand"
    t = time.perf_counter()
    db.execute("BEGIN IMMEDIATE")
    db.executemany(sql, values)
    db.execute("COMMIT")
    elapsed = time.perf_counter() - t
    db.close()
    return elapsed


def run_child(cfg: dict) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", json.dumps(cfg)], capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"the benchmark run failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="200000,2000000,10000000")
    parser.add_argument("--update-rows", type=int, default=10_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(json.loads(args.child))
        return 0
    from tests.integration.postgres_server import create_database, start_postgres

    sizes = [int(s) for s in args.sizes.split(",")]
    backends = args.backends.split(",")
    scratch = Path(tempfile.mkdtemp(prefix="stockdrop-scale-"))
    scratch.chmod(0o755)
    pg = start_postgres(scratch / "pg") if "postgresql" in backends else None
    results: dict[str, dict[int, dict]] = {b: {} for b in backends}
    floors: dict[int, float] = {}
    try:
        for size in sizes:
            inbox = scratch / f"inbox-{size}"
            inbox.mkdir()
            generate(inbox, size, args.update_rows)
            for backend in backends:
                url = f"sqlite:///{scratch / f'{backend}-{size}.db'}" if backend == "sqlite" else create_database(pg)
                cfg = {"url": url, "data": str(scratch / f"data-{backend}-{size}"), "inbox": str(inbox)}
                t = time.perf_counter()
                built = run_child({**cfg, "files": [*CATALOG, FULL]})
                run_child({**cfg, "export": True})  # the export files the updates' exports patch
                updates = [run_child({**cfg, "files": [name]}) for name in UPDATES]
                export = run_child({**cfg, "export": True})
                if backend == "sqlite":
                    floors[size] = min(floor_upsert(scratch / f"sqlite-{size}.db", args.update_rows, s) for s in (1, 2))
                best = min(updates, key=lambda u: u["seconds"])
                tries = ", ".join(f"{u['seconds']:.2f}" for u in updates)
                results[backend][size] = best
                print(
                    f"{backend:<10} {size:>11,} rows: built in {built['seconds']:.1f} s (peak {built['peak_rss_mb']:,.0f} MB); "
                    f"update of {args.update_rows:,} rows {best['seconds']:.2f} s net of start-up "
                    f"({tries}), peak RSS "
                    f"{max(u['peak_rss_mb'] for u in updates):,.0f} MB, inventory rows written "
                    f"{best['rows_written']['inventory']:,}; exports after it {export['seconds']:.2f} s "
                    f"(patched {export['patched']}, {export['rows_rendered']:,} lines rendered, peak "
                    f"{export['peak_rss_mb']:,.0f} MB)"
                    + (f"; floor (raw upsert of the rows) {floors[size]:.2f} s" if backend == "sqlite" else "")
                    + f" [{time.perf_counter() - t:.0f} s]",
                    flush=True,
                )
        for backend in backends:
            smallest, largest = results[backend][sizes[0]], results[backend][sizes[-1]]
            print(
                f"{backend}: update on {sizes[-1]:,} rows / on {sizes[0]:,} rows = "
                f"{largest['seconds'] / smallest['seconds']:.2f}× (target ≤ 1.3×); peak RSS "
                f"{max(r['peak_rss_mb'] for r in results[backend].values()):,.0f} MB (target ≤ 500 MB)"
            )
        if floors:
            print(
                f"sqlite floor (one raw upsert of the update's rows): {floors[sizes[-1]]:.2f} s on {sizes[-1]:,} rows / "
                f"{floors[sizes[0]]:.2f} s on {sizes[0]:,} rows = {floors[sizes[-1]] / floors[sizes[0]]:.2f}×"
            )
    finally:
        if pg:
            pg.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
