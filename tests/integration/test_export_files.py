"""Export files on a real filesystem: deterministic bytes, injection-safe cells, atomic replacement."""

from __future__ import annotations

import csv
import hashlib
import io
import threading

import pytest

from pipelines.adapters.export_files import write_atomically, write_exports
from pipelines.domain.export_rows import ExportOptions
from tests.snapshots import snapshot_frame, snapshot_row


@pytest.fixture
def make_snapshot():
    def make(count: int = 20, ats_offset: int = 0, **overrides):
        rows = [snapshot_row(n, ats=n + ats_offset, **overrides) for n in range(count)]
        rows += [snapshot_row(n, warehouse_code="LA", ats=n - 5) for n in range(count // 2)]
        return snapshot_frame(rows)

    return make


def test_same_snapshot_gives_byte_identical_files(tmp_path, make_snapshot):
    first = write_exports(make_snapshot(), tmp_path / "a", ExportOptions(joor_delimiter="|"))
    second = write_exports(make_snapshot(), tmp_path / "b", ExportOptions(joor_delimiter="|"))

    assert [(f.path.name, f.sha256, f.rows) for f in first] == [(f.path.name, f.sha256, f.rows) for f in second]
    assert all(f.path.read_bytes() == s.path.read_bytes() for f, s in zip(first, second))
    assert all(hashlib.sha256(f.path.read_bytes()).hexdigest() == f.sha256 for f in first)
    assert {(f.warehouse_code, f.kind) for f in first} == {
        (w, k) for w in ("LA", "NYC") for k in ("stock", "joor", "quantity")
    }


def test_rewriting_unchanged_content_leaves_the_file_alone(tmp_path, make_snapshot):
    (written,) = [
        f for f in write_exports(make_snapshot(), tmp_path) if f.kind == "stock" and f.warehouse_code == "NYC"
    ]
    before = written.path.stat().st_mtime_ns

    changed = write_atomically(written.path, written.path.read_bytes())

    assert changed is False
    assert written.path.stat().st_mtime_ns == before


def test_files_on_disk_are_formula_safe(tmp_path, make_snapshot):
    files = write_exports(make_snapshot(3, upc=None, style_number='=HYPERLINK("http://x")', color_code="+1"), tmp_path)

    cells = [
        cell
        for f in files
        for row in list(csv.reader(io.StringIO(f.path.read_text(encoding="utf-8"), newline="")))[1:]
        for cell in row
    ]
    assert '\'=HYPERLINK("http://x")' in cells and "'+1" in cells
    assert not [c for c in cells if c.startswith(("=", "+", "-", "@", "\t", "\r"))]


def test_a_concurrent_reader_never_sees_a_partial_file(tmp_path, make_snapshot):
    path = tmp_path / "stock_acme_NYC.csv"
    versions = [f"{i:06d},".encode() * 40_000 + b"\n" for i in range(2)]  # two distinct 280 kB files
    write_atomically(path, versions[0])
    seen: list[bytes] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            seen.append(path.read_bytes())

    thread = threading.Thread(target=reader)
    thread.start()
    for i in range(60):
        write_atomically(path, versions[(i + 1) % 2])
    stop.set()
    thread.join()

    assert len(seen) > 10
    assert all(content in versions for content in seen)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stock_acme_NYC.csv"]  # no temp files left


def test_any_warehouse_code_is_written_under_a_safe_name_inside_the_folder(tmp_path):
    snapshot = snapshot_frame([snapshot_row(1, warehouse_code="../etc"), snapshot_row(2, warehouse_code="A B")])

    written = write_exports(snapshot, tmp_path / "out")

    assert {f.path.name for f in written if f.kind == "stock"} == {
        "stock_acme_%2E%2E%2Fetc.csv",
        "stock_acme_A%20B.csv",
    }
    assert all(f.path.parent == tmp_path / "out" for f in written)


def test_rows_changed_counts_what_differs_from_the_previous_export(tmp_path):
    first = write_exports(snapshot_frame([snapshot_row(1), snapshot_row(2), snapshot_row(3)]), tmp_path)
    assert {f.kind: f.rows_changed for f in first}["stock"] == 3
    same = write_exports(snapshot_frame([snapshot_row(1), snapshot_row(2), snapshot_row(3)]), tmp_path)
    assert all(f.rows_changed == 0 for f in same)
    moved = write_exports(snapshot_frame([snapshot_row(1), snapshot_row(2, ats=999), snapshot_row(3)]), tmp_path)
    assert {f.kind: f.rows_changed for f in moved}["stock"] == 1
