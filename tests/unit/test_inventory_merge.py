"""Merge modes (update, overwrite, seed), overwrite scope, dec_pending and duplicates."""

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.domain.inventory_merge import INVENTORY_SCHEMA, MergeOptions, empty_inventory, merge_inventory
from tests.conftest import stock

WH = ["DEFAULT", "NYC"]
ITEMS = ["a", "b", "c", "d"]


def test_update_changes_only_listed_rows_and_overwrite_zeroes_the_rest_of_the_account(fold):
    s = fold(
        [
            ("inventory_20261102T000000.csv", "upc,warehouse_code,quantity\n012345678905,,10\n012345678912,NYC,5\n"),
            ("inventory_20261103T000000.csv", "upc,quantity\n012345678929,7\n"),
        ]
    )
    assert stock(s) == {
        ("DEFAULT", "012345678905"): (10, 0, 10),
        ("NYC", "012345678912"): (5, 0, 5),
        ("DEFAULT", "012345678929"): (7, 0, 7),
    }
    s = fold([("inventory_20261104T000000_overwrite.csv", "upc,quantity\n012345678905,8\n")], state=s, base=False)
    assert stock(s) == {
        ("DEFAULT", "012345678905"): (8, 0, 8),
        ("NYC", "012345678912"): (0, 0, 0),
        ("DEFAULT", "012345678929"): (0, 0, 0),
    }


def test_overwrite_scope_warehouses_in_file(fold):
    s = fold(
        [
            (
                "inventory_20261102T000000.csv",
                "upc,warehouse_code,quantity\n012345678905,,10\n012345678912,NYC,5\n012345678929,NYC,6\n",
            ),
            ("inventory_20261103T000000_overwrite.csv", "upc,warehouse_code,quantity\n012345678912,NYC,1\n"),
        ],
        overwrite_scope="warehouses_in_file",
    )
    assert stock(s) == {
        ("DEFAULT", "012345678905"): (10, 0, 10),
        ("NYC", "012345678912"): (1, 0, 1),
        ("NYC", "012345678929"): (0, 0, 0),
    }


def test_seed_keeps_the_first_source_and_an_overwrite_zero_counts_as_set(fold):
    s = fold(
        [
            ("inventory_20261102T000000_seed.csv", "upc,quantity\n012345678905,10\n"),
            ("inventory_20261103T000000_overwrite.csv", "upc,quantity\n012345678912,3\n"),
            ("inventory_20261104T000000_seed.csv", "upc,quantity\n012345678905,99\n012345678912,99\n012345678929,7\n"),
        ]
    )
    assert stock(s) == {
        ("DEFAULT", "012345678905"): (0, 0, 0),
        ("DEFAULT", "012345678912"): (3, 0, 3),
        ("DEFAULT", "012345678929"): (7, 0, 7),
    }


def test_dec_pending_subtracts_pending_only_when_on(fold):
    orders = "order_id,upc,quantity,status,order_date\nA1,012345678905,3,Pending,2026-11-02\n"
    s = fold(
        [
            ("inventory_20261102T000000.csv", "upc,quantity\n012345678905,10\n"),
            ("orders_20261102T100000.csv", orders),
            ("inventory_20261103T000000.csv", "upc,quantity\n012345678905,20\n"),
        ]
    )
    assert stock(s)[("DEFAULT", "012345678905")] == (20, 3, 20)
    s = fold([("inventory_20261104T000000_decpending.csv", "upc,quantity\n012345678905,20\n")], state=s, base=False)
    assert stock(s)[("DEFAULT", "012345678905")] == (20, 3, 17)
    s = fold(
        [("inventory_20261105T000000.csv", "upc,quantity\n012345678905,20\n")], state=s, base=False, dec_pending=True
    )
    assert stock(s)[("DEFAULT", "012345678905")] == (20, 3, 17)
    s = fold(
        [("inventory_20261106T000000_nodecpending.csv", "upc,quantity\n012345678905,20\n")],
        state=s,
        base=False,
        dec_pending=True,
    )
    assert stock(s)[("DEFAULT", "012345678905")] == (20, 3, 20)


def test_identical_duplicates_count_once_and_conflicting_ones_are_all_rejected(fold):
    collect = []
    s = fold(
        [
            (
                "inventory_20261102T000000.csv",
                "upc,quantity\n012345678905,4\n012345678905,4\n012345678912,1\n012345678912,2\n",
            )
        ],
        collect=collect,
    )
    assert stock(s) == {("DEFAULT", "012345678905"): (4, 0, 4)}
    applied = collect[-1][2]
    assert sorted(applied.rejects["line"].to_list()) == [4, 5]
    assert all(r.startswith("conflicting duplicate") for r in applied.rejects["reason"])


def _state(rows):
    schema = {
        "warehouse_code": pl.String,
        "item_key": pl.String,
        "on_hand": pl.Int64,
        "pending": pl.Int64,
        "ats": pl.Int64,
    }
    frame = pl.DataFrame(rows, schema=schema, orient="row")
    return (
        frame.with_columns(pl.lit(None, pl.Date).alias("available_date"), pl.lit(True).alias("is_set"))
        .select(list(INVENTORY_SCHEMA))
        .cast(INVENTORY_SCHEMA)
    )


def _file(rows):
    schema = {"warehouse_code": pl.String, "item_key": pl.String, "quantity": pl.Int64}
    return (
        pl.DataFrame(rows, schema=schema, orient="row")
        .with_row_index("line", offset=2)
        .with_columns(pl.col("line").cast(pl.Int64), pl.lit(None, pl.Date).alias("available_date"))
    )


keys = st.tuples(st.sampled_from(WH), st.sampled_from(ITEMS))
states = st.dictionaries(keys, st.tuples(st.integers(0, 50), st.integers(0, 10)), max_size=8).map(
    lambda d: _state([(w, i, q, p, q - p) for (w, i), (q, p) in d.items()])
)
files = st.dictionaries(keys, st.integers(0, 50), max_size=8).map(
    lambda d: _file([(w, i, q) for (w, i), q in d.items()])
)
options = st.builds(
    MergeOptions,
    st.sampled_from(["update", "overwrite", "seed"]),
    st.booleans(),
    st.sampled_from(["account", "warehouses_in_file"]),
)


@settings(max_examples=150, deadline=None)
@given(states, files, options)
def test_merge_properties(state, rows, opts):
    out = merge_inventory(state, rows, opts).inventory
    key = ["warehouse_code", "item_key"]
    assert out.select(key).is_duplicated().sum() == 0
    # rows are never lost; untouched rows keep their values; pending is never changed by a file
    assert set(map(tuple, state.select(key).rows())) <= set(map(tuple, out.select(key).rows()))
    joined = out.join(state, on=key, how="left", suffix="_old")
    assert joined.filter(pl.col("pending_old").is_not_null() & (pl.col("pending") != pl.col("pending_old"))).height == 0
    listed = {(w, i): q for w, i, q in rows.select(*key, "quantity").rows()}
    after = {(r["warehouse_code"], r["item_key"]): r for r in out.to_dicts()}
    before = {(r["warehouse_code"], r["item_key"]): r for r in state.to_dicts()}
    for k, r in after.items():
        expect_ats = r["on_hand"] - r["pending"] if opts.dec_pending else r["on_hand"]
        if k in listed and (opts.mode != "seed" or k not in before):
            assert r["on_hand"] == listed[k] and r["ats"] == expect_ats
        elif opts.mode == "overwrite" and (opts.overwrite_scope == "account" or k[0] in {w for w, _ in listed}):
            assert r["on_hand"] == 0 and r["ats"] == expect_ats
        else:
            assert (r["on_hand"], r["ats"]) == (before[k]["on_hand"], before[k]["ats"])
    # applying the same file twice is the same as once
    again = merge_inventory(out, rows, opts).inventory
    assert again.sort(key).equals(out.sort(key))


def test_empty_state_and_file_is_a_no_op():
    out = merge_inventory(empty_inventory(), _file([]), MergeOptions("overwrite")).inventory
    assert out.height == 0


@settings(max_examples=200, deadline=None)
@given(
    state=states,
    good=st.dictionaries(keys, st.integers(0, 50), max_size=8),
    invalid=st.sets(keys, max_size=4),
    conflicting=st.sets(keys, max_size=2),
    scope=st.sampled_from(["account", "warehouses_in_file"]),
)
def test_an_overwrite_with_invalid_rows_leaves_exactly_what_they_name_as_it_was(
    state, good, invalid, conflicting, scope
):
    """drops.md v1.2: a row rejected for a value (here `listed_only`), or conflicting duplicates,
    still name their (warehouse, SKU): kept, neither set nor zeroed; the rest as the contract says."""
    invalid, conflicting = invalid - set(good), conflicting - set(good) - invalid
    rows = [(w, i, q, False) for (w, i), q in good.items()]
    rows += [(w, i, None, True) for w, i in sorted(invalid)]
    rows += [(w, i, q, False) for w, i in sorted(conflicting) for q in (1, 2)]
    frame = (
        pl.DataFrame(
            rows,
            schema={
                "warehouse_code": pl.String,
                "item_key": pl.String,
                "quantity": pl.Int64,
                "listed_only": pl.Boolean,
            },
            orient="row",
        )
        .with_row_index("line", offset=2)
        .with_columns(pl.col("line").cast(pl.Int64), pl.lit(None, pl.Date).alias("available_date"))
    )

    outcome = merge_inventory(state, frame, MergeOptions("overwrite", False, scope))

    before = {(r["warehouse_code"], r["item_key"]): r["on_hand"] for r in state.to_dicts()}
    named = set(good) | invalid | conflicting
    in_scope = {w for w, _ in named} if scope == "warehouses_in_file" else None
    expected = dict(before)
    for k in before:
        if k not in named and (in_scope is None or k[0] in in_scope):
            expected[k] = 0  # zeroed: in scope and named by no row
    expected.update(good)  # set
    after = {(r["warehouse_code"], r["item_key"]): r["on_hand"] for r in outcome.inventory.to_dicts()}
    assert after == expected
    assert sorted(outcome.rejects["line"].to_list()) == sorted(
        line for line, (w, i, _, _) in enumerate(rows, start=2) if (w, i) in conflicting
    )
