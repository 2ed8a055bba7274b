"""Random drop histories for the re-run and backfill tests: file versions as CSV text.

A history is a list of `DropVersion`s in the order a partner *produced* them: reference files
(warehouses incl. a FUTURE one and a later default change, linesheets, styles incl. a later one
that adds a SKU), inventory files in every merge mode with and without dec_pending, orders files
with status transitions, cancellations and pre-book lines, corrections (a later version of an
earlier name with other content) and re-drops (the same name and content again).

`arrival_order` shuffles a history the way a partner's uploads may arrive: any order, except
that the versions of one name keep their relative order (a correction always arrives after the
version it corrects, otherwise it would not be "the correction"). So the *current* version of
each name, and therefore the expected state, is the same for every arrival order.

Choices go through a small `Chooser` so the same generator serves hypothesis (which can then
shrink a failing history) and a seeded `random.Random` (for the integration tests).
"""

from __future__ import annotations

import csv
import hashlib
import io
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

# History time: March 2021, long before any day these tests run on. A pre-book date after the
# last file but before today claims nothing unless something applies the wall clock.
DAYS = range(1, 9)
PREBOOK_AFTER_HISTORY = "2021-12-01"

SKUS = [
    {
        "style_id": "1001",
        "style_number": "TS100",
        "style_identifier": "FW21",
        "style_color_id": "5001",
        "color_code": "BLK",
        "color_name": "Black",
        "size_code": "S",
        "size_name": "Small",
        "upc": "012345678905",
    },
    {
        "style_id": "1001",
        "style_number": "TS100",
        "style_identifier": "FW21",
        "style_color_id": "5001",
        "color_code": "BLK",
        "color_name": "Black",
        "size_code": "M",
        "size_name": "Medium",
        "upc": "012345678912",
    },
    {
        "style_id": "2001",
        "style_number": "JK200",
        "style_identifier": "FW21",
        "style_color_id": "6001",
        "color_code": "NVY",
        "color_name": "Navy",
        "size_code": "L",
        "size_name": "Large",
        "upc": "012345678936",
    },
    # Only in the later styles file: rows naming it before that file are `unknown item`.
    {
        "style_id": "3001",
        "style_number": "PT300",
        "style_identifier": "FW21",
        "style_color_id": "7001",
        "color_code": "0042",
        "color_name": "Olive",
        "size_code": "32",
        "size_name": "32",
        "upc": "000123456789",
    },
]
STYLE_COLUMNS = [
    "style_id",
    "style_number",
    "style_identifier",
    "style_color_id",
    "color_code",
    "color_name",
    "size_code",
    "size_name",
    "upc",
    "continue_selling",
]
INVENTORY_COLUMNS = [
    "upc",
    "style_number",
    "style_identifier",
    "color_code",
    "size_name",
    "warehouse_code",
    "quantity",
    "available_date",
]
ORDER_COLUMNS = [
    "order_id",
    "upc",
    "quantity",
    "status",
    "order_date",
    "updated_at",
    "warehouse_code",
    "linesheet_code",
    "prebook_start",
    "cancelled_by",
    "restock",
]
# LA only exists once the later warehouses file is applied; BOS never does (`unknown warehouse`).
ROW_WAREHOUSES = ["", "", "NYC", "SPRING", "LA", "DEFAULT", "BOS"]
STATUSES = ["Pending", "pending", "Approved", "Shipped", "Cancelled", "Notes"]


class Chooser(Protocol):
    def randint(self, lo: int, hi: int) -> int: ...
    def choice(self, options: Sequence): ...


class RandomChooser:
    """Choices from a seeded `random.Random`."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)

    def randint(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)

    def choice(self, options: Sequence):
        return self.rng.choice(list(options))


class DrawChooser:
    """Choices drawn from hypothesis (`st.data()`), so failing histories shrink."""

    def __init__(self, data):
        from hypothesis import strategies as st

        self.data, self.st = data, st

    def randint(self, lo: int, hi: int) -> int:
        return self.data.draw(self.st.integers(lo, hi))

    def choice(self, options: Sequence):
        return self.data.draw(self.st.sampled_from(list(options)))


@dataclass(frozen=True)
class DropVersion:
    """One version of a dropped file: its name and its content."""

    name: str
    text: str

    @property
    def kind(self) -> str:
        return self.name.split("_", 1)[0]

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()


def _csv(columns: list[str], rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows({c: r.get(c, "") for c in columns} for r in rows)
    return out.getvalue()


def _stamp(day: int, hour: int) -> str:
    return f"202103{day:02d}T{hour:02d}0000"


def _inventory_rows(c: Chooser) -> list[dict]:
    rows = []
    for _ in range(c.randint(1, 5)):
        sku = SKUS[c.randint(0, len(SKUS) - 1)]
        row = {"warehouse_code": c.choice(ROW_WAREHOUSES), "quantity": str(c.randint(0, 12))}
        if c.choice([True, False]):
            row["upc"] = sku["upc"]
        else:
            row.update({k: sku[k] for k in ("style_number", "style_identifier", "color_code", "size_name")})
        if c.randint(0, 5) == 0:
            row["available_date"] = f"2021-04-{c.randint(1, 28):02d}"
        rows.append(row)
        if c.randint(0, 6) == 0:  # an identical duplicate (counts once) or a conflicting one (both rejected)
            rows.append({**row, "quantity": c.choice([row["quantity"], str(int(row["quantity"]) + 1)])})
    return rows


def _order_rows(c: Chooser, day: int) -> list[dict]:
    rows = []
    for _ in range(c.randint(1, 5)):
        order_day = c.randint(1, day)
        rows.append(
            {
                "order_id": f"PO{c.randint(1, 4)}",
                "upc": SKUS[c.randint(0, len(SKUS) - 1)]["upc"],
                "quantity": str(c.randint(1, 6)),
                "status": c.choice(STATUSES),
                # February orders make cancels late (more than 14 days after order_date).
                "order_date": c.choice(
                    [f"2021-03-{order_day:02d}", f"2021-03-{order_day:02d}T09:30:00Z", "2021-02-01"]
                ),
                "updated_at": c.choice(["", "", f"2021-03-{day:02d}T{c.randint(0, 23):02d}:00:00Z"]),
                "warehouse_code": c.choice(["", "", "NYC", "LA"]),
                "linesheet_code": c.choice(["", "", "FW", "MTO"]),
                "prebook_start": c.choice(["", "", "", f"2021-03-{c.randint(1, 8):02d}", PREBOOK_AFTER_HISTORY]),
                "cancelled_by": c.choice(["", "market", "merchant"]),
                "restock": c.choice(["", "true", "false"]),
            }
        )
    return rows


def _new_file(c: Chooser, n: int, kind: str | None = None) -> DropVersion:
    day, hour = c.choice(DAYS), c.choice([6, 12])
    kind = kind or c.choice(["inventory", "inventory", "inventory", "orders", "orders", "styles", "warehouses"])
    if kind == "inventory":
        tokens = [
            t
            for t in (c.choice(["", "update", "overwrite", "seed"]), c.choice(["", "", "decpending", "nodecpending"]))
            if t
        ]
        name = f"inventory_{_stamp(day, hour)}_{'-'.join([f'n{n}', *tokens])}.csv"
        return DropVersion(name, _csv(INVENTORY_COLUMNS, _inventory_rows(c)))
    if kind == "orders":
        return DropVersion(f"orders_{_stamp(day, hour)}_n{n}.csv", _csv(ORDER_COLUMNS, _order_rows(c, day)))
    if kind == "styles":
        # The later styles file adds the fourth SKU and may flip a style's continue_selling.
        rows = [{**s, "continue_selling": c.choice(["", "true", "false"])} for s in SKUS[c.randint(0, 2) :]]
        return DropVersion(f"styles_{_stamp(day, hour)}_n{n}.csv", _csv(STYLE_COLUMNS, rows))
    rows = [
        {"warehouse_code": "LA", "name": "Los Angeles", "type": "IMMEDIATE", "is_default": c.choice(["true", "false"])},
        {
            "warehouse_code": "SPRING",
            "name": "Spring",
            "type": "FUTURE",
            "available_date": f"2021-0{c.randint(5, 7)}-01",
            "is_default": "false",
        },
    ]
    return DropVersion(
        f"warehouses_{_stamp(day, hour)}_n{n}.csv",
        _csv(["warehouse_code", "name", "type", "available_date", "is_default"], rows),
    )


def base_files(c: Chooser) -> list[DropVersion]:
    """The account's set-up on day 1 at midnight: warehouses, linesheets, the first styles file."""
    styles = [{**s, "continue_selling": c.choice(["", "", "true", "false"])} for s in SKUS[:3]]
    return [
        DropVersion(
            f"warehouses_{_stamp(1, 0)}.csv",
            _csv(
                ["warehouse_code", "name", "type", "available_date", "is_default"],
                [
                    {"warehouse_code": "NYC", "name": "New York", "type": "IMMEDIATE", "is_default": "false"},
                    {
                        "warehouse_code": "SPRING",
                        "name": "Spring",
                        "type": "FUTURE",
                        "available_date": "2021-06-01",
                        "is_default": "false",
                    },
                ],
            ),
        ),
        DropVersion(
            f"linesheets_{_stamp(1, 0)}.csv",
            _csv(
                ["linesheet_code", "name", "made_to_order", "inventory_policy"],
                [
                    {
                        "linesheet_code": "FW",
                        "name": "Fall",
                        "made_to_order": "false",
                        "inventory_policy": c.choice(["", "deny", "continue"]),
                    },
                    {"linesheet_code": "MTO", "name": "Made to order", "made_to_order": "false"},
                ],
            ),
        ),
        DropVersion(f"styles_{_stamp(1, 0)}.csv", _csv(STYLE_COLUMNS, styles)),
    ]


def random_history(c: Chooser, max_files: int = 8) -> list[DropVersion]:
    """Base files, then new files, corrections and re-drops, in the order the partner produced them."""
    history = base_files(c)
    for n in range(c.randint(1, max_files)):
        what = c.choice(["new", "new", "new", "correction", "redrop"]) if n else "new"
        if what == "new":
            history.append(_new_file(c, n))
            continue
        earlier = c.choice(history)
        if what == "redrop" or earlier.kind == "linesheets":
            history.append(earlier)
        else:  # same name, other content of the same kind
            history.append(DropVersion(earlier.name, _new_file(c, n, earlier.kind).text))
    return history


def current_versions(arrivals: list[DropVersion]) -> list[DropVersion]:
    """The version of each name that arrived last."""
    return list({v.name: v for v in arrivals}.values())


def arrival_order(history: list[DropVersion], rng: random.Random) -> list[DropVersion]:
    """A random arrival order that keeps the versions of each name in their produced order."""
    by_name: dict[str, list[DropVersion]] = {}
    for v in history:
        by_name.setdefault(v.name, []).append(v)
    slots = [v.name for v in history]
    rng.shuffle(slots)
    cursor = {name: 0 for name in by_name}
    out = []
    for name in slots:
        out.append(by_name[name][cursor[name]])
        cursor[name] += 1
    return out
