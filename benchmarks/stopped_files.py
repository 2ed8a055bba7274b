"""What red partitions cost (issue 24): a 200-file batch with 10 files rejected whole against the
same batch with none (target ≤ 1.2×).

A file a batch stops gets a one-file run of its own that fails with the recorded reason
(defs/verdicts.py); this measures that price. Both sides are `stockdrop replay` of a folder of
200 small inventory files and a styles file, as an operator runs it, on a Dagster home (SQLite
instance, so the runs are recorded as the UI shows them) and a SQLite store, fresh each time.
The stopped side has 10 of the inventory files with a header that lacks `quantity` (rejected
whole at parse); the floor has the same 10 well formed: the same files, the same batch, the same
work but for the verdict runs (and the parse and fold of 10 files' rows, which favours the
stopped side). Pairs alternate; the ratio per pair and the median are printed, and beside them
what the verdict runs themselves took (from their run records): the price without the noise of
two 200-file runs on a SQLite instance.

Run: `.venv/bin/python benchmarks/stopped_files.py [--files 200] [--stopped 10] [--pairs 3]`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.many_files import write_inbox  # noqa: E402

CLI = [sys.executable, "-m", "pipelines"]


def verdict_seconds(home: Path) -> tuple[int, float]:
    """(verdict runs, their summed duration) recorded in a Dagster home: the price itself."""
    import dagster as dg

    from pipelines.defs.batches import VERDICT_TAG

    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = [r for r in instance.get_run_records() if VERDICT_TAG in r.dagster_run.tags]
        return len(runs), sum((r.end_time or 0) - (r.start_time or 0) for r in runs)


def replay(folder: Path, root: Path) -> float:
    home = root / "home"
    home.mkdir(parents=True)
    shutil.copyfile(REPO / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STOCKDROP_", "DAGSTER_"))}
    env.update(DAGSTER_HOME=str(home), STOCKDROP_DATA_DIR=str(root / "data"))
    started = time.perf_counter()
    out = subprocess.run([*CLI, "replay", str(folder), "--store", f"sqlite:///{root / 'store.db'}"],
                         env=env, capture_output=True, text=True, cwd=REPO)  # fmt: skip
    seconds = time.perf_counter() - started
    if out.returncode:
        raise RuntimeError(out.stderr[-2000:])
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--stopped", type=int, default=10)
    parser.add_argument("--pairs", type=int, default=3)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="stockdrop-stopped-"))
    try:
        good, stopped = scratch / "good", scratch / "stopped"
        for folder in (good, stopped):
            folder.mkdir()
            write_inbox(folder, args.files - 1)  # a styles file and files - 1 inventory files
        inventory = sorted(stopped.glob("inventory_*.csv"))
        step = len(inventory) // args.stopped
        for f in inventory[::step][: args.stopped]:
            f.write_text(f.read_text().replace("upc,quantity", "upc,qty", 1))
        ratios = []
        for n in range(args.pairs):
            floor = replay(good, scratch / f"g{n}")
            measured = replay(stopped, scratch / f"s{n}")
            ratios.append(measured / floor)
            count, seconds = verdict_seconds(scratch / f"s{n}" / "home")
            print(f"pair {n + 1}: none stopped {floor:.2f} s, {args.stopped} stopped {measured:.2f} s: "
                  f"{ratios[-1]:.2f}× ({count} verdict runs took {seconds:.2f} s, "
                  f"{seconds / floor:.1%} of the floor)")  # fmt: skip
        print(f"median {statistics.median(ratios):.2f}× (target ≤ 1.2×) for {args.files} files")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
