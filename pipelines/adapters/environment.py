"""The environment, read here and nowhere else (no Dagster import, so the CLI's read-only commands start fast).

`STOCKDROP_STORE_URL` (default: SQLite under dagster_home/), `STOCKDROP_PARTNERS` (a partners
file; default: the sample partner over sample_data/), `STOCKDROP_DATA_DIR` (landed files,
fold steps, exports; default beside a SQLite store, else dagster_home/data), `DAGSTER_HOME`,
`STOCKDROP_EXECUTOR` (`in_process` | `multiprocess`, the default | `celery`) with
`STOCKDROP_CELERY_BROKER_URL` / `STOCKDROP_CELERY_BACKEND_URL`, and every `{env: NAME}` secret
the partners file names.
"""

from __future__ import annotations

import os
from typing import Literal, cast

from pipelines.domain.partners import EnvRef

Executor = Literal["in_process", "multiprocess", "celery"]
EXECUTORS: tuple[Executor, ...] = ("in_process", "multiprocess", "celery")


class MissingSecret(RuntimeError):
    """A partners-file `{env: NAME}` reference names a variable that is not set."""


class BadSetting(ValueError):
    """An environment variable of ours holds a value we do not know; the message names it."""


def _get(name: str) -> str | None:
    return os.environ.get(name) or None


def store_url() -> str | None:
    return _get("STOCKDROP_STORE_URL")


def data_dir() -> str | None:
    return _get("STOCKDROP_DATA_DIR")


def partners_file() -> str | None:
    return _get("STOCKDROP_PARTNERS")


def dagster_home() -> str | None:
    return _get("DAGSTER_HOME")


def executor() -> Executor:
    """The Dagster executor of every job the definitions build (cli.md v1.1)."""
    value = _get("STOCKDROP_EXECUTOR") or "multiprocess"
    if value not in EXECUTORS:
        raise BadSetting(f"STOCKDROP_EXECUTOR={value!r}: use one of {', '.join(EXECUTORS)}")
    return cast(Executor, value)


def celery_urls() -> tuple[str, str]:
    """(broker, result backend) for the Celery executor and `stockdrop worker`; both required."""
    broker, backend = _get("STOCKDROP_CELERY_BROKER_URL"), _get("STOCKDROP_CELERY_BACKEND_URL")
    if not broker or not backend:
        missing = "STOCKDROP_CELERY_BROKER_URL" if not broker else "STOCKDROP_CELERY_BACKEND_URL"
        raise BadSetting(f"{missing} is not set (e.g. redis://127.0.0.1:6379/0): the Celery executor needs it")
    return broker, backend


def secret(ref: EnvRef) -> str:
    value = _get(ref.env)
    if not value:
        raise MissingSecret(f"environment variable {ref.env} is not set (named by the partners file)")
    return value


def smtp_url() -> str:
    """`STOCKDROP_SMTP_URL` (smtp://user:pass@host:port[?from=address]), for alerts by e-mail."""
    value = _get("STOCKDROP_SMTP_URL")
    if not value:
        raise BadSetting("STOCKDROP_SMTP_URL is not set (smtp://user:pass@host:port): alerts by e-mail need it")
    return value
