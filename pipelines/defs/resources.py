"""Dagster resources: the store and the partners, built from the environment that
`adapters/environment.py` (the one place it is read) gives them."""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

import dagster as dg

from pipelines.adapters import environment
from pipelines.adapters.data_paths import PROJECT_DIR, DataPaths, default_store_url
from pipelines.adapters.drop_source import DropSource, LocalDropSource
from pipelines.adapters.partners_file import PartnersFileError, load_alerts, partner_specs
from pipelines.adapters.result_files import write_result
from pipelines.adapters.sftp_source import SftpDropSource
from pipelines.adapters.store import FileVersion, SqlStore
from pipelines.adapters.store_schema import require_existing
from pipelines.domain.alerts import AlertSettings
from pipelines.domain.partners import EnvRef, PartnerSpec

SAMPLE_PARTNERS = PROJECT_DIR / "sample_data" / "partners.yaml"
# A sensor tick must finish well inside Dagster's 60 s limit: one quick attempt, short timeout.
SENSOR_SFTP = {"attempts": 1, "timeout_s": 10}


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
        return DataPaths.for_store(self.url, self.data_dir)


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

    def alert_settings(self) -> AlertSettings:
        """The partners file's `alerts:` (none without a file)."""
        return load_alerts(self.partners_file)

    def spec(self, name: str) -> PartnerSpec:
        specs = self.specs()
        if name not in specs:
            raise PartnersFileError(f"unknown partner {name!r}")
        return specs[name]

    def source(self, spec: PartnerSpec, for_sensor: bool = False, outbox: str | None = None) -> DropSource:
        """The partner's source; `outbox` points its uploads at another folder (the results')."""
        if spec.is_sftp:
            overrides = {**(SENSOR_SFTP if for_sensor else {}), **({"outbox": outbox} if outbox else {})}
            return SftpDropSource.from_spec(spec, environment.secret, **overrides)
        return LocalDropSource(spec.source, ready_marker=spec.ready_marker, after_processing=spec.after_processing)

    def write_result(self, store: SqlStore, spec: PartnerSpec, version: FileVersion | None) -> list[str]:
        """The version's result files for the partner (its `results` option), where it says."""
        if version is None:
            return []
        outbox = spec.results.outbox if spec.is_sftp else None
        return write_result(store, spec, version, (lambda: self.source(spec, outbox=outbox)) if outbox else None)

    def token(self, ref: EnvRef | None) -> str:
        return environment.secret(ref) if ref else ""


def settings_from_env() -> tuple[StoreResource, PartnersResource]:
    """Resources for `dagster dev` / the daemon, from the environment."""
    return (
        StoreResource(url=environment.store_url() or default_store_url(), data_dir=environment.data_dir()),
        PartnersResource(partners_file=environment.partners_file() or str(SAMPLE_PARTNERS)),
    )


def open_instance() -> dg.DagsterInstance:
    """The Dagster instance under $DAGSTER_HOME when set (runs show in the UI), else an ephemeral one."""
    if environment.dagster_home():
        return dg.DagsterInstance.get()
    return dg.DagsterInstance.ephemeral()
