"""The state tables (warehouses, linesheets, items, inventory, order_lines): the account's state of record.

Reads return the domain's frames (`fold.FRAME_SCHEMAS`, SKUs as one `item_key`); what a fold
reads is chosen by key, through key tables staged in the database and joined in SQL
(`store_bulk.stage`), so reading the rows a file touches costs those rows, not the table (a
catalog-wide file's items, too many keys to probe, are one scan instead: `items_matching`).
Writes go through `SqlStore.sync_table` (only the rows that differ).
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import polars as pl
import sqlalchemy as sa

from pipelines.adapters.store import TABLE_LAYOUT, SqlStore
from pipelines.adapters.store_bulk import quote, stage
from pipelines.domain.fold import FRAME_SCHEMAS, FoldState
from pipelines.domain.guard import TOTALS_SCHEMA
from pipelines.domain.item_keys import SKU_COLUMNS, item_key_expr, split_item_key
from pipelines.domain.outbound import available_date_in_force

# Reading rows by staged keys costs about this many times a row read in a plain scan.
SCAN_OVER_PROBE = 8
# Rows a large SQLite read turns into Python objects at a time.
READ_SLICE_ROWS = 100_000
OUTBOUND_ITEM_COLUMNS = (
    "upc",
    "style_id",
    "style_color_id",
    "color_name",
    "size_code",
    "created_by",
    "skip_push",
    "skip_joor",
    "inventory_item_id",
)
OUTBOUND_SCHEMA = {
    "warehouse_code": pl.String,
    "warehouse_type": pl.String,
    "warehouse_available_date": pl.Date,
    **{c: pl.String for c in SKU_COLUMNS},
    "on_hand": pl.Int64,
    "pending": pl.Int64,
    "ats": pl.Int64,
    "available_date": pl.Date,
    **{c: pl.Boolean if c.startswith("skip_") else pl.String for c in OUTBOUND_ITEM_COLUMNS},
}


def table_columns(name: str) -> list[str]:
    keys, values = TABLE_LAYOUT[name]
    return keys + values


def to_frame(rows: Sequence[Sequence], columns: list[str], schema: dict) -> pl.DataFrame:
    """Rows from a DBAPI cursor as a typed frame, built column by column (`typed` converts)."""
    return typed(
        pl.DataFrame([pl.Series(c, [r[i] for r in rows], strict=False) for i, c in enumerate(columns)]), schema
    )


def typed(raw: pl.DataFrame, schema: dict) -> pl.DataFrame:
    """A frame as read (PostgreSQL's CSV as text; SQLite's dates and timestamps as the text
    SQLAlchemy stores, booleans as 0/1), in the domain's types, converted column-wise."""
    out = []
    for c in raw.columns:
        dtype, s = schema.get(c, pl.String), raw.get_column(c)
        if dtype == pl.Boolean:
            s = _boolean(s)
        elif dtype == pl.Date:
            s = s.cast(pl.String).str.to_date("%Y-%m-%d")
        elif isinstance(dtype, pl.Datetime):
            s = s.cast(pl.String).str.to_datetime("%Y-%m-%d %H:%M:%S%.f", time_unit="us")
        else:
            s = s.cast(dtype)
        out.append(s.alias(c))
    return pl.DataFrame(out)


def _boolean(s: pl.Series) -> pl.Series:
    text = s.cast(pl.String)
    return pl.select(pl.when(text.is_null()).then(None).otherwise(text.is_in(["t", "1", "true"]))).to_series()


def from_table(name: str, frame: pl.DataFrame) -> pl.DataFrame:
    """Table columns → the domain frame: the SKU columns become one `item_key`."""
    if set(SKU_COLUMNS) <= set(frame.columns):
        frame = frame.with_columns(item_key_expr().alias("item_key"))
    schema = FRAME_SCHEMAS[name]
    return frame.select(list(schema)).cast(schema)


def _table_keys(name: str, keys: pl.DataFrame) -> pl.DataFrame:
    """Domain keys (`item_key`) → the table's key columns."""
    if "item_key" in keys.columns:
        keys = split_item_key(keys).drop("item_key")
    return keys


class StateTables:
    """Repository of one store's state tables."""

    def __init__(self, store: SqlStore):
        self.store = store

    def _select(self, conn: sa.Connection, name: str, where: str, params: tuple, before: str = "") -> pl.DataFrame:
        """Rows of table `name` (as `t`); `before` names tables joined ahead of it. They are
        CROSS JOINed, conditions in `where`: SQLite then loops over them in the order written
        (the staged keys outside, the table probed by its index), and PostgreSQL plans as usual."""
        columns = table_columns(name)
        select = ", ".join(f"t.{quote(c)}" for c in columns)
        source = f"{before} CROSS JOIN {quote(name)} AS t" if before else f"{quote(name)} AS t"
        with self._by_key(conn, bool(before)):
            rows = conn.exec_driver_sql(f"SELECT DISTINCT {select} FROM {source} WHERE {where}", params).fetchall()
        return from_table(name, to_frame(rows, columns, dict(FRAME_SCHEMAS[name])))

    def _read_all(self, conn: sa.Connection, sql: str, params: tuple, columns: list[str], schema: dict) -> pl.DataFrame:
        """A large read: PostgreSQL COPYs the query out as CSV straight into polars; SQLite has no
        bulk reader we could trust here (ADBC's SQLite driver missed rows in WAL mode), so its
        rows come through the DBAPI cursor, a slice at a time built into columns: a million rows
        never exist as Python tuples all at once (≈1 GB for the export snapshot's 19 columns)."""
        if self.store.dialect != "postgresql":
            # The sqlite3 cursor itself: SQLAlchemy's row objects would add ≈20% to a million rows.
            cursor = conn.connection.driver_connection.cursor()
            try:
                cursor.execute(sql, params)
                slices = [
                    to_frame(rows, columns, schema) for rows in iter(lambda: cursor.fetchmany(READ_SLICE_ROWS), [])
                ]
            finally:
                cursor.close()
            return pl.concat(slices, rechunk=True) if slices else to_frame([], columns, schema)
        buffer = io.BytesIO()
        with (
            conn.connection.driver_connection.cursor() as cur,
            cur.copy(f"COPY ({sql}) TO STDOUT (FORMAT csv)", params) as copy,
        ):
            for data in copy:
                buffer.write(data)
        if not buffer.getvalue():
            return pl.DataFrame(schema={c: schema.get(c, pl.String) for c in columns})
        raw = pl.read_csv(
            buffer.getvalue(), has_header=False, new_columns=columns, schema=dict.fromkeys(columns, pl.String)
        )
        return typed(raw, schema)

    @contextmanager
    def _by_key(self, conn: sa.Connection, staged: bool) -> Iterator[None]:
        """On PostgreSQL, a read joined with staged keys probes the table by its primary key: with
        hash and merge joins off for that one statement, the planner cannot choose to scan every
        row of a large partition to meet a few thousand keys (what made a 10k-row update cost 4×
        more on a 10M-row store than on a 200k-row one)."""
        if not staged or self.store.dialect != "postgresql":
            yield
            return
        conn.exec_driver_sql("SET LOCAL enable_hashjoin = off")
        conn.exec_driver_sql("SET LOCAL enable_mergejoin = off")
        try:
            yield
        finally:
            conn.exec_driver_sql("SET LOCAL enable_hashjoin = on")
            conn.exec_driver_sql("SET LOCAL enable_mergejoin = on")

    def _param(self, conn: sa.Connection) -> str:
        return "?" if self.store.dialect == "sqlite" else "%s"

    def whole(self, conn: sa.Connection, name: str, account: str) -> pl.DataFrame:
        """Every row of the account in table `name`."""
        columns = table_columns(name)
        select = ", ".join(f"t.{quote(c)}" for c in columns)
        sql = f"SELECT {select} FROM {quote(name)} AS t WHERE t.account = {self._param(conn)}"
        return from_table(name, self._read_all(conn, sql, (account,), columns, dict(FRAME_SCHEMAS[name])))

    def matching(self, conn: sa.Connection, name: str, account: str, values: pl.DataFrame) -> pl.DataFrame:
        """The account's rows of `name` whose columns equal one row of `values` (domain keys allowed)."""
        values = _table_keys(name, values).unique()
        if not values.height:
            return pl.DataFrame(schema=FRAME_SCHEMAS[name])
        p = self._param(conn)
        on = " AND ".join(f"t.{quote(c)} = s.{quote(c)}" for c in values.columns)
        with stage(conn, values) as staged:
            return self._select(conn, name, f"{on} AND t.account = {p}", (account,), f"{staged} AS s")

    def items_matching(self, conn: sa.Connection, account: str, wanted: Sequence[pl.DataFrame]) -> pl.DataFrame:
        """The account's items equal to one row of any frame of `wanted` (key-set values or
        `item_key`s), each item once. A probe by staged key costs ≈10× reading a row in a scan,
        so when the keys are many next to the account's items (a catalog-wide file), the items
        are read whole once and filtered here instead."""
        keys = sum(values.height for values in wanted)
        if keys and not self.more_rows_than(conn, "items", account, keys * SCAN_OVER_PROBE):
            every = self.whole(conn, "items", account)
            found = [every.join(values.unique(), on=values.columns, how="semi") for values in wanted if values.height]
        else:
            found = [self.matching(conn, "items", account, values) for values in wanted]
        if not found:
            return pl.DataFrame(schema=FRAME_SCHEMAS["items"])
        return pl.concat(found).unique("item_key", keep="first", maintain_order=True)

    def more_rows_than(self, conn: sa.Connection, name: str, account: str, limit: int) -> bool:
        """Whether the account has more than `limit` rows in table `name` (counting stops there,
        so the answer costs `limit` rows, not the table)."""
        p = self._param(conn)
        sql = f"SELECT count(*) FROM (SELECT 1 FROM {quote(name)} WHERE account = {p} LIMIT {p}) AS t"
        return conn.exec_driver_sql(sql, (account, limit + 1)).scalar_one() > limit

    def inventory_of_skus(self, conn: sa.Connection, account: str, item_keys: pl.Series) -> pl.DataFrame:
        """Every inventory row of these SKUs, in any of the account's warehouses (by primary key)."""
        skus = _table_keys("inventory", item_keys.unique().to_frame("item_key"))
        if not skus.height:
            return pl.DataFrame(schema=FRAME_SCHEMAS["inventory"])
        p = self._param(conn)
        on = " AND ".join(f"t.{quote(c)} = s.{quote(c)}" for c in SKU_COLUMNS)
        with stage(conn, skus) as staged:
            return self._select(
                conn,
                "inventory",
                f"w.account = {p} AND t.account = {p} AND t.warehouse_code = w.warehouse_code AND {on}",
                (account, account),
                f"{staged} AS s CROSS JOIN warehouses AS w",
            )

    def inventory_of_warehouses(self, conn: sa.Connection, account: str, codes: Sequence[str]) -> pl.DataFrame:
        return self.matching(
            conn,
            "inventory",
            account,
            pl.DataFrame({"warehouse_code": list(codes)}, schema={"warehouse_code": pl.String}),
        )

    def due_lines(self, conn: sa.Connection, account: str, due_by) -> pl.DataFrame:
        """Pre-book lines waiting to claim whose start is on or before `due_by`."""
        p = self._param(conn)
        return self._select(
            conn,
            "order_lines",
            f"t.account = {p} AND t.claim_due = {p} AND t.prebook_start <= {p}",
            (account, True, due_by.date() if self.store.dialect != "sqlite" else due_by.strftime("%Y-%m-%d")),
        )

    def outbound(
        self, conn: sa.Connection, account: str, warehouse_code: str | None = None, item_keys: pl.Series | None = None
    ) -> pl.DataFrame:
        """What exports and pushes are made from, read from the tables: one row per (warehouse, SKU)
        with its item and warehouse, the available_date in force (`EXPORT_SNAPSHOT_SCHEMA` plus
        `inventory_item_id`); optionally one warehouse, optionally only some SKUs. Unordered."""
        p = self._param(conn)
        columns = [
            "t.warehouse_code",
            "w.type",
            "w.available_date",
            *(f"t.{quote(c)}" for c in SKU_COLUMNS),
            "t.on_hand",
            "t.pending",
            "t.ats",
            "t.available_date",
            *(f"i.{quote(c)}" for c in OUTBOUND_ITEM_COLUMNS),
        ]
        sku_join = " AND ".join(f"i.{quote(c)} = t.{quote(c)}" for c in SKU_COLUMNS)
        where = [
            f"t.account = {p}",
            f"i.account = {p}",
            sku_join,
            f"w.account = {p}",
            "w.warehouse_code = t.warehouse_code",
        ]
        params = [account, account, account]
        if warehouse_code is not None:
            where.append(f"t.warehouse_code = {p}")
            params.append(warehouse_code)

        def read(staged: str | None = None) -> pl.DataFrame:
            # CROSS JOINs with the conditions in WHERE: SQLite loops in the order written (staged
            # SKUs, then inventory by key, then the item and the warehouse by primary key).
            source = "inventory AS t CROSS JOIN items AS i CROSS JOIN warehouses AS w"
            conditions = where
            if staged:
                source = f"{staged} AS s CROSS JOIN {source}"
                conditions = [*where, *(f"t.{quote(c)} = s.{quote(c)}" for c in SKU_COLUMNS)]
            named = ", ".join(f"{c} AS {quote(n)}" for c, n in zip(columns, OUTBOUND_SCHEMA, strict=True))
            sql = f"SELECT {named} FROM {source} WHERE {' AND '.join(conditions)}"
            if not staged:  # a whole account or warehouse: the bulk path
                return self._read_all(conn, sql, tuple(params), list(OUTBOUND_SCHEMA), OUTBOUND_SCHEMA)
            rows = conn.exec_driver_sql(sql, tuple(params)).fetchall()
            return to_frame(rows, list(OUTBOUND_SCHEMA), OUTBOUND_SCHEMA)

        if item_keys is None:
            frame = read()
        else:
            with (
                stage(conn, _table_keys("inventory", item_keys.unique().to_frame("item_key"))) as staged,
                self._by_key(conn, True),
            ):
                frame = read(staged)
        return frame.select(
            pl.lit(account).alias("account"),
            "warehouse_code",
            "warehouse_type",
            *(
                c
                for c in OUTBOUND_SCHEMA
                if c not in ("warehouse_code", "warehouse_type", "warehouse_available_date", "available_date")
            ),
            available_date_in_force().alias("available_date"),
        )

    def totals(self, conn: sa.Connection, account: str) -> pl.DataFrame:
        """Per warehouse of the account: summed ats, rows stocked, rows (`domain.guard.totals`, in SQL)."""
        inv = self.store.t["inventory"]
        q = (
            sa.select(
                inv.c.warehouse_code,
                sa.func.coalesce(sa.func.sum(inv.c.ats), 0),
                sa.func.coalesce(sa.func.sum(sa.case((inv.c.on_hand > 0, 1), else_=0)), 0),
                sa.func.count(),
            )
            .where(inv.c.account == account)
            .group_by(inv.c.warehouse_code)
        )
        rows = [tuple(r) for r in conn.execute(q)]
        return pl.DataFrame(rows, schema=TOTALS_SCHEMA, orient="row")

    def whole_state(self, conn: sa.Connection, account: str) -> FoldState:
        return FoldState(**{name: self.whole(conn, name, account) for name in FoldState.FRAMES})
