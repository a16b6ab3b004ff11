"""RFC 9162 §2.1 Merkle tree over the global log: stored nodes, incremental growth, proofs.

Leaf *i* (0-based, position − 1) is ``SHA-256(0x00 ‖ event_hash)``; a node is
``SHA-256(0x01 ‖ left ‖ right)``. The tree is kept as the hashes of its *complete*
subtrees, addressed ``(level, index)``: the node at level ``L`` and index ``i`` covers
leaves ``[i·2^L, (i+1)·2^L)``. Those never change once the leaves exist, so they are
written once and any proof needs O(log n) of them: every range an RFC 9162 proof asks
for is either one complete subtree or the right edge of the tree, which splits into at
most log n complete ones.

Proofs are computed in two passes over the same recursive definitions (RFC 9162
§2.1.3.1 ``PATH`` and §2.1.4.1 ``SUBPROOF``): the first only collects the node
addresses needed, which are then read in one query; the second computes the hashes.
Verification of proofs lives in :mod:`casestore.ledger.verify_proof` (inclusion, the
court's stand-alone file) and here (consistency, for witnesses).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping

from casestore.ledger.verify_proof import leaf_hash, node_hash, root_from_inclusion

__all__ = [
    "EMPTY_ROOT",
    "Frontier",
    "NodeKey",
    "consistency_proof",
    "inclusion_proof",
    "inclusion_proofs",
    "leaf_hash",
    "node_hash",
    "root_from_inclusion",
    "tree_root",
    "verify_consistency",
]

#: The root of the empty tree: SHA-256 of nothing (RFC 9162 §2.1.1).
EMPTY_ROOT = hashlib.sha256(b"").digest()
NodeKey = tuple[int, int]  # (level, index)
NodeGetter = Callable[[int, int], bytes]
NodeReader = Callable[[Iterable[NodeKey]], Mapping[NodeKey, bytes]]


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n ≥ 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _range_hash(lo: int, hi: int, get: NodeGetter) -> bytes:
    """MTH of leaves [lo, hi): one stored node when complete, else split as RFC 9162 does."""
    size = hi - lo
    if size & (size - 1) == 0:
        level = size.bit_length() - 1
        return get(level, lo >> level)
    k = _split(size)
    return node_hash(_range_hash(lo, lo + k, get), _range_hash(lo + k, hi, get))


def _path(m: int, lo: int, hi: int, get: NodeGetter) -> list[bytes]:
    """RFC 9162 §2.1.3.1 PATH(m, D[lo:hi]), bottom-up."""
    if hi - lo == 1:
        return []
    k = _split(hi - lo)
    if m < k:
        return [*_path(m, lo, lo + k, get), _range_hash(lo + k, hi, get)]
    return [*_path(m - k, lo + k, hi, get), _range_hash(lo, lo + k, get)]


def _subproof(m: int, lo: int, hi: int, whole: bool, get: NodeGetter) -> list[bytes]:
    """RFC 9162 §2.1.4.1 SUBPROOF(m, D[lo:hi], b)."""
    n = hi - lo
    if m == n:
        return [] if whole else [_range_hash(lo, hi, get)]
    k = _split(n)
    if m <= k:
        return [*_subproof(m, lo, lo + k, whole, get), _range_hash(lo + k, hi, get)]
    return [*_subproof(m - k, lo + k, hi, False, get), _range_hash(lo, lo + k, get)]


def _two_pass(compute: Callable[[NodeGetter], list[bytes]], read: NodeReader) -> list[bytes]:
    wanted: dict[NodeKey, None] = {}

    def collect(level: int, index: int) -> bytes:
        wanted[(level, index)] = None
        return EMPTY_ROOT  # any 32 bytes: only the addresses matter in this pass

    compute(collect)
    nodes = read(wanted)
    missing = [k for k in wanted if k not in nodes]
    if missing:
        raise LookupError(f"tree nodes not stored yet: {missing[:3]}")
    return compute(lambda level, index: nodes[(level, index)])


def inclusion_proof(index: int, size: int, read: NodeReader) -> list[bytes]:
    """The audit path of leaf ``index`` in the tree of ``size`` leaves (bottom-up)."""
    return inclusion_proofs([index], size, read)[0]


def inclusion_proofs(indices: list[int], size: int, read: NodeReader) -> list[list[bytes]]:
    """The audit paths of several leaves of one tree, with a single read of the nodes."""
    for index in indices:
        if not 0 <= index < size:
            raise ValueError(f"leaf {index} is not in a tree of {size}")
    paths = [_path_ranges(index, size) for index in indices]
    wanted = {key: None for path in paths for keys in path for key in keys}
    nodes = read(wanted)
    missing = [k for k in wanted if k not in nodes]
    if missing:
        raise LookupError(f"tree nodes not stored yet: {missing[:3]}")
    out = []
    for path in paths:
        hashes = []
        for keys in path:
            h = nodes[keys[-1]]
            for key in reversed(keys[:-1]):
                h = node_hash(nodes[key], h)
            hashes.append(h)
        out.append(hashes)
    return out


def _path_ranges(m: int, size: int) -> list[tuple[NodeKey, ...]]:
    """RFC 9162 §2.1.3.1 PATH(m, D[0:size]) as addresses, bottom-up: each element is the
    hash of a range of leaves, given as the complete subtrees it splits into (MTH of the
    range = the first ⊕ MTH of the rest, where ⊕ is :func:`node_hash`).

    The same as :func:`_path` unrolled: the recursion always descends into the half that
    holds ``m`` and emits the other half, whose left halves are complete subtrees
    (``k`` is a power of two and ``lo`` a multiple of it)."""
    lo, hi = 0, size
    top_down: list[tuple[NodeKey, ...]] = []
    while hi - lo > 1:
        k = _split(hi - lo)
        if m < lo + k:
            top_down.append(_range_keys(lo + k, hi))
            hi = lo + k
        else:
            top_down.append(_range_keys(lo, lo + k))
            lo += k
    top_down.reverse()
    return top_down


def _range_keys(lo: int, hi: int) -> tuple[NodeKey, ...]:
    """The complete subtrees MTH(D[lo:hi]) splits into as RFC 9162 splits it, left first."""
    keys = []
    while True:
        n = hi - lo
        if n & (n - 1) == 0:
            level = n.bit_length() - 1
            keys.append((level, lo >> level))
            return tuple(keys)
        k = _split(n)
        level = k.bit_length() - 1
        keys.append((level, lo >> level))
        lo += k


def consistency_proof(first: int, second: int, read: NodeReader) -> list[bytes]:
    """The proof that the tree of ``first`` leaves is a prefix of the one of ``second``."""
    if not 0 <= first <= second:
        raise ValueError(f"no consistency proof from {first} to {second}")
    if first == 0 or first == second:
        return []
    return _two_pass(lambda get: _subproof(first, 0, second, True, get), read)


def tree_root(size: int, read: NodeReader) -> bytes:
    """The root hash of the tree of ``size`` leaves."""
    if size == 0:
        return EMPTY_ROOT
    return _two_pass(lambda get: [_range_hash(0, size, get)], read)[0]


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: list[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2: whether ``proof`` shows tree ``first`` is a prefix of ``second``."""
    if first > second or first < 0:
        return False
    if first == second:
        return not proof and first_root == second_root
    if first == 0:
        return not proof  # every tree extends the empty one
    path = list(proof)
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    if not path:
        return False
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == first_root and sr == second_root


class Frontier:
    """The right edge of a growing tree: the complete subtrees its size decomposes into.

    ``append`` adds one leaf and returns every node that became complete (the leaf
    itself first), each ``(level, index, hash)``, ready to be stored once.
    """

    def __init__(self, size: int = 0, nodes: list[tuple[int, int, bytes]] | None = None) -> None:
        self.size = size
        self.nodes: list[tuple[int, int, bytes]] = list(nodes or [])

    @staticmethod
    def keys(size: int) -> list[NodeKey]:
        """The (level, index) of the complete subtrees a tree of ``size`` leaves ends with."""
        keys, start = [], 0
        for level in range(size.bit_length() - 1, -1, -1):
            if size >> level & 1:
                keys.append((level, start >> level))
                start += 1 << level
        return keys

    @classmethod
    def load(cls, size: int, read: NodeReader) -> Frontier:
        keys = cls.keys(size)
        nodes = read(keys)
        return cls(size, [(level, index, nodes[(level, index)]) for level, index in keys])

    def append(self, data: bytes) -> list[tuple[int, int, bytes]]:
        """Add the leaf for ``data`` (an event hash); the nodes completed by it."""
        h = leaf_hash(data)
        level, index = 0, self.size
        made = [(0, index, h)]
        stack = self.nodes
        while stack and stack[-1][0] == level:
            _, left_index, left = stack.pop()
            h = node_hash(left, h)
            level, index = level + 1, left_index >> 1
            made.append((level, index, h))
        stack.append((level, index, h))
        self.size += 1
        return made

    def extend(
        self, data: Iterable[bytes], keep_from: int = 0, leaves: list[bytes] | None = None
    ) -> list[tuple[int, int, bytes]]:
        """Add many leaves; only the completed nodes at level ``keep_from`` or above.
        ``leaves``, when given, gets each new leaf hash appended (for the leaf tiles).

        The same as calling :meth:`append` for each, with the least work per leaf (this
        is the tree worker's inner loop).
        """
        sha256 = hashlib.sha256
        stack, size = self.nodes, self.size
        kept: list[tuple[int, int, bytes]] = []
        keep = kept.append
        tile = leaves.append if leaves is not None else None
        for d in data:
            h = sha256(b"\x00" + d).digest()
            if tile is not None:
                tile(h)
            level, index = 0, size
            if keep_from == 0:
                keep((0, index, h))
            while stack and stack[-1][0] == level:
                left_index, left = stack.pop()[1:]
                h = sha256(b"\x01" + left + h).digest()
                level, index = level + 1, left_index >> 1
                if level >= keep_from:
                    keep((level, index, h))
            stack.append((level, index, h))
            size += 1
        self.size = size
        return kept

    def root(self) -> bytes:
        """The root hash of the tree as it stands."""
        if not self.nodes:
            return EMPTY_ROOT
        r = self.nodes[-1][2]
        for _, _, h in reversed(self.nodes[:-1]):
            r = node_hash(h, r)
        return r
