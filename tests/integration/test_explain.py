"""`explain` on random histories, on SQLite and PostgreSQL: for every row of `state`, the last
step's values are that row's, and the steps are in contract order (cli.md v1.1)."""

from __future__ import annotations

import os

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.adapters.explaining import UnknownKey, explain_row
from tests.drop_histories import DrawChooser, DropVersion, random_history
from tests.integration.test_refold import contract_ordered

pytestmark = pytest.mark.integration


def explained_rows_equal_state(inbox) -> int:
    state = inbox.store.state(inbox.partner.account)
    for row in state.iter_rows(named=True):
        style = (row["style_number"], row["style_identifier"], row["color_code"], row["size_name"])
        steps = explain_row(inbox.store, inbox.partner.account, row["warehouse_code"], style=style)
        assert steps.height, row
        assert steps.row(-1, named=True)["on_hand"] == row["on_hand"], (row, steps)
        assert steps.select("on_hand", "pending", "ats").row(-1) == (row["on_hand"], row["pending"], row["ats"]), (
            row,
            steps,
        )
        assert steps["as_of"].is_sorted()
        assert set(steps["step"]) <= {
            "set", "zeroed", "seed_kept", "claim", "backorder", "return", "no_return", "ship", "release",
            "warehouse_date",
        }  # fmt: skip
    return state.height


@settings(
    max_examples=int(os.environ.get("EXPLAIN_EXAMPLES", "12")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_explains_last_row_equals_state_for_every_row(new_inbox, data):
    history = random_history(DrawChooser(data), max_files=8)
    inbox = new_inbox()
    for v in contract_ordered(list({v.name: v for v in history}.values())):
        inbox.drop(v)
    explained_rows_equal_state(inbox)


def test_explain_follows_one_row_line_by_line(new_inbox):
    # allow_empty_overwrite: the header-only overwrite at the end zeroes the account (v1.2 rejects
    # it whole by default).
    inbox = new_inbox(inventory_policy="deny", allow_empty_overwrite=True)
    styles = "style_number,style_identifier,color_code,size_name,upc\nTS1,FW21,BLK,S,000000000001\n"
    orders = (
        "order_id,upc,quantity,status,order_date,updated_at\n"
        "A,000000000001,4,Pending,2021-03-03,2021-03-03T01:00:00\n"
        "B,000000000001,9,Pending,2021-03-03,2021-03-03T01:00:00\n"
        "A,000000000001,4,Shipped,2021-03-03,2021-03-03T02:00:00\n"
    )
    for v in (
        DropVersion("styles_20210301T000000.csv", styles),
        DropVersion("inventory_20210302T000000.csv", "upc,quantity\n000000000001,10\n"),
        DropVersion("orders_20210303T000000.csv", orders),
        DropVersion(
            "orders_20210304T000000.csv",
            orders.replace("Pending,2021-03-03,2021-03-03T01", "Cancelled,2021-03-03,2021-03-04T01"),
        ),
        DropVersion("inventory_20210305T000000_overwrite.csv", "upc,quantity\n"),
    ):
        inbox.drop(v)
    steps = explain_row(inbox.store, inbox.partner.account, "DEFAULT", upc="000000000001")
    got = steps.select("file", "line", "step", "quantity", "on_hand", "pending", "ats").rows()
    assert got == [
        ("inventory_20210302T000000.csv", 2, "set", 10, 10, 0, 10),
        # file order: B (line 3) claims its 9 first; A's latest row (line 4, Shipped) gets the 1 left
        # (policy deny; 3 backordered) and, shipped, is not pending
        ("orders_20210303T000000.csv", 3, "claim", 9, 10, 9, 1),
        ("orders_20210303T000000.csv", 4, "claim", 1, 10, 9, 0),
        # both cancelled within 14 days (line 4, A shipped earlier, is now stale): claims come back
        ("orders_20210304T000000.csv", 2, "return", 1, 10, 9, 1),
        ("orders_20210304T000000.csv", 3, "return", 9, 10, 0, 10),
        ("inventory_20210305T000000_overwrite.csv", None, "zeroed", 10, 0, 0, 0),
    ]
    assert got[-1][4:] == tuple(inbox.store.state(inbox.partner.account).select("on_hand", "pending", "ats").row(0))
    with pytest.raises(UnknownKey):
        explain_row(inbox.store, inbox.partner.account, "DEFAULT", upc="999")
    with pytest.raises(UnknownKey):
        explain_row(inbox.store, inbox.partner.account, "NOWHERE", upc="000000000001")
    assert isinstance(steps, pl.DataFrame)
