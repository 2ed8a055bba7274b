"""Identifiers stored before v1.2 are re-keyed to Unicode NFC (drops.md v1.2: identifiers are
compared and stored in NFC; the gate has normalised every file read since).

The state tables are a projection of an account's files, so an account that holds an identifier
in another form is rebuilt rather than edited (two stored SKUs that become one merge exactly as
they would have had the files been read in NFC from the start: contract order decides):

1. its parsed rows (the Parquet files the fold reads) get their identifiers in NFC;
2. its fold steps are dropped (and their before-images, which hold the old forms): the next fold
   of the account (the next sync or replay, or materializing `inventory_state`) starts from its
   first file and writes the difference, which replaces every old-form row;
3. the channel ledger's last acknowledged values are re-keyed (where two become one, the latest
   acknowledged stands), so a channel is sent only what really changed.

Accounts whose identifiers are all NFC are left alone; only non-ASCII values are looked at (an
ASCII text is NFC), so a store of ASCII codes is migrated by a handful of scans.
"""

import os
import shutil
import unicodedata
from pathlib import Path

import polars as pl
from yoyo import step

__depends__ = {"009_alerts"}

SKU = ["style_number", "style_identifier", "color_code", "size_name"]
IDENTIFIERS = {
    "warehouses": ["warehouse_code"],
    "linesheets": ["linesheet_code"],
    "items": [*SKU, "upc", "style_id", "style_color_id", "size_code", "inventory_item_id"],
    "inventory": ["warehouse_code", *SKU],
    "order_lines": ["order_id", "warehouse_code", "linesheet_code", *SKU],
}
PARSED_IDENTIFIERS = sorted({c for cols in IDENTIFIERS.values() for c in cols})
LEDGER_KEY = ["channel", "account", "warehouse_code", *SKU]


def _nfc(value):
    return unicodedata.normalize("NFC", value) if isinstance(value, str) else value


class _Db:
    """The migration's DBAPI connection, written once for both backends' parameter styles."""

    def __init__(self, conn):
        self.conn = conn
        self.sqlite = "sqlite" in type(conn).__module__ or "sqlite" in repr(conn)

    def rows(self, sql, params=()):
        cursor = self.conn.cursor()
        cursor.execute(sql if self.sqlite else sql.replace("?", "%s"), params)
        return cursor.fetchall()

    def run(self, sql, params=()):
        cursor = self.conn.cursor()
        cursor.execute(sql if self.sqlite else sql.replace("?", "%s"), params)

    def non_ascii(self, column):
        return f"{column} GLOB '*[^ -~]*'" if self.sqlite else f"{column} ~ '[^ -~]'"


def _accounts_to_rebuild(db):
    accounts = set()
    for table, columns in IDENTIFIERS.items():
        for column in columns:
            for account, value in db.rows(
                f"SELECT DISTINCT account, {column} FROM {table} WHERE {db.non_ascii(column)}"
            ):
                if _nfc(value) != value:
                    accounts.add(account)
    return accounts


def _rewrite_parsed_rows(db, account):
    for (path,) in db.rows(
        "SELECT events_path FROM drop_files WHERE account = ? AND events_path IS NOT NULL", (account,)
    ):
        if not Path(path).is_file():
            continue
        rows = pl.read_parquet(path)
        present = [c for c in PARSED_IDENTIFIERS if c in rows.columns and rows.schema[c] == pl.String]
        normalised = rows.with_columns(pl.col(c).str.normalize("NFC") for c in present)
        if normalised.equals(rows):
            continue
        temporary = f"{path}.nfc"
        normalised.write_parquet(temporary)
        os.replace(temporary, path)


def _drop_fold_steps(db, account):
    for (images,) in db.rows("SELECT images_path FROM fold_steps WHERE account = ?", (account,)):
        shutil.rmtree(images, ignore_errors=True)
    db.run("DELETE FROM fold_steps WHERE account = ?", (account,))


def _rekey_ledger(db, account):
    columns = ", ".join(["inventory", "inventory_date", "idempotency_key", "acknowledged_at"])
    rows = db.rows(f"SELECT {', '.join(LEDGER_KEY)}, {columns} FROM pushed_items WHERE account = ?", (account,))
    if not any(_nfc(v) != v for r in rows for v in r[2 : len(LEDGER_KEY)]):
        return
    latest = {}
    for r in sorted(rows, key=lambda r: str(r[-1])):  # by acknowledged_at: the latest stands
        latest[tuple(_nfc(v) for v in r[: len(LEDGER_KEY)])] = r[len(LEDGER_KEY) :]
    db.run("DELETE FROM pushed_items WHERE account = ?", (account,))
    marks = ", ".join("?" * (len(LEDGER_KEY) + 4))
    for key, values in latest.items():
        db.run(f"INSERT INTO pushed_items ({', '.join(LEDGER_KEY)}, {columns}) VALUES ({marks})", (*key, *values))


def rekey(conn):
    db = _Db(conn)
    for account in sorted(_accounts_to_rebuild(db)):
        _rewrite_parsed_rows(db, account)
        _rekey_ledger(db, account)
        _drop_fold_steps(db, account)


steps = [step(rekey)]
