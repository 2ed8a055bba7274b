"""What a valid cell is, per column type: the one definition validation, casting and the DDL test use.

drops.md "Value limits (v1.1)": a value that passes here folds and is stored identically on every
backend. Each `ValueType` lists its rules in order (the first that fails is the reject reason, so a
bad cell is reported once) and the cast that turns valid text into its typed value. Every rule
is a vectorised polars expression over the trimmed text, and holds for an empty (null) cell:
whether a column may be empty is the model's business, not the type's.

Datetimes are parsed cell by cell from their parts (no format inferred from another cell): every
accepted form is listed in `DATETIME`, offsets are converted to UTC, and a value that is not a
real instant between 1900 and 9999 is rejected rather than replaced.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

import polars as pl

IDENTIFIER_MAX_CHARS = 100
TEXT_MAX_CHARS = 200
QUANTITY_MAX = 1_000_000_000
DATE_MIN, DATE_MAX = date(1900, 1, 1), date(9999, 12, 31)
DATETIME_MIN, DATETIME_MAX = datetime(1900, 1, 1), datetime(9999, 12, 31, 23, 59, 59, 999999)

TRUE_WORDS = ("true", "t", "yes", "y", "1")
FALSE_WORDS = ("false", "f", "no", "n", "0")

CONTROL = r"[\x00-\x1f\x7f-\x9f]"  # exactly Unicode category Cc (C0 and C1 controls, NUL and U+001F included)
# Digits are ASCII (drops.md v1.2): `[0-9]`, never `\d`, which in polars' (Rust) and Python's
# regexes matches any Unicode digit, so `２３` would be read as something else.
SCIENTIFIC = r"^[+-]?[0-9]+(\.[0-9]*)?[eE][+-]?[0-9]+$"
WHOLE_NUMBER = r"^[0-9]+(\.0*)?$"
ISO_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
# Every accepted datetime form: a date alone, or date [T|t|space] HH:MM[:SS[.fraction]] with an
# optional Z or ±HH:MM / ±HHMM offset. The fraction keeps microseconds (further digits are cut).
ISO_DATETIME = (
    r"^(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})"
    r"(?:[Tt ](?P<h>[0-9]{2}):(?P<mi>[0-9]{2})(?::(?P<s>[0-9]{2})(?:\.(?P<frac>[0-9]{1,9}))?)?"
    r"(?:(?P<z>[Zz])|(?P<sign>[+-])(?P<oh>[0-9]{2}):?(?P<om>[0-9]{2}))?)?$"
)

Rule = tuple[str, Callable[[pl.Expr], pl.Expr]]


@dataclass(frozen=True)
class ValueType:
    """A column type: its rules (reason, holds) in order, its cast, and its stored width."""

    name: str
    rules: tuple[Rule, ...]
    cast: Callable[[pl.Expr], pl.Expr]
    dtype: pl.DataType
    max_chars: int | None = None  # the widest text the store must hold for it
    # Identifiers are compared and stored in Unicode NFC (drops.md v1.2: `CAFÉ` typed either way
    # is one SKU); the text is normalised before the rules judge it.
    nfc: bool = False

    def valid(self, c: pl.Expr) -> pl.Expr:
        return pl.all_horizontal([holds(c) for _, holds in self.rules]) if self.rules else pl.lit(True)

    def failing_rules(self) -> list[tuple[str, Callable[[pl.Expr], pl.Expr]]]:
        """(reason, fails) per rule, where `fails` is true only for the first rule a cell breaks."""
        out = []
        for i, (reason, holds) in enumerate(self.rules):
            earlier = self.rules[:i]

            def fails(c: pl.Expr, holds=holds, earlier=earlier) -> pl.Expr:
                return pl.all_horizontal([h(c) for _, h in earlier] + [~holds(c)]) if earlier else ~holds(c)

            out.append((reason, fails))
        return out


def _or_null(condition: Callable[[pl.Expr], pl.Expr]) -> Callable[[pl.Expr], pl.Expr]:
    return lambda c: c.is_null() | condition(c).fill_null(False)


def _whole_number(c: pl.Expr) -> pl.Expr:
    """The integer a whole-number text stands for (`10.0` is 10); null past 64 bits."""
    return c.str.replace(r"\.0*$", "").cast(pl.Int64, strict=False)


def parse_date(c: pl.Expr) -> pl.Expr:
    """`YYYY-MM-DD` of a real calendar day in range, else null."""
    d = pl.when(c.str.contains(ISO_DATE)).then(c.str.to_date("%Y-%m-%d", strict=False))
    return pl.when(d.is_between(DATE_MIN, DATE_MAX)).then(d)


def parse_datetime(c: pl.Expr) -> pl.Expr:
    """One cell's instant as naive UTC (microseconds), or null when it is not a valid form or instant."""
    p = c.str.extract_groups(ISO_DATETIME)
    day = parse_date(p.struct.field("date"))

    def part(name: str, high: int) -> pl.Expr:
        v = p.struct.field(name).cast(pl.Int64, strict=False).fill_null(0)
        return pl.when(v <= high).then(v)

    frac = p.struct.field("frac").fill_null("").str.slice(0, 6).str.pad_end(6, "0").cast(pl.Int64, strict=False)
    sign = pl.when(p.struct.field("sign") == "-").then(-1).otherwise(1)
    local = day.cast(pl.Datetime("us")) + pl.duration(
        hours=part("h", 23), minutes=part("mi", 59), seconds=part("s", 59), microseconds=frac, time_unit="us"
    )
    offset = pl.duration(hours=part("oh", 23), minutes=part("om", 59), time_unit="us") * sign
    utc = local - offset
    return pl.when(utc.is_between(DATETIME_MIN, DATETIME_MAX)).then(utc)


def _identifier_rules(scientific: bool) -> tuple[Rule, ...]:
    rules: list[Rule] = [
        ("identifier contains a control character", _or_null(lambda c: ~c.str.contains(CONTROL))),
        (
            f"identifier longer than {IDENTIFIER_MAX_CHARS} characters",
            _or_null(lambda c: c.str.len_chars() <= IDENTIFIER_MAX_CHARS),
        ),
    ]
    if scientific:
        rules.append(("identifier in scientific notation", _or_null(lambda c: ~c.str.contains(SCIENTIFIC))))
    return tuple(rules)


def _same(c: pl.Expr) -> pl.Expr:
    return c


IDENTIFIER = ValueType(
    "identifier", _identifier_rules(scientific=False), _same, pl.String(), IDENTIFIER_MAX_CHARS, nfc=True
)
# Codes and ids a spreadsheet may have turned into numbers (a UPC as 1.23457E+11): never rounded.
CODE = ValueType("code", _identifier_rules(scientific=True), _same, pl.String(), IDENTIFIER_MAX_CHARS, nfc=True)
TEXT = ValueType(
    "text",
    (
        ("text contains a control character", _or_null(lambda c: ~c.str.contains(CONTROL))),
        (f"text longer than {TEXT_MAX_CHARS} characters", _or_null(lambda c: c.str.len_chars() <= TEXT_MAX_CHARS)),
    ),
    _same,
    pl.String(),
    TEXT_MAX_CHARS,
)
QUANTITY = ValueType(
    "quantity",
    (
        ("quantity must be a whole number >= 0", _or_null(lambda c: c.str.contains(WHOLE_NUMBER))),
        (f"quantity must be at most {QUANTITY_MAX:,}", _or_null(lambda c: _whole_number(c) <= QUANTITY_MAX)),
    ),
    _whole_number,
    pl.Int64(),
)
ORDER_QUANTITY = ValueType(
    "order quantity",
    (
        (
            "quantity must be a whole number > 0",
            _or_null(lambda c: c.str.contains(WHOLE_NUMBER) & ~c.str.contains(r"^0+(\.0*)?$")),
        ),
        (f"quantity must be at most {QUANTITY_MAX:,}", _or_null(lambda c: _whole_number(c) <= QUANTITY_MAX)),
    ),
    _whole_number,
    pl.Int64(),
)
DATE = ValueType(
    "date",
    (
        ("not an ISO date (YYYY-MM-DD)", _or_null(lambda c: c.str.contains(ISO_DATE))),
        ("not a real calendar day between 1900-01-01 and 9999-12-31", _or_null(lambda c: parse_date(c).is_not_null())),
    ),
    parse_date,
    pl.Date(),
)
DATETIME = ValueType(
    "datetime",
    (
        ("not an ISO date or datetime", _or_null(lambda c: c.str.contains(ISO_DATETIME))),
        ("not a real date and time between 1900 and 9999 (UTC)", _or_null(lambda c: parse_datetime(c).is_not_null())),
    ),
    parse_datetime,
    pl.Datetime("us"),
)
BOOLEAN = ValueType(
    "boolean",
    (("not a boolean (true/false)", _or_null(lambda c: c.str.to_lowercase().is_in(TRUE_WORDS + FALSE_WORDS))),),
    lambda c: (
        pl.when(c.str.to_lowercase().is_in(TRUE_WORDS))
        .then(True)
        .when(c.str.to_lowercase().is_in(FALSE_WORDS))
        .then(False)
    ),
    pl.Boolean(),
)


def choice(column: str, allowed: tuple[str, ...], stored: Callable[[pl.Expr], pl.Expr]) -> ValueType:
    """One of `allowed` (any case), stored as `stored` makes it (e.g. upper case)."""
    words = [a.lower() for a in allowed]
    return ValueType(
        f"{column} choice",
        (
            (
                f"{column} must be {' or '.join(allowed)}" if len(allowed) < 3 else f"unknown {column}",
                _or_null(lambda c: c.str.to_lowercase().is_in(words)),
            ),
        ),
        stored,
        pl.String(),
        max(len(a) for a in allowed),
    )


@dataclass(frozen=True)
class Column:
    """One column of a drop file: its type and whether the file must have it filled."""

    type: ValueType
    required: bool = False
