"""Late drops, corrections and re-drops through the adapters, on SQLite and PostgreSQL (issue 6).

Files are written into a real inbox folder, landed, parsed and folded with `fold_account` after
every arrival, as the `file_events` asset does. Each run of a test uses its own partner and
account in one store, so a clean in-order run and several arrival orders sit side by side and
are compared row for row (state and rejects, without the account/partner columns).
"""

from __future__ import annotations

import random

import pytest

from pipelines.domain.drop_names import parse_drop_name
from tests.drop_histories import (
    INVENTORY_COLUMNS,
    DropVersion,
    RandomChooser,
    _csv,
    arrival_order,
    base_files,
    current_versions,
    random_history,
)
from tests.integration.store_replay import Inbox

pytestmark = pytest.mark.integration

ARRIVAL_ORDERS = 4
HISTORY_SEEDS = (1, 1000)


def contract_ordered(versions: list[DropVersion]) -> list[DropVersion]:
    return sorted(versions, key=lambda v: parse_drop_name(v.name).order_key)


def in_order_run(inbox: Inbox, versions: list[DropVersion]) -> Inbox:
    for v in contract_ordered(versions):
        inbox.drop(v)
    return inbox


def rich_history(seed: int) -> tuple[int, list[DropVersion]]:
    """The first history from `seed` on with an overwrite, a seed file, orders, a correction and a re-drop."""
    while True:
        history = random_history(RandomChooser(seed), max_files=10)
        names = {v.name for v in history}
        if (
            any("overwrite" in n for n in names)
            and any("seed" in n for n in names)
            and any(n.startswith("orders") for n in names)
            and len(set(history)) < len(history)
            and len({v.name for v in set(history)}) < len(set(history))
        ):
            return seed, history
        seed += 1


@pytest.mark.parametrize("first_seed", HISTORY_SEEDS)
def test_any_arrival_order_gives_the_in_order_state_and_rejects(first_seed, new_inbox):
    seed, history = rich_history(first_seed)
    expected = in_order_run(new_inbox(), current_versions(history))
    assert expected.state(), "the history should leave some stock"

    rng = random.Random(seed)
    for _ in range(ARRIVAL_ORDERS):
        inbox = new_inbox()
        for version in arrival_order(history, rng):
            inbox.drop(version)

        assert inbox.state() == expected.state()
        assert inbox.rejects() == expected.rejects()


def inventory(stamp: str, label: str, rows: list[tuple[str, str, int]]) -> DropVersion:
    """An inventory file of (upc, warehouse_code, quantity) rows."""
    name = f"inventory_{stamp}{'_' + label if label else ''}.csv"
    return DropVersion(
        name, _csv(INVENTORY_COLUMNS, [{"upc": u, "warehouse_code": w, "quantity": str(q)} for u, w, q in rows])
    )


UPC = ["012345678905", "012345678912", "012345678936"]
SETUP = [v for v in base_files(RandomChooser(0)) if not v.kind == "linesheets"]  # warehouses, styles: positions 0, 1
HISTORY = SETUP + [
    inventory("20210302T060000", "", [(UPC[0], "NYC", 10), (UPC[1], "NYC", 4)]),  # 2
    inventory("20210303T060000", "overwrite", [(UPC[0], "NYC", 8)]),  # 3: checkpoint after it: 4
    inventory("20210304T060000", "", [(UPC[1], "SPRING", 6)]),  # 4
    inventory("20210305T060000", "", [(UPC[2], "NYC", 3)]),  # 5
    inventory("20210306T060000", "overwrite", [(UPC[0], "NYC", 5), (UPC[2], "SPRING", 2)]),  # 6: checkpoint 7
    inventory("20210307T060000", "", [(UPC[1], "NYC", 1)]),  # 7
]


def test_a_late_file_refolds_from_the_last_overwrite_checkpoint_before_it(new_inbox):
    inbox = new_inbox()
    for v in HISTORY:
        inbox.drop(v, fold=False)
    assert inbox.fold().started_from == 0

    # Between the two overwrites: its place is 5, the latest checkpoint before it follows file 3.
    late = inventory("20210304T120000", "", [(UPC[2], "NYC", 9), (UPC[0], "SPRING", 1)])
    _, report = inbox.drop(late)
    assert (report.started_from, report.files_applied) == (4, 5)

    # After the latest overwrite (now at place 7): only it and the file after it are re-applied.
    later = inventory("20210306T120000", "seed", [(UPC[1], "NYC", 7), (UPC[1], "SPRING", 3)])
    _, report = inbox.drop(later)
    assert (report.started_from, report.files_applied) == (8, 2)

    # Before the first overwrite: no checkpoint before it describes the new history.
    earliest = inventory("20210302T120000", "update", [(UPC[2], "SPRING", 4)])
    _, report = inbox.drop(earliest)
    assert report.started_from == 0

    expected = in_order_run(new_inbox(), HISTORY + [late, later, earliest])
    assert inbox.state() == expected.state()
    assert inbox.rejects() == expected.rejects()


def test_a_correction_replaces_the_earlier_versions_effect(new_inbox):
    first = inventory("20210302T060000", "", [(UPC[0], "NYC", 10), (UPC[1], "NYC", 5), (UPC[2], "BOS", 1)])
    second = DropVersion(first.name, inventory("20210302T060000", "", [(UPC[1], "NYC", 9), (UPC[2], "NYC", 4)]).text)
    after = inventory("20210303T060000", "", [(UPC[2], "SPRING", 7)])
    inbox = new_inbox()
    for v in SETUP + [first, after]:
        inbox.drop(v)
    assert any(r[-1].startswith("unknown warehouse") for r in inbox.rejects())

    landed, report = inbox.drop(second)
    assert landed.outcome == "new"
    assert report.started_from == len(SETUP)  # re-folded from the corrected file's place
    corrected = in_order_run(new_inbox(), SETUP + [second, after])
    assert inbox.state() == corrected.state()
    assert inbox.rejects() == corrected.rejects()  # the first version's reject is gone with it
    assert [(r[1], r[6]) for r in inbox.state() if r[0] == "NYC"] == [(UPC[2], 4), (UPC[1], 9)]  # (upc, on_hand)

    # The first content sent again becomes the current version once more.
    landed, _ = inbox.drop(first)
    assert landed.outcome == "new"
    assert inbox.state() == in_order_run(new_inbox(), SETUP + [first, after]).state()


def test_a_redrop_of_identical_content_is_a_recorded_no_op(new_inbox):
    inbox = in_order_run(new_inbox(), HISTORY)
    state, rejects, ledger = inbox.state(), inbox.rejects(), inbox.ledger_rows()

    for v in (HISTORY[3], HISTORY[-1]):
        landed, report = inbox.drop(v)
        assert landed.outcome == "duplicate"
        assert (report.files_applied, report.started_from) == (0, len(HISTORY))
    assert (inbox.state(), inbox.rejects(), inbox.ledger_rows()) == (state, rejects, ledger)
