"""A partner gone quiet: whether its last delivery is older than the partner's `expect_every_h`.

"Arrived" is when the partner delivered the file (its modification time at the source), not when
Stockdrop picked it up (cli.md v1.1).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DeliveryStatus:
    """One partner's delivery rhythm against its expectation."""

    partner: str
    expect_every_h: float
    last_delivery: float | None  # POSIX seconds of the newest file's source mtime; None: nothing yet
    now: float

    @property
    def hours_since(self) -> float | None:
        return None if self.last_delivery is None else (self.now - self.last_delivery) / 3600

    @property
    def late(self) -> bool:
        """Nothing delivered yet, or the newest delivery is older than the expected rhythm."""
        return self.hours_since is None or self.hours_since > self.expect_every_h

    def describe(self) -> str:
        if self.hours_since is None:
            return f"{self.partner}: no file delivered yet (expected every {self.expect_every_h:g} h)"
        return (
            f"{self.partner}: last file delivered {self.hours_since:.1f} h ago "
            f"(expected every {self.expect_every_h:g} h)"
        )
