"""Properties of the fold over random drop histories (issue 6: re-runs, corrections and late drops).

Histories come from tests/drop_histories.py: warehouses (a FUTURE one, a later default change),
styles, inventory files in every mode with and without dec_pending, orders with status changes,
cancellations and pre-book lines, corrections and re-drops. Each file version is parsed by the
real drop reader into the typed rows the fold receives. The properties:

- folding incrementally as files arrive, each time from the longest prefix already folded (what
  `fold_account` does with its checkpoints), ends in the state and rejects of one clean fold of
  the current versions in contract order, whatever the arrival order;
- re-dropping a file changes no prefix hash (so nothing is re-applied) and folding the same
  versions again gives the same state; a correction changes exactly the hashes from its place on;
- the state depends on the files' own times only, never on the wall clock.
"""

from __future__ import annotations

import random
import tempfile
from datetime import datetime
from functools import lru_cache
from pathlib import Path

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.adapters.drop_reader import read_drop
from pipelines.domain.allocation import ALLOCATING, LINE_KEY, PENDING
from pipelines.domain.drop_names import parse_drop_name
from pipelines.domain.fold import FileToApply, FoldState, apply_file, initial_state, prefix_hashes
from pipelines.domain.partners import CsvDialect
from tests.drop_histories import (
    PREBOOK_AFTER_HISTORY,
    DrawChooser,
    DropVersion,
    arrival_order,
    current_versions,
    random_history,
)

PARTNER = "local"
SORT_KEYS = {
    "warehouses": ["warehouse_code"],
    "linesheets": ["linesheet_code"],
    "items": ["item_key"],
    "inventory": ["warehouse_code", "item_key"],
    "order_lines": LINE_KEY,
}
PROPERTY_SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_PARSE_DIR = Path(tempfile.mkdtemp(prefix="stockdrop-fold-props-"))


@lru_cache(maxsize=4096)
def _typed_rows(kind: str, text: str) -> pl.DataFrame:
    """The rows the drop reader makes of this text (cached: histories repeat versions)."""
    path = _PARSE_DIR / f"{abs(hash((kind, text)))}.csv"
    path.write_text(text)
    return read_drop(path, kind, CsvDialect(), gz=False).rows


def to_apply(v: DropVersion, overwrite_scope: str, inventory_policy: str) -> FileToApply:
    """The FileToApply the ledger would give this version under a partner with these defaults."""
    drop = parse_drop_name(v.name)
    return FileToApply(
        file_id=v.sha256[:32],
        partner=PARTNER,
        name=v.name,
        sha256=v.sha256,
        kind=drop.kind,
        as_of=drop.as_of.replace(tzinfo=None),
        rows=_typed_rows(drop.kind, v.text),
        mode=drop.mode_token or "update",
        dec_pending=bool(drop.dec_pending_token),
        overwrite_scope=overwrite_scope,
        inventory_policy=inventory_policy,
    )


def contract_ordered(files: list[FileToApply]) -> list[FileToApply]:
    return sorted(files, key=lambda f: f.order_key)


def clean_fold(files: list[FileToApply]) -> tuple[FoldState, dict[str, pl.DataFrame]]:
    """One fold of `files` in contract order from the empty state: (state, fold rejects by file)."""
    state, rejects = initial_state(), {}
    for f in contract_ordered(files):
        applied = apply_file(state, f)
        state, rejects[f.name] = applied.state, applied.rejects
    return state, rejects


class CheckpointingFolder:
    """Folds after every arrival, from the longest prefix of the ordered history already folded.

    This is fold_account's checkpoint rule without the store: a snapshot is reused only when its
    prefix hash equals the current history's hash at that position.
    """

    def __init__(self):
        self.snapshots = {prefix_hashes([])[0]: initial_state()}
        # A version's fold rejects are those of its last application after the same prefix: the
        # store keeps them by version, and a re-dropped older version comes back with its own.
        self.rejects_after: dict[str, pl.DataFrame] = {}
        self.rejects: dict[str, pl.DataFrame] = {}

    def fold(self, files: list[FileToApply]) -> tuple[FoldState, int]:
        files = contract_ordered(files)
        hashes = prefix_hashes(files)
        start = max(i for i, h in enumerate(hashes) if h in self.snapshots)
        state = self.snapshots[hashes[start]]
        for i in range(start, len(files)):
            applied = apply_file(state, files[i])
            state, self.rejects_after[hashes[i + 1]] = applied.state, applied.rejects
            self.snapshots[hashes[i + 1]] = state
        self.rejects = {f.name: self.rejects_after[hashes[i + 1]] for i, f in enumerate(files)}
        return state, start


def canonical(state: FoldState) -> dict[str, list[tuple]]:
    return {name: getattr(state, name).sort(SORT_KEYS[name]).rows() for name in FoldState.FRAMES}


def canonical_rejects(rejects: dict[str, pl.DataFrame], names: set[str]) -> dict[str, list[tuple]]:
    return {n: rejects[n].sort("line", "column", "reason", nulls_last=True).rows() for n in sorted(names)}


@st.composite
def histories(draw):
    """(history, overwrite_scope, inventory_policy): a history under one partner's defaults."""
    history = random_history(DrawChooser(draw(st.data())))
    return (
        history,
        draw(st.sampled_from(["account", "warehouses_in_file"])),
        draw(st.sampled_from(["continue", "deny"])),
    )


@PROPERTY_SETTINGS
@given(histories(), st.randoms(use_true_random=False))
def test_incremental_folds_in_any_arrival_order_equal_one_clean_fold(case, rng: random.Random):
    history, scope, policy = case
    expected_state, expected_rejects = clean_fold([to_apply(v, scope, policy) for v in current_versions(history)])
    names = {v.name for v in history}

    for _ in range(2):
        folder, arrived = CheckpointingFolder(), []
        for version in arrival_order(history, rng):
            arrived.append(version)
            state, _ = folder.fold([to_apply(v, scope, policy) for v in current_versions(arrived)])

        assert canonical(state) == canonical(expected_state)
        assert canonical_rejects(folder.rejects, names) == canonical_rejects(expected_rejects, names)


@PROPERTY_SETTINGS
@given(histories(), st.randoms(use_true_random=False))
def test_a_redrop_is_a_no_op_and_a_correction_refolds_from_its_place(case, rng: random.Random):
    history, scope, policy = case
    files = contract_ordered([to_apply(v, scope, policy) for v in current_versions(history)])
    hashes = prefix_hashes(files)

    redropped = current_versions(history + [rng.choice(current_versions(history))])
    again = contract_ordered([to_apply(v, scope, policy) for v in redropped])
    assert prefix_hashes(again) == hashes
    assert canonical(clean_fold(again)[0]) == canonical(clean_fold(files)[0])
    folder = CheckpointingFolder()
    folder.fold(files)
    assert folder.fold(again)[1] == len(files)  # nothing to re-apply

    # A correction: other content under the same name (here a trailing blank line, rows unchanged).
    current = {v.name: v for v in current_versions(history)}
    target = rng.choice(files)
    position = files.index(target)
    fixed = to_apply(DropVersion(target.name, current[target.name].text + "\n"), scope, policy)
    corrected_hashes = prefix_hashes([fixed if f is target else f for f in files])
    assert corrected_hashes[: position + 1] == hashes[: position + 1]
    assert all(a != b for a, b in zip(corrected_hashes[position + 1 :], hashes[position + 1 :]))
    assert folder.fold([fixed if f is target else f for f in files])[1] == position


@PROPERTY_SETTINGS
@given(histories())
def test_state_depends_on_the_files_times_never_on_the_wall_clock(case):
    history, scope, policy = case
    files = [to_apply(v, scope, policy) for v in current_versions(history)]
    state, _ = clean_fold(files)
    last_time = max(f.as_of for f in files)
    due_later = pl.col("prebook_start").cast(pl.Datetime("us")) > last_time

    # The history is in 2021: were the wall clock applied, these lines would have claimed by now.
    waiting = state.order_lines.filter(due_later & pl.col("status").is_in(list(ALLOCATING)))
    assert waiting["claimed"].to_list() == [0] * waiting.height
    _assert_pending_matches_claims(state)

    # The daily release is history too: recorded at a time, it releases exactly what is due then.
    release = FileToApply(
        file_id="r",
        partner="(daily release)",
        name="release_20211201T000000:default",
        sha256="0" * 64,
        kind="release",
        as_of=datetime.fromisoformat(PREBOOK_AFTER_HISTORY),
        rows=pl.DataFrame(),
    )
    released, _ = clean_fold(files + [release])
    assert released.order_lines.filter(pl.col("claim_due"))["claim_due"].len() == 0
    _assert_pending_matches_claims(released)


def _assert_pending_matches_claims(state: FoldState) -> None:
    """`pending` of each (warehouse, SKU) is what its Pending/Approved lines have claimed."""
    claims = (
        state.order_lines.filter(pl.col("status").is_in(list(PENDING)))
        .group_by("warehouse_code", "item_key")
        .agg(pl.col("claimed").sum())
    )
    joined = state.inventory.join(claims, on=["warehouse_code", "item_key"], how="full", coalesce=True)
    mismatched = joined.filter(pl.col("pending").fill_null(0) != pl.col("claimed").fill_null(0))
    assert mismatched.height == 0, mismatched
    lines = state.order_lines
    assert lines.filter((pl.col("claimed") < 0) | (pl.col("claimed") > pl.col("quantity"))).height == 0
