"""An operator's decision on a file version (cli.md v1.1, drops.md v1.2 "Taking a file back").

Approve applies a held (or denied) version at its place in contract order, exactly as a late
file would be; deny keeps a held version out, or takes an applied one back out, re-folding the
account from its place as if it had never arrived. A denied version stays out for good unless
approved: a re-drop of the same bytes stays denied; new content under the name is a new version
and is guarded afresh."""

from __future__ import annotations

from typing import Literal

from pipelines.adapters.data_paths import DataPaths
from pipelines.adapters.folding import FoldReport, fold_account
from pipelines.adapters.store import FileVersion, SqlStore

Decision = Literal["approve", "deny"]


class NotHeld(LookupError):
    """The named file has no version the decision can apply to."""


# What each decision can be taken on: the version's current status.
DECIDABLE: dict[Decision, tuple[str, ...]] = {"approve": ("held", "denied"), "deny": ("held", "parsed")}
_WORDS = {"held": "held", "denied": "denied", "parsed": "applied"}
_DONE = {"approve": "approved", "deny": "denied"}


def held_version(store: SqlStore, partner: str, name: str, decision: Decision = "approve") -> FileVersion:
    """The current version of `partner/name` that `decision` can be taken on, or NotHeld saying
    what it is instead."""
    with store.transaction() as conn:
        current = store.latest_version(conn, partner, name)
    if current is None:
        raise NotHeld(f"no file {partner}/{name} in the store")
    if current.status not in DECIDABLE[decision]:
        can = " or ".join(_WORDS[s] for s in DECIDABLE[decision])
        now = _WORDS.get(current.status, current.status)
        raise NotHeld(f"{partner}/{name} cannot be {_DONE[decision]}: it is {now}, not {can}")
    return current


def decide(store: SqlStore, paths: DataPaths, partner: str, name: str, decision: Decision) -> FoldReport | None:
    """Record the decision; the account is re-folded when its history changed (a version approved
    into it, or an applied one denied out of it)."""
    version = held_version(store, partner, name, decision)
    with store.account_lock(version.account) as conn:
        if store.get_file(conn, version.file_id).status != version.status:  # decided meanwhile by someone else
            raise NotHeld(f"{partner}/{name} was decided meanwhile")
        if decision == "approve":
            store.update_file(conn, version.file_id, status="parsed", decision="approved")
        else:
            store.update_file(conn, version.file_id, status="denied", decision="denied")
    changed_history = decision == "approve" or version.status == "parsed"
    return fold_account(store, paths, version.account) if changed_history else None
