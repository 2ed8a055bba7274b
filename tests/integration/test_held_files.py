"""Held files (cli.md v1.1, `guard`): held, approved, denied, re-dropped; and the partner's result
files. On SQLite and PostgreSQL, through the same adapters the assets call."""

from __future__ import annotations

import csv
import json

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.adapters.held_files import NotHeld, decide
from pipelines.adapters.result_files import write_result
from pipelines.domain.export_rows import safe_cell
from pipelines.domain.guard import GuardLimits
from pipelines.domain.partners import ResultTargets
from tests.drop_histories import DrawChooser, DropVersion, current_versions, random_history

pytestmark = pytest.mark.integration

STYLES = DropVersion(
    "styles_20210301T000000.csv",
    "style_number,style_identifier,color_code,size_name,upc\n"
    + "".join(f"TS{n},FW21,BLK,S,0000000000{n:02d}\n" for n in range(10)),
)


def inventory(stamp: str, quantities: dict[int, int], mode: str = "") -> DropVersion:
    rows = "".join(f"0000000000{n:02d},{q}\n" for n, q in quantities.items())
    return DropVersion(f"inventory_{stamp}{'_' + mode if mode else ''}.csv", "upc,quantity\n" + rows)


FIRST = inventory("20210302T000000", dict.fromkeys(range(10), 10))
# Lists 2 of the 10 rows: the other 8 would be zeroed (80% of the stocked rows, ATS -80%).
WIPE = inventory("20210303T000000", {0: 10, 1: 10}, "overwrite")
LATER = inventory("20210304T000000", {5: 3, 6: 4})
GUARD = GuardLimits(max_ats_drop_pct=50, max_zeroed_pct=25, min_overwrite_rows_pct=50)


def held_of(inbox):
    return {f.name: f for f in inbox.store.held_files() if f.partner == inbox.partner.name}


def test_a_held_overwrite_leaves_the_state_as_if_it_never_arrived(new_inbox):
    guarded, without = new_inbox(guard=GUARD), new_inbox()
    for v in (STYLES, FIRST, WIPE, LATER):
        guarded.drop(v)
    for v in (STYLES, FIRST, LATER):
        without.drop(v)
    assert guarded.state() == without.state()
    held = held_of(guarded)[WIPE.name]
    assert held.status == "held"
    assert "over max_ats_drop_pct 50" in held.decision_reason
    assert "8 of 10 stocked rows would be zeroed" in held.decision_reason
    assert "lists 2 rows, 20.0% of the 10" in held.decision_reason
    assert json.loads(held.effect) == {"ats_change_by_warehouse": {"DEFAULT": -80}, "rows_zeroed": 8}
    # the same bytes again: still held, nothing new
    landed, _ = guarded.drop(WIPE)
    assert landed.outcome == "duplicate" and WIPE.name in held_of(guarded)


def test_approving_gives_the_state_of_an_in_order_run(new_inbox):
    guarded, plain = new_inbox(guard=GUARD), new_inbox()
    for v in (STYLES, FIRST, WIPE, LATER):
        guarded.drop(v)
        plain.drop(v)
    report = decide(guarded.store, guarded.paths, guarded.partner.name, WIPE.name, "approve")
    assert report is not None and report.files_applied == 2  # applied at its place: WIPE, then LATER again
    assert guarded.state() == plain.state()
    assert not held_of(guarded)
    with pytest.raises(NotHeld, match="cannot be approved: it is applied"):
        decide(guarded.store, guarded.paths, guarded.partner.name, WIPE.name, "approve")
    # an approved file is never judged again, even when a late file re-folds it
    guarded.drop(inventory("20210302T120000", {3: 1}))
    plain.drop(inventory("20210302T120000", {3: 1}))
    assert guarded.state() == plain.state() and not held_of(guarded)


def test_a_denied_version_stays_out_and_new_content_is_guarded_afresh(new_inbox):
    guarded, without, only_others = new_inbox(guard=GUARD), new_inbox(), new_inbox()
    for v in (STYLES, FIRST, WIPE, LATER):
        guarded.drop(v)
    for v in (STYLES, FIRST, LATER):
        without.drop(v)
        only_others.drop(v)
    decide(guarded.store, guarded.paths, guarded.partner.name, WIPE.name, "deny")
    assert guarded.state() == without.state() and not held_of(guarded)
    # new content under the name is a new version, guarded afresh: this one passes
    fine = DropVersion(WIPE.name, FIRST.text.replace(",10\n", ",9\n"))
    guarded.drop(fine)
    without.drop(fine)
    assert guarded.state() == without.state()
    assert guarded.state() != [] and not held_of(guarded)
    # the denied bytes dropped again (reviving that version) stay denied
    landed, _ = guarded.drop(WIPE)
    assert landed.outcome == "new"
    with guarded.store.transaction() as conn:
        assert guarded.store.latest_version(conn, guarded.partner.name, WIPE.name).status == "denied"
    guarded.fold()
    assert guarded.state() == only_others.state()  # the name holds nothing applied


def test_a_file_exactly_at_a_limit_is_applied(new_inbox):
    inbox = new_inbox(guard=GuardLimits(max_ats_drop_pct=50, max_zeroed_pct=50, min_overwrite_rows_pct=50))
    for v in (STYLES, FIRST, inventory("20210303T000000", dict.fromkeys(range(5), 10), "overwrite")):
        inbox.drop(v)
    assert not held_of(inbox)
    assert sum(r[-2] for r in inbox.state()) == 50  # ats: the overwrite was applied


def _csv_rows(path) -> list[tuple]:
    with open(path, newline="") as f:
        return [
            (int(r["line"]) if r["line"] else None, r["column"] or None, r["value"] or None, r["reason"])
            for r in csv.DictReader(f)
        ]


def test_result_files_match_rejects_exactly(new_inbox, tmp_path):
    out = tmp_path / "results"
    inbox = new_inbox(guard=GUARD, results=ResultTargets(dir=str(out)))
    bad = DropVersion(
        "inventory_20210302T060000.csv",
        "upc,quantity\n000000000001,5\n999,3\n000000000002,-1\n000000000003,x\n000000000004,4\n",
    )
    broken = DropVersion("orders_20210302T070000.csv", "not,the,columns\n1,2,3\n")
    versions = (STYLES, FIRST, bad, broken, WIPE)
    for v in versions:
        inbox.drop(v)
    for v in versions:
        with inbox.store.transaction() as conn:
            version = inbox.store.latest_version(conn, inbox.partner.name, v.name)
        write_result(inbox.store, inbox.partner, version, None)
    results = {v.name: json.loads((out / f"{v.name}.result.json").read_text()) for v in versions}
    assert {n: r["status"] for n, r in results.items()} == {
        STYLES.name: "applied",
        FIRST.name: "applied",
        bad.name: "applied",
        broken.name: "rejected",
        WIPE.name: "held",
    }
    for v in versions:
        expected = inbox.store.rejects(partner=inbox.partner.name, file=v.name).drop("partner", "file")
        # As exports are: a cell that a spreadsheet would run as a formula (`-1`) gains a leading `'`.
        escaped = [tuple(safe_cell(c) or None if isinstance(c, str) else c for c in row) for row in expected.rows()]
        assert sorted(_csv_rows(out / f"{v.name}.result.csv"), key=str) == sorted(escaped, key=str)
    assert results[bad.name]["rows_read"] == 5
    assert results[bad.name]["rows_rejected"] == 3
    assert results[bad.name]["rows_accepted"] == 2
    assert results[bad.name]["ats_change_by_warehouse"] == {"DEFAULT": -11}  # 10 -> 5 and 10 -> 4
    assert results[FIRST.name]["ats_change_by_warehouse"] == {"DEFAULT": 100}
    assert results[WIPE.name]["ats_change_by_warehouse"] == {"DEFAULT": -69}  # what it would do
    assert results[broken.name]["reason"]
    # a superseded version says so (until its successor's result replaces it)
    with inbox.store.transaction() as conn:
        old = inbox.store.latest_version(conn, inbox.partner.name, bad.name)
    inbox.drop(DropVersion(bad.name, "upc,quantity\n000000000001,6\n"))
    with inbox.store.transaction() as conn:
        old = inbox.store.get_file(conn, old.file_id)
    write_result(inbox.store, inbox.partner, old, None)
    assert json.loads((out / f"{bad.name}.result.json").read_text())["status"] == "superseded"
    assert pl.DataFrame(inbox.state(), orient="row").height == 10


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_denying_an_applied_file_gives_the_history_without_it_and_approving_restores_it(new_inbox, data):
    """drops.md v1.2 "Taking a file back": deny on an applied version re-folds the account from its
    place as if it had never arrived (byte-equal state); approve brings it back."""
    files = current_versions(random_history(DrawChooser(data), max_files=6))
    taken = data.draw(st.sampled_from(files))
    everything, without = new_inbox(), new_inbox()
    for v in files:
        everything.drop(v)
        if v is not taken:
            without.drop(v)
    with everything.store.transaction() as conn:
        status = everything.store.latest_version(conn, everything.partner.name, taken.name).status
    if status != "parsed":  # rejected whole: nothing to take back
        with pytest.raises(NotHeld):
            decide(everything.store, everything.paths, everything.partner.name, taken.name, "deny")
        return
    original = everything.state()

    decide(everything.store, everything.paths, everything.partner.name, taken.name, "deny")
    assert everything.state() == without.state()
    landed, _ = everything.drop(taken)  # the same bytes again: still denied, still out
    assert landed.outcome == "duplicate" and everything.state() == without.state()

    decide(everything.store, everything.paths, everything.partner.name, taken.name, "approve")
    assert everything.state() == original
