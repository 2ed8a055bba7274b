"""Bulk writers: how one dialect writes an account's changed rows of a state table, set-based.

`SqlStore.sync_table` works out *what* changed (polars anti-joins); a writer here decides *how*
those rows reach the database, inside the caller's connection and transaction:

- SQLite: the DBAPI's own executemany (one prepared statement, tuples straight from polars), an
  `INSERT … ON CONFLICT DO UPDATE` for new and changed rows and a keyed DELETE for gone rows.
  SQLAlchemy's executemany costs ~2× the raw call on a million rows (parameter dicts per row).
- PostgreSQL: COPY of the changed rows (CSV written by polars) into a temporary staging table,
  then one `MERGE` into the table, and COPY + one `DELETE … USING` for gone keys: a constant
  number of round trips whatever the row count. The very first write of an account's rows
  COPYs straight into the table. `inventory` rows go to their warehouse's partition, which is
  made (if missing) just before the rows are written; see sql/postgresql/003_inventory_by_warehouse.sql.
"""

from __future__ import annotations

import io
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

import polars as pl
import sqlalchemy as sa

log = logging.getLogger(__name__)

# How long making a missing partition may wait for other runs' locks on `inventory` before the
# rows go to the account's DEFAULT partition instead (still correct, just not pruned).
PARTITION_LOCK_TIMEOUT = "10s"
# A write of at least this many rows refreshes the table's planner statistics (see _analyze_if_big):
# a first load from nothing, and a merge big enough to change the table's shape (a 1% delta
# into a million-row table is not: its ANALYZE would cost more than the merge).
ANALYZE_AFTER_ROWS = 10_000
ANALYZE_AFTER_MERGED_ROWS = 200_000
# Rows turned into parameters or CSV at a time.
CHUNK_ROWS = 100_000


class BulkWriter(Protocol):
    def prepare(self, conn: sa.Connection, account: str, warehouses: list[str]) -> None:
        """Get ready to write rows of these warehouses (before the transaction reads the table)."""

    def write(
        self,
        conn: sa.Connection,
        table: sa.Table,
        account: str,
        keys: list[str],
        upserts: pl.DataFrame,
        gone: pl.DataFrame,
    ) -> None:
        """Upsert `upserts` (key + value columns) and delete the `gone` keys of `account`'s rows."""


def writer_for(dialect: str) -> BulkWriter:
    if dialect == "postgresql":
        return PostgresBulkWriter()
    return SqliteBulkWriter()


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@contextmanager
def stage(conn: sa.Connection, values: pl.DataFrame) -> Iterator[str]:
    """A temporary table holding `values` (text columns) for the length of the block: how a read
    by many keys becomes one join in SQL instead of one query per key. COPY on PostgreSQL,
    executemany on SQLite."""
    name = f"stage_{uuid.uuid4().hex[:12]}"
    columns = ", ".join(f"{quote(c)} TEXT" for c in values.columns)
    conn.exec_driver_sql(f"CREATE TEMP TABLE {name} ({columns})")
    values = values.cast(pl.String)
    try:
        if conn.dialect.name == "postgresql":
            with conn.connection.driver_connection.cursor() as cur:
                buffer = io.BytesIO()
                values.write_csv(buffer, include_header=False)
                with cur.copy(f"COPY {name} FROM STDIN (FORMAT csv)") as copy:
                    copy.write(buffer.getbuffer())
            conn.exec_driver_sql(f"ANALYZE {name}")  # the planner's row estimate for the join
        else:  # SQLite loops in the order the reads write their CROSS JOINs: no statistics needed
            cursor = conn.connection.driver_connection.cursor()
            marks = ", ".join("?" * len(values.columns))
            cursor.executemany(f"INSERT INTO {name} VALUES ({marks})", values.iter_rows())
            cursor.close()
        yield name
    finally:
        conn.exec_driver_sql(f"DROP TABLE {name}")


class SqliteBulkWriter:
    """executemany on the sqlite3 connection, in the caller's transaction."""

    def prepare(self, conn, account, warehouses):
        pass  # one table: nothing to make

    def write(self, conn, table, account, keys, upserts, gone):
        cursor = conn.connection.driver_connection.cursor()
        try:
            if gone.height:
                where = " AND ".join(f"{quote(c)} = ?" for c in ["account", *keys])
                cursor.executemany(
                    f"DELETE FROM {quote(table.name)} WHERE {where}", _rows(_sqlite_values(table, gone), account)
                )
            if upserts.height:
                columns = ["account", *upserts.columns]
                values = [c for c in upserts.columns if c not in keys]
                update = ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in values)
                sql = (
                    f"INSERT INTO {quote(table.name)} ({', '.join(map(quote, columns))}) "
                    f"VALUES ({', '.join('?' * len(columns))}) "
                    f"ON CONFLICT ({', '.join(map(quote, ['account', *keys]))}) DO UPDATE SET {update}"
                )
                cursor.executemany(sql, _rows(_sqlite_values(table, upserts), account))
        finally:
            cursor.close()


def _rows(frame: pl.DataFrame, account: str):
    """Parameter tuples (account first), made column-wise (far cheaper than one dict per row) a
    slice at a time, so a first load of millions of rows never holds them all as Python objects."""
    for chunk in frame.iter_slices(CHUNK_ROWS):
        columns = [chunk.get_column(c).to_list() for c in chunk.columns]
        yield from zip([account] * chunk.height, *columns)


def _sqlite_values(table: sa.Table, frame: pl.DataFrame) -> pl.DataFrame:
    """Dates and timestamps as the text SQLAlchemy stores in SQLite, so its reads parse them back."""
    out = []
    for name, dtype in frame.schema.items():
        col = pl.col(name)
        if dtype == pl.Date:
            col = col.dt.strftime("%Y-%m-%d")
        elif dtype == pl.Datetime:
            col = col.dt.strftime("%Y-%m-%d %H:%M:%S%.6f")
        out.append(col)
    return frame.select(out)


class PostgresBulkWriter:
    """COPY into a staging table, then one MERGE / DELETE … USING, in the caller's transaction."""

    def __init__(self):
        self._partitioned: bool | None = None  # whether migration 003 has made `inventory` partitioned

    def prepare(self, conn, account, warehouses):
        """Make the warehouses' partitions now: once the caller's transaction has read `inventory`,
        its lock would make the partition DDL wait (and give up) until the transaction ends."""
        if self._inventory_partitioned(conn):
            ensure_inventory_partitions(conn, account, warehouses)

    def write(self, conn, table, account, keys, upserts, gone):
        raw = conn.connection.driver_connection
        name = quote(table.name)
        if table.name == "inventory" and upserts.height and self._inventory_partitioned(conn):
            ensure_inventory_partitions(conn, account, upserts.get_column("warehouse_code").unique().to_list())
        with raw.cursor() as cur:
            if gone.height:
                stage = _stage(cur, table.name, ["account", *keys])
                _copy(cur, stage, gone, account)
                on = " AND ".join(f"t.{quote(c)} = s.{quote(c)}" for c in ["account", *keys])
                cur.execute(f"DELETE FROM {name} AS t USING {stage} AS s WHERE {on}")
            if not upserts.height:
                return
            cur.execute(f"SELECT 1 FROM {name} WHERE account = %s LIMIT 1", (account,))
            if cur.fetchone() is None:  # the account's first rows: nothing to merge with
                _copy(cur, name, upserts, account)
                _analyze_if_big(cur, name, upserts.height)
                return
            columns = ["account", *upserts.columns]
            stage = _stage(cur, table.name, columns)
            _copy(cur, stage, upserts, account)
            on = " AND ".join(f"t.{quote(c)} = s.{quote(c)}" for c in ["account", *keys])
            values = [c for c in upserts.columns if c not in keys]
            cur.execute(
                f"MERGE INTO {name} AS t USING {stage} AS s ON {on} "
                f"WHEN MATCHED THEN UPDATE SET {', '.join(f'{quote(c)} = s.{quote(c)}' for c in values)} "
                f"WHEN NOT MATCHED THEN INSERT ({', '.join(map(quote, columns))}) "
                f"VALUES ({', '.join(f's.{quote(c)}' for c in columns)})"
            )
            _analyze_if_big(cur, name, upserts.height, ANALYZE_AFTER_MERGED_ROWS)

    def _inventory_partitioned(self, conn: sa.Connection) -> bool:
        if self._partitioned is None:
            self._partitioned = conn.execute(
                sa.text("SELECT EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass('inventory'))")
            ).scalar()
        return self._partitioned


def _analyze_if_big(cur, table: str, rows: int, threshold: int = ANALYZE_AFTER_ROWS) -> None:
    """Refresh the planner's statistics after a big write, in the same transaction.

    Autovacuum analyses a table only some time after a load; until then the planner takes a
    freshly filled table for nearly empty and joins it by nested loops (an export of 100k rows
    took minutes). ANALYZE samples a fixed number of rows, so it costs well under a second.
    """
    if rows >= threshold:
        cur.execute(f"ANALYZE {table}")


def _stage(cur, table: str, columns: list[str]) -> str:
    """A temporary table with `columns` of `table`, dropped at commit."""
    stage = f"stage_{table}_{uuid.uuid4().hex[:8]}"
    cur.execute(
        f"CREATE TEMP TABLE {stage} ON COMMIT DROP AS "
        f"SELECT {', '.join(map(quote, columns))} FROM {quote(table)} WITH NO DATA"
    )
    return stage


def _copy(cur, target: str, frame: pl.DataFrame, account: str) -> None:
    """COPY `frame` (with `account` in front) as CSV: polars writes null as an empty field and an
    empty string as "", which is exactly how PostgreSQL's CSV format tells them apart."""
    frame = frame.select(pl.lit(account).alias("account"), pl.all())
    columns = ", ".join(map(quote, frame.columns))
    with cur.copy(f"COPY {target} ({columns}) FROM STDIN (FORMAT csv)") as copy:
        for chunk in frame.iter_slices(CHUNK_ROWS):  # bounded memory whatever the row count
            buffer = io.BytesIO()
            chunk.write_csv(buffer, include_header=False)
            copy.write(buffer.getbuffer())


def ensure_inventory_partitions(conn: sa.Connection, account: str, warehouses: list[str]) -> None:
    """Make the (account, warehouse) partitions of `inventory` that do not exist yet.

    Partition DDL locks the whole `inventory` table, so it runs in its own short transaction on
    another connection rather than in the caller's (which would then hold that lock until its
    commit and block every other account's fold and every reader). If it cannot get the lock in
    time, the rows go to the account's DEFAULT partition: still correct, and moved into their
    own partition the next time it is made.
    """
    missing = (
        conn.execute(
            sa.text(
                "SELECT w FROM unnest(CAST(:ws AS text[])) AS w "
                "WHERE to_regclass(stockdrop_inventory_partition_name(:a, w)) IS NULL"
            ),
            {"a": account, "ws": warehouses},
        )
        .scalars()
        .all()
    )
    if not missing:
        return
    try:
        with conn.engine.connect() as ddl:
            ddl.exec_driver_sql(f"SET lock_timeout = '{PARTITION_LOCK_TIMEOUT}'")
            for warehouse in missing:
                ddl.execute(
                    sa.text("SELECT stockdrop_ensure_inventory_partition(:a, :w)"), {"a": account, "w": warehouse}
                )
                ddl.commit()
    except sa.exc.OperationalError as e:
        log.warning(
            "inventory partitions for account %r not made now (%s); rows go to its DEFAULT partition", account, e.orig
        )
