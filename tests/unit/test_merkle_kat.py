"""Known answers for the Merkle tree, its proofs and signed notes (SPEC §9).

Two independent sources of truth, neither of them our code under test:
- the vectors in ``tests/data/`` (copied from ``shared/data/``), each produced and checked
  with Go's ``golang.org/x/mod/sumdb/tlog`` and ``.../note``;
- RFC 9162's own recursive definitions (MTH, PATH, PROOF/SUBPROOF), transcribed below from
  the RFC text straight over a list of leaves, without stored nodes or shared helpers.
Every tree size 1..300 and every leaf index is compared.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from pathlib import Path
from uuid import UUID

import pytest

from casestore.ledger import merkle, notes, verify_proof
from casestore.store import integrity

DATA = Path(__file__).resolve().parents[1] / "data"
VECTORS = json.loads((DATA / "merkle-vectors.json").read_text())
NOTE = json.loads((DATA / "signed-note-vector.json").read_text())
MAX = 300


# --- RFC 9162 §2.1, written from the RFC text -----------------------------------------


@functools.cache
def ref_mth(lo: int, hi: int) -> bytes:
    """MTH(D[lo:hi]) over the test leaves ``LEAVES`` (memoised: the same ranges recur)."""
    n = hi - lo
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + LEAVES[lo]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + ref_mth(lo, lo + k) + ref_mth(lo + k, hi)).digest()


def ref_path(m: int, lo: int, hi: int) -> list[bytes]:
    """PATH(m, D[lo:hi])."""
    n = hi - lo
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return [*ref_path(m, lo, lo + k), ref_mth(lo + k, hi)]
    return [*ref_path(m - k, lo + k, hi), ref_mth(lo, lo + k)]


def ref_subproof(m: int, lo: int, hi: int, b: bool) -> list[bytes]:
    """SUBPROOF(m, D[lo:hi], b)."""
    n = hi - lo
    if m == n:
        return [] if b else [ref_mth(lo, hi)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return [*ref_subproof(m, lo, lo + k, b), ref_mth(lo + k, hi)]
    return [*ref_subproof(m - k, lo + k, hi, False), ref_mth(lo, lo + k)]


def ref_proof(m: int, n: int) -> list[bytes]:
    """PROOF(m, D[0:n])."""
    return ref_subproof(m, 0, n, True)


def leaf_data(i: int) -> bytes:
    return hashlib.sha256(b"casestore test event %d" % i).digest()


LEAVES = tuple(leaf_data(i) for i in range(MAX))

# --- the tree under test, grown leaf by leaf as the worker grows it --------------------


@pytest.fixture(scope="module")
def grown() -> tuple[list[bytes], dict[tuple[int, int], bytes], list[bytes]]:
    """Leaves 0..MAX-1, every stored node, and the frontier's root after each append."""
    data = list(LEAVES)
    nodes: dict[tuple[int, int], bytes] = {}
    frontier = merkle.Frontier()
    roots = [frontier.root()]
    for d in data:
        for level, index, h in frontier.append(d):
            assert (level, index) not in nodes, "a node is written once"
            nodes[(level, index)] = h
        roots.append(frontier.root())
    return data, nodes, roots


def reader(nodes: dict[tuple[int, int], bytes], size: int) -> merkle.NodeReader:
    """Reads only nodes that exist in a tree of ``size`` leaves (as the store would)."""

    def read(keys):  # type: ignore[no-untyped-def]
        out = {}
        for level, index in keys:
            if (index + 1) << level <= size:
                out[(level, index)] = nodes[(level, index)]
        return out

    return read


def b64(items: list[bytes]) -> list[str]:
    return [base64.b64encode(h).decode() for h in items]


def test_leaf_data_matches_the_vectors() -> None:
    assert [leaf_data(i).hex() for i in range(70)] == VECTORS["leaf_data_hex"]


def test_roots_match_go_for_every_size_0_to_70(grown) -> None:  # type: ignore[no-untyped-def]
    _data, nodes, roots = grown
    for size, expected in VECTORS["roots"].items():
        n = int(size)
        assert base64.b64encode(roots[n]).decode() == expected, n
        assert base64.b64encode(merkle.tree_root(n, reader(nodes, n))).decode() == expected
    assert roots[0] == hashlib.sha256(b"").digest()


def test_inclusion_and_consistency_proofs_match_go(grown) -> None:  # type: ignore[no-untyped-def]
    _data, nodes, roots = grown
    for case in VECTORS["inclusion"]:
        n, i = case["size"], case["index"]
        assert b64(merkle.inclusion_proof(i, n, reader(nodes, n))) == case["proof"], (n, i)
    for case in VECTORS["consistency"]:
        m, n = case["from"], case["to"]
        proof = merkle.consistency_proof(m, n, reader(nodes, n))
        assert b64(proof) == case["proof"], (m, n)
        assert merkle.verify_consistency(m, n, roots[m], roots[n], proof)


def test_every_size_and_leaf_against_the_rfc_definitions(grown) -> None:  # type: ignore[no-untyped-def]
    data, nodes, roots = grown
    for n in range(1, MAX + 1):
        prefix = data[:n]
        root = ref_mth(0, n)
        assert roots[n] == root, n
        read = reader(nodes, n)
        assert merkle.tree_root(n, read) == root
        for i in range(n):
            path = merkle.inclusion_proof(i, n, read)
            assert path == ref_path(i, 0, n), (n, i)
            leaf = hashlib.sha256(b"\x00" + prefix[i]).digest()
            assert merkle.root_from_inclusion(i, n, leaf, path) == root


def test_every_consistency_pair_against_the_rfc_definitions(grown) -> None:  # type: ignore[no-untyped-def]
    _data, nodes, roots = grown
    for n in range(1, MAX + 1):
        read = reader(nodes, n)
        for m in range(1, n + 1):
            proof = merkle.consistency_proof(m, n, read)
            assert proof == (ref_proof(m, n) if m < n else []), (m, n)
            assert merkle.verify_consistency(m, n, roots[m], roots[n], proof), (m, n)


def test_wrong_proofs_are_refused(grown) -> None:  # type: ignore[no-untyped-def]
    data, nodes, roots = grown
    for n in (2, 7, 64, 65, 300):
        read = reader(nodes, n)
        for i in (0, n // 2, n - 1):
            path = merkle.inclusion_proof(i, n, read)
            leaf = hashlib.sha256(b"\x00" + data[i]).digest()
            bad = [bytes(32), *path[1:]]
            assert merkle.root_from_inclusion(i, n, leaf, bad) != roots[n]
            assert merkle.root_from_inclusion(i, n, leaf, [*path, bytes(32)]) is None
            assert merkle.root_from_inclusion(i, n, leaf, path[:-1]) != roots[n]
            assert merkle.root_from_inclusion(n, n, leaf, path) is None
        for m in (1, 3, n // 2):
            if 0 < m < n:
                proof = merkle.consistency_proof(m, n, read)
                assert not merkle.verify_consistency(m, n, roots[m], roots[n - 1], proof)
                assert not merkle.verify_consistency(m, n, roots[m + 1], roots[n], proof)
                if proof:
                    assert not merkle.verify_consistency(
                        m, n, roots[m], roots[n], [bytes(32), *proof[1:]]
                    )


def test_frontier_reloads_from_stored_nodes(grown) -> None:  # type: ignore[no-untyped-def]
    data, nodes, roots = grown
    for n in (0, 1, 5, 64, 129, 299):
        frontier = merkle.Frontier.load(n, reader(nodes, n))
        assert frontier.root() == roots[n]
        made = frontier.append(data[n])
        assert all(nodes[(lv, ix)] == h for lv, ix, h in made)
        assert frontier.root() == roots[n + 1]


def test_missing_nodes_are_an_error_not_a_wrong_proof(grown) -> None:  # type: ignore[no-untyped-def]
    _data, nodes, _roots = grown
    with pytest.raises(LookupError):
        merkle.inclusion_proof(3, 10, reader(nodes, 8))


# --- signed notes -----------------------------------------------------------------------


def test_keys_and_signature_match_go() -> None:
    seed = hashlib.sha256(b"casestore signed-note test key").digest()
    key = notes.SignerKey.from_seed(NOTE["name"], seed)
    assert key.private_text() == NOTE["private_key"]
    assert key.verifier_text() == NOTE["verifier_key"]
    assert notes.SignerKey.parse(NOTE["private_key"]).verifier_text() == NOTE["verifier_key"]
    root70 = base64.b64decode(VECTORS["roots"]["70"])
    body = notes.checkpoint_body(NOTE["name"], 70, root70)
    assert body == NOTE["checkpoint_body"]
    assert key.sign(body) == NOTE["signed_note"]  # Ed25519 signatures are deterministic


def test_go_signed_note_verifies_and_tampering_does_not() -> None:
    vkey = verify_proof.VerifierKey.parse(NOTE["verifier_key"])
    note = NOTE["signed_note"]
    assert verify_proof.signed_by(note, vkey)
    checkpoint = verify_proof.Checkpoint.parse(verify_proof.split_note(note)[0])
    assert (checkpoint.origin, checkpoint.size) == ("casestore.test/log", 70)
    assert not verify_proof.signed_by(note.replace("\n70\n", "\n71\n"), vkey)
    other = notes.SignerKey.generate("casestore.test/log").verifier()
    assert not verify_proof.signed_by(note, other)  # same name, another key id


def test_cosignature_is_one_more_line() -> None:
    log_key = notes.SignerKey.parse(NOTE["private_key"])
    witness = notes.SignerKey.generate("witness.example/w1")
    cosigned = notes.add_signature(NOTE["signed_note"], witness)
    assert cosigned.startswith(NOTE["signed_note"])
    assert len(notes.signature_lines(cosigned)) == 2
    assert verify_proof.signed_by(cosigned, log_key.verifier())
    assert verify_proof.signed_by(cosigned, witness.verifier())


@pytest.mark.parametrize(
    "text",
    [
        "name+872a47f3+AZXhe",  # short key
        "name+zz2a47f3+AZXhe+HVE4Fp7Q0Ky8olRb4GIJfvgQQDYZUmDbKQEOLM",
        "casestore.test/log+00000000+AZXhe+HVE4Fp7Q0Ky8olRb4GIJfvgQQDYZUmDbKQEOLM",
    ],
)
def test_bad_verifier_keys_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        verify_proof.VerifierKey.parse(text)


def test_the_stand_alone_event_hash_is_the_store_s() -> None:
    case = UUID("0f8fad5b-d9cb-469f-a165-70867728950e")
    prev = hashlib.sha256(b"prev").digest()
    topic = "casestore.domain.case:Case.Accepted"
    state = b'{"x": 1}'
    us = 1_764_325_000_123_456
    assert verify_proof.event_hash(prev, case.bytes, 3, us, topic, state) == integrity.event_hash(
        prev, case, 3, topic, state, us
    )
    assert verify_proof.recorded_at_micros("2025-11-28T10:16:40.123456Z") == 1_764_325_000_123_456


def test_batch_extend_keeps_the_same_nodes_as_append(grown) -> None:  # type: ignore[no-untyped-def]
    data, nodes, roots = grown
    whole = merkle.Frontier()
    assert dict(((lv, ix), h) for lv, ix, h in whole.extend(data, 0)) == nodes
    assert whole.root() == roots[MAX]
    part = merkle.Frontier.load(100, reader(nodes, 100))
    kept = part.extend(data[100:], 4)
    assert kept and all(lv >= 4 and nodes[(lv, ix)] == h for lv, ix, h in kept)
    assert part.root() == roots[MAX]


def test_several_paths_in_one_read(grown) -> None:  # type: ignore[no-untyped-def]
    _, nodes, _ = grown
    reads = []

    def counting(keys):  # type: ignore[no-untyped-def]
        reads.append(1)
        return reader(nodes, 300)(keys)

    paths = merkle.inclusion_proofs([0, 17, 150, 299], 300, counting)
    assert reads == [1]
    assert paths == [ref_path(i, 0, 300) for i in (0, 17, 150, 299)]
