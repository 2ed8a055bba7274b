"""The guard's thresholds (cli.md v1.1): strict comparisons, measured on the state before the file."""

import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from pipelines.domain.catalog import initial_warehouses
from pipelines.domain.guard import (
    Effect,
    GuardLimits,
    effect_of,
    is_guarded,
    scope_warehouses,
    totals,
    verdict,
)
from pipelines.domain.inventory_merge import INVENTORY_SCHEMA

LIMITS = st.integers(0, 100)


def inventory(rows: list[tuple[str, str, int, int]]) -> pl.DataFrame:
    """(warehouse, sku, on_hand, ats) rows."""
    return pl.DataFrame(
        [(w, k, on_hand, 0, ats, None, True) for w, k, on_hand, ats in rows], schema=INVENTORY_SCHEMA, orient="row"
    )


@given(was=st.integers(1, 10_000), drop=st.integers(0, 10_000), limit=LIMITS)
def test_an_ats_drop_is_held_only_when_strictly_over_the_limit(was, drop, limit):
    drop = min(drop, was)
    before = totals(inventory([("NYC", "a", was, was)]))
    judged = verdict(GuardLimits(max_ats_drop_pct=limit), before, Effect({"NYC": -drop} if drop else {}, 0))
    assert judged.held == (drop * 100 > limit * was)
    if judged.held:
        assert "warehouse NYC: ATS would drop by" in judged.reason


@given(stocked=st.integers(1, 300), zeroed=st.integers(0, 300), limit=LIMITS)
def test_zeroed_rows_are_counted_against_the_accounts_stocked_rows(stocked, zeroed, limit):
    zeroed = min(zeroed, stocked)
    rows = [("NYC" if i % 2 else "LA", f"k{i}", 5, 5) for i in range(stocked)] + [("LA", "empty", 0, 0)]
    judged = verdict(GuardLimits(max_zeroed_pct=limit), totals(inventory(rows)), Effect({}, zeroed))
    assert judged.held == (zeroed * 100 > limit * stocked)


@given(held_rows=st.integers(1, 200), listed=st.integers(0, 400), limit=LIMITS)
def test_an_overwrite_listing_too_few_rows_of_its_scope_is_held(held_rows, listed, limit):
    rows = [("NYC", f"k{i}", i % 3, 0) for i in range(held_rows)] + [("LA", "other", 9, 9)]
    before = totals(inventory(rows))
    scoped = verdict(GuardLimits(min_overwrite_rows_pct=limit), before, Effect(), overwrite_rows=listed,
                     overwrite_warehouses=("NYC",))  # fmt: skip
    assert scoped.held == (listed * 100 < limit * held_rows)
    whole = verdict(GuardLimits(min_overwrite_rows_pct=limit), before, Effect(), overwrite_rows=listed)
    assert whole.held == (listed * 100 < limit * (held_rows + 1))
    assert not verdict(GuardLimits(min_overwrite_rows_pct=limit), before, Effect()).held  # not an overwrite


def test_effect_of_counts_ats_change_by_warehouse_and_rows_zeroed():
    before = inventory([("NYC", "a", 5, 5), ("NYC", "b", 3, 1), ("LA", "c", 0, -2)])
    after = inventory([("NYC", "a", 0, 0), ("NYC", "b", 3, 1), ("LA", "c", 4, 2), ("LA", "d", 1, 1)])
    assert effect_of(before, after) == Effect({"LA": 5, "NYC": -5}, 1)


def test_limits_round_trip_and_only_inventory_files_are_guarded():
    limits = GuardLimits(max_ats_drop_pct=50, min_overwrite_rows_pct=12.5)
    assert GuardLimits.from_json(limits.to_json()) == limits
    assert not GuardLimits().any and GuardLimits.from_json(None) == GuardLimits()
    assert is_guarded("inventory", limits, None)
    assert not is_guarded("orders", limits, None)
    assert not is_guarded("inventory", limits, "approved") and not is_guarded("inventory", GuardLimits(), None)


def test_an_unnamed_warehouse_is_the_default_in_an_overwrites_scope():
    rows = pl.DataFrame({"warehouse_code": ["NYC", None, "NYC"]}, schema={"warehouse_code": pl.String})
    assert scope_warehouses(rows, initial_warehouses()) == ("DEFAULT", "NYC")
