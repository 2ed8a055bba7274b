"""Dagster resources, and the ONLY place the environment is read (via dg.EnvVar).

`STOCKDROP_STORE_URL` (default: SQLite under dagster_home/), `STOCKDROP_PARTNERS` (a partners
file; default: the sample partner over sample_data/), `STOCKDROP_DATA_DIR` (landed files,
checkpoints, exports; default beside a SQLite store, else dagster_home/data), and every
`{env: NAME}` secret the partners file names.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import dagster as dg

from pipelines.adapters.data_paths import PROJECT_DIR, DataPaths, default_data_dir, default_store_url
from pipelines.adapters.drop_source import DropSource, LocalDropSource
from pipelines.adapters.partners_file import PartnersFileError, load_partners
from pipelines.adapters.sftp_source import SftpDropSource
from pipelines.adapters.store import SqlStore
from pipelines.adapters.store_schema import require_existing
from pipelines.domain.partners import EnvRef, PartnerSpec

SAMPLE_PARTNERS = PROJECT_DIR / "sample_data" / "partners.yaml"
# A sensor tick must finish well inside Dagster's 60 s limit: one quick attempt, short timeout.
SENSOR_SFTP = {"attempts": 1, "timeout_s": 10}


class MissingSecret(RuntimeError):
    """A partners-file `{env: NAME}` reference names a variable that is not set."""


def resolve_secret(ref: EnvRef) -> str:
    value = dg.EnvVar(ref.env).get_value()
    if not value:
        raise MissingSecret(f"environment variable {ref.env} is not set (named by the partners file)")
    return value


@lru_cache(maxsize=8)
def _open_store(url: str) -> SqlStore:
    return SqlStore(url)


class StoreResource(dg.ConfigurableResource):
    """The SQL store and the data folder beside it."""

    url: str
    data_dir: str | None = None

    def store(self) -> SqlStore:
        return _open_store(self.url)

    def existing_store(self) -> SqlStore:
        """The store, for commands that only read: one that does not exist is an error, never created."""
        require_existing(self.url)
        return _open_store(self.url)

    def paths(self) -> DataPaths:
        return DataPaths(Path(self.data_dir) if self.data_dir else default_data_dir(self.url))


class PartnersResource(dg.ConfigurableResource):
    """The configured partners; `inbox` makes one partner read a local folder instead (`replay`)."""

    partners_file: str | None = None
    partner: str | None = None
    inbox: str | None = None
    channel: str | None = None  # push only this channel

    def specs(self) -> dict[str, PartnerSpec]:
        specs = partner_specs(self.partners_file, self.partner, self.inbox)
        if self.channel:
            specs = {
                n: replace(s, channels=tuple(c for c in s.channels if c.name == self.channel)) for n, s in specs.items()
            }
        return specs

    def spec(self, name: str) -> PartnerSpec:
        specs = self.specs()
        if name not in specs:
            raise PartnersFileError(f"unknown partner {name!r}")
        return specs[name]

    def source(self, spec: PartnerSpec, for_sensor: bool = False) -> DropSource:
        if spec.is_sftp:
            return SftpDropSource.from_spec(spec, resolve_secret, **(SENSOR_SFTP if for_sensor else {}))
        return LocalDropSource(spec.source, ready_marker=spec.ready_marker, after_processing=spec.after_processing)

    def token(self, ref: EnvRef | None) -> str:
        return resolve_secret(ref) if ref else ""


def partner_specs(partners_file: str | None, partner: str | None, inbox: str | None) -> dict[str, PartnerSpec]:
    """Partners from the file (or the default `local` partner), narrowed to one and re-pointed at `inbox`."""
    specs = load_partners(partners_file) if partners_file else {"local": PartnerSpec()}
    if partner:
        if partner not in specs:
            raise PartnersFileError(f"unknown partner {partner!r}" + (f" in {partners_file}" if partners_file else ""))
        specs = {partner: specs[partner]}
    if inbox:
        if len(specs) != 1:
            raise PartnersFileError("the partners file has several partners: choose one with --partner")
        ((name, spec),) = specs.items()
        specs = {name: replace(spec, source=str(Path(inbox).resolve()))}
    return specs


def settings_from_env() -> tuple[StoreResource, PartnersResource]:
    """Resources for `dagster dev` / the daemon, from the environment."""
    partners_file = dg.EnvVar("STOCKDROP_PARTNERS").get_value() or str(SAMPLE_PARTNERS)
    return (
        StoreResource(url=store_url_from_env() or default_store_url(), data_dir=data_dir_from_env()),
        PartnersResource(partners_file=partners_file),
    )


def store_url_from_env() -> str | None:
    return dg.EnvVar("STOCKDROP_STORE_URL").get_value()


def data_dir_from_env() -> str | None:
    return dg.EnvVar("STOCKDROP_DATA_DIR").get_value()


def open_instance() -> dg.DagsterInstance:
    """The Dagster instance under $DAGSTER_HOME when set (runs show in the UI), else an ephemeral one."""
    if dg.EnvVar("DAGSTER_HOME").get_value():
        return dg.DagsterInstance.get()
    return dg.DagsterInstance.ephemeral()
