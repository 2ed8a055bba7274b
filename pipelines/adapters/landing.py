"""Landing a partner's file: copy it into the landing folder under its sha256 and record it in the ledger.

A file is identified by (partner, name, sha256): the same content again is a recorded no-op; new
content under a known name supersedes the earlier version. Whatever happens to the file later
(unrecognised name, unusable structure), the raw bytes are archived first.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.adapters.data_paths import DataPaths
from pipelines.adapters.drop_source import DropSource, DropSourceError, FileStillChanging, RemoteFile
from pipelines.adapters.store import SqlStore
from pipelines.domain.drop_names import UnrecognisedFileName, is_fetchable_name, is_safe_name
from pipelines.domain.partners import PartnerSpec
from pipelines.domain.profiles import CANNOT_READ_AS_OF, read_name
from pipelines.domain.rejects import UNRECOGNISED_FILE_NAME


@dataclass(frozen=True)
class LandingResult:
    """What landing one name did: `new`, `duplicate` (same content as the current version),
    `rejected`, or `changing` (the file changed since it was listed: nothing recorded, taken later)."""

    partner: str
    account: str
    name: str
    outcome: str
    file_id: str | None = None
    sha256: str | None = None
    size: int = 0
    reason: str | None = None


def file_options(partner: PartnerSpec, name: str, mtime: float | None = None) -> dict:
    """The ledger columns a file's name (read through the partner's `files` rules; `mtime` is the
    as-of of a rule that says so) and its partner's settings decide (tokens beat defaults)."""
    drop = read_name(partner.profile, name, mtime)
    mode = drop.mode_token or partner.inventory.mode
    dec_pending = drop.dec_pending_token
    return {
        "kind": drop.kind,
        "as_of": drop.as_of.replace(tzinfo=None),
        "mode": mode,
        "dec_pending": partner.inventory.dec_pending if dec_pending is None else dec_pending,
        "overwrite_scope": partner.inventory.overwrite_scope,
        "item_identifier": partner.item_identifier,
        "inventory_policy": partner.inventory_policy,
        "guard": partner.guard.to_json() if partner.guard.any else None,
    }


def name_reject_reason(e: UnrecognisedFileName) -> str:
    """Why a name that neither a `files` rule nor the contract reads is rejected whole."""
    said = str(e)
    return said if said.startswith(CANNOT_READ_AS_OF) else f"{UNRECOGNISED_FILE_NAME}: {said.split(': ', 1)[-1]}"


UNSAFE_NAME = "unsafe file name: it could escape a folder; archived, not processed"


def land_file(
    store: SqlStore,
    paths: DataPaths,
    partner: PartnerSpec,
    source: DropSource,
    name: str,
    remote_mtime: float | None = None,
    remote_size: int | None = None,
) -> LandingResult:
    """Fetch `name` from the partner's source into the landing folder and record the version.

    `remote_size` is the size the name was listed with: no more than that is read.
    """
    base = dict(partner=partner.name, account=partner.account, name=name)
    if not is_fetchable_name(name):
        with store.transaction() as conn:
            store.ensure_partner(conn, partner.name, partner.account)
            reason = "unsafe file name: not a plain entry of the inbox folder; not downloaded"
            store.reject_file(conn, partner.name, partner.account, name, None, reason, value=name)
        return LandingResult(**base, outcome="rejected", reason=reason)
    try:
        landed = source.fetch(name, paths.landing(partner.account), remote_size)
    except FileStillChanging as e:
        return LandingResult(**base, outcome="changing", reason=str(e))
    except DropSourceError as e:
        # Reported where operators look for what went wrong with a file, then raised: the run fails.
        with store.transaction() as conn:
            store.ensure_partner(conn, partner.name, partner.account)
            store.reject_file(conn, partner.name, partner.account, name, None, f"not downloaded: {e}")
        raise
    # Under the account's lock: two runs landing the same version at once must see each other's
    # row (on PostgreSQL a plain transaction lets both insert it and one dies on the unique key).
    with store.account_lock(partner.account) as conn:
        store.ensure_partner(conn, partner.name, partner.account)
        store.clear_unlanded_rejects(conn, partner.name, name)
        reason = None if is_safe_name(name) else UNSAFE_NAME
        options: dict = {}
        if reason is None:
            try:
                options = file_options(partner, name, remote_mtime)
            except UnrecognisedFileName as e:
                reason = name_reject_reason(e)
        known = store.find_file(conn, partner.name, name, landed.sha256, options.get("as_of"))
        if known and known.status != "superseded":
            return LandingResult(
                **base, outcome="duplicate", file_id=known.file_id, sha256=landed.sha256, size=landed.size
            )
        row = {
            "partner": partner.name,
            "account": partner.account,
            "name": name,
            "sha256": landed.sha256,
            "size": landed.size,
            "remote_mtime": remote_mtime,
            "landed_path": str(landed.path),
            "status": "landed",
            **options,
        }
        if reason is not None:
            file_id = store.record_landing(conn, {**row, "status": "rejected"})
            store.reject_file(conn, partner.name, partner.account, name, file_id, reason, value=name)
            return LandingResult(
                **base, outcome="rejected", file_id=file_id, sha256=landed.sha256, size=landed.size, reason=reason
            )
        if known:  # an older content sent again: it becomes the current version once more
            file_id = store.revive_file(conn, known.file_id)
        else:
            file_id = store.record_landing(conn, row)
    return LandingResult(**base, outcome="new", file_id=file_id, sha256=landed.sha256, size=landed.size)


def already_processed(store: SqlStore, partner: PartnerSpec, remote: RemoteFile, sha256: str | None = None) -> bool:
    """Whether the current version of this name was processed from the same content: the same
    sha256 when the caller could hash it (a local folder), else the same listed size and mtime.
    A name dated by its mtime (a `files` rule) listed with a new mtime is a new file."""
    with store.transaction() as conn:
        current = store.latest_version(conn, partner.name, remote.name)
    if current is None or current.status not in ("parsed", "rejected", "held", "denied"):
        return False
    rule = partner.profile.rule_for(remote.name)
    if rule is not None and rule.as_of == "mtime" and current.remote_mtime != remote.mtime:
        return False
    if sha256 is not None:
        return current.sha256 == sha256
    return current.size == remote.size and current.remote_mtime == remote.mtime
