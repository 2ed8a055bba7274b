"""Order allocation: which order lines claim inventory, how much, and when claims come back.

Order rows apply one after another in file order (a `deny` claim depends on the ATS the rows
before it left), so this module walks rows in Python over only the lines and (warehouse, SKU)
rows the file touches; everything else stays in polars frames.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

import polars as pl

from pipelines.domain.inventory_merge import KEY as INVENTORY_KEY
from pipelines.domain.rejects import REJECT_SCHEMA, STALE_UPDATE, concat_rejects, rejects_from

ALLOCATING = frozenset({"Pending", "Approved", "Shipped"})
PENDING = frozenset({"Pending", "Approved"})
LATE_CANCEL_AFTER = timedelta(days=14)
MADE_TO_ORDER_CODE = "MTO"

ORDER_LINE_SCHEMA = pl.Schema(
    {
        "order_id": pl.String(),
        "item_key": pl.String(),
        "warehouse_code": pl.String(),
        "status": pl.String(),
        "quantity": pl.Int64(),
        "claimed": pl.Int64(),
        "backordered": pl.Int64(),
        "order_date": pl.Datetime("us"),
        "updated_at": pl.Datetime("us"),
        "prebook_start": pl.Date(),
        "linesheet_code": pl.String(),
        "policy": pl.String(),
        "claim_due": pl.Boolean(),
    }
)
LINE_KEY = ["order_id", "item_key", "warehouse_code"]


def empty_order_lines() -> pl.DataFrame:
    return pl.DataFrame(schema=ORDER_LINE_SCHEMA)


@dataclass
class AllocationReport:
    """What an orders file (or a pre-book release) did, by warehouse."""

    lines_by_status: Counter = field(default_factory=Counter)
    units: dict = field(default_factory=lambda: defaultdict(Counter))
    stale_updates: int = 0

    def add(self, warehouse: str, what: str, units: int) -> None:
        if units:
            self.units[warehouse][what] += units

    def as_dict(self) -> dict:
        return {
            "lines_by_status": dict(sorted(self.lines_by_status.items())),
            "units_by_warehouse": {w: dict(sorted(c.items())) for w, c in sorted(self.units.items())},
            "stale_updates": self.stale_updates,
        }


def _as_datetime(d: date) -> datetime:
    return datetime.combine(d, time())


class _Allocator:
    """Mutable working set for one file: the touched lines and inventory rows, as dicts."""

    def __init__(self, inventory: pl.DataFrame, lines: pl.DataFrame, keys: pl.DataFrame):
        inv_keys = keys.select(INVENTORY_KEY).unique()
        self.inv = {
            (r["warehouse_code"], r["item_key"]): r
            for r in inventory.join(inv_keys, on=INVENTORY_KEY, how="semi").to_dicts()
        }
        self.lines = {
            (r["order_id"], r["item_key"], r["warehouse_code"]): r
            for r in lines.join(keys.select(LINE_KEY).unique(), on=LINE_KEY, how="semi").to_dicts()
        }
        self.report = AllocationReport()

    def inventory_row(self, warehouse: str, item_key: str) -> dict:
        key = (warehouse, item_key)
        if key not in self.inv:
            self.inv[key] = {
                "warehouse_code": warehouse,
                "item_key": item_key,
                "on_hand": 0,
                "pending": 0,
                "ats": 0,
                "available_date": None,
                "is_set": False,
            }
        return self.inv[key]

    def claim(self, line: dict) -> None:
        inv = self.inventory_row(line["warehouse_code"], line["item_key"])
        wanted = line["quantity"] - line["claimed"]
        c = wanted if line["policy"] == "continue" else min(wanted, max(inv["ats"], 0))
        inv["ats"] -= c
        line["claimed"] += c
        line["backordered"] = line["quantity"] - line["claimed"]
        line["claim_due"] = False
        self.report.add(line["warehouse_code"], "claimed", c)
        self.report.add(line["warehouse_code"], "backordered", wanted - c)

    def give_back(self, line: dict, units: int, reason: str | None) -> None:
        if reason:
            self.report.add(line["warehouse_code"], f"not_returned_{reason}", units)
        else:
            self.inventory_row(line["warehouse_code"], line["item_key"])["ats"] += units
            self.report.add(line["warehouse_code"], "returned", units)
        line["claimed"] -= units

    def sync_pending(self, line: dict, before: int) -> None:
        after = line["claimed"] if line["status"] in PENDING else 0
        if after != before:
            self.inventory_row(line["warehouse_code"], line["item_key"])["pending"] += after - before

    def frames(self, inventory: pl.DataFrame, lines: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        inv = pl.DataFrame(list(self.inv.values()), schema=inventory.schema) if self.inv else inventory.clear()
        ol = pl.DataFrame(list(self.lines.values()), schema=ORDER_LINE_SCHEMA) if self.lines else lines.clear()
        return (
            pl.concat([inventory.join(inv.select(INVENTORY_KEY), on=INVENTORY_KEY, how="anti"), inv]),
            pl.concat([lines.join(ol.select(LINE_KEY), on=LINE_KEY, how="anti"), ol]),
        )


def _pending_share(line: dict | None) -> int:
    return line["claimed"] if line and line["status"] in PENDING else 0


def _no_return_reason(row: dict) -> str | None:
    """Why a line leaving the allocating statuses keeps its claim, or None when it returns it."""
    if row["status"] != "Cancelled":
        return None
    if row["updated_at"] > row["order_date"] + LATE_CANCEL_AFTER:
        return "late_cancel"
    if row["cancelled_by"] == "merchant" and row["restock"] is False:
        return "merchant_no_restock"
    return None


def latest_row_per_line(rows: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A file states each line's current state: of several rows for one line, the latest counts.

    Latest = greatest updated_at, then last in file order. The others are stale updates. (Applying
    every row in turn would make re-applying the same file change the result.)
    """
    ranked = rows.with_columns(pl.col("line").sort_by(["updated_at", "line"]).last().over(LINE_KEY).alias("_latest"))
    kept = ranked.filter(pl.col("line") == pl.col("_latest")).drop("_latest")
    earlier = ranked.filter(pl.col("line") != pl.col("_latest"))
    reason = pl.format(STALE_UPDATE + ": line {} of the same file states this order line later", pl.col("_latest"))
    return kept, rejects_from(earlier, "updated_at", reason)


def apply_orders(
    inventory: pl.DataFrame,
    lines: pl.DataFrame,
    rows: pl.DataFrame,
    applied_time: datetime,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, AllocationReport]:
    """Apply resolved order rows in file order.

    `rows` carry line, order_id, item_key, warehouse_code, quantity, status, order_date,
    updated_at (filled), prebook_start, linesheet_code, cancelled_by, restock, made_to_order,
    policy. Returns (inventory, order lines, rejects, report).
    """
    rows, superseded = latest_row_per_line(rows)
    work = _Allocator(inventory, lines, rows)
    stale: list[dict] = []
    for row in rows.sort("line").to_dicts():
        key = (row["order_id"], row["item_key"], row["warehouse_code"])
        prev = work.lines.get(key)
        if prev and row["updated_at"] < prev["updated_at"]:
            stale.append(row)
            continue
        work.report.lines_by_status[row["status"]] += 1
        was = prev is not None and prev["status"] in ALLOCATING
        now = row["status"] in ALLOCATING
        before_pending = _pending_share(prev)
        line = dict(prev) if prev else {"claimed": 0, "backordered": 0, "claim_due": False}
        line.update(
            {
                k: row[k]
                for k in (
                    "order_id",
                    "item_key",
                    "warehouse_code",
                    "status",
                    "order_date",
                    "updated_at",
                    "prebook_start",
                    "linesheet_code",
                    "policy",
                )
            }
        )
        old_quantity, line["quantity"] = (prev["quantity"] if prev else 0), row["quantity"]
        waits = row["prebook_start"] is not None and _as_datetime(row["prebook_start"]) > applied_time
        if now and not row["made_to_order"]:
            if not was:
                line.update(claimed=0, backordered=0, claim_due=waits)
                if not waits:
                    work.claim(line)
            elif waits:
                # Its pre-book start moved past the time applied: it claims nothing until then.
                if line["claimed"]:
                    work.give_back(line, line["claimed"], None)
                line.update(claimed=0, backordered=0, claim_due=True)
            elif line["claim_due"]:
                work.claim(line)
            elif line["quantity"] > old_quantity:
                work.claim(line)
            elif line["quantity"] < line["claimed"]:
                work.give_back(line, line["claimed"] - line["quantity"], None)
                line["backordered"] = 0
            else:
                line["backordered"] = line["quantity"] - line["claimed"]
        elif was and not now:
            work.give_back(line, line["claimed"], _no_return_reason(row))
            line.update(claimed=0, backordered=0, claim_due=False)
        else:
            # Not allocating, or moved to a made-to-order linesheet (never claims): a claim goes back.
            if line["claimed"]:
                work.give_back(line, line["claimed"], None)
            line.update(claimed=0, backordered=0, claim_due=False)
        work.lines[key] = line
        work.sync_pending(line, before_pending)
    work.report.stale_updates = len(stale) + superseded.height
    inv, ol = work.frames(inventory, lines)
    stale_rejects = pl.DataFrame(
        [
            {
                "line": r["line"],
                "column": "updated_at",
                "value": str(r["updated_at"]),
                "reason": f"{STALE_UPDATE}: older than the line's stored update",
            }
            for r in stale
        ],
        schema=REJECT_SCHEMA,
    )
    return inv, ol, concat_rejects(superseded, stale_rejects), work.report


def release_prebook(
    inventory: pl.DataFrame,
    lines: pl.DataFrame,
    at: datetime,
) -> tuple[pl.DataFrame, pl.DataFrame, AllocationReport]:
    """Claim for pre-book lines whose prebook_start has been reached, in (prebook_start, order_date, order_id) order."""
    due = lines.filter(pl.col("claim_due") & (pl.col("prebook_start").cast(pl.Datetime("us")) <= at))
    if not due.height:
        return inventory, lines, AllocationReport()
    due = due.sort("prebook_start", "order_date", "order_id", "item_key", "warehouse_code")
    work = _Allocator(inventory, lines, due)
    for row in due.to_dicts():
        line = work.lines[(row["order_id"], row["item_key"], row["warehouse_code"])]
        before = _pending_share(line)
        work.claim(line)
        work.sync_pending(line, before)
    inv, ol = work.frames(inventory, lines)
    return inv, ol, work.report
