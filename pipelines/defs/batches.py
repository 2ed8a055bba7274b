"""Batches: many file partitions in one run (issue 13).

A run of `apply_drop` covers a range of `drop_files` partitions: Dagster's partition key ranges,
which for dynamic partitions run in the order the keys were added. The sensor, the CLI and
backfills (the assets' `BackfillPolicy`) all cut batches of at most `BATCH_FILES` files; one
batch is one SFTP session and one listing per partner, and one fold per account.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from pipelines.defs.partitions import split_file_key
from pipelines.domain.drop_names import contract_order

# Enough to amortise a run's start-up over many small files, few enough that one batch's fold
# and its metadata stay small, and that a machinery failure re-runs little.
BATCH_FILES = 200
# The account of a run of files (set by the sensor and the CLI; on a backfill, by whoever launches
# it): the run queue runs one run per account at a time (`tag_concurrency_limits` in
# dagster_home/dagster*.yaml), and different accounts in parallel.
ACCOUNT_TAG = "stockdrop/account"
# A one-file run that reports the verdict a batch recorded on the file (defs/verdicts.py); its
# value is the asset where the file stopped.
VERDICT_TAG = "stockdrop/verdict"
warnings.filterwarnings("ignore", category=dg.BetaWarning, message=".*backfill_policy")
BATCHES = dg.BackfillPolicy.multi_run(max_partitions_per_run=BATCH_FILES)


def batches(order: Sequence[str], keys: Sequence[str]) -> list[list[str]]:
    """`keys` cut into runs: each a contiguous stretch of `order` (the partitions as added) holding
    only `keys`, at most BATCH_FILES long; the runs in contract order of their first file."""
    wanted = set(keys)
    runs: list[list[str]] = []
    current: list[str] = []
    for key in order:
        if key in wanted and len(current) < BATCH_FILES:
            current.append(key)
            continue
        if current:
            runs.append(current)
        current = [key] if key in wanted else []
    if current:
        runs.append(current)
    return sorted(runs, key=lambda run: min(contract_order(split_file_key(k)[1]) for k in run))


def range_tags(run: Sequence[str]) -> dict[str, str]:
    """The tags that make a run cover `run` (first to last key, as `batches` cut it)."""
    return {ASSET_PARTITION_RANGE_START_TAG: run[0], ASSET_PARTITION_RANGE_END_TAG: run[-1]}


def by_partner(keys: Sequence[str]) -> dict[str, list[str]]:
    """A batch's file names per partner, each in contract order."""
    names: dict[str, list[str]] = {}
    for key in keys:
        partner, name = split_file_key(key)
        names.setdefault(partner, []).append(name)
    return {p: sorted(n, key=contract_order) for p, n in sorted(names.items())}
