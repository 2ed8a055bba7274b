"""Finding due alerts (issue 26): on a store holding 100,000 file versions (10% rejected whole or
held, every one of them already alerted) and 1,000,000 delivered alerts, one pass's finding and
its due-deliveries query take ≤ 50 ms (indexed queries, not scans).

Measures `find` (every event kind's query) and the due rows of one destination (`deliver`'s
select, with nothing to send), on SQLite, median of 5.

Usage: python benchmarks/alerts_due.py [--versions 100000] [--alerts 1000000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipelines.adapters.alerting import PassReport, deliver, find  # noqa: E402
from pipelines.adapters.store import SqlStore  # noqa: E402
from pipelines.domain.alerts import AlertSettings, Destination  # noqa: E402
from pipelines.domain.partners import PartnerSpec  # noqa: E402


def fill(store: SqlStore, versions: int, alerts: int) -> None:
    now = dt.datetime(2026, 12, 6)
    f, a, d = store.t["drop_files"], store.t["alerts"], store.t["alert_deliveries"]
    files = []
    for n in range(versions):
        status = "rejected" if n % 20 == 0 else "held" if n % 20 == 1 else "parsed"
        files.append(
            {
                "file_id": f"{n:032x}",
                "partner": "acme",
                "account": "acme",
                "name": f"inventory_{n}.csv",
                "sha256": f"{n:064x}",
                "size": 10,
                "status": status,
                "landed_path": "x",
                "rows_read": 10,
                "rows_rejected": 0,
                "landed_at": now,
            }
        )
    with store.engine.begin() as conn:
        conn.execute(f.insert(), files)
        batch_a, batch_d = [], []
        for n in range(alerts):
            # Every rejected/held version is alerted; the rest of the alerts are older history.
            file_id = f"{(n // 2) * 20 + (n % 2):032x}" if n < versions // 10 else f"old{n}"
            event = "file_rejected" if n % 2 == 0 else "file_held"
            alert_id = f"{event}:{file_id}"
            batch_a.append(
                {
                    "alert_id": alert_id,
                    "event": event,
                    "subject": file_id,
                    "account": "acme",
                    "partner": "acme",
                    "body": "{}",
                    "found_at": now,
                }
            )
            batch_d.append(
                {
                    "alert_id": alert_id,
                    "destination": "webhook:x",
                    "status": "delivered",
                    "attempts": 1,
                    "updated_at": now,
                }
            )
            if len(batch_a) == 50_000:
                conn.execute(a.insert(), batch_a)
                conn.execute(d.insert(), batch_d)
                batch_a, batch_d = [], []
        if batch_a:
            conn.execute(a.insert(), batch_a)
            conn.execute(d.insert(), batch_d)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--versions", type=int, default=100_000)
    parser.add_argument("--alerts", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        store = SqlStore(f"sqlite:///{scratch}/s.db")
        t = time.perf_counter()
        fill(store, args.versions, args.alerts)
        print(
            f"filled {args.versions:,} versions and {args.alerts:,} delivered alerts in {time.perf_counter() - t:.0f} s"
        )
        destination = Destination(
            key="webhook:x",
            on=("file_rejected", "file_held", "file_rejects_high", "drift", "push_failed"),
            webhook="http://127.0.0.1:9",
        )
        settings = AlertSettings((destination,))
        specs = {"acme": PartnerSpec(name="acme", account="acme")}
        finds, dues = [], []
        for _ in range(5):
            t = time.perf_counter()
            found = find(store, specs, settings, dt.datetime(2026, 12, 6))
            finds.append(time.perf_counter() - t)
            t = time.perf_counter()
            deliver(store, destination, PassReport())
            dues.append(time.perf_counter() - t)
        assert not found, found[:3]
        with store.engine.connect() as conn:
            plan = conn.execute(
                sa.text(
                    "EXPLAIN QUERY PLAN SELECT 1 FROM alert_deliveries WHERE status IN ('due', 'failed') AND destination = 'x'"
                )
            ).all()
    f, d = statistics.median(finds) * 1000, statistics.median(dues) * 1000
    print(
        f"find (every event's query): {f:.1f} ms; due deliveries of one destination: {d:.1f} ms; "
        f"together {f + d:.1f} ms (target <= 50 ms)"
    )
    print("due query plan: " + "; ".join(str(r[-1]) for r in plan))
    return 0


if __name__ == "__main__":
    sys.exit(main())
