"""Exports patched from the folds' recorded changes equal a full export, file by file, byte by byte.

Random drop histories arrive in a random order (late files, corrections, overwrites, orders,
catalog files); after every fold each warehouse is exported into one long-lived folder (patched
whenever possible) and into a fresh folder (always written in full), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import random

import pytest

from pipelines.adapters.export_patching import export_warehouse
from pipelines.domain.export_rows import ExportOptions
from tests.drop_histories import DropVersion, RandomChooser, _new_file, arrival_order, base_files, random_history

pytestmark = pytest.mark.integration


def _export_all(inbox, folder, options=None):
    return {
        code: export_warehouse(inbox.store, inbox.paths, inbox.partner.account, code, folder, options)
        for _account, code in inbox.store.warehouses(inbox.partner.account)
    }


def _with_stock(runs: dict) -> list:
    """The runs of warehouses holding stock (a warehouse without rows has no files to patch)."""
    return [run for run in runs.values() if run.files]


def _contents(runs: dict) -> dict:
    return {(code, f.kind): f.path.read_bytes() for code, run in runs.items() for f in run.files}


def _stock_history(seed: int) -> list:
    """The base files, then inventory and order files (and a correction, a re-drop, maybe a
    second styles file): mostly folds that a patch can follow."""
    c = RandomChooser(seed)
    history = base_files(c)
    for n in range(10):
        history.append(
            _new_file(
                c,
                n,
                c.choice(["inventory", "inventory", "orders", "orders", "styles"])
                if n > 5
                else c.choice(["inventory", "orders"]),
            )
        )
    history.append(DropVersion(history[4].name, _new_file(c, 99, history[4].kind).text))
    history.append(history[6])
    return history


@pytest.mark.parametrize("seed", [3, 17, 29])
def test_patched_exports_equal_full_exports_after_every_fold(seed, new_inbox, tmp_path):  # noqa: F811
    inbox = new_inbox()
    history = _stock_history(seed) if seed != 29 else random_history(RandomChooser(seed), max_files=10)
    patched_runs = 0
    for step, version in enumerate(arrival_order(history, random.Random(seed))):
        inbox.drop(version)
        kept = _export_all(inbox, tmp_path / "kept")
        fresh = _export_all(inbox, tmp_path / f"fresh-{step}")
        assert _contents(kept) == _contents(fresh), f"after {version.name}"
        assert all(not run.patched for run in fresh.values())
        for code, run in kept.items():
            assert [(f.kind, f.rows, f.sha256) for f in run.files] == [
                (f.kind, f.rows, f.sha256) for f in fresh[code].files
            ]
        patched_runs += sum(run.patched and run.rows_rendered > 0 for run in kept.values())
    if seed != 29:  # a fully random history may leave nothing to patch; the others must not
        assert patched_runs > 0, "the history should give some exports to patch"


def test_a_delta_renders_only_its_rows_and_anything_unexpected_writes_in_full(new_inbox, tmp_path):  # noqa: F811
    inbox = new_inbox()
    catalog = base_files(RandomChooser(5))
    for version in catalog:
        inbox.drop(version)
    styles = next(v for v in catalog if v.name.startswith("styles"))
    upcs = [line.split(",")[8] for line in styles.text.splitlines()[1:]]
    upcs = [u for u in upcs if u]
    inbox.drop(DropVersion("inventory_20210302T000000.csv", "upc,quantity\n" + "".join(f"{u},5\n" for u in upcs)))
    folder = tmp_path / "out"
    first = _export_all(inbox, folder)
    assert _with_stock(first) and all(not run.patched for run in _with_stock(first))

    inbox.drop(DropVersion("inventory_20210303T000000.csv", f"upc,quantity\n{upcs[0]},7\n"))
    second = _export_all(inbox, folder)
    assert all(run.patched for run in _with_stock(second))
    assert sum(run.rows_rendered for run in second.values()) == 1
    assert sum(f.rows_changed for run in second.values() for f in run.files if f.kind == "stock") == 1

    # Nothing new: nothing rendered, files untouched.
    before = {f.path: f.path.stat().st_mtime_ns for run in second.values() for f in run.files}
    third = _export_all(inbox, folder)
    assert sum(run.rows_rendered for run in third.values()) == 0
    assert {f.path: f.path.stat().st_mtime_ns for run in third.values() for f in run.files} == before

    # Someone edits a file: that warehouse is written in full, and comes out right.
    edited = next(f.path for run in third.values() for f in run.files if f.kind == "stock")
    edited.write_bytes(edited.read_bytes() + b"junk\r\n")
    inbox.drop(DropVersion("inventory_20210304T000000.csv", f"upc,quantity\n{upcs[0]},8\n"))
    fourth = _export_all(inbox, folder)
    rewritten = [run for run in fourth.values() if any(f.path == edited for f in run.files)]
    assert [run.patched for run in rewritten] == [False]
    assert b"junk" not in edited.read_bytes()

    # Other export settings: written in full.
    fifth = _export_all(inbox, folder, ExportOptions(joor_delimiter="|"))
    assert _with_stock(fifth) and all(not run.patched for run in _with_stock(fifth))
    assert all(run.written_in_full_because == "export settings changed" for run in _with_stock(fifth))
