"""Patching a warehouse's export files with the lines of the rows that changed; no I/O.

An export file holds one line per row, in `item_key` order, after a header line. Given the
previous files, the byte length of every row's line in each of them (the *line index*) and the
new lines of the changed rows, the new files are the old bytes between the changed lines, copied
unread, with the new lines put in their place. The rows that did not change cost a memory copy,
not a render: a 1% change rewrites 1% of the lines. Rendering a line depends on its row alone
(`export_rows._render` is cell by cell), so a patched file is byte for byte the file a full
render of the new state would give; the tests hold it to that.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from pipelines.domain.export_rows import EXPORT_KINDS, ExportOptions, render_kind

LINE_END = b"\r\n"
INDEX_SCHEMA = {"item_key": pl.String, **{kind: pl.Int64 for kind in EXPORT_KINDS}}


class IndexMismatch(ValueError):
    """The line index does not describe the files, or a line cannot be told apart by its line end
    (a quoted cell holding a CRLF): the files must be written in full."""


@dataclass(frozen=True)
class PatchedExports:
    """New file contents by kind, the new line index, and data rows new or changed per kind."""

    contents: dict[str, bytes]
    index: pl.DataFrame
    rows_changed: dict[str, int]


def line_index(item_keys: dict[str, pl.Series], contents: dict[str, bytes]) -> pl.DataFrame | None:
    """The line index of freshly rendered files of one warehouse: per SKU of the stock file, the
    length of its line in each file (0 when that file leaves the row out).

    None when a file's lines cannot be told apart by their line ends (a quoted cell holding a
    CRLF); such a warehouse is always written in full.
    """
    frames = []
    for kind in EXPORT_KINDS:
        lines = pl.Series([contents[kind].decode("utf-8")]).str.split(LINE_END.decode()).explode()
        if lines.len() != item_keys[kind].len() + 2 or lines[-1]:
            return None
        lengths = (lines.slice(1, item_keys[kind].len()).str.len_bytes().cast(pl.Int64) + len(LINE_END)).alias(kind)
        frames.append(pl.DataFrame([item_keys[kind].alias("item_key"), lengths]))
    index = frames[0]
    for frame in frames[1:]:
        index = index.join(frame, on="item_key", how="left")
    return index.with_columns(pl.col(kind).fill_null(0) for kind in EXPORT_KINDS).select(list(INDEX_SCHEMA))


def changed_lines(changed_keys: pl.Series, rows: pl.DataFrame, options: ExportOptions) -> pl.DataFrame:
    """The `changes` argument of `patch_exports`.

    Args:
        changed_keys: every SKU whose lines may have changed (including SKUs now gone).
        rows: the export rows of those SKUs still held, with item_key (`sorted_for_export`).
        options: the partner's export settings.

    Raises:
        IndexMismatch: a rendered line holds a line end.
    """
    out = pl.DataFrame(changed_keys.cast(pl.String).alias("item_key")).unique().sort("item_key")
    for kind in EXPORT_KINDS:
        keys, content = render_kind(kind, rows, options)
        rendered = content.split(LINE_END)[1:-1]
        if len(rendered) != keys.height:
            raise IndexMismatch("a changed row's line holds a line end")
        line = pl.Series(kind, [r + LINE_END for r in rendered], dtype=pl.Binary)
        out = out.join(keys.with_columns(line), on="item_key", how="left")
    return out


def patch_exports(index: pl.DataFrame, old: dict[str, bytes], changes: pl.DataFrame) -> PatchedExports:
    """Put the changed rows' lines into the old files.

    Args:
        index: the old files' line index (`INDEX_SCHEMA`, sorted by item_key).
        old: the old file contents by kind.
        changes: one row per changed SKU, sorted by item_key, unique: `item_key` and, per kind,
            its new line (CRLF included) or null when that file no longer holds the row (null
            in `stock`: the row is gone from the warehouse).

    Raises:
        IndexMismatch: the index does not add up to the old files.
    """
    keys = index.get_column("item_key")
    n = keys.len()
    changed_keys = changes.get_column("item_key")
    positions = keys.search_sorted(changed_keys, side="left")
    exists = (
        (positions < n) & (keys.gather(positions.clip(upper_bound=max(n - 1, 0))) == changed_keys)
        if n
        else pl.Series([False] * changes.height)
    )
    found = exists.fill_null(False).to_list()
    at = positions.clip(upper_bound=max(n - 1, 0))
    contents, rows_changed = {}, {}
    for kind in EXPORT_KINDS:
        content = old[kind]
        header = content.find(LINE_END) + len(LINE_END)
        lengths = index.get_column(kind)
        ends = lengths.cum_sum() + header
        if header < len(LINE_END) or (ends[-1] if n else header) != len(content):
            raise IndexMismatch(f"the {kind} file does not match its line index")
        # Only the changed rows' places are needed: a few lookups, not the whole index in Python.
        starts_at = (ends - lengths).gather(at).to_list() if n else []
        ends_at = ends.gather(at).to_list() if n else []
        view = memoryview(content)
        pieces, cursor, changed = [], 0, 0
        for i, (p, was_there, line) in enumerate(zip(positions.to_list(), found, changes.get_column(kind).to_list())):
            start = starts_at[i] if p < n else len(content)
            end = ends_at[i] if was_there else start
            pieces.append(view[cursor:start])
            if line is not None:
                pieces.append(line)
                changed += line != view[start:end]
            cursor = end
        pieces.append(view[cursor:])
        contents[kind] = b"".join(pieces)
        rows_changed[kind] = changed
    return PatchedExports(contents, _patched_index(index, changes, positions, exists), rows_changed)


def _patched_index(index: pl.DataFrame, changes: pl.DataFrame, positions: pl.Series, exists: pl.Series) -> pl.DataFrame:
    lengths = changes.select(
        "item_key", *(pl.col(kind).bin.size().fill_null(0).cast(pl.Int64).alias(kind) for kind in EXPORT_KINDS)
    )
    if exists.all() and changes.get_column("stock").null_count() == 0:
        # Every changed SKU keeps its place: only line lengths change, no re-sort.
        columns = []
        for kind in EXPORT_KINDS:
            column = index.get_column(kind).clone()
            column.scatter(positions, lengths.get_column(kind))
            columns.append(column)
        return index.with_columns(columns)
    kept = index.join(changes.select("item_key"), on="item_key", how="anti")
    added = lengths.filter(changes.get_column("stock").is_not_null())
    return pl.concat([kept, added]).sort("item_key")
