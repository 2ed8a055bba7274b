"""What a run of files needs to read from the state: its working set, named by the files' rows.

A new file changes only the rows it names, so the fold reads only those (plus what the rules
around them look at) and applies the same rules to that small state. This module says *which*
rows, from the files alone; the store adapter reads them. Reading more rows than needed is
always safe (they come back unchanged); reading fewer is not, so every rule's reach is here:

- item resolution looks up each key set's values (and must see every SKU sharing a value, to
  reject an ambiguous UPC): the files' distinct complete values of each key set;
- a styles file upserts the SKUs it names (their style keys are one of those key sets);
- order claims touch the resolved SKUs in any warehouse: all inventory rows of the SKUs found;
  a run of inventory files alone touches only the (warehouse, SKU) rows its rows resolve to
  (`inventory_rows_named`, resolved against the catalog the tables hold: no file of the run can
  change it);
- an `overwrite` zeroes what it does not list in its scope: the whole account, or the warehouses
  it names (an unnamed warehouse means the default: then the whole account, to be safe);
- orders update their own lines: every line of the orders named;
- before each file, pre-book lines whose start has come claim: lines due by the last as-of;
- warehouses and linesheets are small and every rule may look at them: always all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import polars as pl

from pipelines.domain.fold import FileToApply, FoldState, resolve_rows
from pipelines.domain.item_keys import KEY_SETS, SET_ORDER


@dataclass(frozen=True)
class WorkingSetNeeds:
    """The rows a run of files reads, named by value.

    Attributes:
        item_values: per key set (`upc`, `style`, `ids`), the distinct complete values in the files.
        order_ids: every order id the files name.
        whole_account: an account-wide overwrite is among the files (its scope is every row).
        warehouses_in_scope: warehouses whose every row a `warehouses_in_file` overwrite reads.
        due_by: the last as-of of the files: pre-book lines starting by then may claim.
        warehouse_codes: every warehouse code the files name (rows may be written there).
    """

    item_values: dict[str, pl.DataFrame]
    order_ids: pl.Series
    whole_account: bool
    warehouses_in_scope: tuple[str, ...]
    due_by: datetime | None
    warehouse_codes: tuple[str, ...] = ()


def needs_of(files: Sequence[FileToApply]) -> WorkingSetNeeds:
    values: dict[str, list[pl.DataFrame]] = {name: [] for name in SET_ORDER}
    orders, scope, whole, named = [], set(), False, set()
    for f in files:
        if "warehouse_code" in f.rows.columns:
            named.update(f.rows.get_column("warehouse_code").drop_nulls().unique().to_list())
        if f.kind in ("inventory", "orders", "styles"):
            sets = (
                ["style"] if f.kind == "styles" else [f.item_identifier] if f.item_identifier in KEY_SETS else SET_ORDER
            )
            for name in sets:
                columns = list(KEY_SETS[name])
                if all(c in f.rows.columns for c in columns):
                    values[name].append(f.rows.select(columns).drop_nulls())
        if f.kind == "orders":
            orders.append(f.rows.get_column("order_id"))
        if f.kind == "inventory" and f.mode == "overwrite":
            codes = f.rows.get_column("warehouse_code")
            if f.overwrite_scope == "account" or codes.null_count():
                whole = True
            else:
                scope.update(codes.unique().to_list())
    return WorkingSetNeeds(
        item_values={
            name: pl.concat(parts).unique() if parts else pl.DataFrame(schema={c: pl.String for c in KEY_SETS[name]})
            for name, parts in values.items()
        },
        order_ids=pl.concat(orders).unique() if orders else pl.Series("order_id", [], pl.String),
        whole_account=whole,
        warehouses_in_scope=tuple(sorted(scope)),
        due_by=max((f.as_of for f in files), default=None),
        warehouse_codes=tuple(sorted(named)),
    )


def inventory_rows_named(files: Sequence[FileToApply], catalog: FoldState) -> pl.DataFrame | None:
    """The (warehouse_code, item_key) rows a run of inventory files sets, resolved against
    `catalog` (its items and warehouses as the working set read them); None when another kind
    of file is in the run (a styles file may re-key a SKU, an orders file claims in any
    warehouse), and then every warehouse of the SKUs found is read. An overwrite's scope is
    read besides (`whole_account`, `warehouses_in_scope`)."""
    if not files or any(f.kind != "inventory" for f in files):
        return None
    named = [resolve_rows(catalog, f)[0].select("warehouse_code", "item_key") for f in files]
    return pl.concat(named).unique()
