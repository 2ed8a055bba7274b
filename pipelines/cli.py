"""`stockdrop`, the operator CLI (../shared/spec/cli.md): it runs the same Dagster definitions.

replay and sync launch the `apply_drop` job once per new file (in contract order), then the
account-level assets; state and rejects read the store. A user error prints one line on stderr
and exits 2; a failed pipeline run exits 1.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import time
from contextlib import closing
from pathlib import Path

import click
import polars as pl
import sqlalchemy as sa

from pipelines.adapters import environment
from pipelines.adapters.data_paths import DataPaths, default_store_url
from pipelines.adapters.drop_source import DropSourceError, SourceUnreachable
from pipelines.adapters.explaining import UnknownKey, explain_row
from pipelines.adapters.failures import MachineryFailure, PipelineFailed, is_machinery, one_line
from pipelines.adapters.held_files import NotHeld, held_version
from pipelines.adapters.landing import already_processed
from pipelines.adapters.partners_file import PartnersFileError, partner_specs
from pipelines.adapters.store import SqlStore
from pipelines.adapters.store_schema import StoreMissing, StoreUrlError, require_existing
from pipelines.domain.deliveries import DeliveryStatus
from pipelines.domain.drop_names import contract_order
from pipelines.domain.guard import Effect
from pipelines.domain.settle import observe

USER_ERRORS = (
    PartnersFileError,
    StoreUrlError,
    StoreMissing,
    DropSourceError,
    environment.MissingSecret,
    environment.BadSetting,
    NotHeld,
    UnknownKey,
    PermissionError,
    sa.exc.ArgumentError,
    FileNotFoundError,
    NotADirectoryError,
)


def _store_option(f):
    return click.option(
        "--store",
        "store_url",
        default=None,
        metavar="URL",
        help="SQLAlchemy URL of the store (default: $STOCKDROP_STORE_URL or SQLite under dagster_home/).",
    )(f)


def _store_url(value: str | None) -> str:
    return value or environment.store_url() or default_store_url()


def _runner(store_url: str | None, **partners):
    """A Runner over the store at --store (or its default) and the data folder STOCKDROP_DATA_DIR
    names; Dagster is imported here, by the commands that run the pipeline, only."""
    from pipelines.defs.resources import PartnersResource, StoreResource
    from pipelines.defs.runner import Runner

    store = StoreResource(url=_store_url(store_url), data_dir=environment.data_dir())
    return Runner(store, PartnersResource(**partners))


def _existing_store(store_url: str | None) -> SqlStore:
    """The store for a command that only reads: it must exist, and nothing is created or migrated."""
    url = _store_url(store_url)
    require_existing(url)
    return SqlStore(url, auto_migrate=False)


def _summary(db, partner: str, names: list[str], seconds: float) -> None:
    """What a run did with its files, like a loader's load info: outcomes, rows, time, where to look."""
    if not names:
        return
    files = db.files().filter(pl.col("partner") == partner, pl.col("name").is_in(names))
    by_status = dict(files.group_by("status").len().iter_rows())
    held = f", {by_status['held']} held (stockdrop held)" if by_status.get("held") else ""
    # Every row rejected, while parsing and while resolving: distinct lines of these files.
    rejected = (
        db.rejects(partner=partner)
        .filter(pl.col("file").is_in(names), pl.col("line").is_not_null())
        .select("file", "line")
        .unique()
        .height
    )
    click.echo(
        f"  {by_status.get('parsed', 0)} applied, {by_status.get('rejected', 0)} rejected whole{held}; "
        f"rows read {int(files['rows_read'].fill_null(0).sum())}, rows rejected "
        f"{rejected}; {seconds:.1f} s (details: stockdrop rejects / report)",
        err=True,
    )


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="stockdrop", prog_name="stockdrop", message="%(prog)s %(version)s")
def cli() -> None:
    """Stockdrop operator CLI: replay, sync, check, state, rejects, export, push, reconcile, report, held,
    approve, deny, explain, alerts, worker."""


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False))
@_store_option
@click.option("--partners", "partners_file", type=click.Path(dir_okay=False), help="Partners file (YAML).")
@click.option("--partner", default=None, help="Which partner's settings DIR is read with (default: `local`).")
def replay(directory: str, store_url: str | None, partners_file: str | None, partner: str | None) -> None:
    """Process every file in DIR not yet processed, in contract order (never the wall clock)."""
    if not Path(directory).is_dir():
        raise NotADirectoryError(f"inbox folder {directory!r} does not exist")
    runner = _runner(store_url, partners_file=partners_file, partner=partner, inbox=directory)
    partners = runner.partners
    (spec,) = partners.specs().values()
    with closing(partners.source(spec)) as source:
        listing = source.list_files()
    db = runner.store.store()
    todo = [f.name for f in listing if not already_processed(db, spec, f, _sha256(Path(spec.source) / f.name))]
    if not partners_file:
        click.echo(
            f"stockdrop: no --partners: reading {directory} as partner {spec.name}, account {spec.account}, "
            "every option at its default",
            err=True,
        )
    started = time.perf_counter()
    runner.apply_files(spec, sorted(todo, key=contract_order))
    runner.publish(exports=False, pushes=False)
    click.echo(f"{len(todo)} file(s) processed for partner {spec.name} (account {spec.account})", err=True)
    _summary(db, spec.name, todo, time.perf_counter() - started)


@cli.command()
@click.option(
    "--partners", "partners_file", required=True, type=click.Path(dir_okay=False), help="Partners file (YAML)."
)
@_store_option
@click.option("--partner", default=None, help="Only this partner.")
def sync(partners_file: str, store_url: str | None, partner: str | None) -> None:
    """Poll each partner's source once, like one sensor tick; process what is new and stable."""
    runner = _runner(store_url, partners_file=partners_file, partner=partner)
    partners = runner.partners
    for spec in partners.specs().values():
        with closing(partners.source(spec)) as source:
            first = source.list_files()
            stable, seen = observe({}, [(f.name, f.size, f.mtime) for f in first], time.time(), spec.settle_s)
            if spec.settle_s > 0 and first:
                time.sleep(spec.settle_s)
                again = [(f.name, f.size, f.mtime) for f in source.list_files()]
                stable, _ = observe(seen, again, time.time(), spec.settle_s)
        listed = {f.name: f for f in first}
        todo = [n for n in stable if not already_processed(runner.store.store(), spec, listed[n])]
        started = time.perf_counter()
        runner.apply_files(spec, sorted(todo, key=contract_order))
        click.echo(f"{spec.name}: {len(todo)} new stable file(s) of {len(first)} listed", err=True)
        _summary(runner.store.store(), spec.name, todo, time.perf_counter() - started)
    try:
        runner.publish(exports=True, pushes=True)
    finally:  # what went wrong is what people must hear of: alerts go out whatever publishing did
        _deliver_alerts(runner.store.store(), partners_file)


def _deliver_alerts(db: SqlStore, partners_file: str | None) -> None:
    """One alert pass (alerts.md): a destination that fails is said on stderr and stops nothing."""
    from pipelines.adapters.alerting import alert_pass
    from pipelines.adapters.partners_file import load_alerts

    settings = load_alerts(partners_file)
    if not settings.any:
        return
    report = alert_pass(db, partner_specs(partners_file, None, None), settings)
    sent = sum(report.delivered.values())
    if report.found or sent or report.failed:
        click.echo(f"alerts: {len(report.found)} found, {sent} delivered", err=True)
    for destination, error in sorted(report.errors.items()):
        click.echo(f"stockdrop: alert destination {destination}: {error} (tried again next time)", err=True)


@cli.command()
@_store_option
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv")
def alerts(store_url: str | None, fmt: str) -> None:
    """Recorded alerts with their delivery state per destination: id,event,partner,found_at,destination,status,attempts,last_error."""
    from pipelines.adapters.alerting import deliveries_of

    schema = {
        "id": pl.String,
        "event": pl.String,
        "partner": pl.String,
        "found_at": pl.String,
        "destination": pl.String,
        "status": pl.String,
        "attempts": pl.Int64,
        "last_error": pl.String,
    }
    rows = [
        {**r, "id": r["alert_id"], "found_at": r["found_at"].isoformat(timespec="seconds") if r["found_at"] else None}
        for r in deliveries_of(_existing_store(store_url))
    ]
    _print(pl.DataFrame([{k: r.get(k) for k in schema} for r in rows], schema=schema, orient="row"), fmt)


@cli.command()
@_store_option
@click.option("--account", default=None)
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv")
def state(store_url: str | None, account: str | None, fmt: str) -> None:
    """Current inventory state, one row per (account, warehouse, SKU)."""
    _print(_existing_store(store_url).state(account), fmt)


@cli.command()
@_store_option
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv")
def rejects(store_url: str | None, fmt: str) -> None:
    """Every rejected row or file: partner,file,line,column,value,reason."""
    _print(_existing_store(store_url).rejects(), fmt)


@cli.command()
@_store_option
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False))
@click.option("--partners", "partners_file", type=click.Path(dir_okay=False), help="Partners file (YAML).")
def export(store_url: str | None, out_dir: str, partners_file: str | None) -> None:
    """Write the export files (one set per account and warehouse) to OUT."""
    runner = _runner(store_url, partners_file=partners_file)
    runner.publish(exports=True, pushes=False, out_dir=str(Path(out_dir).resolve()))
    click.echo(f"exports written to {out_dir}", err=True)


@cli.command()
@click.option("--partners", "partners_file", required=True, type=click.Path(dir_okay=False))
@_store_option
@click.option("--partner", default=None)
@click.option("--channel", default=None, help="Only this channel (joor | shopify).")
@click.option("--retry-failed", is_flag=True, help="Send items the channels refused before again.")
def push(
    partners_file: str, store_url: str | None, partner: str | None, channel: str | None, retry_failed: bool
) -> None:
    """Send what the configured channels have not yet acknowledged."""
    runner = _runner(store_url, partners_file=partners_file, partner=partner, channel=channel)
    runner.materialize("inventory_state")
    runner.push(retry_failed=retry_failed)


@cli.command()
@click.option("--partners", "partners_file", required=True, type=click.Path(dir_okay=False))
@_store_option
@click.option("--partner", default=None)
@click.option("--channel", default=None, help="Only this channel (shopify; JOOR offers no read).")
@click.option("--apply", "apply", is_flag=True, help="Set ours for each difference, compared against theirs.")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv")
def reconcile(
    partners_file: str, store_url: str | None, partner: str | None, channel: str | None, apply: bool, fmt: str
) -> None:
    """What each channel holds against ours: partner,channel,item,location,ours,theirs for each
    difference; exit 1 when there is one (channels.md)."""
    from pipelines.adapters.reconcile import NoChannelRead, reconcile_channel
    from pipelines.adapters.state_tables import StateTables

    db = _existing_store(store_url)
    specs = partner_specs(partners_file, partner, None)
    chosen = [(s, c) for s in specs.values() for c in s.channels if channel in (None, c.name)]
    if not chosen:
        raise PartnersFileError(f"no channel {channel or ''} configured".replace("  ", " ") + f" in {partners_file}")
    rows, unreadable, undone = [], [], []
    for spec, channel_spec in chosen:
        with db.transaction() as conn:
            snapshot = StateTables(db).outbound(conn, spec.account)
        token = environment.secret(channel_spec.token) if channel_spec.token else ""
        try:
            result = reconcile_channel(db.engine, snapshot, spec, channel_spec, token, apply=apply)
        except NoChannelRead as e:
            unreadable.append(str(e))
            continue
        rows += [
            {
                "partner": spec.name,
                "channel": result.channel,
                "item": r["inventory_item_id"],
                "location": r["location_id"],
                "ours": r["ours"],
                "theirs": r["theirs"],
            }
            for r in result.differences.iter_rows(named=True)
        ]
        if result.problem:
            undone.append(f"{spec.name}/{result.channel}: {result.problem}")
        if result.applied is not None:
            click.echo(
                f"{spec.name}/{result.channel}: set ours on {result.applied.items_acknowledged} item(s)", err=True
            )
            if not result.applied.ok:
                undone.append(f"{spec.name}/{result.channel}: {result.applied.undone()}")
    for line in unreadable:
        click.echo(f"stockdrop: {line}", err=True)
    if unreadable and len(unreadable) == len(chosen):
        sys.exit(2)
    schema = {
        "partner": pl.String,
        "channel": pl.String,
        "item": pl.String,
        "location": pl.String,
        "ours": pl.Int64,
        "theirs": pl.Int64,
    }
    _print(pl.DataFrame(rows, schema=schema, orient="row"), fmt)
    for line in undone:
        click.echo(f"stockdrop: reconcile {line}", err=True)
    if rows or undone:
        sys.exit(1)


@cli.command()
@_store_option
@click.option("--partners", "partners_file", type=click.Path(dir_okay=False), help="Partners file (YAML).")
def report(store_url: str | None, partners_file: str | None) -> None:
    """What the store holds: files and their rows, rejects, ATS by warehouse, where exports go."""
    db = _existing_store(store_url)
    files, state, rejected = db.files(), db.state(), db.rejects()
    per_file = dict(
        rejected.group_by("partner", "file")
        .agg(pl.col("line").n_unique())
        .select(pl.concat_str("partner", "file", separator="/"), "line")
        .iter_rows()
    )
    click.echo(f"Files ({files.height}):")
    for f in files.iter_rows(named=True):
        bad = per_file.get(f"{f['partner']}/{f['name']}", 0)
        rows = "" if f["status"] == "rejected" else f"  rows read {f['rows_read']}, rejected {bad}"
        click.echo(f"  {f['status']:<9} {f['partner']}/{f['name']}{rows}")
    click.echo(f"Rejects: {rejected.height} (stockdrop rejects --store ...)")
    held = db.held_files()
    if held:
        click.echo(f"Held ({len(held)}), waiting for stockdrop approve/deny PARTNER/FILE:")
        for f in held:
            click.echo(f"  {f.partner}/{f.name}: {f.decision_reason}")
    ats = (
        state.group_by("account", "warehouse_code")
        .agg(
            pl.len().alias("skus"),
            pl.col("on_hand").sum(),
            pl.col("pending").sum(),
            pl.col("ats").sum(),
            (pl.col("ats") < 0).sum().alias("oversold"),
        )
        .sort("account", "warehouse_code")
    )
    click.echo("ATS by warehouse:")
    width = max((len(f"{r['account']}/{r['warehouse_code']}") for r in ats.iter_rows(named=True)), default=0)
    for r in ats.iter_rows(named=True):
        where = f"{r['account']}/{r['warehouse_code']}"
        click.echo(
            f"  {where:<{width}} skus {r['skus']:>5}  on_hand {r['on_hand']:>7}"
            f"  pending {r['pending']:>5}  ats {r['ats']:>7}  oversold rows {r['oversold']}"
        )
    specs = partner_specs(partners_file, None, None)
    _report_channels(db, specs)
    late = [
        DeliveryStatus(s.name, s.expect_every_h, db.last_delivery(s.name), time.time())
        for s in specs.values()
        if s.expect_every_h is not None
    ]
    for status in late:
        if status.late:
            click.echo(f"Late: {status.describe()}")
    default = DataPaths.for_store(db.url, environment.data_dir()).exports()
    dirs = sorted({s.exports.dir for s in specs.values() if s.exports.dir}) or [str(default)]
    click.echo("Exports: " + ", ".join(d if Path(d).is_dir() else f"{d} (none written yet)" for d in dirs))


def _report_channels(db: SqlStore, specs: dict) -> None:
    """What each channel is shown against what the warehouses hold (the quantity rules' cost)."""
    from pipelines.adapters.state_tables import StateTables
    from pipelines.domain.channel_items import channel_view

    lines = []
    for spec in specs.values():
        names = sorted({c.name for c in spec.channels} | {name for name, _ in spec.quantity_rules})
        if not names:
            continue
        with db.transaction() as conn:
            snapshot = StateTables(db).outbound(conn, spec.account)
        locations = {c.name: c.locations for c in spec.channels}
        for name in names:
            view = channel_view(snapshot, name, spec.item_identifier, locations.get(name, ()), spec.rules_for(name))
            if name not in locations and not view.held:
                continue  # rules for a channel that is not configured and holds nothing here
            per = "  ".join(f"{w} {view.shown.get(w, 0)}/{view.held[w]}" for w in sorted(view.held))
            why = ", ".join(f"{k} {v}" for k, v in view.held_back.items() if k != "total" and v)
            configured = "" if name in locations else " (no channel configured: rules for the export only)"
            lines.append(
                f"  {spec.name}/{name}{configured}: shown {sum(view.shown.values())} of {sum(view.held.values())} "
                "units" + (f" (held back by rules: {why})" if why else "") + (f"; by warehouse {per}" if per else "")
            )
    if lines:
        click.echo("Channels (units shown / units the warehouses hold for them):")
        for line in lines:
            click.echo(line)


@cli.command()
@_store_option
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv")
def held(store_url: str | None, fmt: str) -> None:
    """Files held by their partner's guard, and those denied: partner,file,reason,ats_change,rows_zeroed."""
    rows = [
        {
            "partner": f.partner,
            "file": f.name,
            # drops.md v1.2: a denied version is shown as denied (`approve` brings it back)
            "reason": f.decision_reason if f.status == "held" else f"denied ({f.decision_reason or 'by an operator'})",
            "ats_change": Effect.from_json(f.effect).ats_change_by_warehouse,
            "rows_zeroed": Effect.from_json(f.effect).rows_zeroed,
        }
        for f in _existing_store(store_url).held_files(with_denied=True)
    ]
    if fmt == "json":
        sys.stdout.write(json.dumps(rows) + "\n")
        return
    text = [{**r, "ats_change": " ".join(f"{w}:{c:+d}" for w, c in sorted(r["ats_change"].items()))} for r in rows]
    _print(pl.DataFrame(text, schema=HELD_COLUMNS), "csv")


HELD_COLUMNS = {
    "partner": pl.String,
    "file": pl.String,
    "reason": pl.String,
    "ats_change": pl.String,
    "rows_zeroed": pl.Int64,
}


def _decide(file: str, store_url: str | None, partners_file: str | None, decision: str) -> None:
    partner, _, name = file.partition("/")
    if not name:
        raise click.UsageError(f"{file!r}: name the file as PARTNER/FILE (as `stockdrop held` lists it)")
    # A user error (exit 2) when there is nothing this decision can be taken on.
    version = held_version(_existing_store(store_url), partner, name, decision)  # type: ignore[arg-type]
    runner = _runner(store_url, partners_file=partners_file or environment.partners_file())
    runner.decide(f"{partner}/{name}", decision)
    if decision == "approve" or version.status == "parsed":
        runner.publish(exports=False, pushes=False)
    click.echo(f"{partner}/{name}: {PAST[decision]}", err=True)


PAST = {
    "approve": "approved (applied at its place in contract order)",
    "deny": "denied (this version is out of the account's history; `approve` brings it back)",
}


_partners_option = click.option(
    "--partners",
    "partners_file",
    type=click.Path(dir_okay=False),
    help="Partners file (YAML), for the partner's result files (default: $STOCKDROP_PARTNERS).",
)


@cli.command()
@click.argument("file", metavar="PARTNER/FILE")
@_store_option
@_partners_option
def approve(file: str, store_url: str | None, partners_file: str | None) -> None:
    """Apply a held file at its place in contract order (as a late file would be)."""
    _decide(file, store_url, partners_file, "approve")


@cli.command()
@click.argument("file", metavar="PARTNER/FILE")
@_store_option
@_partners_option
def deny(file: str, store_url: str | None, partners_file: str | None) -> None:
    """Never apply this version of a held file (the same bytes dropped again stay denied)."""
    _decide(file, store_url, partners_file, "deny")


@cli.command()
@click.option(
    "--concurrency", type=click.IntRange(min=1), default=None, help="Steps at once (default: Celery's, the CPUs)."
)
@click.option("--name", default=None, help="Worker name (default: stockdrop); the host is appended.")
def worker(concurrency: int | None, name: str | None) -> None:
    """Start one Celery worker for this project's steps (STOCKDROP_EXECUTOR=celery); runs until stopped."""
    from pipelines.adapters.celery_worker import run_worker

    run_worker(name, concurrency)


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--partners", "partners_file", required=True, type=click.Path(dir_okay=False), help="Partners file.")
@click.option("--partner", required=True, help="Whose profile the file is read through.")
@click.option(
    "--canonical", type=click.Path(dir_okay=False), default=None, help="Write the accepted rows as contract CSV."
)
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv")
def check(file: str, partners_file: str, partner: str, canonical: str | None, fmt: str) -> None:
    """Dry run: read FILE through PARTNER's profile, landing nothing; its rejects and a summary."""
    from pipelines.adapters.checking import check_file

    path = Path(file)
    if not path.is_file():
        raise FileNotFoundError(f"no file {file!r}")
    (spec,) = partner_specs(partners_file, partner, None).values()
    result = check_file(spec, path)
    _print(result.rejects.select("line", "column", "value", "reason"), fmt)
    where = f"{result.kind or '?'} as of {result.as_of:%Y-%m-%dT%H:%M:%S}" if result.as_of else "?"
    if result.rejected is not None:
        click.echo(f"stockdrop: {result.name}: {where}: would be rejected whole: {result.rejected.reason}", err=True)
        sys.exit(1)
    assert result.parsed is not None
    rejected = result.parsed.rejects["line"].n_unique()
    click.echo(
        f"stockdrop: {result.name}: {where}: rows read {result.parsed.rows_read}, "
        f"accepted {result.parsed.rows.height}, rejected {rejected}",
        err=True,
    )
    if canonical:
        result.canonical().write_csv(canonical, datetime_format="%Y-%m-%dT%H:%M:%S%.fZ")


@cli.command(name="explain")
@_store_option
@click.option("--account", required=True)
@click.option("--warehouse", required=True)
@click.option("--upc", default=None)
@click.option(
    "--style", default=None, metavar="NUMBER/IDENTIFIER/COLOR/SIZE", help="A / inside a part is %2F, a % is %25."
)
@click.option("--channel", default=None, help="End with the quantity rule steps of this channel (joor | shopify).")
@click.option(
    "--partners", "partners_file", type=click.Path(dir_okay=False), help="Partners file (for --channel's rules)."
)
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv")
def explain_command(
    store_url: str | None,
    account: str,
    warehouse: str,
    upc: str | None,
    style: str | None,
    channel: str | None,
    partners_file: str | None,
    fmt: str,
) -> None:
    """Every step that changed one (warehouse, SKU), in contract order: as_of,partner,file,line,step,quantity,on_hand,pending,ats."""
    if (upc is None) == (style is None):
        raise click.UsageError("name the SKU with exactly one of --upc or --style")
    # `%2F` stands for a `/` inside a part (a size `30/32`), `%25` for `%` (drops.md v1.2).
    parts = tuple(_STYLE_ESCAPE.sub(_unescape, p) for p in style.split("/")) if style is not None else None
    if parts is not None and len(parts) != 4:
        raise click.UsageError(f"--style {style!r}: give NUMBER/IDENTIFIER/COLOR/SIZE")
    rules = None
    if channel is not None:
        if channel not in ("joor", "shopify"):
            raise click.UsageError(f"--channel {channel!r}: joor or shopify")
        specs = partner_specs(partners_file or environment.partners_file(), None, None)
        mine = [s for s in specs.values() if s.account == account]
        partner = mine[0].name if mine else ""
        rules = (channel, partner, mine[0].rules_for(channel) if mine else None)
    steps = explain_row(_existing_store(store_url), account, warehouse, upc=upc, style=parts, channel=rules)
    _print(steps.with_columns(pl.col("as_of").dt.strftime("%Y-%m-%dT%H:%M:%S")), fmt)


_STYLE_ESCAPE = re.compile(r"%(2[Ff]|25)")


def _unescape(match: re.Match) -> str:
    return "/" if match[1].lower() == "2f" else "%"


def _print(frame: pl.DataFrame, fmt: str) -> None:
    if fmt == "csv":
        sys.stdout.write(frame.write_csv())
    else:
        sys.stdout.write(frame.write_json() + "\n")


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except SourceUnreachable as e:  # a DropSourceError, but the network's fault, not the operator's
        click.echo(f"stockdrop: {one_line(e)}", err=True)
        sys.exit(1)
    except USER_ERRORS as e:
        click.echo(f"stockdrop: {one_line(e)}", err=True)
        sys.exit(2)
    except PipelineFailed as e:
        click.echo(f"stockdrop: pipeline failed: {e}".splitlines()[0], err=True)
        sys.exit(1)
    except Exception as e:  # the machinery (store, disk) or a fault of ours: one line, never a traceback
        what = "" if isinstance(e, MachineryFailure) or is_machinery(e) else f"internal error ({type(e).__name__}): "
        click.echo(f"stockdrop: {what}{one_line(e)}", err=True)
        sys.exit(1)
