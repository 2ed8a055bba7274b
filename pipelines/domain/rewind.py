"""Before-images: what a fold step changed, kept so the state can be taken back to before it.

The state tables hold only the newest state. For each fold step we keep, per frame, the rows it
changed as they were before the step (`present`) and the keys it created (`absent`). Taking the
state back over several steps uses, for each key, the image of the earliest step that changed
it: that is the key's value before all of them. So a re-fold costs the rows changed since the
point it starts from, never the size of the state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from pipelines.domain.fold import FRAME_KEYS, FoldState


@dataclass(frozen=True)
class BeforeImages:
    """Per frame: rows as they were before (present) and keys that did not exist yet (absent)."""

    present: dict[str, pl.DataFrame]
    absent: dict[str, pl.DataFrame]

    def keys(self, name: str) -> pl.DataFrame:
        return pl.concat([self.present[name].select(FRAME_KEYS[name]), self.absent[name]])

    @property
    def rows(self) -> int:
        return sum(f.height for f in self.present.values()) + sum(f.height for f in self.absent.values())


def no_images(like: FoldState) -> BeforeImages:
    return BeforeImages(
        {n: getattr(like, n).clear() for n in FoldState.FRAMES},
        {n: getattr(like, n).select(FRAME_KEYS[n]).clear() for n in FoldState.FRAMES},
    )


def changed_rows(before: pl.DataFrame, after: pl.DataFrame, keys: list[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(rows of `after` that are new or differ from `before`, keys of `before` rows gone from `after`)."""
    if not before.height:
        return after, before.select(keys)
    upserts = after.join(before, on=after.columns, how="anti", nulls_equal=True)
    gone = before.select(keys).join(after.select(keys), on=keys, how="anti", nulls_equal=True)
    return upserts, gone


def changed_keys(before: pl.DataFrame, after: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """Keys whose row differs between the two frames (new, changed or gone)."""
    upserts, gone = changed_rows(before, after, keys)
    return pl.concat([upserts.select(keys), gone]).unique()


def before_images(before: FoldState, after: FoldState) -> BeforeImages:
    """The images that take `after` back to `before` (both over the same working set)."""
    present, absent = {}, {}
    for name in FoldState.FRAMES:
        keys = FRAME_KEYS[name]
        old = getattr(before, name)
        changed = changed_keys(old, getattr(after, name), keys)
        present[name] = old.join(changed, on=keys, how="semi", nulls_equal=True)
        absent[name] = changed.join(old.select(keys), on=keys, how="anti", nulls_equal=True)
    return BeforeImages(present, absent)


def earliest(images: Sequence[BeforeImages], like: FoldState) -> BeforeImages:
    """The images of several consecutive steps (oldest first) combined: the first image of each key wins."""
    if not images:
        return no_images(like)
    present, absent = {}, {}
    for name in FoldState.FRAMES:
        keys = FRAME_KEYS[name]
        parts = []
        for step, image in enumerate(images):
            parts.append(image.present[name].with_columns(pl.lit(step).alias("_step"), pl.lit(False).alias("_absent")))
            parts.append(image.absent[name].with_columns(pl.lit(step).alias("_step"), pl.lit(True).alias("_absent")))
        every = pl.concat(parts, how="diagonal_relaxed").sort("_step", maintain_order=True)
        first = every.unique(subset=keys, keep="first", maintain_order=True)
        schema = getattr(like, name).schema
        present[name] = first.filter(~pl.col("_absent")).select(list(schema)).cast(schema)
        absent[name] = first.filter(pl.col("_absent")).select(keys).cast({k: schema[k] for k in keys})
    return BeforeImages(present, absent)


def rewound(state: FoldState, images: BeforeImages) -> FoldState:
    """`state` with every imaged key put back as it was (absent keys removed)."""
    frames = {}
    for name in FoldState.FRAMES:
        keys = FRAME_KEYS[name]
        kept = getattr(state, name).join(images.keys(name), on=keys, how="anti", nulls_equal=True)
        frames[name] = pl.concat([kept, images.present[name]])
    return FoldState(**frames)
