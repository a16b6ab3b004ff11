"""The ledger thread's duty cycle (issue 13: the tree and signer must not slow commands,
and every acknowledged event must be in a signed checkpoint within the cadence + 2 s).

A running tree worker grows the tree once per poll to the head of the log as it reads it
(not batch after batch while commands keep arriving), and the thread wakes when the signer
falls due rather than at its next poll, so a checkpoint covers every event written before
it fell due whatever the poll interval. Checked without timing anything: the log grows
between the worker's reads by hand, and the signer's clock is a variable.

Expected sizes and roots are written by hand (RFC 9162's MTH from the test's transcription,
over the test leaves), never read back from the tree tables.
"""

from __future__ import annotations

import threading
from typing import Any

from casestore.ledger.notes import Checkpoint, SignerKey, signed_by, split_note
from casestore.ledger.store import LedgerStore
from casestore.ledger.workers import Cadence, LedgerThread, Signer, TreeWorker
from casestore.store.application import CasestoreApp
from tests.integration.test_proof_store import write_events
from tests.unit.test_merkle_kat import ref_mth

ORIGIN = "test.example/duty"


class GrowingLog(LedgerStore):
    """A store whose log gains ``per_read`` events right after each read of event hashes:
    commands that keep arriving while the tree worker runs."""

    def __init__(self, url: str, head: int, per_read: int) -> None:
        super().__init__(url)
        self.log_head, self.per_read, self.grows = head, per_read, 0

    def event_hashes(self, after: int, limit: int) -> list[tuple[int, bytes]]:
        rows = super().event_hashes(after, limit)
        write_events(self.url, self.log_head + 1, self.log_head + self.per_read)
        self.log_head += self.per_read
        return rows

    def grow(self, *args: Any, **kwargs: Any) -> bool:
        self.grows += 1
        return super().grow(*args, **kwargs)


def test_advance_grows_to_the_head_it_read_in_full_batches_then_stops(store_url: str) -> None:
    CasestoreApp(store_url).close()
    write_events(store_url, 1, 120)
    store = GrowingLog(store_url, head=120, per_read=3)
    try:
        tree = TreeWorker(store, batch=50)
        # reads: 50 of 120 (3 more appear), 50 of 123 (3 more), the last 26: short, stop
        assert tree.advance() == 126
        assert store.grows == 3
        assert store.head() == (126, ref_mth(0, 126))
        # the log kept growing behind it (3 per read): the next poll takes those
        assert tree.advance() == 3
        assert store.head() == (129, ref_mth(0, 129))
    finally:
        store.close()


def test_a_checkpoint_covers_every_event_written_before_it_fell_due(store_url: str) -> None:
    CasestoreApp(store_url).close()
    now = [0.0]
    store = LedgerStore(store_url)
    try:
        key = SignerKey.generate(ORIGIN)
        signer = Signer(store, key, ORIGIN, Cadence(10.0), clock=lambda: now[0])
        thread = LedgerThread(store, signer, threading.Event(), poll_interval=5.0)
        write_events(store_url, 1, 40)
        assert thread.poll() == 5.0  # grown, not due yet: sleep a whole poll
        assert store.head()[0] == 40 and store.latest_checkpoint() is None
        now[0] = 7.0
        assert thread.poll() == 3.0  # wake when the signer falls due (10 s), not at 12 s
        write_events(store_url, 41, 70)  # acknowledged just before it falls due
        now[0] = 10.0
        thread.poll()
        latest = store.latest_checkpoint()
        assert latest is not None and latest.tree_size == 70
        assert signed_by(latest.note, key.verifier())
        body = Checkpoint.parse(split_note(latest.note)[0])
        assert (body.origin, body.size, body.root) == (ORIGIN, 70, ref_mth(0, 70))
        # nothing new since: due by the clock, yet nothing to sign: poll as usual (no spin)
        now[0] = 25.0
        assert thread.poll() == 5.0
        assert store.latest_checkpoint() == latest
    finally:
        store.close()


def test_without_a_signer_the_thread_polls_at_its_interval(store_url: str) -> None:
    CasestoreApp(store_url).close()
    store = LedgerStore(store_url)
    try:
        thread = LedgerThread(store, None, threading.Event(), poll_interval=0.25)
        write_events(store_url, 1, 17)
        assert thread.poll() == 0.25
        assert store.head() == (17, ref_mth(0, 17))
    finally:
        store.close()
