"""An in-process copy of the stored tree nodes, so that a proof costs one small read.

A stored node is the hash of a *complete* subtree: once written it never changes, and
each level is written left to right without gaps (the tree worker commits a batch only
if the head is where the batch started). So a level can be kept as one ``bytearray`` of
32-byte hashes, node ``idx`` at offset ``32·idx``, and extended at its end.

The leaf tiles (16 leaf hashes a row, 512 bytes, level ``TILE_LEVEL`` of the nodes table)
are kept the same way, as one gap-free prefix of tiles, extended to the last tile written
whenever a proof asks for one past it. So once warm, an inclusion proof of a leaf whose
tile is written costs no round trip at all.

What a proof still reads from the database is what the cache does not hold: the tile or
the ≤ 16 event hashes under its low nodes when no tile is held (the tile under way;
every tile when the budget gave tiles up), stored nodes below :attr:`NodeCache.lowest`
(only when the tree outgrows the memory budget), and what the tree grew since the cache
was last extended (read in the same statement). The first proof of a process reads every
cached level and the tiles once (187,500 rows, 36 MB at 1,000,000 events, about a
second); later ones read only what the tree grew since.

Memory: 32 bytes per node, about 4 bytes per event, plus 32 bytes per event for the
tiles. ``budget`` bytes bound it: when the tree would need more, the tiles are given up
first (proofs then read one tile row each), then the lowest cached levels (each level
above halves the count). So the default 64 MiB keeps tiles and nodes up to about
1,800,000 events (36 MB at 1,000,000), every stored level at 1,000,000 and level 8 up at
100,000,000. A tree grown before tiles, whose tiles are still being backfilled (a gap
below them), is not cached tile-wise until the backfill is done (retried every
:attr:`NodeCache.retry_after` seconds).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

from casestore.ledger.merkle import NodeKey
from casestore.ledger.schema import TILE_LEVEL, TILE_WIDTH

HASH = 32
TILE = HASH * TILE_WIDTH
DEFAULT_BUDGET = 64 * 1024 * 1024


class NodeCache:
    """Levels ``lowest``.. of the stored tree, each a gap-free prefix of its nodes."""

    def __init__(self, stored_from: int, budget: int = DEFAULT_BUDGET) -> None:
        self.stored_from = stored_from
        self.budget = budget
        self.lowest = stored_from
        self._levels: dict[int, bytearray] = {}
        self._lock = threading.Lock()
        self.keep_tiles = True  # until the budget gives them up
        self._tiles = bytearray()
        self.retry_after = 30.0  # seconds before reading tiles again after a gap
        self._tiles_retry_at = 0.0
        self._fitted = 0  # the largest tree size fit() was called for

    def count(self, level: int) -> int:
        """How many nodes of ``level`` are held (a prefix: indices 0..count-1)."""
        held = self._levels.get(level)
        return len(held) // HASH if held is not None else 0

    def tile_count(self) -> int:
        """How many tiles are held (a prefix: tiles 0..count-1)."""
        return len(self._tiles) // TILE

    def fit(self, size: int) -> None:
        """Give up the tiles, then the lowest levels, if a tree of ``size`` leaves would not
        fit the budget."""
        if size <= self._fitted:
            return
        self._fitted = size
        lowest = self.lowest

        def nodes(lowest: int) -> int:
            return sum(size >> lv for lv in range(lowest, size.bit_length())) * HASH

        if self.keep_tiles and nodes(lowest) + (size // TILE_WIDTH) * TILE > self.budget:
            with self._lock:
                self.keep_tiles, self._tiles = False, bytearray()
        while nodes(lowest) > self.budget:
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

    def tiles_for(self, blocks: Iterable[int]) -> tuple[dict[int, bytes], list[int], int | None]:
        """(leaf index → leaf hash from the held tiles, the tiles not held, the first tile
        to read to extend the held prefix when one is not held, else None)."""
        held = self._tiles
        count = len(held) // TILE
        leaves: dict[int, bytes] = {}
        rest: list[int] = []
        for t in blocks:
            if t < count:
                tile = bytes(held[t * TILE : (t + 1) * TILE])
                first = t * TILE_WIDTH
                for j in range(TILE_WIDTH):
                    leaves[first + j] = tile[j * HASH : (j + 1) * HASH]
            else:
                rest.append(t)
        extend = None
        if rest and self.keep_tiles and time.monotonic() >= self._tiles_retry_at:
            extend = count
        return leaves, rest, extend

    def wanted(self, top: int) -> tuple[list[int], list[int]]:
        """(levels, first index to read at each) to extend every held level up to ``top``."""
        levels = list(range(self.lowest, max(top, self.lowest) + 1))
        return levels, [self.count(level) for level in levels]

    def add(self, rows: Iterable[tuple[int, int, bytes]]) -> None:
        """Append nodes (and tiles) read in (level, idx) order; any that would leave a gap
        is dropped."""
        with self._lock:
            for level, index, h in rows:
                if level == TILE_LEVEL:
                    if self.keep_tiles and len(h) == TILE and index * TILE == len(self._tiles):
                        self._tiles += h
                    elif index * TILE > len(self._tiles):  # tiles not yet backfilled below
                        self._tiles_retry_at = time.monotonic() + self.retry_after
                    continue
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
        return sum(len(held) for held in self._levels.values()) + len(self._tiles)
