"""Bulk applies and the garbage collector: what a batch leaves alive is set aside between
batches and handed back when the last bulk user ends (issue 11, rebuild speed)."""

from __future__ import annotations

import gc

from casestore.projections.runtime.worker import bulk_gc, bulk_gc_settle


def test_bulk_gc_sets_aside_survivors_and_hands_everything_back() -> None:
    before = gc.get_threshold()
    assert gc.get_freeze_count() == 0
    kept = [[i] for i in range(1000)]  # tracked objects that survive a batch
    with bulk_gc():
        assert gc.get_threshold() == (100_000, 50, 100)
        bulk_gc_settle()
        assert gc.get_freeze_count() >= len(kept)
        with bulk_gc():  # nested (a second rebuild): nothing handed back yet
            pass
        assert gc.get_freeze_count() >= len(kept)
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == before


def test_settle_outside_a_bulk_apply_does_nothing() -> None:
    bulk_gc_settle()
    assert gc.get_freeze_count() == 0
