"""A file kind's pandera model, built from its column declarations (see schemas.columns)."""

from __future__ import annotations

from dataclasses import dataclass

import pandera.polars as pa
import polars as pl

from schemas.columns import Column

# Reasons for pandera's own checks, keyed by its check names.
BUILTIN_REASONS = {
    "not_nullable": "required value is empty",
    "column_in_dataframe": "missing required column",
}


def _check(reason: str, fails) -> pa.Check:
    def check(data) -> pl.LazyFrame:
        return data.lazyframe.select(~fails(pl.col(data.key)))

    return pa.Check(check, name=reason)


@dataclass(frozen=True)
class FileModel:
    """The pandera schema of one file kind, its declared columns, and their casts.

    `values`: the columns a row sets (the others name what it is about); empty for kinds whose
    rejected rows name nothing.
    """

    kind: str
    columns: dict[str, Column]
    schema: pa.DataFrameSchema
    values: tuple[str, ...] = ()

    @classmethod
    def build(cls, kind: str, columns: dict[str, Column], values: tuple[str, ...] = ()) -> FileModel:
        schema = pa.DataFrameSchema(
            {
                name: pa.Column(
                    str,
                    nullable=not col.required,
                    required=col.required,
                    checks=[_check(reason, fails) for reason, fails in col.type.failing_rules()],
                )
                for name, col in columns.items()
            },
            strict=False,
            name=f"{kind} file",
        )
        return cls(kind, columns, schema, values)

    @property
    def required(self) -> list[str]:
        return [n for n, c in self.columns.items() if c.required]

    def normalised(self, present: list[str]) -> list[pl.Expr]:
        """The columns whose type compares text in Unicode NFC, normalised (before validation)."""
        return [pl.col(n).str.normalize("NFC") for n, c in self.columns.items() if c.type.nfc and n in present]

    def casts(self, naming_only: bool = False) -> list[pl.Expr]:
        """Valid text -> typed columns; `naming_only`: the value columns are left empty (null)."""
        return [
            (pl.lit(None) if naming_only and name in self.values else col.type.cast(pl.col(name)))
            .cast(col.type.dtype)
            .alias(name)
            for name, col in self.columns.items()
        ]
