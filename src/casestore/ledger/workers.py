"""The two background workers of the verifiable log: the tree grower and the signer.

Both run off the command path, beside the projection workers (``casestore project run``
and the in-process workers of ``casestore serve``): commands only append events, and
the tree catches up from the log the way a projection does.

- :class:`TreeWorker` reads ``(position, event_hash)`` after the tree's size, appends the
  leaves to a :class:`~casestore.ledger.merkle.Frontier` and stores the completed nodes
  and the new head in one transaction that first checks the head has not moved (so a
  second worker, e.g. in another API process, can never store a node twice or skip one).
  With them go the leaf tiles (16 leaf hashes a row) of every 16 leaves completed: a
  batch re-reads the ≤ 15 leaves of the tile under way, so batches need not align. A
  tree grown before tiles gets them from :meth:`TreeWorker.fill_tiles`, a chunk per
  poll, from its head down.
- :class:`Signer` signs a checkpoint of the tree's head every ``seconds`` or as soon as
  ``events`` new leaves are in, whichever comes first, and keeps it (append-only).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from casestore.ledger.merkle import Frontier, leaf_hash
from casestore.ledger.notes import SignerKey, checkpoint_body
from casestore.ledger.store import (
    STORED_FROM,
    TILE_LEVEL,
    TILE_WIDTH,
    LedgerStore,
    StoredCheckpoint,
)

log = logging.getLogger("casestore.ledger")


class TreeWorker:
    """Grows the stored tree to the end of the log, one batch per transaction."""

    def __init__(self, store: LedgerStore, *, batch: int = 5000) -> None:
        self.store, self.batch = store, batch
        self.frontier: Frontier | None = None
        self.listeners: list[Callable[[int], None]] = []
        self.tiles_complete = False  # every tile below the head is stored (fill_tiles)

    @property
    def size(self) -> int:
        return self.frontier.size if self.frontier is not None else self.store.head()[0]

    def reload(self) -> Frontier:
        size, _ = self.store.head()
        self.frontier = Frontier.load(size, self.store.read_nodes)
        return self.frontier

    def step(self) -> int:
        """Append the next batch of the log; the number of leaves added (0: caught up)."""
        frontier = self.frontier or self.reload()
        start = frontier.size
        carry = start % TILE_WIDTH  # leaves of the tile under way: read again for the tile
        first = start - carry
        rows = self.store.event_hashes(first, self.batch + carry)
        if len(rows) <= carry:
            return 0
        if rows[0][0] != first + 1 or rows[-1][0] != first + len(rows):
            self.frontier = None
            raise RuntimeError(
                f"the log has a gap after position {first}: the tree covers a gap-free log only"
            )
        leaves = [leaf_hash(h) for _, h in rows[:carry]]
        made = frontier.extend((h for _, h in rows[carry:]), STORED_FROM, leaves)
        made += [
            (TILE_LEVEL, first // TILE_WIDTH + t, b"".join(leaves[i : i + TILE_WIDTH]))
            for t, i in enumerate(range(0, len(leaves) - TILE_WIDTH + 1, TILE_WIDTH))
        ]
        if not self.store.grow(start, made, frontier.size, frontier.root()):
            self.frontier = None  # another worker moved the tree: reload and go on from there
            return 0
        for listener in list(self.listeners):
            listener(frontier.size)
        return len(rows) - carry

    def catch_up(self, stop: threading.Event | None = None) -> int:
        """Grow until a batch finds nothing new: to the head of a quiet log. Under a steady
        stream of commands this hardly stops (each batch finds the few events appended
        while the last one ran): a running worker uses :meth:`advance`."""
        total = 0
        while stop is None or not stop.is_set():
            added = self.step()
            if added == 0:
                break
            total += added
        return total

    def advance(self, stop: threading.Event | None = None) -> int:
        """Grow to the head of the log as read now: batches until one is not full (a
        backlog is worked off in full batches; the last, short one reaches the head as
        this read found it). What the ledger thread does once per poll, so that under
        load it stores one batch per poll rather than one per few events."""
        total = 0
        while stop is None or not stop.is_set():
            added = self.step()
            total += added
            if added < self.batch:
                break
        return total

    def fill_tiles(self, stop: threading.Event | None = None, *, chunks: int | None = None) -> int:
        """Write the leaf tiles a tree grown before them lacks, ``chunks`` transactions of
        up to ``store.backfill_limit`` tiles at most (None: until none is missing); how
        many were written."""
        total, done = 0, 0
        while not self.tiles_complete and (chunks is None or done < chunks):
            if stop is not None and stop.is_set():
                break
            written = self.store.backfill_tiles()
            self.tiles_complete = written == 0
            total, done = total + written, done + 1
        return total


@dataclass(frozen=True)
class Cadence:
    """When to sign: every ``seconds``, or once ``events`` new leaves are in."""

    seconds: float = 10.0
    events: int | None = None


class Signer:
    """Signs checkpoints of the tree head at a cadence and keeps them."""

    def __init__(
        self,
        store: LedgerStore,
        key: SignerKey,
        origin: str,
        cadence: Cadence = Cadence(),
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store, self.key, self.origin, self.cadence = store, key, origin, cadence
        self.clock = clock
        self._last_at = clock()
        latest = store.latest_checkpoint()
        self._last_size = latest.tree_size if latest else 0

    def seconds_left(self) -> float:
        """Seconds until the time cadence is due (≤ 0: due now, if the tree moved)."""
        return self.cadence.seconds - (self.clock() - self._last_at)

    def due(self, size: int) -> bool:
        if size <= self._last_size:
            return False
        if self.cadence.events is not None and size - self._last_size >= self.cadence.events:
            return True
        return self.clock() - self._last_at >= self.cadence.seconds

    def sign_now(self) -> StoredCheckpoint | None:
        """Sign the tree head if it moved past the last checkpoint; the checkpoint kept."""
        size, root = self.store.head()
        latest = self.store.latest_checkpoint()
        self._last_at = self.clock()
        if root is None or (latest is not None and latest.tree_size >= size):
            if latest is not None:
                self._last_size = latest.tree_size
            return latest
        note = self.key.sign(checkpoint_body(self.origin, size, root))
        self.store.add_checkpoint(size, root, note)  # a concurrent signer may have won
        self._last_size = size
        return self.store.checkpoint(size)

    def tick(self, size: int) -> StoredCheckpoint | None:
        return self.sign_now() if self.due(size) else None


class LedgerThread(threading.Thread):
    """Tree worker and (when a key is configured) signer, in one thread until stopped.

    Its duty cycle: each poll grows the tree once to the head of the log as read then
    (:meth:`TreeWorker.advance`: one batch under load, not one per few events), signs if
    due, and sleeps ``poll_interval`` — but wakes when the signer falls due, so that a
    checkpoint is signed on time over a tree grown just before it: an event acknowledged
    before a checkpoint is due is in that checkpoint, and the merge delay stays under the
    cadence plus one batch, whatever the poll interval. The poll interval bounds how far
    the stored tree trails the log between checkpoints (what a projection worker that
    starts meanwhile reads from the events)."""

    def __init__(
        self,
        store: LedgerStore,
        signer: Signer | None,
        stop: threading.Event,
        *,
        poll_interval: float = 1.0,
    ) -> None:
        super().__init__(name="casestore-ledger", daemon=True)
        self.tree = TreeWorker(store)
        self.signer, self.stop_event = signer, stop
        self.poll_interval = poll_interval
        self.error: BaseException | None = None

    def poll(self) -> float:
        """One round: grow, sign if due, one chunk of old tiles; seconds to wait next."""
        try:
            self.tree.advance(self.stop_event)
            if self.signer is not None:
                self.signer.tick(self.tree.size)
            self.tree.fill_tiles(self.stop_event, chunks=1)
            self.error = None
        except Exception as e:  # keep going: report, wait, retry from the stored head
            self.error = e
            self.tree.frontier = None
            log.exception("the ledger worker failed; retrying")
            return 2.0 + self.poll_interval
        left = self.signer.seconds_left() if self.signer is not None else 0.0
        # due already (left <= 0) yet not signed: nothing new to sign; poll as usual
        return min(self.poll_interval, left) if left > 0 else self.poll_interval

    def run(self) -> None:
        while not self.stop_event.is_set():
            self.stop_event.wait(self.poll())
