"""A partner's settings as a frozen record: every partner difference is a field here, never a branch."""

from __future__ import annotations

from dataclasses import dataclass, field

from pipelines.domain.channel_items import OnDrift
from pipelines.domain.export_rows import ExportOptions
from pipelines.domain.guard import GuardLimits
from pipelines.domain.profiles import Profile
from pipelines.domain.quantity_rules import QuantityRules

DEFAULT_PARTNER = "local"
DEFAULT_ACCOUNT = "default"
MIN_POLL_INTERVAL_S = 300
DEFAULT_SETTLE_S = 30
DEFAULT_MAX_DECOMPRESSED_MB = 1024
DEFAULT_MAX_FUTURE_H = 24.0


@dataclass(frozen=True)
class EnvRef:
    """A secret named by an environment variable; resolved only in defs/resources.py."""

    env: str


@dataclass(frozen=True)
class InventoryDefaults:
    mode: str = "update"  # update | overwrite | seed
    dec_pending: bool = False
    overwrite_scope: str = "account"  # account | warehouses_in_file


@dataclass(frozen=True)
class CsvDialect:
    delimiter: str = ","
    encoding: str = "utf-8"


@dataclass(frozen=True)
class ExportTargets:
    dir: str | None = None  # local folder
    outbox: str | None = None  # folder on the partner's SFTP server
    joor_delimiter: str = ","


@dataclass(frozen=True)
class ResultTargets:
    """Where the per-file result files for the partner go (cli.md v1.1, option `results`)."""

    dir: str | None = None  # local folder
    outbox: str | None = None  # folder on the partner's SFTP server

    @property
    def any(self) -> bool:
        return bool(self.dir or self.outbox)


@dataclass(frozen=True)
class ChannelSpec:
    """An API channel a partner's account is pushed to (`joor`, `shopify`)."""

    name: str
    base_url: str
    token: EnvRef | None = None
    batch_items: int | None = None  # None: the channel's default (JOOR 1000, Shopify 250, its cap)
    batch_bytes: int = 1_000_000
    body_format: str = "json"  # json | xml (joor only)
    min_interval_s: float = 0.0
    rate_credits: int = 300  # JOOR budget: credits per window
    rate_window_s: float = 300.0
    credits_per_request: int = 5
    timeout_s: float = 30.0
    max_attempts: int = 6
    locations: tuple[tuple[str, str], ...] = ()  # warehouse_code -> Shopify location id
    backoff_initial_s: float = 1.0  # first retry wait; doubles per attempt (with jitter)
    backoff_max_s: float = 60.0  # cap on one retry wait
    retry_after_max_s: float = 300.0  # cap on a server's Retry-After we are willing to honour
    on_drift: OnDrift = "ours"  # what to do when a channel changed under us (channels.md)


@dataclass(frozen=True)
class PartnerSpec:
    """One drop source bound to exactly one account."""

    name: str = DEFAULT_PARTNER
    account: str = DEFAULT_ACCOUNT
    source: str = "."  # local folder path or sftp://user@host:port/path
    known_hosts: str | None = None
    private_key: EnvRef | None = None
    private_key_file: str | None = None
    password: EnvRef | None = None
    settle_s: float = DEFAULT_SETTLE_S
    ready_marker: str | None = None  # e.g. ".done": take a file only once `<name>.done` exists
    after_processing: str = "leave"  # leave | move (to processed/ or rejected/)
    item_identifier: str = "auto"  # auto | upc | style | ids
    inventory_policy: str = "continue"  # continue | deny
    inventory: InventoryDefaults = field(default_factory=InventoryDefaults)
    max_decompressed_mb: int = DEFAULT_MAX_DECOMPRESSED_MB  # a compressed file past this is rejected whole
    max_future_h: float = DEFAULT_MAX_FUTURE_H  # a file whose as-of is further after its landing is rejected whole
    allow_empty_overwrite: bool = False  # an overwrite with no valid row is applied (zeroing its scope), not rejected
    max_reject_ratio: float = 0.5  # a file rejecting more of its rows fails its reject_ratio check as an error
    expect_every_h: float | None = None  # a partner with no new file for this long is late (a failing check)
    poll_interval_s: int = MIN_POLL_INTERVAL_S
    exports: ExportTargets = field(default_factory=ExportTargets)
    guard: GuardLimits = field(default_factory=GuardLimits)  # hold a suspicious inventory file
    results: ResultTargets = field(default_factory=ResultTargets)
    channels: tuple[ChannelSpec, ...] = ()
    # What each channel is shown (channels.md "Quantity rules"), by channel name.
    quantity_rules: tuple[tuple[str, QuantityRules], ...] = ()
    # What the partner sends, mapped onto the contract (drops.md v1.2 "Partner profiles").
    profile: Profile = field(default_factory=Profile)

    @property
    def is_sftp(self) -> bool:
        return self.source.startswith("sftp://")

    def rules_for(self, channel: str) -> QuantityRules | None:
        """The channel's quantity rules, or None when it has none."""
        return dict(self.quantity_rules).get(channel)

    @property
    def export_options(self) -> ExportOptions:
        """The export files' settings (the JOOR file is governed by the `joor` rules)."""
        return ExportOptions(self.item_identifier, self.exports.joor_delimiter, self.rules_for("joor"))
