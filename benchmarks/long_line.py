"""A million-row inventory file with one 200 MB line in it (issue 28): read in ≤ 1 GB and ≤ 1.5×
the time of the same file without that line.

Each read runs in a child process of its own (its peak memory is its own VmHWM), through the
real reader (`read_drop`: bounded line pass, tokenising, pandera validation, casts). The floor is
the same file without the long line, read the same way.

Usage: python benchmarks/long_line.py [--rows 1000000] [--line-mb 200] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def write(path: Path, rows: int, line_mb: int) -> None:
    with open(path, "w") as f:
        f.write("upc,warehouse_code,quantity\n")
        for n in range(rows):
            if line_mb and n == rows // 2:
                f.write("012345678905,NYC,")
                chunk = "7" * (1 << 20)
                for _ in range(line_mb):
                    f.write(chunk)
                f.write("\n")
            f.write(f"{n:012d},NYC,{n % 50}\n")


def child(path: str) -> None:
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from process_memory import peak_rss_mb

    from pipelines.adapters.drop_reader import read_drop
    from pipelines.domain.partners import CsvDialect

    t = time.perf_counter()
    parsed = read_drop(Path(path), "inventory", CsvDialect(), gz=False)
    seconds = time.perf_counter() - t
    print(
        json.dumps(
            {
                "seconds": seconds,
                "peak_mb": peak_rss_mb(),
                "rows": parsed.rows.height,
                "rejects": parsed.rejects["reason"].to_list()[:3],
            }
        )
    )


def run(path: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", str(path)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--line-mb", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child")
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return 0
    with tempfile.TemporaryDirectory() as scratch:
        plain, long = Path(scratch) / "inventory_plain.csv", Path(scratch) / "inventory_long.csv"
        write(plain, args.rows, 0)
        write(long, args.rows, args.line_mb)
        floors, runs = [], []
        for _ in range(args.repeat):  # pair by pair, so a slow moment hits both
            floors.append(run(plain))
            runs.append(run(long))
    floor = statistics.median(r["seconds"] for r in floors)
    took = statistics.median(r["seconds"] for r in runs)
    peak = max(r["peak_mb"] for r in runs)
    print(f"{args.rows:,} rows, one line of {args.line_mb} MB (median of {args.repeat}):")
    print(f"  without the line: {floor:.2f} s, peak {max(r['peak_mb'] for r in floors):.0f} MB")
    print(f"  with it: {took:.2f} s = {took / floor:.2f}x (target <= 1.5x), peak {peak:.0f} MB (target <= 1024 MB)")
    print(f"  rows {runs[0]['rows']:,}; rejects {runs[0]['rejects']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
