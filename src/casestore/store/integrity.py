"""Hash chain and verification (SPEC §6): per-case chain, global running digest, findings.

Each event's hash covers the exact stored bytes (after any compression or encryption),
its identity, its ``recorded_at`` and the previous event's hash in the same case;
the global chain hash covers the previous chain hash and the event hash, in log order.
A per-person key can therefore be destroyed later without breaking verification.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from uuid import UUID

from casestore.store.storedtypes import coerced, malformed

GENESIS = bytes(32)
#: The fixed part of an event's hashed bytes: case id, version, recorded_at µs, topic length.
EVENT_LAYOUT = struct.Struct(">16sqqI")


@dataclass(frozen=True)
class LogRow:
    """One stored event with its position and hashes, as read from the log."""

    position: int
    originator_id: UUID
    version: int
    topic: str
    state: bytes
    recorded_at_us: int  # microseconds since the Unix epoch, UTC
    event_hash: bytes
    chain_hash: bytes


def event_hash(
    prev: bytes, originator_id: UUID, version: int, topic: str, state: bytes, recorded_at_us: int
) -> bytes:
    """SHA-256 over the previous case hash and this event's canonical stored content."""
    topic_bytes = topic.encode()
    h = hashlib.sha256(prev)
    h.update(EVENT_LAYOUT.pack(originator_id.bytes, version, recorded_at_us, len(topic_bytes)))
    h.update(topic_bytes)
    h.update(state)
    return h.digest()


def chain_hash(prev_chain: bytes, ev_hash: bytes) -> bytes:
    """The global running digest after one more event."""
    return hashlib.sha256(prev_chain + ev_hash).digest()


@dataclass(frozen=True)
class LinkCheck:
    """Whether every stored hash follows from its content and predecessor: counts only.

    If no link is bad, the stored chain *is* the chain recomputed from genesis (by
    induction), so a saved digest is checked against the stored hash at its position.
    """

    events: int
    bad_links: int
    chain_at_digest: bytes | None
    #: The last link checked, when the check streamed the log itself.
    last: tuple[int, bytes] | None = None


def check_links(
    rows: Iterable[tuple[int, str, int, str, bytes, int, bytes, bytes]], digest_position: int = 0
) -> LinkCheck:
    """Every link checked in one pass in log order, with the least work per event.

    ``rows`` are (position, case id as 32 hex digits, version, topic, state,
    recorded_at µs, event hash, chain hash). In an intact log each case's versions
    arrive in order, so its chain can be followed in log order; anything else counts
    as a bad link, and :func:`verify_rows` then names what is wrong.
    """
    sha256 = hashlib.sha256
    pack = EVENT_LAYOUT.pack
    heads: dict[str, tuple[int, bytes, bytes]] = {}  # case -> (version, hash, id bytes)
    topics: dict[str, bytes] = {}
    chain = GENESIS
    events = bad = 0
    at_digest: bytes | None = None
    position = 0
    for position, case, version, topic, state, micros, ev_hash, chain_hash in rows:
        events += 1
        try:
            head = heads.get(case)
            if head is None:
                prev_version, prev, id_bytes = 0, GENESIS, bytes.fromhex(case)
            else:
                prev_version, prev, id_bytes = head
            topic_bytes = topics.get(topic)
            if topic_bytes is None:
                topic_bytes = topics[topic] = topic.encode()
            computed = sha256(
                prev + pack(id_bytes, version, micros, len(topic_bytes)) + topic_bytes + state
            ).digest()
            if version != prev_version + 1 or computed != ev_hash:
                bad += 1
            heads[case] = (version, ev_hash, id_bytes)
            if sha256(chain + ev_hash).digest() != chain_hash:
                bad += 1
        except (TypeError, ValueError, AttributeError, struct.error):
            # a stored value of the wrong type (a column altered to TEXT, say):
            # :func:`verify_rows` names it (see :func:`malformed`)
            bad += 1
        chain = chain_hash
        if position == digest_position:
            at_digest = chain_hash
    return LinkCheck(events, bad, at_digest, (position, chain) if events else None)


@dataclass(frozen=True)
class Finding:
    """Something verification found wrong, naming the event where it shows."""

    kind: str  # altered | removed | inserted | reordered | digest
    position: int
    case: UUID | None
    version: int | None
    detail: str

    def line(self) -> str:
        where = f"case {self.case} version {self.version}" if self.case else "log"
        return f"{self.kind.upper()}: {where} at position {self.position}: {self.detail}"


@dataclass
class VerifyReport:
    """The outcome of a full recomputation."""

    events: int = 0
    last_position: int = 0
    last_chain_hash: bytes = GENESIS
    findings: list[Finding] = field(default_factory=list)
    digest_checked: bool = False

    @property
    def ok(self) -> bool:
        return not self.findings


@dataclass(frozen=True)
class _Seen:
    index: int
    row: LogRow


def verify_rows(rows: Iterable[LogRow], *, digest: tuple[int, bytes] | None = None) -> VerifyReport:
    """Recompute every hash in log order and name each event that does not fit.

    Per case: a version gap is a removal, a version going back is a reordering, a hash
    that does not match its content is an alteration. Globally: an event whose chain
    hash does not follow from the event now before it is out of place; its original
    predecessor is found by hash among the few out-of-place neighbours, which tells a
    moved event (reordered) from an innocent neighbour, an inserted one, or a gap left by
    a removal. ``digest`` (position, chain hash) is checked against a chain recomputed
    from genesis without any resynchronisation, so it proves the prefix unchanged.
    """
    report = VerifyReport()
    flagged: set[int] = set()
    chains = _CaseChains(report.findings, flagged)
    pure_heads: dict[UUID, bytes] = {}
    pure_chain = GENESIS
    prev: _Seen | None = None
    misplaced: list[_Seen] = []
    candidates: dict[int, _Seen] = {}
    digest_seen = False
    for index, row in enumerate(rows):
        report.events += 1
        problem = malformed(row)
        if problem is not None:
            row = coerced(row)
            report.findings.append(
                Finding("altered", row.position, row.originator_id, row.version, problem)
            )
            flagged.add(row.position)
        seen = _Seen(index, row)
        chains.see(row)
        if digest is not None:
            pure_ev = event_hash(
                pure_heads.get(row.originator_id, GENESIS),
                row.originator_id,
                row.version,
                row.topic,
                row.state,
                row.recorded_at_us,
            )
            pure_heads[row.originator_id] = pure_ev
            pure_chain = chain_hash(pure_chain, pure_ev)
            if row.position == digest[0]:
                digest_seen = True
                if pure_chain != digest[1]:
                    report.findings.append(
                        Finding(
                            "digest",
                            row.position,
                            None,
                            None,
                            "the log up to this position differs from the saved digest",
                        )
                    )
        prev_chain = prev.row.chain_hash if prev else GENESIS
        if chain_hash(prev_chain, row.event_hash) != row.chain_hash:
            misplaced.append(seen)
            candidates[index] = seen
            if prev is not None:
                candidates[prev.index] = prev
        elif misplaced and misplaced[-1].index == index - 1:
            candidates[index] = seen  # a moved event's new successor may be its old one
        prev = seen
        report.last_position = row.position
        report.last_chain_hash = row.chain_hash
    chains.finish()
    report.findings.extend(_explain_misplaced(misplaced, candidates, flagged))
    report.findings.sort(key=lambda f: (f.position, f.kind == "digest", f.case is None))
    if digest is not None:
        report.digest_checked = True
        if not digest_seen:
            report.findings.append(
                Finding(
                    "digest", digest[0], None, None, "no event at the digest's position (removed?)"
                )
            )
    return report


class _CaseChains:
    """Per-case chains verified in version order, whatever order the rows arrive in.

    A row that arrives ahead of its predecessor waits; the global chain analysis names
    moved rows, so here only alterations (content not matching its hash after its true
    predecessor) and versions that never arrive (removals) are reported.
    """

    def __init__(self, findings: list[Finding], flagged: set[int]) -> None:
        self.heads: dict[UUID, tuple[int, bytes]] = {}
        self.waiting: dict[UUID, dict[int, LogRow]] = {}
        self.findings = findings
        self.flagged = flagged

    def see(self, row: LogRow) -> None:
        version, _ = self.heads.get(row.originator_id, (0, GENESIS))
        if row.version != version + 1:
            if row.version > version:
                self.waiting.setdefault(row.originator_id, {})[row.version] = row
            return
        self._accept(row)
        waiting = self.waiting.get(row.originator_id)
        while waiting:
            nxt = waiting.pop(self.heads[row.originator_id][0] + 1, None)
            if nxt is None:
                break
            self._accept(nxt)
        if waiting == {}:
            del self.waiting[row.originator_id]

    def _accept(self, row: LogRow) -> None:
        _, prev = self.heads.get(row.originator_id, (0, GENESIS))
        if (
            event_hash(
                prev, row.originator_id, row.version, row.topic, row.state, row.recorded_at_us
            )
            != row.event_hash
        ):
            self.findings.append(
                Finding(
                    "altered",
                    row.position,
                    row.originator_id,
                    row.version,
                    "stored content does not match its hash",
                )
            )
            self.flagged.add(row.position)
        self.heads[row.originator_id] = (row.version, row.event_hash)

    def finish(self) -> None:
        for case, waiting in self.waiting.items():
            version = self.heads.get(case, (0, GENESIS))[0]
            first = min(waiting)
            row = waiting[first]
            self.findings.append(
                Finding(
                    "removed",
                    row.position,
                    case,
                    row.version,
                    f"versions {version + 1}..{first - 1} of this case are missing before it",
                )
            )
            # verify what follows the gap against the stored hash chain
            self.heads[case] = (first - 1, b"")
            for v in sorted(waiting):
                r = waiting[v]
                if v != first:
                    self._accept(r)
                else:
                    self.heads[case] = (v, r.event_hash)


def _explain_misplaced(
    misplaced: list[_Seen], candidates: dict[int, _Seen], flagged: set[int]
) -> Iterator[Finding]:
    """Name the moved, inserted and missing events behind the out-of-place chain links."""
    by_index = {m.index: m for m in misplaced}
    genesis = _Seen(-1, LogRow(0, UUID(int=0), 0, "", b"", 0, GENESIS, GENESIS))
    candidates = {-1: genesis, **candidates}
    origin: dict[int, _Seen | None] = {
        m.index: next(
            (
                c
                for c in candidates.values()
                if c.index != m.index
                and chain_hash(c.row.chain_hash, m.row.event_hash) == m.row.chain_hash
            ),
            None,
        )
        for m in misplaced
    }
    keys: dict[int, tuple[int, int]] = {}

    def key(index: int, depth: int = 0) -> tuple[int, int]:
        if index not in by_index:
            return (index, 0)
        if index not in keys:
            o = origin[index]
            if o is None or depth > len(misplaced):
                keys[index] = (index, 0)
            else:
                base = key(o.index, depth + 1)
                keys[index] = (base[0], base[1] + 1)
        return keys[index]

    inserted = {
        m.index - 1
        for m in misplaced
        if (o := origin[m.index]) is not None
        and o.index == m.index - 2
        and m.index - 1 in by_index
        and origin[m.index - 1] is None
    }
    # An event is where it was written if following its origin links back to an event
    # in place lands on its current index; otherwise it was moved.
    moved = {
        i
        for i in by_index
        if origin[i] is not None
        and sum(key(i)) != i
        and not (i - 1 in inserted and _origin_index(origin[i]) == i - 2)
    }
    for m in misplaced:
        row = m.row
        if row.position in flagged:
            continue
        if m.index in inserted:
            yield Finding(
                "inserted",
                row.position,
                row.originator_id,
                row.version,
                "this event was not in the log when its successor was written",
            )
        elif origin[m.index] is None:
            yield Finding(
                "removed",
                row.position,
                None,
                None,
                "the event that preceded this position is missing from the log",
            )
        elif m.index in moved:
            o = origin[m.index]
            assert o is not None
            yield Finding(
                "reordered",
                row.position,
                row.originator_id,
                row.version,
                f"was written right after position {o.row.position}, not where it stands now",
            )


def _origin_index(o: _Seen | None) -> int | None:
    return None if o is None else o.index
