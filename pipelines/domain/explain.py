"""Explain a number: every step that changed one (warehouse, SKU), from the file and line that
caused it to the values after it (cli.md v1.1, `stockdrop explain`).

Built on the fold, not beside it: the account's files are folded again in contract order with
the same `apply_file`, each cut down to the rows that could name the SKU (those carrying one of
its identifiers in the catalog as of the file). The rules are per (warehouse, SKU), so the cut
changes nothing for that row. Two refinements make the steps line by line:

- the pre-book release each file starts with is folded on its own first (a `release` step);
- an orders file's lines for the SKU are folded one at a time, in file order, after the file's
  own choice of the latest row per order line (so the sum of the steps is the file's effect).

Steps: `set`, `zeroed`, `seed_kept` (inventory files), `claim`, `backorder`, `return`,
`no_return`, `ship` (a claimed line leaving Pending/Approved: pending goes down, the claim stays),
`release` (a pre-book line claiming at its start), `warehouse_date` (a warehouses file moving the
date in force). `quantity`: the units the step carried (for `set`/`seed_kept` the quantity the
file listed, for `zeroed` the on_hand it took away); empty for `warehouse_date`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Literal

import polars as pl

from pipelines.domain.allocation import latest_row_per_line
from pipelines.domain.fold import FileToApply, FoldState, apply_file, effective_inventory, initial_state, resolve_rows
from pipelines.domain.inventory_merge import LISTED_ONLY, sets_values
from pipelines.domain.item_keys import KEY_SETS
from pipelines.domain.quantity_rules import QuantityRules, trace

StepKind = Literal[
    "set", "zeroed", "seed_kept", "claim", "backorder", "return", "no_return", "ship", "release", "warehouse_date"
]
STEP_SCHEMA = pl.Schema(
    {
        "as_of": pl.Datetime("us"),
        "partner": pl.String(),
        "file": pl.String(),
        "line": pl.Int64(),
        "step": pl.String(),
        "quantity": pl.Int64(),
        "on_hand": pl.Int64(),
        "pending": pl.Int64(),
        "ats": pl.Int64(),
    }
)


@dataclass(frozen=True)
class FileRows:
    """A file of the account's history, its rows to be read lazily (only what names the SKU)."""

    file: FileToApply  # rows empty: they come from `rows`
    rows: pl.LazyFrame | None


@dataclass(frozen=True)
class Step:
    as_of: datetime
    partner: str
    file: str
    line: int | None
    step: StepKind
    quantity: int | None
    on_hand: int
    pending: int
    ats: int


@dataclass(frozen=True)
class _Row:
    """The explained row's values at one point (absent: all zero)."""

    on_hand: int = 0
    pending: int = 0
    ats: int = 0
    is_set: bool = False
    available_date: date | None = None
    exists: bool = False

    @property
    def values(self) -> tuple[int, int, int]:
        return self.on_hand, self.pending, self.ats

    def differs(self, other: _Row) -> bool:
        """Other values, or the row came into being (a claim of 0 units still makes the row)."""
        return self.values != other.values or self.exists != other.exists


class _Explainer:
    def __init__(self, warehouse: str, item_key: str):
        self.warehouse, self.item_key = warehouse, item_key
        self.steps: list[Step] = []

    def row(self, state: FoldState) -> _Row:
        found = effective_inventory(state).filter(
            (pl.col("warehouse_code") == self.warehouse) & (pl.col("item_key") == self.item_key)
        )
        if not found.height:
            return _Row()
        r = found.row(0, named=True)
        return _Row(r["on_hand"], r["pending"], r["ats"], bool(r["is_set"]), r["available_date"], True)

    def line(self, state: FoldState, order_id: str) -> dict:
        found = state.order_lines.filter(
            (pl.col("order_id") == order_id)
            & (pl.col("item_key") == self.item_key)
            & (pl.col("warehouse_code") == self.warehouse)
        )
        return found.row(0, named=True) if found.height else {"claimed": 0, "backordered": 0}

    def add(self, f: FileToApply, line: int | None, step: StepKind, quantity: int | None, after: _Row) -> None:
        self.steps.append(Step(f.as_of, f.partner, f.name, line, step, quantity, *after.values))

    def keep_only_sku(self, state: FoldState) -> FoldState:
        """The state cut to the SKU's rows (the catalog stays whole: rows resolve against it)."""
        mine = pl.col("item_key") == self.item_key
        return replace(state, inventory=state.inventory.filter(mine), order_lines=state.order_lines.filter(mine))

    def naming_rows(self, state: FoldState, rows: pl.LazyFrame) -> pl.DataFrame:
        """The rows that could resolve to the SKU: those carrying one of its key sets' values."""
        item = state.items.filter(pl.col("item_key") == self.item_key)
        if not item.height:
            return rows.head(0).collect()
        values = item.row(0, named=True)
        names = set(rows.collect_schema().names())
        tests = [
            pl.all_horizontal(pl.col(c) == values[c] for c in columns)
            for columns in KEY_SETS.values()
            if all(c in names and values.get(c) is not None for c in columns)
        ]
        return rows.filter(pl.any_horizontal(tests)).collect() if tests else rows.head(0).collect()

    def fold(self, state: FoldState, fr: FileRows) -> FoldState:
        f = fr.file
        before = self.row(state)
        state = apply_file(state, replace(f, kind="release", rows=pl.DataFrame())).state
        released = self.row(state)
        if released.differs(before):
            self.add(f, None, "release", before.ats - released.ats, released)
        if f.kind == "release" or fr.rows is None:
            return state
        if f.kind == "inventory":
            return self._inventory(state, fr)
        if f.kind == "orders":
            return self._orders(state, fr)
        after_state = apply_file(state, replace(f, rows=fr.rows.collect())).state
        after = self.row(after_state)
        if f.kind == "warehouses" and after.available_date != released.available_date:
            self.add(f, None, "warehouse_date", None, after)
        return after_state

    def _inventory(self, state: FoldState, fr: FileRows) -> FoldState:
        f, lazy = fr.file, fr.rows
        assert lazy is not None
        # A warehouses_in_file overwrite's scope is every warehouse the whole file lists.
        whole = f.mode == "overwrite" and f.overwrite_scope == "warehouses_in_file"
        rows = lazy.collect() if whole else self.naming_rows(state, lazy)
        before = self.row(state)
        resolved, _ = resolve_rows(state, replace(f, rows=rows))
        if LISTED_ONLY in resolved.columns:  # rows rejected for a value name the SKU but set nothing
            resolved = resolved.filter(sets_values())
        listed = resolved.filter(
            (pl.col("warehouse_code") == self.warehouse) & (pl.col("item_key") == self.item_key)
        ).sort("line")
        after_state = apply_file(state, replace(f, rows=rows)).state
        after = self.row(after_state)
        if listed.height:
            line, quantity = listed["line"][-1], listed["quantity"][-1]
            if f.mode == "seed" and before.is_set:
                self.add(f, line, "seed_kept", quantity, after)
            elif after.differs(before) or after.is_set:
                self.add(f, line, "set", quantity, after)
        elif after.differs(before):
            self.add(f, None, "zeroed", before.on_hand, after)
        return after_state

    def _orders(self, state: FoldState, fr: FileRows) -> FoldState:
        f, lazy = fr.file, fr.rows
        assert lazy is not None
        rows = self.naming_rows(state, lazy)
        resolved, _ = resolve_rows(state, replace(f, rows=rows))
        mine = resolved.filter((pl.col("warehouse_code") == self.warehouse) & (pl.col("item_key") == self.item_key))
        kept, _ = latest_row_per_line(mine.with_columns(pl.col("updated_at").fill_null(f.as_of)))
        for n, order_id in kept.sort("line").select("line", "order_id").iter_rows():
            before, line_before = self.row(state), self.line(state, order_id)
            state = apply_file(state, replace(f, rows=rows.filter(pl.col("line") == n))).state
            after, line_after = self.row(state), self.line(state, order_id)
            claimed = line_after["claimed"] - line_before["claimed"]
            if claimed > 0:
                self.add(f, n, "claim", claimed, after)
            elif claimed < 0:
                self.add(f, n, "return" if after.ats > before.ats else "no_return", -claimed, after)
            elif line_after["backordered"] > line_before["backordered"]:
                self.add(f, n, "backorder", line_after["backordered"] - line_before["backordered"], after)
            elif after.pending != before.pending:
                self.add(f, n, "ship", before.pending - after.pending, after)
            elif after.differs(before):
                self.add(f, n, "claim", 0, after)
        return state


def explain(files: Sequence[FileRows], warehouse: str, item_key: str) -> pl.DataFrame:
    """The steps that changed (warehouse, SKU), in contract order (`files` in that order)."""
    explainer = _Explainer(warehouse, item_key)
    state = initial_state()
    for fr in files:
        state = explainer.keep_only_sku(explainer.fold(state, fr))
    return pl.DataFrame([s.__dict__ for s in explainer.steps], schema=STEP_SCHEMA, orient="row")


def with_channel_steps(
    steps: pl.DataFrame, channel: str, partner: str, warehouse: str, style_number: str, rules: QuantityRules | None
) -> pl.DataFrame:
    """The state's steps, then one `channel:<step>` row per quantity rule step that changed the
    value a channel is shown (`quantity` = the value after it; the state's columns as they stand).
    The last `quantity` is then what the channel is sent whenever a rule changed it."""
    last = steps.row(-1, named=True) if steps.height else None
    ats = last["ats"] if last else 0
    rows = [
        {
            **(last or dict.fromkeys(STEP_SCHEMA.names())),
            "partner": partner,
            "file": f"quantity_rules.{channel}",
            "line": None,
            "step": step,
            "quantity": value,
        }
        for step, value in trace(ats, warehouse, style_number, rules)
    ]
    return pl.concat([steps, pl.DataFrame(rows, schema=STEP_SCHEMA, orient="row")]) if rows else steps
