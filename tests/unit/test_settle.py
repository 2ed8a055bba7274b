"""Stable-file detection by identity (name, size, mtime) over time."""

from pipelines.domain.settle import observe


def test_a_file_is_stable_only_after_settle_s_unchanged():
    stable, seen = observe({}, [("a.csv", 10, 1.0)], now=100.0, settle_s=30)
    assert stable == []
    stable, seen = observe(seen, [("a.csv", 10, 1.0)], now=120.0, settle_s=30)
    assert stable == []
    stable, seen = observe(seen, [("a.csv", 10, 1.0)], now=130.0, settle_s=30)
    assert stable == ["a.csv"]


def test_a_growing_file_restarts_its_clock():
    _, seen = observe({}, [("a.csv", 10, 1.0)], now=0.0, settle_s=30)
    stable, seen = observe(seen, [("a.csv", 20, 2.0)], now=40.0, settle_s=30)
    assert stable == []
    stable, _ = observe(seen, [("a.csv", 20, 2.0)], now=70.0, settle_s=30)
    assert stable == ["a.csv"]


def test_files_sharing_a_second_are_all_seen_and_gone_files_forgotten():
    listing = [("a.csv", 1, 5.0), ("b.csv", 1, 5.0)]
    _, seen = observe({}, listing, now=0.0, settle_s=1)
    stable, seen = observe(seen, listing, now=2.0, settle_s=1)
    assert stable == ["a.csv", "b.csv"]
    _, seen = observe(seen, [("b.csv", 1, 5.0)], now=3.0, settle_s=1)
    assert set(seen) == {"b.csv"}


def test_zero_settle_takes_files_at_once():
    stable, _ = observe({}, [("a.csv", 1, 1.0)], now=0.0, settle_s=0)
    assert stable == ["a.csv"]
