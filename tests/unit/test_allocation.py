"""Order allocation: statuses, returns, 14-day and merchant rules, made-to-order, pre-book, policies."""

from datetime import date, datetime, timedelta

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.domain.allocation import ORDER_LINE_SCHEMA, apply_orders, empty_order_lines
from pipelines.domain.inventory_merge import INVENTORY_SCHEMA
from tests.conftest import stock

O = "order_id,upc,quantity,status,order_date,updated_at,warehouse_code,linesheet_code,prebook_start,cancelled_by,restock\n"
INV = (
    "inventory_20261102T000000.csv",
    "upc,quantity\n012345678905,10\n012345678912,4\n012345678936,2\n012345678943,1\n",
)
A = ("DEFAULT", "012345678905")


def orders(name, *lines):
    return (name, O + "".join(line + "\n" for line in lines))


def test_allocating_statuses_claim_notes_and_cancelled_do_not(fold):
    s = fold(
        [
            INV,
            orders(
                "orders_20261103T000000.csv",
                "A1,012345678905,3,Pending,2026-11-03,,,,,,",
                "A2,012345678905,2,Approved,2026-11-03,,,,,,",
                "A3,012345678905,1,Shipped,2026-11-03,,,,,,",
                "A4,012345678905,4,Notes,2026-11-03,,,,,,",
                "A5,012345678905,4,Cancelled,2026-11-03,,,,,,",
            ),
        ]
    )
    assert stock(s)[A] == (10, 5, 4)


def test_pending_approved_shipped_moves_no_ats_and_shipping_leaves_pending(fold):
    s = fold(
        [
            INV,
            orders("orders_20261103T000000.csv", "A1,012345678905,3,Pending,2026-11-03,,,,,,"),
            orders("orders_20261104T000000.csv", "A1,012345678905,3,Approved,2026-11-03,,,,,,"),
        ]
    )
    assert stock(s)[A] == (10, 3, 7)
    s = fold([orders("orders_20261105T000000.csv", "A1,012345678905,3,Shipped,2026-11-03,,,,,,")], state=s, base=False)
    assert stock(s)[A] == (10, 0, 7)


def test_leaving_allocation_returns_the_claim_and_re_entering_claims_again(fold):
    s = fold(
        [
            INV,
            orders("orders_20261103T000000.csv", "A1,012345678905,3,Pending,2026-11-03,,,,,,"),
            orders("orders_20261104T000000.csv", "A1,012345678905,3,Notes,2026-11-03,,,,,,"),
        ]
    )
    assert stock(s)[A] == (10, 0, 10)
    s = fold(
        [
            orders("orders_20261105T000000.csv", "A1,012345678905,3,Cancelled,2026-11-03,,,,,market,"),
            orders("orders_20261106T000000.csv", "A1,012345678905,3,Pending,2026-11-03,,,,,,"),
        ],
        state=s,
        base=False,
    )
    assert stock(s)[A] == (10, 3, 7)
    s = fold(
        [orders("orders_20261107T000000.csv", "A1,012345678905,3,Cancelled,2026-11-03,,,,,market,")],
        state=s,
        base=False,
    )
    assert stock(s)[A] == (10, 0, 10)


def test_shipped_then_cancelled_returns_the_claim(fold):
    s = fold(
        [
            INV,
            orders("orders_20261103T000000.csv", "A1,012345678905,3,Shipped,2026-11-03,,,,,,"),
            orders("orders_20261104T000000.csv", "A1,012345678905,3,Cancelled,2026-11-03,,,,,,"),
        ]
    )
    assert stock(s)[A] == (10, 0, 10)


def test_late_cancel_and_merchant_cancel_without_restock_return_nothing(fold):
    s = fold(
        [
            INV,
            orders(
                "orders_20261103T000000.csv",
                "L1,012345678905,2,Pending,2026-10-01,,,,,,",
                "M1,012345678905,3,Pending,2026-11-03,,,,,,",
                "M2,012345678905,1,Pending,2026-11-03,,,,,,",
                "E1,012345678905,1,Pending,2026-11-01,,,,,,",
            ),
            orders(
                "orders_20261104T000000.csv",
                "L1,012345678905,2,Cancelled,2026-10-01,,,,,market,",
                "M1,012345678905,3,Cancelled,2026-11-03,,,,,merchant,false",
                "M2,012345678905,1,Cancelled,2026-11-03,,,,,merchant,true",
                "E1,012345678905,1,Cancelled,2026-11-01,2026-11-15T00:00:00,,,,market,",
            ),
        ]
    )
    # L1 (34 days) and M1 (no restock) keep their claims; M2 and E1 (exactly 14 days) return theirs
    assert stock(s)[A] == (10, 0, 5)


def test_made_to_order_never_claims(fold):
    s = fold(
        [
            INV,
            orders(
                "orders_20261103T000000.csv",
                "A1,012345678905,3,Pending,2026-11-03,,,MTO,,,",
                "A2,012345678905,2,Approved,2026-11-03,,,CUSTOM,,,",
            ),
        ]
    )
    assert stock(s)[A] == (10, 0, 10)


def test_a_line_moved_to_a_made_to_order_linesheet_gives_its_claim_back(fold):
    s = fold(
        [
            INV,
            orders("orders_20261103T000000.csv", "A1,012345678905,3,Pending,2026-11-03,,,,,,"),
            orders("orders_20261104T000000.csv", "A1,012345678905,2,Pending,2026-11-03,,,MTO,,,"),
        ]
    )
    assert stock(s)[A] == (10, 0, 10)
    assert s.order_lines.select("claimed", "backordered").row(0) == (0, 0)


def test_a_line_whose_prebook_start_moves_later_gives_its_claim_back_until_then(fold):
    s = fold(
        [
            INV,
            orders("orders_20261103T000000.csv", "P1,012345678905,4,Approved,2026-11-03,,,,,,"),
            orders("orders_20261104T000000.csv", "P1,012345678905,5,Approved,2026-11-03,,,,2026-12-01,,"),
        ]
    )
    assert stock(s)[A] == (10, 0, 10)
    s = fold([("inventory_20261201T000000.csv", "upc,quantity\n012345678912,4\n")], state=s, base=False)
    assert stock(s)[A] == (10, 5, 5)


def test_deny_claims_what_is_available_and_continue_everything(fold):
    s = fold(
        [
            INV,
            orders(
                "orders_20261103T000000.csv",
                "D1,012345678912,6,Pending,2026-11-03,,,DENY,,,",
                "D2,012345678912,1,Pending,2026-11-03,,,DENY,,,",
                "C1,012345678905,12,Pending,2026-11-03,,,FW26,,,",
            ),
        ]
    )
    assert stock(s)[("DEFAULT", "012345678912")] == (4, 4, 0)
    assert stock(s)[A] == (10, 12, -2)


def test_policy_precedence_style_then_linesheet_then_partner(fold):
    # 936: continue_selling false (deny) beats a continue linesheet; 943: true (continue) beats deny
    s = fold(
        [
            INV,
            orders(
                "orders_20261103T000000.csv",
                "P1,012345678936,5,Pending,2026-11-03,,,CONT,,,",
                "P2,012345678943,5,Pending,2026-11-03,,,DENY,,,",
                "P3,012345678912,5,Pending,2026-11-03,,,FW26,,,",
            ),
        ],
        inventory_policy="deny",
    )
    assert stock(s)[("DEFAULT", "012345678936")] == (2, 2, 0)
    assert stock(s)[("DEFAULT", "012345678943")] == (1, 5, -4)
    assert stock(s)[("DEFAULT", "012345678912")] == (4, 4, 0)


def test_prebook_claims_only_once_its_start_is_applied(fold):
    s = fold(
        [
            INV,
            orders(
                "orders_20261103T000000.csv",
                "P1,012345678905,4,Approved,2026-11-03,,,,2026-12-01,,",
                "P0,012345678905,1,Approved,2026-11-03,,,,2026-11-02,,",
            ),
        ]
    )
    assert stock(s)[A] == (10, 1, 9)
    s = fold([("inventory_20261130T000000.csv", "upc,quantity\n012345678912,4\n")], state=s, base=False)
    assert stock(s)[A] == (10, 1, 9)
    s = fold([("inventory_20261201T000000.csv", "upc,quantity\n012345678912,4\n")], state=s, base=False)
    assert stock(s)[A] == (10, 5, 5)


def test_prebook_release_order_under_deny(fold):
    s = fold(
        [
            INV,
            orders(
                "orders_20261103T000000.csv",
                "B,012345678912,3,Pending,2026-11-02,,,DENY,2026-12-01,,",
                "A,012345678912,3,Pending,2026-11-03,,,DENY,2026-12-01,,",
                "C,012345678912,3,Pending,2026-11-01,,,DENY,2026-12-02,,",
            ),
            ("inventory_20261203T000000.csv", "upc,quantity\n012345678905,10\n"),
        ]
    )
    lines = {r["order_id"]: (r["claimed"], r["backordered"]) for r in s.order_lines.to_dicts()}
    assert lines == {"B": (3, 0), "A": (1, 2), "C": (0, 3)}


def test_stale_updates_are_ignored_and_reported(fold):
    collect = []
    s = fold(
        [
            INV,
            orders("orders_20261103T000000.csv", "A1,012345678905,3,Pending,2026-11-03,2026-11-03T10:00:00,,,,,"),
            orders("orders_20261104T000000.csv", "A1,012345678905,3,Cancelled,2026-11-03,2026-11-03T09:00:00,,,,,"),
        ],
        collect=collect,
    )
    assert stock(s)[A] == (10, 3, 7)
    applied = collect[-1][2]
    assert applied.rejects["reason"].to_list() == ["stale update: older than the line's stored update"]
    assert applied.metrics["stale_updates"] == 1


def test_lines_without_warehouse_use_the_default_and_unknown_ones_are_rejected(fold):
    collect = []
    s = fold(
        [
            INV,
            orders(
                "orders_20261103T000000.csv",
                "A1,012345678905,1,Pending,2026-11-03,,,,,,",
                "A2,012345678905,1,Pending,2026-11-03,,NOPE,,,,",
                "A3,036000291452,1,Pending,2026-11-03,,,,,,",
            ),
        ],
        collect=collect,
    )
    assert stock(s)[A] == (10, 1, 9)
    reasons = sorted(collect[-1][2].rejects["reason"].to_list())
    assert reasons[0].startswith("unknown item") and reasons[1] == "unknown warehouse"


def test_report_counts_claimed_returned_not_returned_and_backordered(fold):
    collect = []
    fold(
        [
            INV,
            orders(
                "orders_20261103T000000.csv",
                "D1,012345678912,6,Pending,2026-11-03,,,DENY,,,",
                "A1,012345678905,2,Pending,2026-10-01,,,,,,",
            ),
            orders(
                "orders_20261104T000000.csv",
                "D1,012345678912,6,Cancelled,2026-11-03,,,DENY,,,",
                "A1,012345678905,2,Cancelled,2026-10-01,,,,,,",
            ),
        ],
        collect=collect,
    )
    first, second = collect[-2][2].metrics, collect[-1][2].metrics
    assert first["units_by_warehouse"] == {"DEFAULT": {"backordered": 2, "claimed": 6}}
    assert second["units_by_warehouse"] == {"DEFAULT": {"not_returned_late_cancel": 2, "returned": 4}}
    assert second["lines_by_status"] == {"Cancelled": 2}


# -- properties -----------------------------------------------------------------------------

T0 = datetime(2026, 11, 10)
STATUSES = ["Notes", "Pending", "Approved", "Shipped", "Cancelled"]


def _inventory(ats: dict) -> pl.DataFrame:
    rows = [
        {
            "warehouse_code": "W",
            "item_key": k,
            "on_hand": max(v, 0),
            "pending": 0,
            "ats": v,
            "available_date": None,
            "is_set": True,
        }
        for k, v in ats.items()
    ]
    return pl.DataFrame(rows, schema=INVENTORY_SCHEMA) if rows else pl.DataFrame(schema=INVENTORY_SCHEMA)


def _rows(events, policy="continue"):
    rows = []
    for i, (order, item, qty, status, days) in enumerate(events):
        rows.append(
            {
                "line": i + 2,
                "order_id": order,
                "item_key": item,
                "warehouse_code": "W",
                "quantity": qty,
                "status": status,
                "order_date": T0,
                "updated_at": T0 + timedelta(days=days),
                "prebook_start": None,
                "linesheet_code": None,
                "cancelled_by": "market",
                "restock": None,
                "made_to_order": False,
                "policy": policy,
            }
        )
    return pl.DataFrame(
        rows,
        schema_overrides={
            "order_date": pl.Datetime("us"),
            "updated_at": pl.Datetime("us"),
            "prebook_start": pl.Date,
            "linesheet_code": pl.String,
            "restock": pl.Boolean,
        },
    )


events = st.lists(
    st.tuples(
        st.sampled_from(["o1", "o2", "o3"]),
        st.sampled_from(["i1", "i2"]),
        st.integers(1, 8),
        st.sampled_from(STATUSES),
        st.integers(0, 30),
    ),
    min_size=1,
    max_size=12,
)
starting_ats = st.fixed_dictionaries({"i1": st.integers(0, 10), "i2": st.integers(0, 10)})


@settings(max_examples=150, deadline=None)
@given(starting_ats, events, st.sampled_from(["continue", "deny"]))
def test_claims_never_exceed_quantity_and_deny_never_oversells(ats, evs, policy):
    inv, lines, _, _ = apply_orders(
        _inventory(ats), empty_order_lines(), _rows(sorted(evs, key=lambda e: e[4]), policy), T0
    )
    assert (lines["claimed"] <= lines["quantity"]).all() and (lines["claimed"] >= 0).all()
    if policy == "deny":
        assert (inv["ats"] >= 0).all()
    pending = (
        lines.filter(pl.col("status").is_in(["Pending", "Approved"])).group_by("item_key").agg(pl.col("claimed").sum())
    )
    got = dict(inv.select("item_key", "pending").iter_rows())
    assert {k: v for k, v in pending.iter_rows() if v} == {k: v for k, v in got.items() if v}


@settings(max_examples=100, deadline=None)
@given(
    starting_ats,
    st.sampled_from(["Pending", "Approved", "Shipped"]),
    st.integers(1, 8),
    st.integers(0, 14),
    st.sampled_from(["continue", "deny"]),
)
def test_market_cancel_within_14_days_leaves_ats_exactly_as_before(ats, status, qty, days, policy):
    start = _inventory(ats)
    inv, lines, _, _ = apply_orders(start, empty_order_lines(), _rows([("o", "i1", qty, status, 0)], policy), T0)
    inv, lines, _, _ = apply_orders(inv, lines, _rows([("o", "i1", qty, "Cancelled", days)], policy), T0)
    assert dict(inv.select("item_key", "ats").iter_rows())["i1"] == ats["i1"]
    assert dict(inv.select("item_key", "pending").iter_rows())["i1"] == 0


def test_of_several_rows_for_one_line_in_a_file_the_latest_counts(fold):
    collect = []
    s = fold(
        [
            INV,
            orders(
                "orders_20261103T000000.csv",
                "A1,012345678905,3,Cancelled,2026-11-03,2026-11-03T12:00:00,,,,,",
                "A1,012345678905,3,Pending,2026-11-03,2026-11-03T08:00:00,,,,,",
                "A2,012345678905,1,Cancelled,2026-11-03,,,,,,",
                "A2,012345678905,1,Pending,2026-11-03,,,,,,",
            ),
        ],
        collect=collect,
    )
    assert stock(s)[A] == (10, 1, 9)  # A1 is cancelled (its latest row); A2's last row in file order is Pending
    rejects = collect[-1][2].rejects.to_dicts()
    assert [(r["line"], r["reason"]) for r in rejects] == [
        (3, "stale update: line 2 of the same file states this order line later"),
        (4, "stale update: line 5 of the same file states this order line later"),
    ]


@settings(max_examples=100, deadline=None)
@given(starting_ats, events, st.sampled_from(["continue", "deny"]))
def test_reapplying_the_same_orders_file_changes_nothing(ats, evs, policy):
    rows = _rows(sorted(evs, key=lambda e: e[4]), policy)
    inv, lines, _, _ = apply_orders(_inventory(ats), empty_order_lines(), rows, T0)
    inv2, lines2, _, _ = apply_orders(inv, lines, rows, T0)
    key = ["warehouse_code", "item_key"]
    assert inv2.sort(key).equals(inv.sort(key))
    assert lines2.sort("order_id", "item_key").equals(lines.sort("order_id", "item_key"))


def test_order_line_schema_is_what_the_fold_carries():
    assert list(empty_order_lines().schema) == list(ORDER_LINE_SCHEMA)
    assert date(2026, 1, 1)  # keeps the date import honest for readers of the schema above
