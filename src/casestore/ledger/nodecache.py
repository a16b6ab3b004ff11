"""An in-process copy of the stored tree nodes, so that a proof costs one small read.

A stored node is the hash of a *complete* subtree: once written it never changes, and
each level is written left to right without gaps (the tree worker commits a batch only
if the head is where the batch started). So a level can be kept as one ``bytearray`` of
32-byte hashes, node ``idx`` at offset ``32·idx``, and extended at its end.

What a proof still reads from the database is what the cache does not hold: the ≤ 16
event hashes under its low nodes (levels below ``STORED_FROM`` are never stored), stored
nodes below :attr:`NodeCache.lowest` (only when the tree outgrows the memory budget), and
the nodes written since the cache was last extended (read in the same statement). The
first proof of a process reads every cached level once (125,000 rows at 1,000,000 events,
a fraction of a second); later ones read only what the tree grew since.

Memory: 32 bytes per node, about 4 bytes per event. ``budget`` bytes bound it: when the
tree would need more, the lowest cached levels are given up (each level above halves the
count), so at 1,000,000 events the default 64 MiB keeps every stored level, and at
100,000,000 it keeps level 8 up.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from casestore.ledger.merkle import NodeKey

HASH = 32
DEFAULT_BUDGET = 64 * 1024 * 1024


class NodeCache:
    """Levels ``lowest``.. of the stored tree, each a gap-free prefix of its nodes."""

    def __init__(self, stored_from: int, budget: int = DEFAULT_BUDGET) -> None:
        self.stored_from = stored_from
        self.budget = budget
        self.lowest = stored_from
        self._levels: dict[int, bytearray] = {}
        self._lock = threading.Lock()

    def count(self, level: int) -> int:
        """How many nodes of ``level`` are held (a prefix: indices 0..count-1)."""
        held = self._levels.get(level)
        return len(held) // HASH if held is not None else 0

    def fit(self, size: int) -> None:
        """Give up the lowest levels if a tree of ``size`` leaves would not fit the budget."""
        lowest = self.lowest
        while sum(size >> lv for lv in range(lowest, size.bit_length())) * HASH > self.budget:
            lowest += 1
        if lowest != self.lowest:
            with self._lock:
                for level in [lv for lv in self._levels if lv < lowest]:
                    del self._levels[level]
                self.lowest = lowest

    def split(self, keys: Iterable[NodeKey]) -> tuple[dict[NodeKey, bytes], list[NodeKey], bool]:
        """(held hashes, stored keys not held below :attr:`lowest`, whether a held level
        must be extended first: a key at or above :attr:`lowest` past its level's end)."""
        found: dict[NodeKey, bytes] = {}
        by_key: list[NodeKey] = []
        extend = False
        for level, index in keys:
            if level < self.stored_from:
                continue
            if level < self.lowest:
                by_key.append((level, index))
                continue
            held = self._levels.get(level)
            if held is not None and (index + 1) * HASH <= len(held):
                found[(level, index)] = bytes(held[index * HASH : (index + 1) * HASH])
            else:
                extend = True
        return found, by_key, extend

    def wanted(self, top: int) -> tuple[list[int], list[int]]:
        """(levels, first index to read at each) to extend every held level up to ``top``."""
        levels = list(range(self.lowest, max(top, self.lowest) + 1))
        return levels, [self.count(level) for level in levels]

    def add(self, rows: Iterable[tuple[int, int, bytes]]) -> None:
        """Append nodes read in (level, idx) order; any that would leave a gap is dropped."""
        with self._lock:
            for level, index, h in rows:
                if level < self.lowest or len(h) != HASH:
                    continue
                held = self._levels.setdefault(level, bytearray())
                if index * HASH == len(held):
                    held += h

    def get(self, key: NodeKey) -> bytes | None:
        level, index = key
        held = self._levels.get(level)
        if held is None or (index + 1) * HASH > len(held):
            return None
        return bytes(held[index * HASH : (index + 1) * HASH])

    def size_bytes(self) -> int:
        return sum(len(held) for held in self._levels.values())
