"""The environment, read here and nowhere else (no Dagster import, so the CLI's read-only commands start fast).

`STOCKDROP_STORE_URL` (default: SQLite under dagster_home/), `STOCKDROP_PARTNERS` (a partners
file; default: the sample partner over sample_data/), `STOCKDROP_DATA_DIR` (landed files,
fold steps, exports; default beside a SQLite store, else dagster_home/data), `DAGSTER_HOME`,
and every `{env: NAME}` secret the partners file names.
"""

from __future__ import annotations

import os

from pipelines.domain.partners import EnvRef


class MissingSecret(RuntimeError):
    """A partners-file `{env: NAME}` reference names a variable that is not set."""


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


def secret(ref: EnvRef) -> str:
    value = _get(ref.env)
    if not value:
        raise MissingSecret(f"environment variable {ref.env} is not set (named by the partners file)")
    return value
