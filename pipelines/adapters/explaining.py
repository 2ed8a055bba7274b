"""`stockdrop explain`: the account's folded history read back for one (warehouse, SKU).

Finds the SKU in the catalog and the account's current file versions in contract order, and hands
them to `domain.explain` with each file's rows scanned lazily from its Parquet (only the rows
naming the SKU are read), so one key costs the history's size on disk, not the store's.
"""

from __future__ import annotations

import polars as pl
import sqlalchemy as sa

from pipelines.adapters.folding import ordered_files, to_apply
from pipelines.adapters.store import SqlStore
from pipelines.domain.explain import FileRows, explain, with_channel_steps
from pipelines.domain.item_keys import SKU_COLUMNS, item_key_expr
from pipelines.domain.quantity_rules import QuantityRules


class UnknownKey(LookupError):
    """The account, warehouse or SKU to explain is not in the store."""


def explain_row(
    store: SqlStore,
    account: str,
    warehouse: str,
    upc: str | None = None,
    style: tuple[str, ...] | None = None,
    channel: tuple[str, str, QuantityRules | None] | None = None,
) -> pl.DataFrame:
    """Every step that changed (warehouse, SKU) of the account; the SKU named by UPC or style keys.

    `channel`: (channel name, partner, its quantity rules): the steps end with the rule steps that
    changed what that channel is shown."""
    items = store.t["items"]
    with store.transaction() as conn:
        if not store.accounts_with_files(conn) or account not in store.accounts_with_files(conn):
            raise UnknownKey(f"unknown account {account!r}")
        if warehouse not in store.warehouse_codes(conn, account):
            raise UnknownKey(f"account {account!r} has no warehouse {warehouse!r}")
        q = sa.select(*(items.c[c] for c in SKU_COLUMNS)).where(items.c.account == account)
        if upc is not None:
            q, named = q.where(items.c.upc == upc), f"UPC {upc!r}"
        else:
            assert style is not None
            q = q.where(*(items.c[c] == v for c, v in zip(SKU_COLUMNS, style, strict=True)))
            named = "style " + "/".join(style)
        found = conn.execute(q.limit(2)).all()
        files = ordered_files(store.parsed_files(conn, account))
    if not found:
        raise UnknownKey(f"account {account!r} has no SKU with {named}")
    if len(found) > 1:
        raise UnknownKey(f"{named} names more than one SKU of account {account!r}: name it by --style")
    sku = pl.DataFrame([tuple(found[0])], schema=dict.fromkeys(SKU_COLUMNS, pl.String), orient="row")
    item_key = sku.select(item_key_expr()).item()
    history = [FileRows(to_apply(f, None), pl.scan_parquet(f.events_path) if f.events_path else None) for f in files]
    steps = explain(history, warehouse, item_key)
    if channel is None:
        return steps
    name, partner, rules = channel
    return with_channel_steps(steps, name, partner, warehouse, found[0][0], rules)
