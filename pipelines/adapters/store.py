"""The SQL store (SQLAlchemy 2 Core): the file ledger, rejects and the state tables.

Every write of a fold goes through one transaction that first takes the account's lock, so two
runs for the same account never interleave and a crash leaves all of a fold's effect or none.
Bulk writes send only the rows that changed, through the dialect's bulk writer (store_bulk.py:
executemany on SQLite, COPY + MERGE on PostgreSQL) inside that transaction.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import polars as pl
import sqlalchemy as sa

from pipelines.adapters.store_bulk import writer_for
from pipelines.adapters.store_schema import create_engine, migrate
from pipelines.domain.catalog import DEFAULT_WAREHOUSE
from pipelines.domain.fold import FRAME_KEYS
from pipelines.domain.item_keys import SKU_COLUMNS, split_item_key
from pipelines.domain.outbound import available_date_in_force
from pipelines.domain.rewind import changed_rows

STATE_COLUMNS = ["account", "warehouse_code", "upc", *SKU_COLUMNS, "on_hand", "pending", "ats", "available_date"]
REJECT_COLUMNS = ["partner", "file", "line", "column", "value", "reason"]

# How each domain frame maps onto its table: key columns (besides account) and value columns.
TABLE_LAYOUT = {
    "warehouses": (["warehouse_code"], ["name", "type", "available_date", "is_default"]),
    "linesheets": (["linesheet_code"], ["name", "made_to_order", "inventory_policy"]),
    "items": (
        list(SKU_COLUMNS),
        [
            "style_id",
            "style_color_id",
            "color_name",
            "size_code",
            "upc",
            "continue_selling",
            "created_by",
            "skip_push",
            "skip_joor",
            "inventory_item_id",
        ],
    ),
    "inventory": (["warehouse_code", *SKU_COLUMNS], ["on_hand", "pending", "ats", "available_date", "is_set"]),
    "order_lines": (
        ["order_id", "warehouse_code", *SKU_COLUMNS],
        [
            "status",
            "quantity",
            "claimed",
            "backordered",
            "order_date",
            "updated_at",
            "prebook_start",
            "linesheet_code",
            "policy",
            "claim_due",
        ],
    ),
}


@dataclass(frozen=True)
class FileVersion:
    """One version of a dropped file: a row of the `drop_files` ledger."""

    file_id: str
    partner: str
    account: str
    name: str
    sha256: str
    size: int
    remote_mtime: float | None
    kind: str | None
    as_of: datetime | None
    mode: str | None
    dec_pending: bool | None
    overwrite_scope: str | None
    item_identifier: str | None
    inventory_policy: str | None
    status: str  # landed | parsed | rejected | held | denied | superseded
    landed_path: str
    events_path: str | None
    rows_read: int | None
    rows_rejected: int | None
    landed_at: datetime
    guard: str | None  # GuardLimits as JSON, as in force when it landed
    decision: str | None  # passed | held | approved | denied (domain.guard)
    decision_reason: str | None
    effect: str | None  # domain.guard.Effect as JSON
    headers: str | None = None  # read through a profile: our column -> the partner's header (JSON)


@dataclass(frozen=True)
class Stopped:
    """Why a file did not reach the state: rejected whole, or held by its partner's guard."""

    verdict: Literal["rejected", "held"]
    reason: str

    @property
    def words(self) -> str:
        return f"{'rejected whole' if self.verdict == 'rejected' else 'held'}: {self.reason}"


def _version(row) -> FileVersion:
    return FileVersion(**{f: row._mapping.get(f) for f in FileVersion.__dataclass_fields__})


REJECT_ROW_SCHEMA = {
    "account": pl.String,
    "partner": pl.String,
    "file": pl.String,
    "file_id": pl.String,
    "stage": pl.String,
    "line": pl.Int64,
    "column": pl.String,
    "value": pl.String,
    "reason": pl.String,
}


# drops.md (v1.1): a rejected value is stored as its first 1,000 characters followed by `…`.
REJECT_VALUE_CHARS = 1000


def fit_text(text: pl.Expr, keep: int) -> pl.Expr:
    """Text longer than `keep` characters cut to `keep` and marked with `…`; NUL (which PostgreSQL
    cannot store) is shown as `\\x00` on every backend alike."""
    text = text.str.replace_all("\x00", "\\x00", literal=True)
    return pl.when(text.str.len_chars() > keep).then(text.str.slice(0, keep) + "…").otherwise(text)


def now_utc() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def new_id() -> str:
    return uuid.uuid4().hex


def lock_key(account: str) -> int:
    """A stable signed 64-bit key for PostgreSQL advisory locks."""
    return int.from_bytes(hashlib.sha256(f"stockdrop:{account}".encode()).digest()[:8], "big", signed=True)


def to_store_frame(name: str, frame: pl.DataFrame) -> pl.DataFrame:
    """A domain frame in its table's columns: `item_key` split back into the SKU columns."""
    keys, values = TABLE_LAYOUT[name]
    if "item_key" in frame.columns and name != "items":
        frame = split_item_key(frame)
    return frame.select(keys + values)


class SqlStore:
    """One store database (SQLite file or PostgreSQL database)."""

    def __init__(self, url: str, *, auto_migrate: bool = True):
        self.url = url
        if auto_migrate:
            migrate(url)
        self.engine = create_engine(url)
        self.meta = sa.MetaData()
        # inventory_* are PostgreSQL partitions of `inventory` (sql/postgresql/003), reached
        # through their parent; there may be thousands, so they are not reflected one by one.
        self.meta.reflect(self.engine, only=lambda name, _meta: not name.startswith("inventory_"))
        self.t = self.meta.tables
        self.bulk = writer_for(self.dialect)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def dispose(self) -> None:
        self.engine.dispose()

    # -- transactions and locks -------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[sa.Connection]:
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def account_lock(self, account: str) -> Iterator[sa.Connection]:
        """A transaction holding the account's write lock until it ends.

        SQLite: BEGIN IMMEDIATE (the database write lock). PostgreSQL: a transaction-scoped
        advisory lock on the account, so other accounts fold in parallel.
        """
        with self.engine.begin() as conn:
            if self.dialect == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key(account)})
            yield conn

    # -- accounts and partners --------------------------------------------------------------

    def ensure_partner(self, conn: sa.Connection, partner: str, account: str) -> None:
        accounts, partners = self.t["accounts"], self.t["partners"]
        if conn.execute(sa.select(accounts.c.account).where(accounts.c.account == account)).first() is None:
            conn.execute(accounts.insert(), {"account": account, "created_at": now_utc()})
        row = conn.execute(sa.select(partners.c.account).where(partners.c.partner == partner)).first()
        if row is None:
            conn.execute(partners.insert(), {"partner": partner, "account": account})
        elif row.account != account:
            raise PermissionError(f"partner {partner!r} belongs to account {row.account!r}, not {account!r}")

    # -- the ledger ---------------------------------------------------------------------------

    def _same_file(self, partner: str, name: str, as_of: datetime | None):
        """A file's identity (drops.md v1.2): partner, name as dropped, as-of. Versions of one file
        supersede one another; a name dated by its mtime is a new file at each as-of."""
        f = self.t["drop_files"]
        return sa.and_(f.c.partner == partner, f.c.name == name, f.c.as_of.is_not_distinct_from(as_of))

    def find_file(
        self, conn: sa.Connection, partner: str, name: str, sha256: str, as_of: datetime | None
    ) -> FileVersion | None:
        f = self.t["drop_files"]
        row = conn.execute(sa.select(f).where(self._same_file(partner, name, as_of), f.c.sha256 == sha256)).first()
        return _version(row) if row else None

    def get_file(self, conn: sa.Connection, file_id: str) -> FileVersion:
        f = self.t["drop_files"]
        return _version(conn.execute(sa.select(f).where(f.c.file_id == file_id)).one())

    def latest_version(self, conn: sa.Connection, partner: str, name: str) -> FileVersion | None:
        f = self.t["drop_files"]
        row = conn.execute(
            sa.select(f)
            .where(f.c.partner == partner, f.c.name == name, f.c.status != "superseded")
            .order_by(f.c.landed_at.desc())
            .limit(1)
        ).first()
        return _version(row) if row else None

    def record_landing(self, conn: sa.Connection, row: dict) -> str:
        """Add a new file version; earlier versions of the same file are superseded."""
        f = self.t["drop_files"]
        conn.execute(
            f.update()
            .where(self._same_file(row["partner"], row["name"], row.get("as_of")), f.c.status != "superseded")
            .values(status="superseded")
        )
        file_id = new_id()
        conn.execute(f.insert(), {**row, "file_id": file_id, "landed_at": now_utc()})
        return file_id

    def revive_file(self, conn: sa.Connection, file_id: str) -> str:
        """Make a superseded version current again (its content was sent once more); a denied
        version stays denied."""
        f = self.t["drop_files"]
        row = self.get_file(conn, file_id)
        conn.execute(
            f.update()
            .where(self._same_file(row.partner, row.name, row.as_of), f.c.status != "superseded")
            .values(status="superseded")
        )
        status = "denied" if row.decision == "denied" else "landed"
        conn.execute(f.update().where(f.c.file_id == file_id).values(status=status, landed_at=now_utc()))
        return file_id

    def update_file(self, conn: sa.Connection, file_id: str, **values) -> None:
        f = self.t["drop_files"]
        conn.execute(f.update().where(f.c.file_id == file_id).values(**values))

    def parsed_files(self, conn: sa.Connection, account: str) -> list[FileVersion]:
        """The account's current file versions that have rows to fold, in any order."""
        f = self.t["drop_files"]
        rows = conn.execute(sa.select(f).where(f.c.account == account, f.c.status == "parsed"))
        return [_version(r) for r in rows]

    def held_files(self, with_denied: bool = False) -> list[FileVersion]:
        """Current versions waiting for an operator's decision (and those denied), oldest first."""
        f = self.t["drop_files"]
        statuses = ["held", "denied"] if with_denied else ["held"]
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(f).where(f.c.status.in_(statuses)).order_by(f.c.partner, f.c.as_of, f.c.name))
            return [_version(r) for r in rows]

    def accounts_with_files(self, conn: sa.Connection) -> list[str]:
        f = self.t["drop_files"]
        return list(conn.execute(sa.select(f.c.account).distinct().order_by(f.c.account)).scalars())

    def parsed_file_counts(self, conn: sa.Connection) -> dict[str, int]:
        """Per account, how many `parsed_files` it has: once the account is folded, the versions
        whose effect its state holds."""
        f = self.t["drop_files"]
        q = sa.select(f.c.account, sa.func.count()).where(f.c.status == "parsed").group_by(f.c.account)
        return {account: n for account, n in conn.execute(q).all()}

    # -- rejects ------------------------------------------------------------------------------

    def replace_rejects(self, conn: sa.Connection, file: FileVersion, stage: str, rejects: pl.DataFrame) -> None:
        r = self.t["rejects"]
        conn.execute(r.delete().where(r.c.file_id == file.file_id, r.c.stage == stage))
        if rejects.height:
            base = {
                "account": file.account,
                "partner": file.partner,
                "file": file.name,
                "file_id": file.file_id,
                "stage": stage,
            }
            self._insert_rejects(conn, rejects.select(*(pl.lit(v).alias(k) for k, v in base.items()), pl.all()))

    def reject_file(
        self,
        conn: sa.Connection,
        partner: str,
        account: str | None,
        name: str,
        file_id: str | None,
        reason: str,
        line: int | None = None,
        column: str | None = None,
        value: str | None = None,
    ) -> None:
        """Record a whole-file reject (replacing an earlier one for the same file version)."""
        r = self.t["rejects"]
        if file_id:
            conn.execute(r.delete().where(r.c.file_id == file_id, r.c.stage == "file"))
        else:
            self.clear_unlanded_rejects(conn, partner, name)
        self._insert_rejects(
            conn,
            pl.DataFrame(
                [
                    {
                        "account": account,
                        "partner": partner,
                        "file": name,
                        "file_id": file_id,
                        "stage": "file",
                        "line": line,
                        "column": column,
                        "value": value,
                        "reason": reason,
                    }
                ],
                schema=REJECT_ROW_SCHEMA,
            ),
        )

    def _insert_rejects(self, conn: sa.Connection, rows: pl.DataFrame) -> None:
        """Insert reject rows with every text cut to fit its column, so a reject always stores."""
        table = self.t["rejects"]
        rows = rows.cast({c: REJECT_ROW_SCHEMA[c] for c in rows.columns})

        def fitted(column: sa.Column) -> pl.Expr:
            if column.name == "value":
                return fit_text(pl.col("value"), REJECT_VALUE_CHARS)
            if column.name in ("file", "column", "reason"):  # texts that may quote what a partner sent
                return fit_text(pl.col(column.name), column.type.length - 1)
            return pl.col(column.name)

        conn.execute(table.insert(), rows.select(fitted(c) for c in table.columns if c.name in rows.columns).to_dicts())

    def file_reject_reason(self, conn: sa.Connection, file_id: str) -> str | None:
        """Why a file version was rejected whole, if it was."""
        r = self.t["rejects"]
        return conn.execute(sa.select(r.c.reason).where(r.c.file_id == file_id, r.c.stage == "file")).scalar()

    def stopped(self, conn: sa.Connection, partner: str, name: str) -> Stopped | None:
        """What keeps `name` out of the state now: its current version rejected whole or held, or
        the name itself rejected before it could be landed. None once it is applied (or pending)."""
        current = self.latest_version(conn, partner, name)
        if current is not None and current.status == "held":
            return Stopped("held", current.decision_reason or "held by the guard")
        if current is not None and current.status != "rejected":
            return None
        r = self.t["rejects"]
        which = r.c.file_id == current.file_id if current else sa.and_(r.c.file_id.is_(None), r.c.file == name)
        reason = conn.execute(sa.select(r.c.reason).where(which, r.c.partner == partner, r.c.stage == "file")).scalar()
        if current is None and reason is None:
            return None
        return Stopped("rejected", reason or "rejected")

    def version_rejects(self, file_id: str) -> pl.DataFrame:
        """One file version's rejects (any stage): line, column, value, reason, by line."""
        r = self.t["rejects"]
        q = sa.select(r.c.line, r.c.column, r.c.value, r.c.reason).where(r.c.file_id == file_id)
        with self.engine.connect() as conn:
            rows = conn.execute(q.order_by(r.c.line, r.c.column)).all()
        schema = {"line": pl.Int64, "column": pl.String, "value": pl.String, "reason": pl.String}
        return pl.DataFrame([tuple(x) for x in rows], schema=schema, orient="row")

    def clear_unlanded_rejects(self, conn: sa.Connection, partner: str, name: str) -> None:
        """Forget why `name` could not be landed before, now that it has been."""
        r = self.t["rejects"]
        conn.execute(r.delete().where(r.c.partner == partner, r.c.file == name, r.c.file_id.is_(None)))

    def rejects(self, partner: str | None = None, file: str | None = None) -> pl.DataFrame:
        """Rejects of the current file versions (and of files never landed), optionally of one file."""
        r, f = self.t["rejects"], self.t["drop_files"]
        q = (
            sa.select(*(r.c[c] for c in REJECT_COLUMNS))
            .select_from(r.outerjoin(f, r.c.file_id == f.c.file_id))
            .where(sa.or_(f.c.status.is_(None), f.c.status != "superseded"))
            .order_by(r.c.partner, r.c.file, r.c.line, r.c.column)
        )
        if partner is not None:
            q = q.where(r.c.partner == partner)
        if file is not None:
            q = q.where(r.c.file == file)
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        return pl.DataFrame(
            [tuple(x) for x in rows],
            schema={
                "partner": pl.String,
                "file": pl.String,
                "line": pl.Int64,
                "column": pl.String,
                "value": pl.String,
                "reason": pl.String,
            },
            orient="row",
        )

    # -- state --------------------------------------------------------------------------------

    def sync_table(
        self, conn: sa.Connection, name: str, account: str, old: pl.DataFrame, new: pl.DataFrame
    ) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Make the account's rows of `name` equal `new`, writing only what differs from `old`.

        Returns what was written, in the table's columns: (rows upserted, keys deleted).
        """
        keys, _ = TABLE_LAYOUT[name]
        # Compared as domain frames (one `item_key` column, not four) and only what changed is
        # put in the table's columns: on a million-row overwrite that is two fewer copies.
        upserts, gone = changed_rows(old, new, FRAME_KEYS[name])
        upserts = to_store_frame(name, upserts)
        gone = (split_item_key(gone) if "item_key" in gone.columns else gone).select(keys)
        self.bulk.write(conn, self.t[name], account, keys, upserts, gone)
        return upserts, gone

    def state(self, account: str | None = None) -> pl.DataFrame:
        """`stockdrop state`: one row per (account, warehouse, SKU), in the contract's order."""
        inv, items, wh = self.t["inventory"], self.t["items"], self.t["warehouses"]
        join = inv.outerjoin(
            items, sa.and_(inv.c.account == items.c.account, *(inv.c[c] == items.c[c] for c in SKU_COLUMNS))
        ).outerjoin(wh, sa.and_(inv.c.account == wh.c.account, inv.c.warehouse_code == wh.c.warehouse_code))
        q = sa.select(
            *(items.c.upc if c == "upc" else inv.c[c] for c in STATE_COLUMNS),
            wh.c.type.label("warehouse_type"),
            wh.c.available_date.label("warehouse_available_date"),
        ).select_from(join)
        if account:
            q = q.where(inv.c.account == account)
        q = q.order_by(inv.c.account, inv.c.warehouse_code, *(inv.c[c] for c in SKU_COLUMNS))
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        schema = {c: pl.String for c in STATE_COLUMNS} | {
            "on_hand": pl.Int64,
            "pending": pl.Int64,
            "ats": pl.Int64,
            "available_date": pl.Date,
            "warehouse_type": pl.String,
            "warehouse_available_date": pl.Date,
        }
        frame = pl.DataFrame([tuple(r) for r in rows], schema=schema, orient="row")
        return frame.with_columns(available_date_in_force().alias("available_date")).select(STATE_COLUMNS)

    def stock_by_warehouse(self) -> pl.DataFrame:
        """Per (account, warehouse): rows, summed on_hand/pending/ats, oversold rows and units (SQL aggregate)."""
        inv = self.t["inventory"]
        negative = sa.case((inv.c.ats < 0, 1), else_=0)
        q = (
            sa.select(
                inv.c.account,
                inv.c.warehouse_code,
                sa.func.count().label("rows"),
                sa.func.sum(inv.c.on_hand).label("on_hand"),
                sa.func.sum(inv.c.pending).label("pending"),
                sa.func.sum(inv.c.ats).label("ats"),
                sa.func.sum(negative).label("oversold_rows"),
                sa.func.sum(sa.case((inv.c.ats < 0, -inv.c.ats), else_=0)).label("units_oversold"),
            )
            .group_by(inv.c.account, inv.c.warehouse_code)
            .order_by(inv.c.account, inv.c.warehouse_code)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        return pl.DataFrame(
            [tuple(r) for r in rows],
            orient="row",
            schema={
                "account": pl.String,
                "warehouse_code": pl.String,
                "rows": pl.Int64,
                "on_hand": pl.Int64,
                "pending": pl.Int64,
                "ats": pl.Int64,
                "oversold_rows": pl.Int64,
                "units_oversold": pl.Int64,
            },
        )

    def last_delivery(self, partner: str) -> float | None:
        """When the partner last delivered a file: the newest source mtime of any version it sent
        (the landing time where the source gave none)."""
        f = self.t["drop_files"]
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(sa.func.max(f.c.remote_mtime), sa.func.max(f.c.landed_at)).where(f.c.partner == partner)
            ).one()
        if row[0] is not None:
            return float(row[0])
        return row[1].replace(tzinfo=UTC).timestamp() if row[1] is not None else None

    def files(self) -> pl.DataFrame:
        """The ledger's current file versions: what arrived, and what became of it."""
        f = self.t["drop_files"]
        cols = [f.c.partner, f.c.account, f.c.name, f.c.status, f.c.rows_read, f.c.rows_rejected, f.c.sha256]
        q = (
            sa.select(*cols)
            .where(f.c.status != "superseded", f.c.kind.is_distinct_from("release"))
            .order_by(f.c.account, f.c.as_of, f.c.name)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        return pl.DataFrame(
            [tuple(r) for r in rows],
            schema={
                "partner": pl.String,
                "account": pl.String,
                "name": pl.String,
                "status": pl.String,
                "rows_read": pl.Int64,
                "rows_rejected": pl.Int64,
                "sha256": pl.String,
            },
            orient="row",
        )

    def warehouse_codes(self, conn: sa.Connection, account: str) -> list[str]:
        """The account's warehouses, with `DEFAULT`, which every account has from its first fold."""
        wh = self.t["warehouses"]
        codes = conn.execute(sa.select(wh.c.warehouse_code).where(wh.c.account == account)).scalars().all()
        return sorted({DEFAULT_WAREHOUSE, *codes})

    def warehouses(self, account: str | None = None) -> list[tuple[str, str]]:
        wh = self.t["warehouses"]
        q = sa.select(wh.c.account, wh.c.warehouse_code).order_by(wh.c.account, wh.c.warehouse_code)
        if account:
            q = q.where(wh.c.account == account)
        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(q)]
