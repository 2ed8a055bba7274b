"""Batches: a set of file partitions cut into ranged runs that cover exactly those files."""

from hypothesis import given
from hypothesis import strategies as st

from pipelines.defs.batches import BATCH_FILES, batches, by_partner


@given(
    st.lists(st.integers(0, 3 * BATCH_FILES), min_size=1, max_size=40, unique=True).flatmap(
        lambda order: st.tuples(st.just(order), st.lists(st.sampled_from(order), unique=True))
    ),
    st.integers(0, 2 * BATCH_FILES),
)
def test_runs_cover_the_files_once_each_as_contiguous_stretches(order_and_keys, extra):
    numbers, chosen = order_and_keys
    # a long run of wanted keys, to cross the batch size
    order = [f"p/inventory_2026{n:08d}.csv" for n in numbers] + [f"q/inventory_x{n}.csv" for n in range(extra)]
    keys = [order[numbers.index(n)] for n in chosen] + order[len(numbers) :]
    runs = batches(order, keys)
    assert sorted(k for run in runs for k in run) == sorted(keys)
    for run in runs:
        assert 1 <= len(run) <= BATCH_FILES
        start = order.index(run[0])
        assert order[start : start + len(run)] == run  # a range covers exactly its run


def test_by_partner_groups_names_in_contract_order():
    keys = ["b/inventory_20261102T000000.csv", "a/styles_20261101T000000.csv", "b/styles_20261105T000000.csv"]
    assert by_partner(keys) == {
        "a": ["styles_20261101T000000.csv"],
        "b": ["inventory_20261102T000000.csv", "styles_20261105T000000.csv"],
    }
