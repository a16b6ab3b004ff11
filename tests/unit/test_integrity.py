"""verify names each altered, removed, inserted or reordered event (synthetic logs)."""

from __future__ import annotations

import dataclasses
import random
from uuid import UUID, uuid4

import pytest

from casestore.store.integrity import GENESIS, LogRow, chain_hash, event_hash, verify_rows


def make_log(n_cases: int = 4, n_events: int = 40, seed: int = 7) -> list[LogRow]:
    """A well-formed log: events of a few cases interleaved, hashes chained."""
    rng = random.Random(seed)
    cases = [UUID(int=rng.getrandbits(128)) for _ in range(n_cases)]
    heads: dict[UUID, tuple[int, bytes]] = {}
    chain = GENESIS
    rows = []
    for position in range(1, n_events + 1):
        case = rng.choice(cases)
        version, prev = heads.get(case, (0, GENESIS))
        state = f"state {position}".encode()
        ev = event_hash(prev, case, version + 1, "casestore.domain.case:Case.X", state, position)
        chain = chain_hash(chain, ev)
        rows.append(LogRow(position, case, version + 1, "casestore.domain.case:Case.X", state,
                           position, ev, chain))
        heads[case] = (version + 1, ev)
    return rows


def swap(rows: list[LogRow], i: int, j: int) -> list[LogRow]:
    """What exchanging two rows' positions in the table looks like to a reader."""
    out = list(rows)
    a, b = out[i], out[j]
    out[i] = dataclasses.replace(b, position=a.position)
    out[j] = dataclasses.replace(a, position=b.position)
    return out


def kinds(rows: list[LogRow]) -> list[tuple[str, int]]:
    return [(f.kind, f.position) for f in verify_rows(rows).findings]


def test_intact_log_verifies() -> None:
    report = verify_rows(make_log())
    assert report.ok and report.events == 40 and report.last_position == 40


def test_altered_event_is_named_once() -> None:
    rows = make_log()
    rows[10] = dataclasses.replace(rows[10], state=b"forged")
    report = verify_rows(rows)
    assert [(f.kind, f.case, f.version) for f in report.findings] == [
        ("altered", rows[10].originator_id, rows[10].version)]


def test_altered_recorded_at_is_caught() -> None:
    rows = make_log()
    rows[5] = dataclasses.replace(rows[5], recorded_at_us=rows[5].recorded_at_us - 3600)
    assert kinds(rows) == [("altered", 6)]


def test_removed_event_is_named_by_case_and_position() -> None:
    rows = make_log()
    victim = next(i for i, r in enumerate(rows[:-1]) if any(
        o.originator_id == r.originator_id for o in rows[i + 1:]))
    gone = rows.pop(victim)
    report = verify_rows(rows)
    found = {(f.kind, f.case) for f in report.findings}
    assert ("removed", gone.originator_id) in found
    assert ("removed", None) in found  # the global chain shows where it was
    assert not any(f.kind in ("altered", "reordered") for f in report.findings)


@pytest.mark.parametrize(("i", "j"), [(10, 11), (5, 30), (0, 1), (38, 39)])
def test_swapped_events_are_each_named(i: int, j: int) -> None:
    rows = make_log()
    tampered = swap(rows, i, j)
    report = verify_rows(tampered)
    named = {(f.case, f.version) for f in report.findings if f.kind == "reordered"}
    assert {(rows[i].originator_id, rows[i].version),
            (rows[j].originator_id, rows[j].version)} <= named
    assert all(f.kind == "reordered" for f in report.findings)
    assert len(report.findings) == 2


def test_inserted_forged_event_is_named() -> None:
    rows = make_log()
    forged = LogRow(0, uuid4(), 1, "casestore.domain.case:Case.Submitted", b"forged", 1,
                    b"\x01" * 32, b"\x02" * 32)
    tampered = [*rows[:20], forged, *rows[20:]]
    tampered = [dataclasses.replace(r, position=n + 1) for n, r in enumerate(tampered)]
    report = verify_rows(tampered)
    assert [(f.kind, f.case) for f in report.findings] == [("altered", forged.originator_id)] \
        or [(f.kind, f.case) for f in report.findings] == [("inserted", forged.originator_id)]


def test_digest_proves_prefix_unchanged() -> None:
    rows = make_log()
    saved = (20, rows[19].chain_hash)
    assert verify_rows(rows, digest=saved).ok
    rows[3] = dataclasses.replace(rows[3], state=b"rewritten")
    report = verify_rows(rows, digest=saved)
    assert {f.kind for f in report.findings} == {"altered", "digest"}


def test_rewritten_chain_is_caught_by_digest() -> None:
    """A superuser who recomputes every hash after a change still fails the saved digest."""
    rows = make_log()
    saved = (30, rows[29].chain_hash)
    heads: dict[UUID, bytes] = {}
    chain = GENESIS
    rewritten = []
    for r in rows:
        state = b"rewritten" if r.position == 3 else r.state
        ev = event_hash(heads.get(r.originator_id, GENESIS), r.originator_id, r.version, r.topic,
                        state, r.recorded_at_us)
        chain = chain_hash(chain, ev)
        heads[r.originator_id] = ev
        rewritten.append(dataclasses.replace(r, state=state, event_hash=ev, chain_hash=chain))
    assert verify_rows(rewritten).ok  # self-consistent ...
    assert [f.kind for f in verify_rows(rewritten, digest=saved).findings] == ["digest"]


def test_digest_at_missing_position_is_reported() -> None:
    rows = make_log()
    assert [f.kind for f in verify_rows(rows, digest=(99, b"\0" * 32)).findings] == ["digest"]


def test_every_possible_swap_names_exactly_the_two_events() -> None:
    rows = make_log(4, 30, seed=3)
    for i in range(30):
        for j in range(i + 1, 30):
            report = verify_rows(swap(rows, i, j))
            assert sorted((f.kind, f.position) for f in report.findings) == [
                ("reordered", i + 1), ("reordered", j + 1)], (i, j)


def test_every_possible_deletion_is_found() -> None:
    """All but the newest: a missing head is only visible against a saved digest."""
    rows = make_log(4, 30, seed=4)
    for i in range(29):
        report = verify_rows(rows[:i] + rows[i + 1:])
        assert report.findings and {f.kind for f in report.findings} == {"removed"}, i


def test_every_possible_insertion_is_named() -> None:
    rows = make_log(4, 30, seed=5)
    for i in range(1, 30):
        forged = LogRow(0, uuid4(), 1, "t", b"forged", 1, b"\x01" * 32, b"\x02" * 32)
        tampered = [dataclasses.replace(r, position=n + 1)
                    for n, r in enumerate([*rows[:i], forged, *rows[i:]])]
        assert [(f.kind, f.position) for f in verify_rows(tampered).findings] in (
            [("altered", i + 1)], [("inserted", i + 1)]), i
