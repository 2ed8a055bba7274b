"""Opening the store and bringing its schema up to date (numbered SQL files in `sql/`, via yoyo)."""

from __future__ import annotations

import fcntl
import re
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from yoyo import get_backend, read_migrations

from pipelines.adapters.failures import MachineryFailure, one_line

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"


class StoreUrlError(ValueError):
    """The store URL is not one we can open."""


class StoreMissing(ValueError):
    """A command that only reads was pointed at a store that does not exist (it never creates one)."""


def require_existing(url: str | sa.URL) -> None:
    """Raise StoreMissing unless the store at `url` exists and holds Stockdrop's tables."""
    url = sa.make_url(url)
    _yoyo_url(url)  # an unsupported backend is a StoreUrlError
    where = url.render_as_string(hide_password=True)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:" and not Path(url.database).exists():
            raise StoreMissing(f"no store at {where}: nothing has been processed into it yet")
        _check_usable(url)
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("drop_files"):
                raise StoreMissing(f"{where} is not a Stockdrop store (no drop_files table)")
    finally:
        engine.dispose()


def _yoyo_url(url: sa.URL) -> str:
    if url.get_backend_name() == "sqlite":
        return f"sqlite:///{url.database}"
    if url.get_backend_name() == "postgresql":
        return url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    raise StoreUrlError(f"unsupported store {url.get_backend_name()!r}: use sqlite:///path or postgresql+psycopg://")


def migration_dirs(dialect: str) -> list[str]:
    """Portable migrations, then the dialect's own folder when it has one (e.g. sql/postgresql)."""
    dirs = [str(SQL_DIR)]
    own = SQL_DIR / dialect
    if own.is_dir():
        dirs.append(str(own))
    return dirs


def migrate(url: str | sa.URL, upto: str | None = None) -> list[str]:
    """Apply every migration not yet applied, in order; return the ids applied now.

    `upto` stops after the migration with that id (e.g. "001_initial"): how the upgrade tests
    make a store "at the previous version".
    """
    url = sa.make_url(url)
    _check_usable(url)
    if url.get_backend_name() == "sqlite" and url.database:
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    migrations = read_migrations(*migration_dirs(url.get_backend_name()))
    if upto is not None:
        ids = [m.id for m in migrations]
        migrations = migrations[: ids.index(upto) + 1]
    with _first_start_lock(url):
        try:
            backend = get_backend(_yoyo_url(url))
        except StoreUrlError:
            raise
        except Exception as e:  # yoyo connects with the driver itself: its errors are not SQLAlchemy's
            if _NO_DATABASE.search(str(e)):  # the server answered: the URL names no database there
                raise StoreUrlError(
                    f"no database at {url.render_as_string(hide_password=True)}: {one_line(e)}"
                ) from None
            raise MachineryFailure(
                f"cannot open the store {url.render_as_string(hide_password=True)}: {one_line(e)}"
            ) from None
        try:
            # An up-to-date store (every start but the first) takes no lock: a process killed at
            # start must not leave yoyo's lock row behind for the next one to time out on.
            if not backend.to_apply(migrations):
                return []
            with backend.lock():
                todo = backend.to_apply(migrations)
                backend.apply_migrations(todo)
        finally:
            # Closed inside the lock: a connection of yoyo's left open (in SQLite's rollback
            # journal mode) would make the next process's switch to WAL fail as `database is locked`.
            backend.connection.close()
        if url.get_backend_name() == "sqlite" and url.database:
            with closing(sqlite3.connect(url.database, timeout=600)) as db:
                db.execute("PRAGMA journal_mode=WAL")  # once, here, not raced by every connection
    return [m.id for m in todo]


SQLITE_MAGIC = b"SQLite format 3\x00"
# PostgreSQL's answer to a connection naming a database it does not have (SQLSTATE 3D000).
_NO_DATABASE = re.compile(r'database "[^"]*" does not exist')


def _check_usable(url: sa.URL) -> None:
    """StoreUrlError (a user error, exit 2) for a SQLite URL that names no usable database file:
    none at all (`sqlite:///`), a folder, or a file that is not SQLite. Nothing is created."""
    if url.get_backend_name() != "sqlite":
        return
    where = url.render_as_string(hide_password=True)
    if not url.database or url.database == ":memory:":
        raise StoreUrlError(f"{where} names no database file: give sqlite:///path/to/store.db")
    path = Path(url.database)
    if path.is_dir():
        raise StoreUrlError(f"{where} names a folder, not a database file")
    if path.is_file() and path.stat().st_size:
        with open(path, "rb") as f:
            if f.read(len(SQLITE_MAGIC)) != SQLITE_MAGIC:
                raise StoreUrlError(f"{where}: {path} is not a SQLite database")


@contextmanager
def _first_start_lock(url: sa.URL) -> Iterator[None]:
    """Serialise migrations of one SQLite file across processes (an OS file lock beside it).

    Two processes starting together on a fresh SQLite file would otherwise both create yoyo's
    tables and one fails with `database is locked`. PostgreSQL needs nothing: yoyo's lock table
    and transactional DDL serialise it there.
    """
    if url.get_backend_name() != "sqlite" or not url.database:
        yield
        return
    with open(f"{url.database}.migrate-lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def create_engine(url: str | sa.URL) -> sa.Engine:
    """An engine whose transactions take the write lock up front on SQLite (BEGIN IMMEDIATE).

    Taking the lock at BEGIN serialises writers instead of failing one of them mid-transaction;
    WAL lets readers (the CLI, the UI) run beside a writer.
    """
    url = sa.make_url(url)
    if url.get_backend_name() == "postgresql" and url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() != "sqlite":
        return sa.create_engine(url, pool_pre_ping=True)
    engine = sa.create_engine(url, connect_args={"timeout": 600})

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=600000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
