"""Stable-file detection: a file is taken only once its size and mtime are unchanged for `settle_s`.

Files are tracked by identity (name, size, mtime), never by `mtime > cursor`, so files sharing a
second are never skipped and a re-upload under the same name is seen as new.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sighting:
    """A file's size and mtime and when it was first seen with them."""

    size: int
    mtime: float
    since: float

    def to_json(self) -> list[float]:
        return [self.size, self.mtime, self.since]

    @classmethod
    def from_json(cls, v: list[float]) -> Sighting:
        return cls(int(v[0]), float(v[1]), float(v[2]))


def observe(
    previous: dict[str, Sighting], listing: list[tuple[str, int, float]], now: float, settle_s: float
) -> tuple[list[str], dict[str, Sighting]]:
    """Fold one listing into the sightings; return the names that are stable now and the new sightings.

    A name is stable when it was already seen with the same size and mtime at least `settle_s`
    ago. Names no longer listed are forgotten.
    """
    seen: dict[str, Sighting] = {}
    stable: list[str] = []
    for name, size, mtime in listing:
        before = previous.get(name)
        if before and before.size == size and before.mtime == mtime:
            seen[name] = before
            if now - before.since >= settle_s:
                stable.append(name)
        else:
            seen[name] = Sighting(size, mtime, now)
            if settle_s <= 0:  # the partner uploads atomically (rename or marker): no need to wait
                stable.append(name)
    return sorted(stable), seen
