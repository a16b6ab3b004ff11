"""Which Merkle tree a view was built to: the root recorded beside each position.

Every projection target records, with its position *P* (in the same transaction as its
rows), ``tree_size`` = *P* and ``tree_root`` = the RFC 9162 root of the log's first *P*
events — the root a signed checkpoint of size *P* carries (SPEC §9, issue 13 item 6).
The root comes from one of two places, whichever is at hand when a batch commits:

- **the verifiable log's stored tree**, through the port (``EventLog.tree_frontier``),
  when the tree worker has reached *P*: the usual case for rebuilds and backlogs (one
  read per batch of thousands of events, no hashing here);
- **the worker's own frontier** (the roots of the complete subtrees its position
  decomposes into), extended with the event hashes of each small batch it applies: the
  usual case when tailing the log live, where the projection is a moment ahead of the
  tree worker (which polls). It costs about two SHA-256 per event, no database read. It
  starts empty at position 0; a worker started further on seeds it from the stored tree
  at the tree's size and extends it with the log's event hashes from there to its own
  position (a gap of at most ``GAP_LIMIT`` events, read once).

**A projection ahead of the tree** with no frontier it can seed (the tree further behind
than ``GAP_LIMIT``, or unreadable) commits ``tree_root`` NULL, and the worker fills it in
when it is next idle and the tree has reached its position (:meth:`TreeBinder.bind`);
``/health`` and ``casestore project status`` show it as pending meanwhile. Either way the recorded
root is that of exactly the events the view was built from; ``casestore project verify``
checks it equals the stored tree's root at that size.
"""

from __future__ import annotations

import hashlib
import importlib
import time
from collections.abc import Callable, Sequence
from typing import Any

from ..engine.base import LogEvent
from ..engine.db import ViewDB, bind_tree_root
from .logsource import LogSource, Page

#: Batches up to this many events extend the worker's frontier; larger ones (rebuilds,
#: backlogs) ask the stored tree first, so bulk builds do no hashing of their own.
LOCAL_BATCH = 1024
#: How often an idle worker with a pending root asks the tree again (seconds).
BIND_INTERVAL = 1.0
#: The most events a worker reads to bring a frontier seeded at the tree's size up to its
#: own position (the tree worker polls every second: a live gap is far smaller).
GAP_LIMIT = 4096


def _small_sha256() -> Callable[[bytes], Any]:
    """SHA-256 for 33- and 65-byte messages: the interpreter's own implementation
    (``_sha256``, ``_sha2`` from 3.12) when it has one, about twice as fast as OpenSSL's
    for messages this small (its per-hash set-up dominates); the digests are the same."""
    for module in ("_sha256", "_sha2"):
        try:
            found: Callable[[bytes], Any] = importlib.import_module(module).sha256
        except (ImportError, AttributeError):
            continue
        return found
    return hashlib.sha256


_sha256 = _small_sha256()


def leaf_hash(event_hash: bytes) -> bytes:
    """RFC 9162 §2.1.1: SHA-256(0x00 ‖ leaf data); a leaf's data is the event's hash."""
    digest: bytes = _sha256(b"\x00" + event_hash).digest()
    return digest


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 §2.1.1: SHA-256(0x01 ‖ left ‖ right)."""
    digest: bytes = _sha256(b"\x01" + left + right).digest()
    return digest


def frontier_levels(size: int) -> list[int]:
    """The heights of the complete subtrees a tree of ``size`` leaves splits into, largest
    (leftmost) first: the set bits of ``size``."""
    return [level for level in range(size.bit_length() - 1, -1, -1) if size >> level & 1]


def frontier_root(stack: Sequence[tuple[int, bytes]]) -> bytes:
    """The root of the tree whose complete subtrees are ``stack`` (left to right): each
    split of RFC 9162's MTH puts the largest power of two on the left, so the root folds
    the subtrees from the right."""
    if not stack:
        return hashlib.sha256(b"").digest()
    root = stack[-1][1]
    for _, left in reversed(stack[:-1]):
        root = node_hash(left, root)
    return root


def extend_frontier(stack: list[tuple[int, bytes]], hashes: Sequence[bytes]) -> None:
    """Append leaves (event hashes) to a frontier in place, a level at a time.

    The same nodes as adding the leaves one by one (a binary counter: each new node
    merges with the frontier's subtree of its height), but each level's pairs are
    hashed in one pass: a bulk page costs its ~2 SHA-256 per event and little else.
    At each level the frontier's subtree of that height, if any, is the leftmost node;
    an odd node left over is the rightmost, and becomes the frontier's subtree there.
    """
    sha = _sha256
    nodes = [sha(b"\x00" + h).digest() for h in hashes]
    level = 0
    done: list[tuple[int, bytes]] = []
    while nodes:
        if stack and stack[-1][0] == level:
            nodes.insert(0, stack.pop()[1])
        if len(nodes) % 2:
            done.append((level, nodes.pop()))
        pairs = zip(nodes[::2], nodes[1::2], strict=True)
        nodes = [sha(b"\x01" + a + b).digest() for a, b in pairs]
        level += 1
    stack.extend(reversed(done))


def _span(page: Sequence[LogEvent]) -> tuple[int, int, Sequence[bytes]]:
    """(first position, last position, every row's event hash) of a page read in order:
    a :class:`Page` says it itself (its events may be only the kinds kept)."""
    if isinstance(page, Page):
        return page.last_position - page.read + 1, page.last_position, page.hashes
    return page[0].position, page[-1].position, [e.event_hash for e in page]


class TreeBinder:
    """One worker's frontier: the tree root of each position it commits."""

    def __init__(self, source: LogSource, db: ViewDB, key: str) -> None:
        self.source, self.db, self.key = source, db, key
        self.size = -1  # the frontier's size; -1: none
        self.stack: list[tuple[int, bytes]] = []
        self.bound = -1  # the last position known to have its root recorded
        self._next_try = 0.0

    def seed(self, size: int) -> bytes | None:
        """Take the frontier of ``size`` leaves from the stored tree; its root, or None
        while the tree has not reached ``size``."""
        hashes = self.source.tree_frontier(size)
        levels = frontier_levels(size)
        if hashes is None or len(hashes) != len(levels):
            return None
        self.stack, self.size = list(zip(levels, hashes, strict=True)), size
        return frontier_root(self.stack)

    def extend(self, page: Sequence[LogEvent]) -> bytes:
        """Add a batch's leaves (the frontier is at the position before it); the root.

        A :class:`Page` filtered by kind still carries every row's hash (``hashes``):
        the leaves are those, never only the events the projection kept."""
        _, last, hashes = _span(page)
        extend_frontier(self.stack, hashes)
        self.size = last
        return frontier_root(self.stack)

    def root_for(self, page: Sequence[LogEvent]) -> bytes | None:
        """The root of the tree of the log up to the end of ``page`` (None: not known yet)."""
        first, last, hashes = _span(page)
        if self.size < 0 and first == 1:
            self.stack, self.size = [], 0  # from the start: the empty tree's frontier
        local = self.size == first - 1
        if local and len(hashes) <= LOCAL_BATCH:
            return self.extend(page)
        root = self.seed(last)
        if root is None and not local:
            local = self.catch_up_to(first - 1)
        if root is None and local:
            return self.extend(page)  # the tree is behind this batch: hash it here
        if root is None:
            self.size = -1
        return root

    def catch_up_to(self, position: int) -> bool:
        """Seed the frontier at the stored tree's size and extend it with the log's
        events up to ``position`` (the tree is behind, by at most ``GAP_LIMIT``)."""
        grown = self.source.tree_size()
        if grown is None or grown > position or position - grown > GAP_LIMIT:
            return False
        if self.seed(grown) is None:
            return False
        if position > grown:
            gap = self.source.read(grown, position - grown, upto=position, personal=False)
            if len(gap) != position - grown:
                self.moved()
                return False
            self.extend(gap)
        return True

    def committed(self, position: int, root: bytes | None) -> None:
        if root is not None:
            self.bound = position

    def moved(self) -> None:
        """Another writer moved the position: the frontier no longer matches it."""
        self.size, self.stack = -1, []

    def bind(self, position: int) -> bool:
        """When idle: record the root of ``position`` if it was committed without one and
        the tree has reached it now (at most every ``BIND_INTERVAL`` seconds); seeds the
        frontier for the batches that follow."""
        if self.bound == position or time.monotonic() < self._next_try:
            return False
        self._next_try = time.monotonic() + BIND_INTERVAL
        row = self.db.tracking(self.key)
        if row is None or row.position != position:
            return False
        if row.tree_root is not None and row.tree_size == position:
            self.bound = position
            return False
        if self.size == position:
            root: bytes | None = frontier_root(self.stack)
        else:
            root = self.seed(position)
            if root is None and self.catch_up_to(position):
                root = frontier_root(self.stack)
        if root is None:
            return False
        if bind_tree_root(self.db, self.key, position, root):
            self.bound = position
            return True
        return False
