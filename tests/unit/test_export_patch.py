"""Patching export files with the changed rows' lines gives the bytes a full render would."""

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.domain.export_patch import IndexMismatch, changed_lines, line_index, patch_exports
from pipelines.domain.export_rows import ExportOptions, export_tables, sorted_for_export
from tests.snapshots import FUTURE_DATE, snapshot_frame, snapshot_row


def _render(rows: list[dict], **settings) -> tuple[dict, pl.DataFrame | None]:
    tables = {t.kind: t for t in export_tables(snapshot_frame(rows), ExportOptions(**settings))}
    contents = {k: t.content for k, t in tables.items()}
    return contents, line_index({k: t.item_keys for k, t in tables.items()}, contents)


def _patched(before: list[dict], after: list[dict], changed: set[int], **settings):
    old, index = _render(before, **settings)
    keyed = sorted_for_export(snapshot_frame(after))
    changed_keys = sorted_for_export(snapshot_frame([snapshot_row(n) for n in changed])).get_column("item_key")
    rows = keyed.join(pl.DataFrame(changed_keys), on="item_key", how="semi")
    lines = changed_lines(changed_keys, rows, ExportOptions(**settings))
    return patch_exports(index, old, lines)


# Each SKU: absent, or present with some ats / flags / upc; the second state changes some of them.
sku_state = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {
            "ats": st.integers(-3, 40),
            "skip_push": st.booleans(),
            "skip_joor": st.booleans(),
            "no_upc": st.booleans(),
            "future": st.booleans(),
        }
    ),
)


def _rows(states: list) -> list[dict]:
    rows = []
    for n, state in enumerate(states):
        if state is None:
            continue
        rows.append(
            snapshot_row(
                n,
                ats=state["ats"],
                on_hand=max(state["ats"], 0),
                skip_push=state["skip_push"],
                skip_joor=state["skip_joor"],
                upc=None if state["no_upc"] else f"{n:012d}",
                warehouse_type="FUTURE" if state["future"] else "IMMEDIATE",
                available_date=FUTURE_DATE if state["future"] else None,
            )
        )
    return rows


@settings(max_examples=60, deadline=None)
@given(
    st.lists(sku_state, min_size=1, max_size=30).flatmap(
        lambda before: st.tuples(
            st.just(before),
            st.lists(sku_state, min_size=len(before), max_size=len(before)),
            st.lists(st.booleans(), min_size=len(before), max_size=len(before)),
        )
    ),
    st.sampled_from([{}, {"item_identifier": "style", "joor_delimiter": "|"}]),
)
def test_a_patch_gives_the_bytes_of_a_full_render(case, export_settings):
    before_states, new_states, is_changed = case
    # Only the SKUs marked changed take their new state; the others stay as they were.
    after_states = [new if flag else old for old, new, flag in zip(before_states, new_states, is_changed)]
    before, after = _rows(before_states), _rows(after_states)
    if not before:
        return  # no files to patch: a first export is always written in full
    changed = {n for n, flag in enumerate(is_changed) if flag}
    patched = _patched(before, after, changed, **export_settings)
    if not after:
        assert all(c.count(b"\r\n") == 1 for c in patched.contents.values())  # header only
        return
    expected, expected_index = _render(after, **export_settings)
    assert patched.contents == expected
    assert patched.index.equals(expected_index)
    for kind, content in expected.items():
        new_lines = set(content.split(b"\r\n")[1:]) - {b""}
        old_lines = set(_render(before, **export_settings)[0][kind].split(b"\r\n")[1:])
        assert patched.rows_changed[kind] == len(new_lines - old_lines)


def test_a_one_row_change_rewrites_one_line_and_counts_it():
    before = [snapshot_row(n) for n in range(5)]
    after = [snapshot_row(n, ats=99) if n == 2 else snapshot_row(n) for n in range(5)]
    patched = _patched(before, after, {2})
    assert patched.rows_changed == {"stock": 1, "joor": 1, "quantity": 1}
    assert b"000000000002,99" in patched.contents["quantity"]


def test_an_index_that_does_not_add_up_to_the_file_is_refused():
    rows = [snapshot_row(n) for n in range(3)]
    old, index = _render(rows)
    old["stock"] += b"extra,line\r\n"
    lines = changed_lines(pl.Series([]), sorted_for_export(snapshot_frame(rows)).clear(), ExportOptions())
    with pytest.raises(IndexMismatch):
        patch_exports(index, old, lines.clear())


def test_a_cell_holding_a_line_end_is_not_indexed_so_its_warehouse_is_written_in_full():
    contents, index = _render([snapshot_row(1, style_number="A\r\nB"), snapshot_row(2)])
    assert index is None
