"""The guard: whether an inventory file looks too destructive to apply without an operator.

cli.md v1.1, partner option `guard`. Each limit is measured on the state the file would be
applied to, comparisons strict (a file exactly at a limit is applied):

- `max_ats_drop_pct`: per warehouse, the fall of the sum of its rows' `ats`, in % of that sum
  (a warehouse whose sum is not positive before cannot drop by a percentage);
- `max_zeroed_pct`: the account's rows with `on_hand` > 0 that would end at 0, in % of all its
  rows with `on_hand` > 0;
- `min_overwrite_rows_pct`: an overwrite's listed rows, in % of every row the account holds in
  the overwrite's scope (whatever their quantity).

Only inventory files are guarded: they are the stock feeds that can wipe stock; an orders file
claims stock because it was sold, and holding it would oversell. The verdict is taken once, the
first time the fold reaches the file, and recorded: a later re-fold never re-judges it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import polars as pl

from pipelines.domain.catalog import default_warehouse
from pipelines.domain.inventory_merge import KEY

# Per warehouse: the sum of its rows' ats, its rows with on_hand > 0, and all its rows.
TOTALS_SCHEMA = pl.Schema({"warehouse_code": pl.String, "ats": pl.Int64, "stocked": pl.Int64, "rows": pl.Int64})


@dataclass(frozen=True)
class GuardLimits:
    """A partner's `guard` option; None: that limit is not checked."""

    max_ats_drop_pct: float | None = None
    max_zeroed_pct: float | None = None
    min_overwrite_rows_pct: float | None = None

    @property
    def any(self) -> bool:
        return any(v is not None for v in asdict(self).values())

    def to_json(self) -> str:
        return json.dumps({k: v for k, v in asdict(self).items() if v is not None}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> GuardLimits:
        return cls(**json.loads(text)) if text else cls()


@dataclass(frozen=True)
class Effect:
    """What a file did (or, held, would do) to its account's stock."""

    ats_change_by_warehouse: dict[str, int] = field(default_factory=dict)
    rows_zeroed: int = 0

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> Effect:
        return cls(**json.loads(text)) if text else cls()


@dataclass(frozen=True)
class Verdict:
    held: bool
    reason: str | None
    effect: Effect


def totals(inventory: pl.DataFrame) -> pl.DataFrame:
    """Per warehouse: summed ats, rows stocked (on_hand > 0), rows."""
    return (
        inventory.group_by("warehouse_code")
        .agg(
            pl.col("ats").sum().cast(pl.Int64),
            (pl.col("on_hand") > 0).sum().cast(pl.Int64).alias("stocked"),
            pl.len().cast(pl.Int64).alias("rows"),
        )
        .cast(TOTALS_SCHEMA)
    )


def combined(*parts: tuple[int, pl.DataFrame]) -> pl.DataFrame:
    """Signed sums of totals frames: e.g. the tables' totals, minus the rows read, plus those rows now."""
    frames = [frame.with_columns(pl.col("ats", "stocked", "rows") * sign) for sign, frame in parts]
    return pl.concat(frames).group_by("warehouse_code").agg(pl.col("ats", "stocked", "rows").sum()).cast(TOTALS_SCHEMA)


def effect_of(before: pl.DataFrame, after: pl.DataFrame, count_zeroed: bool = True) -> Effect:
    """The effect between two inventory frames over the same rows (a file's working set);
    `count_zeroed=False` leaves out the row-by-row count (a join) when nobody needs it."""
    change = combined((-1, totals(before)), (1, totals(after))).filter(pl.col("ats") != 0).sort("warehouse_code")
    zeroed = (
        before.filter(pl.col("on_hand") > 0)
        .select(KEY)
        .join(after.filter(pl.col("on_hand") == 0).select(KEY), on=KEY, how="inner")
        .height
        if count_zeroed
        else 0
    )
    return Effect(dict(change.select("warehouse_code", "ats").iter_rows()), zeroed)


def _pct(part: float, whole: float) -> float:
    return 100.0 * part / whole


def verdict(
    limits: GuardLimits,
    before: pl.DataFrame,
    effect: Effect,
    *,
    overwrite_rows: int | None = None,
    overwrite_warehouses: tuple[str, ...] | None = None,
) -> Verdict:
    """Hold or apply, given the account's totals before the file (`totals` of the whole account)
    and the file's effect. `overwrite_rows`: the rows an overwrite lists (None: not an overwrite);
    `overwrite_warehouses`: its scope when it is `warehouses_in_file` (None: the whole account)."""
    reasons = []
    by_warehouse = {r["warehouse_code"]: r for r in before.iter_rows(named=True)}
    if limits.max_ats_drop_pct is not None:
        for code, change in sorted(effect.ats_change_by_warehouse.items()):
            was = by_warehouse.get(code, {}).get("ats") or 0
            if change < 0 and was > 0 and _pct(-change, was) > limits.max_ats_drop_pct:
                reasons.append(
                    f"warehouse {code}: ATS would drop by {_pct(-change, was):.1f}% ({was} to {was + change}), "
                    f"over max_ats_drop_pct {limits.max_ats_drop_pct:g}"
                )
    stocked = int(before["stocked"].sum())
    if limits.max_zeroed_pct is not None and stocked and _pct(effect.rows_zeroed, stocked) > limits.max_zeroed_pct:
        reasons.append(
            f"{effect.rows_zeroed} of {stocked} stocked rows would be zeroed "
            f"({_pct(effect.rows_zeroed, stocked):.1f}%), over max_zeroed_pct {limits.max_zeroed_pct:g}"
        )
    if limits.min_overwrite_rows_pct is not None and overwrite_rows is not None:
        in_scope = (
            before
            if overwrite_warehouses is None
            else before.filter(pl.col("warehouse_code").is_in(overwrite_warehouses))
        )
        held = int(in_scope["rows"].sum())
        if held and _pct(overwrite_rows, held) < limits.min_overwrite_rows_pct:
            reasons.append(
                f"the overwrite lists {overwrite_rows} rows, {_pct(overwrite_rows, held):.1f}% of the {held} "
                f"in its scope, under min_overwrite_rows_pct {limits.min_overwrite_rows_pct:g}"
            )
    return Verdict(bool(reasons), "; ".join(reasons) or None, effect)


def scope_warehouses(rows: pl.DataFrame, warehouses: pl.DataFrame) -> tuple[str, ...]:
    """The warehouses a `warehouses_in_file` overwrite covers (an unnamed one is the default)."""
    codes = rows.get_column("warehouse_code")
    named = set(codes.drop_nulls().unique().to_list())
    return tuple(sorted(named | ({default_warehouse(warehouses)} if codes.null_count() else set())))


def is_guarded(kind: str, limits: GuardLimits, decision: str | None) -> bool:
    """Whether the fold must measure this file before applying it: an inventory file under a
    guard, not yet judged (a verdict, or an operator's approval, is final)."""
    return kind == "inventory" and limits.any and decision is None
