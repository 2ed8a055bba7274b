"""What each channel is shown (channels.md "Quantity rules per channel"): buffers, shares,
thresholds and caps per channel, warehouse and style, applied to the quantity a channel is sent.

For every (item, warehouse), with `q` the clamped available-to-sell, in this order:
1. `q = max(q − buffer, 0)`
2. `q = floor(q × percent / 100)` — exact: the percent is held in hundredths of a percent
   (basis points) and the step is integer arithmetic, `q × bp // 10000`, so 57% of 100 is 57
3. `q = 0` when `q < zero_below`
4. `q = min(q, max)` when `max` is set
(step 0, `max(ats, 0)`, is the clamp every channel already applies.) Each parameter comes from
the most specific level that sets it: `styles` (by style_number) over `warehouses` (by code)
over the channel's own keys; defaults: buffer 0, percent 100, zero_below 0, no max.

Pure and column-wise: one function (`apply_rules`) over the frame of items a channel is sent,
the same for pushes and the JOOR export file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

import polars as pl

STEPS = ("buffer", "percent", "zero_below", "max")
STEP_PREFIX = "channel:"
FULL_SHARE_BP = 10_000  # 100% in basis points


@dataclass(frozen=True)
class RuleLevel:
    """The parameters one level sets (None: not set here, a less specific level decides)."""

    buffer: int | None = None
    percent_bp: int | None = None  # percent in hundredths (80 -> 8000, 33.33 -> 3333)
    zero_below: int | None = None
    max: int | None = None

    @staticmethod
    def percent_to_bp(percent: Decimal | int | str) -> int:
        """An exact percent (at most 2 decimals, 0–100) in basis points.

        Raises:
            ValueError: outside 0–100 or with more than 2 decimals.
        """
        value = Decimal(str(percent))
        bp = value * 100
        if not (0 <= value <= 100) or bp != bp.to_integral_value():
            raise ValueError(f"percent {percent} must be 0–100 with at most 2 decimals")
        return int(bp)


@dataclass(frozen=True)
class QuantityRules:
    """One channel's rules: its own level, then per warehouse code and per style_number."""

    channel: RuleLevel = field(default_factory=RuleLevel)
    warehouses: tuple[tuple[str, RuleLevel], ...] = ()
    styles: tuple[tuple[str, RuleLevel], ...] = ()

    @property
    def any(self) -> bool:
        return self.channel != RuleLevel() or bool(self.warehouses) or bool(self.styles)


_DEFAULTS = {"buffer": 0, "percent_bp": FULL_SHARE_BP, "zero_below": 0, "max": None}
_PARAMS = tuple(_DEFAULTS)


def _level_frame(levels: tuple[tuple[str, RuleLevel], ...], key: str, suffix: str) -> pl.DataFrame:
    return pl.DataFrame(
        [(k, *(getattr(level, p) for p in _PARAMS)) for k, level in levels],
        schema={key: pl.String, **{f"{p}{suffix}": pl.Int64 for p in _PARAMS}},
        orient="row",
    )


def with_parameters(items: pl.DataFrame, rules: QuantityRules) -> pl.DataFrame:
    """`items` (with `warehouse_code`, `style_number`) plus each rule parameter in force for the row
    (`buffer`, `percent_bp`, `zero_below`, `max`; `max` null when none)."""
    frame = items
    if rules.warehouses:
        frame = frame.join(
            _level_frame(rules.warehouses, "warehouse_code", "_w"),
            on="warehouse_code",
            how="left",
            maintain_order="left",
        )
    if rules.styles:
        frame = frame.join(
            _level_frame(rules.styles, "style_number", "_s"), on="style_number", how="left", maintain_order="left"
        )
    columns = set(frame.columns)
    params = []
    for p in _PARAMS:
        chain = [pl.col(f"{p}{s}") for s in ("_s", "_w") if f"{p}{s}" in columns]
        own, default = getattr(rules.channel, p), _DEFAULTS[p]
        chain += [pl.lit(v, pl.Int64) for v in (own, default) if v is not None]
        params.append((pl.coalesce(chain) if chain else pl.lit(None, pl.Int64)).alias(f"_rule_{p}"))
    return frame.with_columns(params).drop(
        [c for c in frame.columns if c.endswith(("_w", "_s")) and c not in items.columns]
    )


def step_values(quantity: pl.Expr) -> list[pl.Expr]:
    """The value after each step (`_after_<step>`), from the clamped quantity and the `_rule_*` columns."""
    after_buffer = pl.max_horizontal(quantity - pl.col("_rule_buffer"), pl.lit(0, pl.Int64))
    after_percent = (after_buffer * pl.col("_rule_percent_bp")) // FULL_SHARE_BP
    after_zero = pl.when(after_percent < pl.col("_rule_zero_below")).then(pl.lit(0, pl.Int64)).otherwise(after_percent)
    after_max = pl.min_horizontal(after_zero, pl.col("_rule_max"))  # min ignores a null max: no cap
    return [
        after_buffer.alias("_after_buffer"),
        after_percent.alias("_after_percent"),
        after_zero.alias("_after_zero_below"),
        after_max.alias("_after_max"),
    ]


def apply_rules(items: pl.DataFrame, rules: QuantityRules | None, quantity: str = "inventory") -> pl.DataFrame:
    """`items` with `quantity` replaced by what the channel is shown (unchanged without rules).

    Args:
        items: rows with `warehouse_code`, `style_number` and `quantity` (already clamped at 0).
        rules: the channel's rules, or None.
    """
    return shown_and_held_back(items, rules, quantity)[0]


def held_back(items: pl.DataFrame, rules: QuantityRules | None, quantity: str = "inventory") -> dict[str, int]:
    """Units the rules hold back from what the channel would otherwise be shown, in total and by
    step (`buffer`, `percent`, `zero_below`, `max`), over `items` (clamped quantities, before rules)."""
    return shown_and_held_back(items, rules, quantity)[1]


def shown_and_held_back(
    items: pl.DataFrame, rules: QuantityRules | None, quantity: str = "inventory", counted: pl.Expr | None = None
) -> tuple[pl.DataFrame, dict[str, int]]:
    """Both at once, from one pass of the steps: `items` with `quantity` ruled, and the units held
    back over the rows where `counted` holds (all rows when None)."""
    out = {"total": 0, **dict.fromkeys(STEPS, 0)}
    if rules is None or not rules.any or not items.height:
        return items, out
    # The steps over a narrow frame (joins copy every column they carry), put back by position.
    narrow = items.select(
        "warehouse_code",
        "style_number",
        pl.col(quantity).alias("_q"),
        (counted if counted is not None else pl.lit(True)).alias("_counted"),
    )
    ruled = with_parameters(narrow, rules).with_columns(step_values(pl.col("_q")))
    before = [pl.col("_q"), *(pl.col(f"_after_{s}") for s in STEPS)]
    sums = ruled.filter("_counted").select(
        *((b - pl.col(f"_after_{s}")).sum().alias(s) for b, s in zip(before, STEPS, strict=False)),
        (pl.col("_q") - pl.col("_after_max")).sum().alias("total"),
    )
    out = {k: int(v or 0) for k, v in sums.row(0, named=True).items()}
    return items.with_columns(ruled.get_column("_after_max").alias(quantity)), out


def trace(quantity: int, warehouse_code: str, style_number: str, rules: QuantityRules | None) -> list[tuple[str, int]]:
    """(`channel:<step>`, value after it) for each step that changed one item's value (explain)."""
    if rules is None or not rules.any:
        return []
    row = pl.DataFrame({"warehouse_code": [warehouse_code], "style_number": [style_number], "q": [max(quantity, 0)]})
    after = with_parameters(row, rules).select(step_values(pl.col("q"))).row(0)
    out, current = [], max(quantity, 0)
    for step, value in zip(STEPS, after, strict=True):
        if value != current:
            out.append((STEP_PREFIX + step, int(value)))
            current = value
    return out
