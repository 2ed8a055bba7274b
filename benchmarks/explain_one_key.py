"""`stockdrop explain` for one (warehouse, SKU) on a 1,000,000-row store (issue 15: ≤ 2 s here).

Run: `.venv/bin/python benchmarks/explain_one_key.py [--size 1000000] [--keys 5]
[--backends sqlite,postgresql]`.

The store is built by the pipeline (store_scale.py's files: a warehouses file, a styles file of
size/5 SKUs, a full overwrite of `size` rows over 5 warehouses, two 10,000-row updates). Then
`stockdrop explain` is run as an operator runs it (a fresh process, start-up included) for
`--keys` random rows, and the time of each is printed beside its floor measured in the same run:
a polars scan of the same Parquet files for the rows naming that SKU (the least reading any
answer from the recorded files must do), and `stockdrop state --account` start-up (`--help`).
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import polars as pl  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from benchmarks.store_scale import CATALOG, FULL, UPDATES, generate, run_child  # noqa: E402

CLI = [sys.executable, "-m", "pipelines"]


def timed(args: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    out = subprocess.run(args, capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"{' '.join(args)} failed: {out.stderr[-2000:]}")
    return time.perf_counter() - started, out


def floor_scan(parquets: list[str], upc: str) -> float:
    started = time.perf_counter()
    for path in parquets:
        frame = pl.scan_parquet(path)
        if "upc" in frame.collect_schema().names():
            frame.filter(pl.col("upc") == upc).collect()
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--keys", type=int, default=5)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    from pipelines.adapters.store import SqlStore
    from tests.integration.postgres_server import create_database, start_postgres

    backends = args.backends.split(",")
    scratch = Path(tempfile.mkdtemp(prefix="stockdrop-explain-"))
    scratch.chmod(0o755)
    pg = start_postgres(scratch / "pg") if "postgresql" in backends else None
    try:
        inbox = scratch / "inbox"
        inbox.mkdir()
        generate(inbox, args.size, 10_000)
        for backend in backends:
            url = f"sqlite:///{scratch / 'store.db'}" if backend == "sqlite" else create_database(pg)
            cfg = {"url": url, "data": str(scratch / f"data-{backend}"), "inbox": str(inbox)}
            built = run_child({**cfg, "files": [*CATALOG, FULL, *UPDATES]})
            store = SqlStore(url)
            state = store.state("default")
            f = store.t["drop_files"]
            with store.transaction() as conn:
                parquets = [p for (p,) in conn.execute(sa.select(f.c.events_path).where(f.c.status == "parsed")) if p]
            store.dispose()
            start_up, _ = timed([*CLI, "--help"])
            print(
                f"{backend}: store of {state.height:,} rows built in {built['seconds']:.1f} s; "
                f"CLI start-up (--help) {start_up:.2f} s",
                flush=True,
            )
            # half the keys where an update changed the row again (two steps), half anywhere
            updated = pl.read_csv(inbox / UPDATES[0], schema_overrides={"upc": pl.String}).head(args.keys // 2)
            again = state.join(updated.select("upc", "warehouse_code"), on=["upc", "warehouse_code"])
            rng = random.Random(7)
            times = []
            for row in [*again.rows(named=True), *rng.sample(state.rows(named=True), args.keys - again.height)]:
                seconds, out = timed(
                    [*CLI, "explain", "--store", url, "--account", "default"]
                    + ["--warehouse", row["warehouse_code"], "--upc", row["upc"]]
                )
                last = out.stdout.strip().splitlines()[-1].split(",")
                assert [int(v) for v in last[-3:]] == [row["on_hand"], row["pending"], row["ats"]], (row, last)
                floor = floor_scan(parquets, row["upc"])
                times.append(seconds)
                print(
                    f"  {row['warehouse_code']}/{row['upc']}: {seconds:.2f} s end to end "
                    f"({len(out.stdout.splitlines()) - 1} steps); floor: scan of the files for it "
                    f"{floor:.2f} s + start-up {start_up:.2f} s",
                    flush=True,
                )
            print(f"{backend}: explain of one key: worst {max(times):.2f} s (target ≤ 2 s)", flush=True)
    finally:
        if pg:
            pg.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
