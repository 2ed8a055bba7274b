"""Reading the partners file (YAML) into frozen PartnerSpec records.

Unknown keys are errors that name the key; secrets stay `{env: NAME}` references here and are
resolved only by the Dagster resources.
"""

from __future__ import annotations

import codecs
import datetime as dt
import re
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Literal

import polars as pl
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

import schemas
from pipelines.adapters.channels import ChannelConfigError, channel_for
from pipelines.adapters.failures import one_line
from pipelines.domain.alerts import EVENTS, AlertSettings, Destination
from pipelines.domain.drop_names import KINDS
from pipelines.domain.guard import GuardLimits
from pipelines.domain.partners import (
    DEFAULT_MAX_DECOMPRESSED_MB,
    DEFAULT_MAX_FUTURE_H,
    DEFAULT_SETTLE_S,
    MIN_POLL_INTERVAL_S,
    ChannelSpec,
    EnvRef,
    ExportTargets,
    InventoryDefaults,
    PartnerSpec,
    ResultTargets,
)
from pipelines.domain.profiles import (
    AsOfFromName,
    ColumnSource,
    FileRule,
    Profile,
    TableOptions,
    ValueRules,
    header_key,
)
from pipelines.domain.quantity_rules import QuantityRules, RuleLevel


class PartnersFileError(ValueError):
    """The partners file is missing, unreadable or invalid; the message names the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Env(_Strict):
    env: str


class _Inventory(_Strict):
    mode: Literal["update", "overwrite", "seed"] = "update"
    dec_pending: bool = False
    overwrite_scope: Literal["account", "warehouses_in_file"] = "account"


class _Layout(_Strict):
    def options(self) -> TableOptions:
        """Only what the partner set (a `.tsv` is tab-separated unless the delimiter is set)."""
        return TableOptions(**{k: getattr(self, k) for k in self.model_fields_set})


class _Csv(_Layout):
    delimiter: str = Field(",", min_length=1, max_length=1)
    encoding: str = "utf-8"
    header_row: int = Field(1, ge=1)

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, v: str) -> str:
        try:
            codecs.lookup(v)
        except LookupError:
            raise ValueError(f"unknown encoding {v!r}") from None
        return v


class _Xlsx(_Layout):
    sheet: str | int | None = None
    header_row: int = Field(1, ge=1)


class _AsOfFromName(_Strict):
    regex: str
    format: str

    @field_validator("regex")
    @classmethod
    def _one_group(cls, v: str) -> str:
        try:
            groups = re.compile(v).groups
        except re.error as e:
            raise ValueError(f"not a regular expression: {e}") from None
        if groups < 1:
            raise ValueError("needs a group holding the as-of")
        return v


class _FileRule(_Strict):
    match: str = Field(min_length=1)
    kind: Literal[KINDS]  # type: ignore[valid-type]
    as_of: _AsOfFromName | Literal["mtime"]
    label: str = Field("", pattern=r"^[A-Za-z0-9_-]*$")
    csv: _Csv = _Csv()
    xlsx: _Xlsx = _Xlsx()

    def rule(self) -> FileRule:
        as_of = self.as_of if self.as_of == "mtime" else AsOfFromName(self.as_of.regex, self.as_of.format)
        return FileRule(self.match, self.kind, as_of, self.label, self.csv.options(), self.xlsx.options())


class _Constant(_Strict):
    value: str | int


class _Template(_Strict):
    template: str

    @field_validator("template")
    @classmethod
    def _names_a_header(cls, v: str) -> str:
        if not ColumnSource(template=v).template_headers:
            raise ValueError("a template naming nothing: give at least one {Header}")
        return v


def _source(v: str | list[str] | _Constant | _Template) -> ColumnSource:
    if isinstance(v, _Constant):
        return ColumnSource(value=str(v.value))
    if isinstance(v, _Template):
        return ColumnSource(template=v.template)
    aliases = (v,) if isinstance(v, str) else tuple(v)
    return ColumnSource(aliases=aliases)


class _Values(_Strict):
    map: dict[str, str | int] = {}
    pattern: str | None = None
    negative: Literal["reject", "zero"] = "reject"
    zero_pad: int | None = Field(None, ge=1, le=200)

    @field_validator("pattern")
    @classmethod
    def _one_group_pattern(cls, v: str | None) -> str | None:
        if v is None:
            return v
        try:
            groups = re.compile(v).groups
            pl.Series([""], dtype=pl.String).str.contains(v)  # polars' (Rust) regex reads it too
        except (re.error, pl.exceptions.ComputeError) as e:
            raise ValueError(f"not a regular expression: {one_line(e)}") from None
        if groups != 1:
            raise ValueError(f"needs exactly one group (it has {groups})")
        return v

    def rules(self) -> ValueRules:
        return ValueRules(
            map=tuple((k, str(v)) for k, v in self.map.items()),
            pattern=self.pattern,
            negative=self.negative,
            zero_pad=self.zero_pad,
        )


class _Exports(_Strict):
    dir: str | None = None
    outbox: str | None = None
    joor_delimiter: Literal[",", "|"] = ","


class _Guard(_Strict):
    max_ats_drop_pct: float | None = Field(None, ge=0, le=100)
    max_zeroed_pct: float | None = Field(None, ge=0, le=100)
    min_overwrite_rows_pct: float | None = Field(None, ge=0, le=100)


class _Results(_Strict):
    dir: str | None = None
    outbox: str | None = None


class _Channel(_Strict):
    base_url: str
    token: _Env | None = None
    batch_items: int | None = Field(None, ge=1)
    batch_bytes: int = Field(1_000_000, ge=1000)
    body_format: Literal["json", "xml"] = "json"
    min_interval_s: float = Field(0.0, ge=0)
    rate_credits: int = Field(300, ge=1)
    rate_window_s: float = Field(300.0, gt=0)
    credits_per_request: int = Field(5, ge=1)
    timeout_s: float = Field(30.0, gt=0)
    max_attempts: int = Field(6, ge=1)
    backoff_initial_s: float = Field(1.0, ge=0)
    backoff_max_s: float = Field(60.0, ge=0)
    retry_after_max_s: float = Field(300.0, ge=0)
    locations: dict[str, str] = {}
    on_drift: Literal["ours", "report"] = "ours"


class _RuleLevel(_Strict):
    buffer: int | None = Field(None, ge=0)
    percent: Decimal | None = None
    zero_below: int | None = Field(None, ge=0)
    max: int | None = Field(None, ge=0)

    @field_validator("percent", mode="before")
    @classmethod
    def _exact_percent(cls, v):
        if v is None:
            return v
        if isinstance(v, bool) or not isinstance(v, int | float | str):
            raise ValueError("must be a number 0–100")
        RuleLevel.percent_to_bp(str(v))  # 0–100, at most 2 decimals (ValueError names it)
        return Decimal(str(v))

    def level(self) -> RuleLevel:
        bp = RuleLevel.percent_to_bp(self.percent) if self.percent is not None else None
        return RuleLevel(buffer=self.buffer, percent_bp=bp, zero_below=self.zero_below, max=self.max)


class _ChannelRules(_RuleLevel):
    warehouses: dict[str, _RuleLevel] = {}
    styles: dict[str, _RuleLevel] = {}

    def rules(self) -> QuantityRules:
        return QuantityRules(
            channel=self.level(),
            warehouses=tuple((code, r.level()) for code, r in sorted(self.warehouses.items())),
            styles=tuple((style, r.level()) for style, r in sorted(self.styles.items())),
        )


# Partner and account names become folder names and partition keys (`<partner>/<file>`).
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"
NAME_RULE = "1-100 characters of A-Z a-z 0-9 _ . -, starting with a letter or digit"


class _Partner(_Strict):
    account: str = Field(pattern=NAME_PATTERN)
    source: str
    known_hosts: str | None = None
    private_key: _Env | None = None
    private_key_file: str | None = None
    password: _Env | None = None
    settle_s: float = Field(DEFAULT_SETTLE_S, ge=0)
    ready_marker: str | None = None
    after_processing: Literal["leave", "move"] = "leave"
    item_identifier: Literal["auto", "upc", "style", "ids"] = "auto"
    inventory_policy: Literal["continue", "deny"] = "continue"
    inventory: _Inventory = _Inventory()
    csv: _Csv = _Csv()
    xlsx: _Xlsx = _Xlsx()
    files: list[_FileRule] = []
    columns: dict[Literal[KINDS], dict[str, str | list[str] | _Constant | _Template]] = {}  # type: ignore[valid-type]
    values: dict[str, _Values] = {}
    max_decompressed_mb: int = Field(DEFAULT_MAX_DECOMPRESSED_MB, ge=1)
    max_future_h: float = Field(DEFAULT_MAX_FUTURE_H, ge=0)
    allow_empty_overwrite: bool = False
    max_reject_ratio: float = Field(0.5, ge=0, le=1)
    expect_every_h: float | None = Field(None, gt=0)
    poll_interval_s: int = MIN_POLL_INTERVAL_S
    exports: _Exports = _Exports()
    guard: _Guard | None = None
    results: _Results = _Results()
    channels: dict[Literal["joor", "shopify"], _Channel] = {}
    quantity_rules: dict[Literal["joor", "shopify"], _ChannelRules] = {}

    @field_validator("poll_interval_s")
    @classmethod
    def _not_below_minimum(cls, v: int) -> int:
        if v < MIN_POLL_INTERVAL_S:
            raise ValueError(f"may be raised but never set below the minimum of {MIN_POLL_INTERVAL_S} s")
        return v


class _AlertTarget(_Strict):
    webhook: str | _Env | None = None
    email: str | None = None
    format: Literal["json", "slack"] = "json"
    secret: _Env | None = None


class _Alert(_Strict):
    to: _AlertTarget
    on: list[Literal[EVENTS]] = Field(min_length=1)  # type: ignore[valid-type]
    partners: list[str] | None = None

    def destination(self) -> Destination:
        t = self.to
        if (t.webhook is None) == (t.email is None):
            raise ValueError("give exactly one of to.webhook and to.email")
        target = (
            f"email:{t.email}"
            if t.email
            else (f"webhook:env:{t.webhook.env}" if isinstance(t.webhook, _Env) else f"webhook:{t.webhook}")
        )
        return Destination(
            key=target,
            on=tuple(self.on),
            webhook=EnvRef(t.webhook.env) if isinstance(t.webhook, _Env) else t.webhook,
            email=t.email,
            format=t.format,
            secret=_env(t.secret),
            partners=tuple(self.partners) if self.partners is not None else None,
        )


class _PartnersFile(_Strict):
    partners: dict[str, _Partner]
    alerts: list[_Alert] = []
    alerts_digest_at: str = Field("07:00", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


def _env(v: _Env | None) -> EnvRef | None:
    return EnvRef(v.env) if v else None


def _spec(name: str, p: _Partner, base_dir: Path) -> PartnerSpec:
    source = p.source if p.source.startswith("sftp://") else str((base_dir / p.source).resolve())
    export_dir = str((base_dir / p.exports.dir).resolve()) if p.exports.dir else None
    if p.source.startswith("sftp://") and not p.known_hosts:
        raise PartnersFileError(
            f"partners.{name}.known_hosts: required for an SFTP source (host keys are always verified)"
        )
    return PartnerSpec(
        name=name,
        account=p.account,
        source=source,
        known_hosts=p.known_hosts,
        private_key=_env(p.private_key),
        private_key_file=p.private_key_file,
        password=_env(p.password),
        settle_s=p.settle_s,
        ready_marker=p.ready_marker,
        after_processing=p.after_processing,
        item_identifier=p.item_identifier,
        inventory_policy=p.inventory_policy,
        inventory=InventoryDefaults(**p.inventory.model_dump()),
        max_decompressed_mb=p.max_decompressed_mb,
        max_future_h=p.max_future_h,
        allow_empty_overwrite=p.allow_empty_overwrite,
        max_reject_ratio=p.max_reject_ratio,
        expect_every_h=p.expect_every_h,
        poll_interval_s=p.poll_interval_s,
        exports=ExportTargets(dir=export_dir, outbox=p.exports.outbox, joor_delimiter=p.exports.joor_delimiter),
        guard=GuardLimits(**p.guard.model_dump()) if p.guard else GuardLimits(),
        results=ResultTargets(
            dir=str((base_dir / p.results.dir).resolve()) if p.results.dir else None, outbox=p.results.outbox
        ),
        channels=tuple(
            ChannelSpec(
                name=cname,
                **{**c.model_dump(exclude={"token", "locations"})},
                token=_env(c.token),
                locations=tuple(sorted(c.locations.items())),
            )
            for cname, c in sorted(c_items for c_items in p.channels.items())
        ),
        quantity_rules=tuple((cname, r.rules()) for cname, r in sorted(p.quantity_rules.items())),
        profile=_profile(name, p),
    )


def _profile(name: str, p: _Partner) -> Profile:
    """The partner's profile; PartnersFileError naming the key for what the models cannot see."""
    columns = []
    for kind, sources in p.columns.items():
        ours = schemas.MODELS[kind].columns
        claimed: dict[str, str] = {}
        mapped = []
        for column, raw in sources.items():
            where = f"partners.{name}.columns.{kind}.{column}"
            if column not in ours:
                raise PartnersFileError(f"{where}: {kind} files have no column {column!r}")
            source = _source(raw)
            for alias in source.aliases:
                other = claimed.setdefault(header_key(alias), column)
                if other != column:
                    raise PartnersFileError(f"{where}: alias {alias!r} is already mapped to {other!r}")
            mapped.append((column, source))
        columns.append((kind, tuple(mapped)))
    known = {c for model in schemas.MODELS.values() for c in model.columns}
    for column in p.values:
        if column not in known:
            raise PartnersFileError(f"partners.{name}.values.{column}: no file kind has a column {column!r}")
    return Profile(
        files=tuple(r.rule() for r in p.files),
        csv=p.csv.options(),
        xlsx=p.xlsx.options(),
        columns=tuple(columns),
        values=tuple((c, v.rules()) for c, v in p.values.items()),
    )


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a mapping that names a key twice (the last would silently win:
    `account:` twice routes stock to the wrong account)."""

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first at line {seen[key] + 1})", key_node.start_mark
                )
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


# YAML 1.2 booleans only: under YAML 1.1 the key `on:` of an alert (and yes/no/on/off anywhere)
# would be read as a boolean. Pydantic still takes "yes"/"no" where a boolean is expected.
_UniqueKeyLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_UniqueKeyLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _check_sources(file_name: str, specs: dict[str, PartnerSpec]) -> None:
    """Refuse partners of different accounts on one source (every file would apply to both), and
    an export or results folder inside a source inbox (each run would read its own output as drops)."""
    by_source: dict[str, PartnerSpec] = {}
    for spec in specs.values():
        other = by_source.setdefault(spec.source, spec)
        if other.account != spec.account:
            raise PartnersFileError(
                f"{file_name}: partners.{spec.name}.source: the same source as partner {other.name!r} "
                f"of another account ({other.account!r}); a source belongs to one account"
            )
    inboxes = [Path(s.source) for s in specs.values() if not s.is_sftp]
    for spec in specs.values():
        for key, folder in (("exports.dir", spec.exports.dir), ("results.dir", spec.results.dir)):
            inside = [i for i in inboxes if folder and Path(folder).resolve().is_relative_to(i.resolve())]
            if inside:
                raise PartnersFileError(
                    f"{file_name}: partners.{spec.name}.{key}: {folder} is inside the source inbox {inside[0]}; "
                    "its files would be read back as drops"
                )


def load_partners(path: str | Path) -> dict[str, PartnerSpec]:
    """Parse and validate a partners file; relative paths are relative to the file."""
    return _load(path)[0]


def load_alerts(path: str | Path | None) -> AlertSettings:
    """The partners file's `alerts:` (alerts.md): destinations and the digest time (none without a file)."""
    return _load(path)[1] if path else AlertSettings()


# Where a value may take several shapes (`upc: EAN`, `[EAN, UPC]`, `{value: ...}`, `{template: ...}`),
# pydantic reports an error per shape, its location naming the shape: not a key of the file.
_UNION_MEMBER = re.compile(r"_[A-Z]\w*|str|int|float|bool|(list|dict|literal|function-\w+)\[.*\]")
_TELLING = ("value_error", "extra_forbidden", "literal_error", "missing")


def _most_telling(errors: list) -> dict:
    """The error that says most: our own checks first, then an unknown or missing key."""
    return min(errors, key=lambda e: _TELLING.index(e["type"]) if e["type"] in _TELLING else len(_TELLING))


def _load(path: str | Path) -> tuple[dict[str, PartnerSpec], AlertSettings]:
    path = Path(path)
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader) or {}
    except OSError as e:
        raise PartnersFileError(f"cannot read partners file {str(path)!r}: {e.strerror}") from e
    except yaml.YAMLError as e:
        raise PartnersFileError(f"partners file {str(path)!r} is not valid YAML: {e}") from e
    try:
        parsed = _PartnersFile.model_validate(raw)
    except ValidationError as e:
        err = _most_telling(e.errors())
        where = ".".join(str(x) for x in err["loc"] if not _UNION_MEMBER.fullmatch(str(x)))
        what = {"extra_forbidden": "unknown key", "string_pattern_mismatch": f"must be {NAME_RULE}"}.get(
            err["type"], err["msg"].removeprefix("Value error, ").replace("_Partner", "a partner mapping")
        )
        raise PartnersFileError(f"{path.name}: {where}: {what}") from None
    bad = [name for name in parsed.partners if not re.fullmatch(NAME_PATTERN, name)]
    if bad:
        raise PartnersFileError(f"{path.name}: partners.{bad[0][:100]!r}: a partner name must be {NAME_RULE}")
    try:
        specs = {name: _spec(name, p, path.parent) for name, p in parsed.partners.items()}
    except PartnersFileError as e:
        raise PartnersFileError(f"{path.name}: {e}") from None
    _check_sources(path.name, specs)
    destinations = []
    for n, entry in enumerate(parsed.alerts):
        try:
            destinations.append(entry.destination())
        except ValueError as e:
            raise PartnersFileError(f"{path.name}: alerts.{n}: {e}") from None
    hours, minutes = map(int, parsed.alerts_digest_at.split(":"))
    alerts = AlertSettings(tuple(destinations), dt.time(hours, minutes))
    for spec in specs.values():
        for channel in spec.channels:
            try:
                channel_for(channel)
            except ChannelConfigError as e:
                raise PartnersFileError(f"{path.name}: partners.{spec.name}.channels.{channel.name}: {e}") from None
    return specs, alerts


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
