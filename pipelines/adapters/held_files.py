"""An operator's decision on a held file (cli.md v1.1): approve applies it at its place in contract
order, exactly as a late file would be; deny keeps that version out for good (a re-drop of the
same bytes stays denied, new content under the name is a new version and is guarded afresh)."""

from __future__ import annotations

from typing import Literal

from pipelines.adapters.data_paths import DataPaths
from pipelines.adapters.folding import FoldReport, fold_account
from pipelines.adapters.store import FileVersion, SqlStore

Decision = Literal["approve", "deny"]


class NotHeld(LookupError):
    """The named file has no version waiting for a decision."""


def held_version(store: SqlStore, partner: str, name: str) -> FileVersion:
    """The held current version of `partner/name`, or NotHeld saying what it is instead."""
    with store.transaction() as conn:
        current = store.latest_version(conn, partner, name)
    if current is None:
        raise NotHeld(f"no file {partner}/{name} in the store")
    if current.status != "held":
        raise NotHeld(f"{partner}/{name} is not held (its current version is {current.status})")
    return current


def decide(store: SqlStore, paths: DataPaths, partner: str, name: str, decision: Decision) -> FoldReport | None:
    """Record the decision on the held version; an approved one is folded in at once."""
    held = held_version(store, partner, name)
    with store.account_lock(held.account) as conn:
        if store.get_file(conn, held.file_id).status != "held":  # decided meanwhile by someone else
            raise NotHeld(f"{partner}/{name} was decided meanwhile")
        if decision == "approve":
            store.update_file(conn, held.file_id, status="parsed", decision="approved")
        else:
            store.update_file(conn, held.file_id, status="denied", decision="denied")
    return fold_account(store, paths, held.account) if decision == "approve" else None
