"""The dry run (`stockdrop check`, drops.md v1.2): one file read through its partner's profile
exactly as a landed version would be (name rules, layout, columns, values, value limits and the
whole-file rules), with nothing landed, recorded or applied. A dry run knows no catalog: rows
that would be rejected while resolving (an unknown item) show only when the file is applied.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from pipelines.adapters.drop_reader import FileRejected, ParsedFile
from pipelines.adapters.landing import file_options, name_reject_reason
from pipelines.adapters.parsing import read_version
from pipelines.domain.drop_names import UnrecognisedFileName
from pipelines.domain.partners import PartnerSpec
from pipelines.domain.rejects import REJECT_SCHEMA


@dataclass(frozen=True)
class CheckResult:
    """What applying the file would meet at the gate: its rows, or why it would be rejected whole."""

    name: str
    kind: str | None
    as_of: datetime | None
    parsed: ParsedFile | None
    rejected: FileRejected | None

    @property
    def rejects(self) -> pl.DataFrame:
        """line, column, value, reason: the rows' rejects, or the one whole-file reject."""
        if self.rejected is not None:
            e = self.rejected
            return pl.DataFrame([(e.line, e.column, e.value, e.reason)], schema=REJECT_SCHEMA, orient="row")
        assert self.parsed is not None
        return self.parsed.rejects.sort("line", "column", nulls_last=True)

    def canonical(self) -> pl.DataFrame:
        """The accepted rows as the contract's CSV would hold them (columns the file gave)."""
        assert self.parsed is not None
        rows = self.parsed.rows.drop("line")
        return rows.select(c for c in rows.columns if rows[c].null_count() < rows.height)


def check_file(partner: PartnerSpec, path: Path) -> CheckResult:
    name = path.name
    try:
        options = file_options(partner, name, path.stat().st_mtime)
    except UnrecognisedFileName as e:
        return CheckResult(name, None, None, None, FileRejected(name_reject_reason(e), value=name))
    kind, as_of = options["kind"], options["as_of"]
    try:
        parsed = read_version(partner, path, name, kind, options["mode"], as_of, datetime.now(UTC))
    except FileRejected as e:
        return CheckResult(name, kind, as_of, None, e)
    return CheckResult(name, kind, as_of, parsed, None)
