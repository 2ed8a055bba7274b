"""A throwaway PostgreSQL cluster on 127.0.0.1 for the store tests and the benchmarks.

`start_postgres(workdir)` runs `initdb` and `pg_ctl start` on a free port with durability turned
off (fsync, full-page writes, synchronous commit: a test cluster is thrown away, never recovered)
and returns a `PgHandle`; `PgHandle.stop()` ends it and removes its data. The session fixture
`pg_server` wraps both; `pg_url` gives each test a fresh, empty database on that server.

When running as root the cluster runs as the `postgres` system user, because PostgreSQL refuses
to run as root. Authentication is `trust` on 127.0.0.1 and the socket only.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = [
    "PgHandle",
    "PostgresUnavailable",
    "find_pg_bin",
    "start_postgres",
    "create_database",
    "pg_server",
    "pg_url",
    "store_url",
]

START_TIMEOUT_S = 30.0
PG_BIN_DIRS = ("/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/15/bin")


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL server binaries (initdb, pg_ctl) are not installed here."""


@dataclass
class PgHandle:
    """A running throwaway cluster.

    Attributes:
        host: Address it listens on (127.0.0.1).
        port: Its port.
        url: SQLAlchemy URL of the `postgres` database as the `postgres` superuser.
        datadir: The cluster's data folder.
        workdir: Everything of the cluster (data, socket, log); removed by `stop()`.
    """

    host: str
    port: int
    url: str
    datadir: Path
    workdir: Path
    bin_dir: Path
    run_as: str | None

    def url_for(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@{self.host}:{self.port}/{database}"

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove its files."""
        _run(
            self, [str(self.bin_dir / "pg_ctl"), "-D", str(self.datadir), "-m", "immediate", "-w", "stop"], check=False
        )
        shutil.rmtree(self.workdir, ignore_errors=True)


def find_pg_bin() -> Path:
    """The folder holding initdb and pg_ctl (Debian keeps them out of PATH, under /usr/lib/postgresql)."""
    for folder in PG_BIN_DIRS:
        if os.access(Path(folder) / "initdb", os.X_OK):
            return Path(folder)
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    raise PostgresUnavailable(
        "PostgreSQL server binaries (initdb, pg_ctl) are not installed (run scripts/install-test-services as root)"
    )


def _run(handle_or_user, argv: list[str], check: bool = True) -> subprocess.CompletedProcess:
    user = handle_or_user.run_as if isinstance(handle_or_user, PgHandle) else handle_or_user
    if user:
        argv = ["runuser", "-u", user, "--", *argv]
    return subprocess.run(argv, check=check, capture_output=True, text=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_postgres(workdir: Path) -> PgHandle:
    """Create and start a cluster under `workdir` on a free port of 127.0.0.1.

    Raises:
        PostgresUnavailable: the binaries are missing.
        RuntimeError: the server did not come up (its log is in the message).
    """
    bin_dir = find_pg_bin()
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    run_as = None
    if os.geteuid() == 0:
        run_as = "postgres"
        try:
            pw = pwd.getpwnam(run_as)
        except KeyError as e:
            raise PostgresUnavailable("running as root and there is no `postgres` user to run the server as") from e
        workdir.chmod(0o755)
        os.chown(workdir, pw.pw_uid, pw.pw_gid)
    datadir = workdir / "data"
    log_file = workdir / "postgres.log"
    init = _run(
        run_as,
        [
            str(bin_dir / "initdb"),
            "-D",
            str(datadir),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
        ],
        check=False,
    )
    if init.returncode:
        raise RuntimeError(f"initdb failed:\n{init.stdout}\n{init.stderr}")
    # Durability off and small checkpoints avoided: the cluster lives for one test session.
    options = (
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_wal_size=4GB "
        "-c listen_addresses=127.0.0.1 -c max_connections=100 -c shared_buffers=256MB "
        f"-c unix_socket_directories={workdir}"
    )
    for _ in range(5):  # another process may take the free port before the server binds it
        port = _free_port()
        started = _run(
            run_as,
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(datadir),
                "-l",
                str(log_file),
                "-w",
                "-t",
                str(int(START_TIMEOUT_S)),
                "-o",
                f"{options} -p {port}",
                "start",
            ],
            check=False,
        )
        if started.returncode == 0:
            break
    else:
        raise RuntimeError(f"PostgreSQL did not start; its log:\n{log_file.read_text() if log_file.exists() else ''}")
    host = "127.0.0.1"
    return PgHandle(
        host=host,
        port=port,
        url=f"postgresql+psycopg://postgres@{host}:{port}/postgres",
        datadir=datadir,
        workdir=workdir,
        bin_dir=bin_dir,
        run_as=run_as,
    )


def create_database(server: PgHandle, prefix: str = "t") -> str:
    """A new empty database on `server`; returns its SQLAlchemy URL."""
    import psycopg

    name = f"{prefix}_{secrets.token_hex(6)}"
    with psycopg.connect(
        host=server.host, port=server.port, user="postgres", dbname="postgres", autocommit=True
    ) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return server.url_for(name)


def _unavailable(reason: str):
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pg_server():
    """A throwaway PostgreSQL cluster for the whole session (skipped without the binaries, a failure under CI=true)."""
    try:
        find_pg_bin()
    except PostgresUnavailable as e:
        _unavailable(str(e))
    handle = start_postgres(Path(tempfile.mkdtemp(prefix="stockdrop-pg-")))
    yield handle
    handle.stop()


@pytest.fixture
def pg_url(pg_server):
    """A fresh empty database per test, as a SQLAlchemy URL."""
    return create_database(pg_server)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """A fresh empty store URL on each backend: a SQLite file, then a new PostgreSQL database.

    The PostgreSQL server is only started when a test actually takes the `postgresql` case.
    """
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store' / 'stockdrop.db'}"
    return request.getfixturevalue("pg_url")
