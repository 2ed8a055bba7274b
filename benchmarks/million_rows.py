"""A million-row inventory drop end to end (SFTP → landed → parsed → folded → exports), on SQLite and
PostgreSQL, against the floors of each step measured in the same run.

Run: `.venv/bin/python benchmarks/million_rows.py [--rows 1000000] [--warehouses 5] [--backends sqlite,postgresql]`
(needs OpenSSH sshd and the PostgreSQL server binaries, as the integration tests do; dlt is
compared when the `bench` extra is installed: `.venv/bin/pip install -e '.[bench]'`).

What it does:
- generates a warehouses file, a catalog (styles) of rows/warehouses SKUs, a full inventory file
  (`_overwrite`, every SKU in every warehouse), a delta touching 1% of the rows, and two small late
  files: one dated before the full file, one between the full file and the delta;
- serves them from a throwaway local sshd and runs each backend's pipeline in a child process
  (through the adapters: SftpDropSource → land_file → parse_file → fold_account → write_exports),
  so peak RSS is that run's own (`VmHWM`, `process_memory`); the fixed per-run overhead (imports, store
  open and migrations, SFTP connect, an empty fold) is timed separately;
- measures the floors, the same work done the plainest way: OpenSSH `sftp` get of the file,
  polars `read_csv` of it (all text), and the first load of its rows: SQLite one raw
  executemany INSERT into an empty table, PostgreSQL one COPY into an empty copy of the
  inventory table (same keys, partitioned by account then warehouse like ours). The delta's
  floors: get and read of the delta, and one upsert of its rows into a table holding the full
  file (SQLite executemany upsert; PostgreSQL COPY into a staging table plus one MERGE). And, if
  installed, dlt loading the full file into the same PostgreSQL with `write_disposition="merge"`;
- outbound, on the 1M-row account read from the store: selecting its push batches (a first
  push: every row) against rendering its export files, and a full export (read, render, write
  every warehouse's three files) against polars `write_csv` of the same rows;
- prints each phase in seconds and rows/s, as a ratio to its floor, and the re-fold cost of a
  late file before the full overwrite versus after it.

Targets (issue 12): end to end ≤ 2× the sum of the floors with peak RSS ≤ 1 GB; the 1% delta ≤
1.5× its own floors; selecting push batches ≤ rendering the export files; a full export ≤ 2×
polars write_csv of the same rows.
`--mode cli` drives the files through `python -m pipelines replay` instead (a local inbox: no SFTP).
"""

from __future__ import annotations

import argparse
import json
import os
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

FULL = "inventory_20261102T080000_overwrite.csv"
DELTA = "inventory_20261103T080000.csv"
LATE_BEFORE = "inventory_20261102T070000.csv"  # before the full overwrite: re-folds the million rows
LATE_AFTER = "inventory_20261102T090000.csv"  # after it: re-folds from the overwrite's fold step
CATALOG = ["warehouses_20261101T000000.csv", "styles_20261101T000000.csv"]
SIZES = ["XS", "S", "M", "L"]


# -- the files ----------------------------------------------------------------------------------


def generate(folder: Path, rows: int, warehouses: int) -> dict[str, int]:
    """The drop files; returns rows per file."""
    skus = rows // warehouses
    codes = [f"WH{w}" for w in range(1, warehouses + 1)]
    pl.DataFrame({"warehouse_code": codes, "name": [f"Warehouse {c}" for c in codes], "type": "IMMEDIATE"}).write_csv(
        folder / CATALOG[0]
    )
    i = pl.int_range(0, skus, eager=True).alias("i")
    styles = pl.DataFrame(i).select(
        pl.format("ST{}", (pl.col("i") // 20).cast(pl.String).str.zfill(6)).alias("style_number"),
        pl.lit("FW26").alias("style_identifier"),
        pl.format("C{}", (pl.col("i") // 4) % 5).alias("color_code"),
        pl.col("i").mod(4).replace_strict(dict(enumerate(SIZES)), return_dtype=pl.String).alias("size_name"),
        ("0" + pl.col("i").cast(pl.String).str.zfill(11)).alias("upc"),
    )
    styles.write_csv(folder / CATALOG[1])
    full = pl.concat(
        [
            styles.select(
                "upc",
                "style_number",
                "style_identifier",
                "color_code",
                "size_name",
                pl.lit(code).alias("warehouse_code"),
                ((pl.int_range(0, skus) * 7 + w) % 500).alias("quantity"),
            )
            for w, code in enumerate(codes)
        ]
    )
    full.write_csv(folder / FULL)
    delta = full.gather_every(100).with_columns(pl.col("quantity") + 1)
    delta.write_csv(folder / DELTA)
    late = full.gather_every(1000).with_columns(pl.col("quantity") + 2)
    late.write_csv(folder / LATE_BEFORE)
    late.write_csv(folder / LATE_AFTER)
    return {
        FULL: full.height,
        DELTA: delta.height,
        LATE_BEFORE: late.height,
        LATE_AFTER: late.height,
        CATALOG[1]: styles.height,
    }


# -- the pipeline, in a child process ------------------------------------------------------------


def child(args: argparse.Namespace) -> None:
    """One backend's run; prints one JSON line of timings."""
    from pipelines.adapters.data_paths import DataPaths
    from pipelines.adapters.export_patching import export_warehouse
    from pipelines.adapters.folding import fold_account
    from pipelines.adapters.landing import land_file
    from pipelines.adapters.parsing import parse_file
    from pipelines.adapters.sftp_source import SftpDropSource
    from pipelines.adapters.store import SqlStore
    from pipelines.domain.partners import PartnerSpec

    timings: dict[str, float] = {"imports": time.perf_counter() - START}
    cfg = json.loads(args.child)
    t = time.perf_counter()
    store = SqlStore(cfg["url"])
    timings["store_open"] = time.perf_counter() - t
    paths = DataPaths(Path(cfg["data"]))
    partner = PartnerSpec(source=cfg["inbox"])
    t = time.perf_counter()
    source = SftpDropSource(
        host=cfg["host"],
        port=cfg["port"],
        username=cfg["user"],
        path=cfg["inbox"],
        known_hosts=cfg["known_hosts"],
        private_key_file=cfg["key"],
    )
    source.__enter__()
    source.list_files()
    timings["sftp_connect"] = time.perf_counter() - t

    def run(name: str, prefix: str) -> None:
        t0 = time.perf_counter()
        landed = land_file(store, paths, partner, source, name)
        t1 = time.perf_counter()
        parse_file(store, landed.file_id, partner)
        t2 = time.perf_counter()
        report = fold_account(store, paths, partner.account)
        t3 = time.perf_counter()
        # As the warehouse_exports partitions do: each warehouse into the one export folder.
        exports = [
            export_warehouse(store, paths, partner.account, code, paths.exports() / partner.account)
            for _account, code in store.warehouses(partner.account)
        ]
        t4 = time.perf_counter()
        timings[f"{prefix}.rows_rendered"] = sum(e.rows_rendered for e in exports)
        timings.update(
            {
                f"{prefix}.land": t1 - t0,
                f"{prefix}.parse": t2 - t1,
                f"{prefix}.fold": t3 - t2,
                f"{prefix}.export": t4 - t3,
                f"{prefix}.refolded_files": report.files_applied,
            }
        )

    for name in CATALOG:
        run(name, name.split("_")[0])
    t = time.perf_counter()
    fold_account(store, paths, partner.account)
    timings["noop_fold"] = time.perf_counter() - t
    run(FULL, "full")
    # The peak only grows: read here, it is the peak of the run so far (catalog + the full file).
    timings["full.peak_rss_mb"] = peak_rss_mb()
    outbound(store, paths, partner.account, timings)
    run(DELTA, "delta")
    run(LATE_AFTER, "late_after")
    run(LATE_BEFORE, "late_before")
    source.__exit__(None, None, None)
    store.dispose()
    timings["child_total"] = time.perf_counter() - START
    timings["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(timings))


def outbound(store, paths, account: str, timings: dict) -> None:
    """Push selection and export rendering of the whole account, and a full export against its floor."""
    from pipelines.adapters.channels import channel_for
    from pipelines.adapters.export_patching import export_warehouse
    from pipelines.adapters.state_tables import StateTables
    from pipelines.domain.channel_items import ACKNOWLEDGED_SCHEMA, items_per_batch, plan_batches, select_items
    from pipelines.domain.export_rows import EXPORT_KINDS, export_tables, kind_frame, kind_rows, sorted_for_export
    from pipelines.domain.partners import ChannelSpec

    t = time.perf_counter()
    with store.transaction() as conn:
        snapshot = StateTables(store).outbound(conn, account)
    timings["outbound.read"] = time.perf_counter() - t
    spec = ChannelSpec(name="joor", base_url="http://127.0.0.1:9")
    channel = channel_for(spec)
    t = time.perf_counter()
    selection = select_items(snapshot, "joor", "auto", pl.DataFrame(schema=ACKNOWLEDGED_SCHEMA))
    batches = plan_batches(
        selection.to_send(),
        "joor",
        account,
        "update",
        False,
        max_items=items_per_batch("joor", spec.batch_items),
        max_bytes=spec.batch_bytes,
        item_text=channel.item_text(),
        envelope_bytes=channel.envelope_bytes,
    )
    timings["outbound.select"] = time.perf_counter() - t
    timings["outbound.batches"] = len(batches)
    t = time.perf_counter()
    export_tables(snapshot)
    timings["outbound.render"] = time.perf_counter() - t
    folder = paths.exports() / "full-export"
    t = time.perf_counter()
    for (code,), _rows in snapshot.group_by(["warehouse_code"]):
        export_warehouse(store, paths, account, code, folder)
    timings["outbound.export_full"] = time.perf_counter() - t
    frames = []
    for _key, rows in sorted_for_export(snapshot).group_by(["warehouse_code"], maintain_order=True):
        frames += [kind_frame(kind, kind_rows(kind, rows, "auto"), "auto") for kind in EXPORT_KINDS]
    floor = paths.exports() / "floor"
    floor.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    for n, frame in enumerate(frames):
        frame.write_csv(floor / f"{n}.csv")
    timings["outbound.write_csv_floor"] = time.perf_counter() - t


def run_child(cfg: dict) -> tuple[dict, float]:
    """Run one backend in a fresh process; returns its timings and its peak RSS in MB (measured by the
    child itself: RUSAGE_CHILDREN would report the largest of every child so far, not this one's)."""
    out = subprocess.run([sys.executable, __file__, "--child", json.dumps(cfg)], capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"the benchmark run failed:\n{out.stderr[-4000:]}")
    timings = json.loads(out.stdout.strip().splitlines()[-1])
    return timings, timings.pop("peak_rss_mb")


def run_cli(url: str, inbox: Path, names: list[str], env: dict) -> dict:
    """The same files through `python -m pipelines replay`, one file added to the inbox per call."""
    timings = {}
    local = inbox.parent / "cli-inbox"
    local.mkdir()
    for name in names:
        shutil.copy(inbox / name, local / name)
        t = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "pipelines", "replay", str(local), "--store", url],
            check=True,
            capture_output=True,
            env=env,
            cwd=Path(__file__).resolve().parents[1],
        )
        timings[name] = time.perf_counter() - t
    return timings


# -- the floors ------------------------------------------------------------------------------------


def floor_sftp(sshd, remote: Path, scratch: Path) -> float:
    batch = scratch / "get.batch"
    batch.write_text(f'get "{remote}" "{scratch / "floor.csv"}"\n')
    cmd = [
        "sftp",
        "-q",
        "-b",
        str(batch),
        "-o",
        f"UserKnownHostsFile={sshd.known_hosts}",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        "IdentitiesOnly=yes",
        "-i",
        str(sshd.client_key_file),
        "-P",
        str(sshd.port),
        f"{sshd.user}@{sshd.host}",
    ]
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def floor_read_csv(path: Path) -> float:
    t = time.perf_counter()
    pl.read_csv(path, infer_schema=False)
    return time.perf_counter() - t


def state_rows(path: Path) -> pl.DataFrame:
    """The file as inventory table rows (what the store ends up holding)."""
    return pl.read_csv(path, infer_schema=False).select(
        pl.lit("default").alias("account"),
        "warehouse_code",
        "style_number",
        "style_identifier",
        "color_code",
        "size_name",
        pl.col("quantity").cast(pl.Int64).alias("on_hand"),
        pl.lit(0).alias("pending"),
        pl.col("quantity").cast(pl.Int64).alias("ats"),
        pl.lit(None, pl.Date).alias("available_date"),
    )


INVENTORY_DDL = """CREATE TABLE {name} (account VARCHAR(100) NOT NULL, warehouse_code VARCHAR(100) NOT NULL,
 style_number VARCHAR(100) NOT NULL, style_identifier VARCHAR(100) NOT NULL, color_code VARCHAR(100) NOT NULL,
 size_name VARCHAR(100) NOT NULL, on_hand BIGINT NOT NULL, pending BIGINT NOT NULL, ats BIGINT NOT NULL,
 available_date DATE, PRIMARY KEY (account, warehouse_code, style_number, style_identifier, color_code, size_name))"""
KEYS = "account, warehouse_code, style_number, style_identifier, color_code, size_name"


def floor_sqlite(rows: pl.DataFrame, scratch: Path, changed: pl.DataFrame | None = None) -> float:
    """One raw executemany INSERT of every row into an empty table (or, given `changed`, one
    upsert of those rows into a table already holding `rows`), one transaction, our pragmas."""
    path = scratch / ("floor.db" if changed is None else "floor-delta.db")
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(INVENTORY_DDL.format(name="inventory"))
    sql = "INSERT INTO inventory VALUES (?,?,?,?,?,?,?,?,?,?)"
    if changed is not None:
        db.execute("BEGIN")
        db.executemany(sql, rows.rows())
        db.execute("COMMIT")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        sql += (
            f" ON CONFLICT ({KEYS}) DO UPDATE SET on_hand = excluded.on_hand, pending = excluded.pending, "
            "ats = excluded.ats, available_date = excluded.available_date"
        )
    params = (rows if changed is None else changed).rows()
    t = time.perf_counter()
    db.execute("BEGIN IMMEDIATE")
    db.executemany(sql, params)
    db.execute("COMMIT")
    elapsed = time.perf_counter() - t
    db.close()
    return elapsed


def floor_postgres(rows: pl.DataFrame, url: str, changed: pl.DataFrame | None = None) -> float:
    """One COPY of every row into an empty copy of the inventory table, partitioned like ours by
    account then warehouse (or, given `changed`: COPY those rows into a staging table and one
    MERGE into a table already holding all `rows`)."""
    import io

    import psycopg

    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo) as conn:
        if changed is None:
            conn.execute(INVENTORY_DDL.format(name="floor_inventory") + " PARTITION BY LIST (account)")
            conn.execute(
                "CREATE TABLE floor_inventory_a PARTITION OF floor_inventory FOR VALUES IN ('default') "
                "PARTITION BY LIST (warehouse_code)"
            )
            for n, code in enumerate(rows.get_column("warehouse_code").unique().sort()):
                conn.execute(
                    f"CREATE TABLE floor_inventory_a_{n} PARTITION OF floor_inventory_a FOR VALUES IN ('{code}')"
                )
            conn.commit()
            buf = io.BytesIO()
            rows.write_csv(buf, include_header=False)
            t = time.perf_counter()
            with conn.cursor() as cur, cur.copy("COPY floor_inventory FROM STDIN (FORMAT csv)") as copy:
                copy.write(buf.getvalue())
            conn.commit()
            elapsed = time.perf_counter() - t
            conn.execute("DROP TABLE floor_inventory")
            conn.commit()
            return elapsed
        conn.execute(INVENTORY_DDL.format(name="floor_inventory"))
        buf = io.BytesIO()
        rows.write_csv(buf, include_header=False)
        with conn.cursor() as cur, cur.copy("COPY floor_inventory FROM STDIN (FORMAT csv)") as copy:
            copy.write(buf.getvalue())
        conn.execute("ANALYZE floor_inventory")
        conn.commit()
        changed_csv = io.BytesIO()
        changed.write_csv(changed_csv, include_header=False)
        t = time.perf_counter()
        with conn.cursor() as cur:
            cur.execute("CREATE TEMP TABLE stage (LIKE floor_inventory) ON COMMIT DROP")
            with cur.copy("COPY stage FROM STDIN (FORMAT csv)") as copy:
                copy.write(changed_csv.getvalue())
            on = " AND ".join(f"t.{k} = s.{k}" for k in KEYS.split(", "))
            cur.execute(
                f"MERGE INTO floor_inventory t USING stage s ON {on} WHEN MATCHED THEN UPDATE SET "
                "on_hand = s.on_hand, pending = s.pending, ats = s.ats, available_date = s.available_date "
                "WHEN NOT MATCHED THEN INSERT VALUES (s.account, s.warehouse_code, s.style_number, "
                "s.style_identifier, s.color_code, s.size_name, s.on_hand, s.pending, s.ats, s.available_date)"
            )
        conn.commit()
        elapsed = time.perf_counter() - t
        conn.execute("DROP TABLE floor_inventory")
        conn.commit()
    return elapsed


def dlt_load(path: Path, url: str) -> float | str:
    """dlt loading the same file into the same PostgreSQL, merge on (warehouse_code, upc)."""
    try:
        import dlt
    except ImportError:
        return "dlt not installed (pip install -e '.[bench]')"
    # dlt insists on a password; the throwaway cluster trusts local connections and ignores it.
    conninfo = url.replace("postgresql+psycopg://postgres@", "postgresql://postgres:unused@")
    os.environ["RUNTIME__LOG_LEVEL"] = "WARNING"
    pipeline = dlt.pipeline(
        pipeline_name="bench_million",
        destination=dlt.destinations.postgres(conninfo),
        dataset_name="dlt_bench",
        pipelines_dir=str(path.parent / "dlt"),
    )
    frame = pl.read_csv(path, infer_schema=False).with_columns(pl.col("quantity").cast(pl.Int64))
    t = time.perf_counter()
    pipeline.run(
        frame.to_arrow(), table_name="inventory", write_disposition="merge", primary_key=("warehouse_code", "upc")
    )
    return time.perf_counter() - t


# -- the report ---------------------------------------------------------------------------------------


def report(backend: str, t: dict, peak_mb: float, rows: dict, floors: dict) -> None:
    n = rows[FULL]
    overhead = t["imports"] + t["store_open"] + t["sftp_connect"] + t["noop_fold"]
    floor_db = floors[f"db_{backend}"]
    full = {p: t[f"full.{p}"] for p in ("land", "parse", "fold", "export")}
    total = sum(full.values())
    delta = sum(t[f"delta.{p}"] for p in ("land", "parse", "fold", "export"))
    late_before = t["late_before.fold"]
    late_after = t["late_after.fold"]
    floor_total = floors["sftp_get"] + floors["read_csv"] + floor_db
    print(
        f"\n== {backend}: {n:,} rows, peak RSS {peak_mb:,.0f} MB, fixed overhead per run {overhead:.2f} s "
        f"(imports {t['imports']:.2f}, store open {t['store_open']:.2f}, SFTP connect {t['sftp_connect']:.2f}, "
        f"fold with nothing new {t['noop_fold']:.2f})"
    )
    print(
        f"  catalog ({rows[CATALOG[1]]:,} SKUs): land+parse+fold {sum(t[f'styles.{p}'] for p in ('land', 'parse', 'fold')):.2f} s"
    )
    for phase, floor_name, floor in (
        ("land", "OpenSSH sftp get", floors["sftp_get"]),
        ("parse", "polars read_csv", floors["read_csv"]),
        ("fold", "DB floor", floor_db),
        ("export", None, None),
    ):
        ratio = f"{full[phase] / floor:5.2f}× {floor_name} ({floor:.2f} s)" if floor else ""
        print(f"  full {phase:<6} {full[phase]:6.2f} s {n / full[phase]:>12,.0f} rows/s  {ratio}")
    print(
        f"  full total  {total:6.2f} s  = {total / floor_total:.2f}× the floors ({floor_total:.2f} s; target ≤ 2×); "
        f"without exports {(total - full['export']) / floor_total:.2f}×; peak RSS of the full file's run "
        f"{t['full.peak_rss_mb']:,.0f} MB (target ≤ 1,024; the whole benchmark run, re-folds included: {peak_mb:,.0f} MB)"
    )
    print(
        f"  outbound: read from the store {t['outbound.read']:.2f} s; push selection "
        f"({t['outbound.batches']:,} batches) {t['outbound.select']:.2f} s vs rendering the export files "
        f"{t['outbound.render']:.2f} s = {t['outbound.select'] / t['outbound.render']:.2f}× (target ≤ 1×); "
        f"full export {t['outbound.export_full']:.2f} s vs polars write_csv of the same rows "
        f"{t['outbound.write_csv_floor']:.2f} s = {t['outbound.export_full'] / t['outbound.write_csv_floor']:.2f}× "
        "(target ≤ 2×)"
    )
    print(
        f"  delta (1%)  {delta:6.2f} s  = {100 * delta / total:.1f}% of the full file "
        f"(land {t['delta.land']:.2f}, parse {t['delta.parse']:.2f}, fold {t['delta.fold']:.2f}, "
        f"export {t['delta.export']:.2f}: {t['delta.rows_rendered']:,} lines rendered of "
        f"{t['full.rows_rendered']:,})"
    )
    delta_floor = floors["delta_sftp_get"] + floors["delta_read_csv"] + floors[f"delta_db_{backend}"]
    print(
        f"  delta floors {delta_floor:.2f} s (sftp get {floors['delta_sftp_get']:.2f}, read_csv "
        f"{floors['delta_read_csv']:.2f}, {rows[DELTA]:,}-row upsert into the full table "
        f"{floors[f'delta_db_{backend}']:.2f}): delta = {delta / delta_floor:.2f}× its floors (target ≤ 1.5×); "
        f"the floors alone are {100 * delta_floor / total:.1f}% of the full file"
    )
    print(
        f"  late file after the overwrite: fold {late_after:.2f} s ({t['late_after.refolded_files']} files "
        f"re-applied); before it: fold {late_before:.2f} s ({t['late_before.refolded_files']} files re-applied)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--warehouses", type=int, default=5)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--mode", choices=["adapters", "cli"], default="adapters")
    parser.add_argument("--no-dlt", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return 0

    from tests.integration.postgres_server import create_database, start_postgres
    from tests.integration.sshd_server import start_sshd

    backends = args.backends.split(",")
    scratch = Path(tempfile.mkdtemp(prefix="stockdrop-bench-"))
    scratch.chmod(0o755)  # sshd's login user and the postgres user must reach their folders inside
    sshd = start_sshd(scratch / "sshd")
    pg = start_postgres(scratch / "pg") if "postgresql" in backends else None
    try:
        inbox = sshd.folder("inbox")
        rows = generate(inbox, args.rows, args.warehouses)
        for f in inbox.iterdir():
            sshd.give_to_user(f)
        size_mb = (inbox / FULL).stat().st_size / 1e6
        print(
            f"files: {rows[FULL]:,}-row inventory ({size_mb:.0f} MB) over {args.warehouses} warehouses, "
            f"{rows[CATALOG[1]]:,} SKUs, delta {rows[DELTA]:,} rows"
        )
        floors = {
            "sftp_get": min(floor_sftp(sshd, inbox / FULL, scratch) for _ in range(2)),
            "read_csv": min(floor_read_csv(inbox / FULL) for _ in range(2)),
        }
        table_rows, delta_rows = state_rows(inbox / FULL), state_rows(inbox / DELTA)
        floors["db_sqlite"] = floor_sqlite(table_rows, scratch)
        floors["delta_sftp_get"] = min(floor_sftp(sshd, inbox / DELTA, scratch) for _ in range(2))
        floors["delta_read_csv"] = min(floor_read_csv(inbox / DELTA) for _ in range(2))
        floors["delta_db_sqlite"] = floor_sqlite(table_rows, scratch, delta_rows)
        if pg:
            floors["db_postgresql"] = floor_postgres(table_rows, create_database(pg, "floor"))
            floors["delta_db_postgresql"] = floor_postgres(table_rows, create_database(pg, "floor"), delta_rows)
        del table_rows, delta_rows
        print("floors: " + ", ".join(f"{k} {v:.2f} s" for k, v in floors.items()))
        results = {}
        for backend in backends:
            url = f"sqlite:///{scratch / backend / 'stockdrop.db'}" if backend == "sqlite" else create_database(pg)
            if args.mode == "cli":
                env = {**os.environ, "STOCKDROP_STORE_URL": url}
                order = [*CATALOG, FULL, DELTA, LATE_AFTER, LATE_BEFORE]
                timings = run_cli(url, inbox, order, env)
                print(
                    f"\n== {backend} via `python -m pipelines replay`: "
                    + ", ".join(f"{k} {v:.2f} s" for k, v in timings.items())
                )
                continue
            cfg = {
                "url": url,
                "data": str(scratch / backend / "data"),
                "inbox": str(inbox),
                "host": sshd.host,
                "port": sshd.port,
                "user": sshd.user,
                "known_hosts": str(sshd.known_hosts),
                "key": str(sshd.client_key_file),
            }
            timings, peak = run_child(cfg)
            results[backend] = timings
            report(backend, timings, peak, rows, floors)
        if pg and not args.no_dlt and "postgresql" in results:
            dlt_s = dlt_load(inbox / FULL, create_database(pg, "dlt"))
            if isinstance(dlt_s, str):
                print(f"\ndlt: {dlt_s}")
            else:
                ours = sum(results["postgresql"][f"full.{p}"] for p in ("land", "parse", "fold"))
                print(
                    f"\ndlt merge load of the same file: {dlt_s:.2f} s; ours (SFTP+parse+fold, PostgreSQL) "
                    f"{ours:.2f} s = {ours / dlt_s:.2f}× dlt's time"
                )
    finally:
        if pg:
            pg.stop()
        sshd.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
