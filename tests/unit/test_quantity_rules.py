"""Quantity rules per channel (channels.md): every value a channel is pushed or exported equals the
five steps written straight in `fractions.Fraction`; what a channel is shown never exceeds the
clamped ats, and a larger buffer or smaller share never raises it."""

from __future__ import annotations

import math
from dataclasses import replace
from fractions import Fraction

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.domain.channel_items import ACKNOWLEDGED_SCHEMA, select_items
from pipelines.domain.export_rows import ExportOptions, export_tables
from pipelines.domain.quantity_rules import QuantityRules, RuleLevel, apply_rules, held_back, trace
from tests.snapshots import snapshot_frame, snapshot_row

WAREHOUSES = ("NYC", "LA")
STYLES = ("ST-0000", "ST-0001", "ST-0002")

percents = st.one_of(
    st.none(), st.integers(0, 100).map(str), st.integers(0, 10_000).map(lambda bp: f"{bp // 100}.{bp % 100:02d}")
)
levels = st.builds(
    lambda b, p, z, m: RuleLevel(b, RuleLevel.percent_to_bp(p) if p is not None else None, z, m),
    st.none() | st.integers(0, 30),
    percents,
    st.none() | st.integers(0, 30),
    st.none() | st.integers(0, 60),
)
rule_sets = st.builds(
    QuantityRules,
    levels,
    st.dictionaries(st.sampled_from(WAREHOUSES), levels, max_size=2).map(lambda d: tuple(sorted(d.items()))),
    st.dictionaries(st.sampled_from(STYLES), levels, max_size=2).map(lambda d: tuple(sorted(d.items()))),
)
states = st.lists(
    st.tuples(st.sampled_from(WAREHOUSES), st.integers(0, 29), st.integers(-20, 10**6)), min_size=1, max_size=20
).map(lambda rows: {(w, n): ats for w, n, ats in rows})


def reference(ats: int, warehouse: str, style: str, rules: QuantityRules) -> int:
    """The five steps of channels.md, in exact rational arithmetic."""

    def param(name: str, default):
        for level in (dict(rules.styles).get(style), dict(rules.warehouses).get(warehouse), rules.channel):
            if level is not None and getattr(level, name) is not None:
                return getattr(level, name)
        return default

    q = Fraction(max(ats, 0))
    q = max(q - param("buffer", 0), Fraction(0))
    q = Fraction(math.floor(q * Fraction(param("percent_bp", 10_000), 100) / 100))
    q = Fraction(0) if q < param("zero_below", 0) else q
    cap = param("max", None)
    return int(min(q, cap) if cap is not None else q)


def snapshot(state: dict) -> pl.DataFrame:
    return snapshot_frame(
        [snapshot_row(n, warehouse_code=w, ats=ats, on_hand=max(ats, 0)) for (w, n), ats in sorted(state.items())]
    )


@settings(max_examples=200, deadline=None)
@given(state=states, rules=rule_sets)
def test_pushed_and_exported_values_are_the_five_steps_exactly(state, rules):
    snap = snapshot(state)
    expected = {
        (r["warehouse_code"], r["upc"]): reference(r["ats"], r["warehouse_code"], r["style_number"], rules)
        for r in snap.iter_rows(named=True)
    }

    pushed = select_items(snap, "joor", "upc", pl.DataFrame(schema=ACKNOWLEDGED_SCHEMA), quantity_rules=rules).rows
    exported = pl.concat(
        pl.read_csv(t.content, infer_schema=False)
        for t in export_tables(snap, ExportOptions("upc", ",", rules))
        if t.kind == "joor" and t.rows
    )

    assert {(r["warehouse_code"], r["upc"]): r["inventory"] for r in pushed.iter_rows(named=True)} == expected
    assert {(r["warehouse"], r["upc"]): int(r["inventory"]) for r in exported.iter_rows(named=True)} == expected
    # Shown never exceeds the clamped ats.
    assert all(expected[(w, f"{n:012d}")] <= max(ats, 0) for (w, n), ats in state.items())


@settings(max_examples=200, deadline=None)
@given(state=states, rules=rule_sets, more=st.integers(0, 20), less_bp=st.integers(0, 10_000))
def test_a_larger_buffer_or_a_smaller_share_never_raises_what_is_shown(state, rules, more, less_bp):
    snap = snapshot(state).with_columns(pl.max_horizontal("ats", 0).alias("inventory"))
    base = apply_rules(snap, rules)["inventory"]
    level = rules.channel
    buffer = replace(rules, channel=replace(level, buffer=(level.buffer or 0) + more))
    own_bp = level.percent_bp if level.percent_bp is not None else 10_000
    share = replace(rules, channel=replace(level, percent_bp=min(own_bp, less_bp)))
    # Only where the channel's own level decides (no warehouse or style sets the parameter).
    for changed in (apply_rules(snap, buffer)["inventory"], apply_rules(snap, share)["inventory"]):
        assert (changed <= base).all()


def test_57_percent_of_100_is_57_and_33_33_percent_of_300_is_99():
    rules = QuantityRules(RuleLevel(percent_bp=RuleLevel.percent_to_bp("57")))
    frame = pl.DataFrame({"warehouse_code": ["A", "A"], "style_number": ["S", "S"], "inventory": [100, 29]})
    assert apply_rules(frame, rules)["inventory"].to_list() == [57, 16]
    third = QuantityRules(RuleLevel(percent_bp=RuleLevel.percent_to_bp("33.33")))
    assert apply_rules(frame.with_columns(pl.lit(300).alias("inventory")), third)["inventory"].to_list() == [99, 99]


def test_held_back_counts_units_by_step_and_trace_names_the_steps_that_changed():
    rules = QuantityRules(
        RuleLevel(buffer=2, percent_bp=8000, zero_below=3, max=500),
        warehouses=(("NYC", RuleLevel(buffer=5)),),
        styles=(("TEE", RuleLevel(percent_bp=5000, max=20)),),
    )
    frame = pl.DataFrame(
        {"warehouse_code": ["NYC", "LA", "LA"], "style_number": ["X", "TEE", "X"], "inventory": [10, 100, 3]}
    )
    # NYC/X: 10 -5 -> 5, 80% -> 4.  LA/TEE: 100 -2 -> 98, 50% -> 49, max 20 -> 20.  LA/X: 3 -2 -> 1, 80% -> 0.
    assert apply_rules(frame, rules)["inventory"].to_list() == [4, 20, 0]
    assert held_back(frame, rules) == {"total": 89, "buffer": 9, "percent": 51, "zero_below": 0, "max": 29}
    assert trace(100, "LA", "TEE", rules) == [("channel:buffer", 98), ("channel:percent", 49), ("channel:max", 20)]
    assert trace(-4, "LA", "X", rules) == []
