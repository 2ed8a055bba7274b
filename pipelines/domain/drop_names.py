"""Drop file names: parsing `<kind>_<YYYYMMDD>T<HHMMSS>[_<label>].<ext>` and the contract order."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

KINDS = ("warehouses", "linesheets", "styles", "inventory", "orders")
KIND_ORDER = {kind: i for i, kind in enumerate(KINDS)}
MODE_TOKENS = ("overwrite", "update", "seed")
DEC_PENDING_TOKENS = {"decpending": True, "nodecpending": False}

_NAME = re.compile(
    r"^(?P<kind>[a-z]+)_(?P<date>[0-9]{8})T(?P<time>[0-9]{6})(?:_(?P<label>[A-Za-z0-9_-]+))?\.(?P<ext>csv|csv\.gz)$"
)

# Names a partner's upload tool uses while a file is still being written; never reported.
IN_PROGRESS_SUFFIXES = (".part", ".partial", ".tmp", ".filepart", ".crdownload")


class UnrecognisedFileName(ValueError):
    """The name does not follow the drop-file contract."""


@dataclass(frozen=True)
class DropName:
    """A parsed drop file name."""

    name: str
    kind: str
    as_of: datetime
    label: str
    ext: str

    @property
    def tokens(self) -> tuple[str, ...]:
        return tuple(t.lower() for t in re.split(r"[-_]", self.label) if t)

    @property
    def mode_token(self) -> str | None:
        """The merge mode the label asks for (last one wins), or None to use the partner default."""
        modes = [t for t in self.tokens if t in MODE_TOKENS]
        return modes[-1] if modes else None

    @property
    def dec_pending_token(self) -> bool | None:
        flags = [DEC_PENDING_TOKENS[t] for t in self.tokens if t in DEC_PENDING_TOKENS]
        return flags[-1] if flags else None

    @property
    def order_key(self) -> tuple[datetime, int, str]:
        """Contract order: (as-of, kind order, name)."""
        return (self.as_of, KIND_ORDER[self.kind], self.name)


def parse_drop_name(name: str) -> DropName:
    """Parse a drop file name or raise `UnrecognisedFileName` saying why."""
    m = _NAME.fullmatch(name)
    if not m:
        raise UnrecognisedFileName(
            f"unrecognised file name: {name!r} does not match <kind>_<YYYYMMDD>T<HHMMSS>[_<label>].csv[.gz]"
        )
    if m["kind"] not in KIND_ORDER:
        raise UnrecognisedFileName(f"unrecognised file name: unknown kind {m['kind']!r} in {name!r}")
    try:
        as_of = datetime.strptime(m["date"] + m["time"], "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError as e:
        raise UnrecognisedFileName(f"unrecognised file name: bad timestamp in {name!r}") from e
    return DropName(name=name, kind=m["kind"], as_of=as_of, label=m["label"] or "", ext=m["ext"])


AS_OF_IN_FUTURE = "as-of in the future"


def as_of_in_future(as_of: datetime, landed_at: datetime, max_future_h: float) -> str | None:
    """Why a file must be rejected whole for an as-of too far after it landed, or None.

    A typed year (2062 for 2026) would otherwise place the file after every later real file for
    ever (drops.md v1.2). Both times are UTC (naive ones are taken as UTC).
    """
    as_of, landed_at = (t if t.tzinfo else t.replace(tzinfo=UTC) for t in (as_of, landed_at))
    if as_of - landed_at <= timedelta(hours=max_future_h):
        return None
    return (
        f"{AS_OF_IN_FUTURE}: {as_of:%Y-%m-%dT%H:%M:%S} is more than {max_future_h:g} h after the file landed "
        f"({landed_at:%Y-%m-%dT%H:%M:%S} UTC; partner option max_future_h)"
    )


def is_in_progress(name: str) -> bool:
    """True for names that mark an upload still being written (or hidden files)."""
    return name.startswith(".") or name.lower().endswith(IN_PROGRESS_SUFFIXES)


_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")


def is_safe_name(name: str) -> bool:
    """True when a remote name is a plain file name that cannot escape the landing folder."""
    return bool(_SAFE.fullmatch(name)) and ".." not in name


def is_fetchable_name(name: str) -> bool:
    """True for any name a folder listing can hold: one path component (no `/`, no NUL, not `.` or
    `..`, at most 255 bytes). Such a file can be read and archived under its sha256 whatever its
    name, even when the name itself is not safe to use (`is_safe_name`)."""
    return name not in ("", ".", "..") and "/" not in name and "\x00" not in name and len(name.encode()) <= 255


# The fold also applies the daily pre-book release, recorded as a pseudo-file of kind `release`
# that sorts before every file kind at the same as-of.
FOLD_KIND_ORDER = {"release": -1, **KIND_ORDER}


def contract_order(name: str) -> tuple:
    """Unrecognised names sort last; they are landed (archived) and reported, never skipped."""
    try:
        return (0, parse_drop_name(name).order_key)
    except UnrecognisedFileName:
        return (1, name)
