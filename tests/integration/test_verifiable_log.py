"""The verifiable log over a real store (SQLite and PostgreSQL): tree, checkpoints, proofs,
witnesses, and a superuser who rewrites history (SPEC §9, issue 13).

Expected roots come from RFC 9162's definition applied here to the stored event hashes
(not from the tree tables under test); tampering is done to the file or the database by
hand, the way an attacker would.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import UUID

import psycopg
import pytest

from casestore.ledger import proofs
from casestore.ledger.audit import verify_checkpoint
from casestore.ledger.notes import SignerKey
from casestore.ledger.store import LedgerStore
from casestore.ledger.verify_proof import root_from_inclusion, verify_proof
from casestore.ledger.witness import STATE_FILE, witness_once
from casestore.ledger.workers import Cadence, Signer, TreeWorker
from casestore.service import Accept, CaseService, Review, SubmitCase
from casestore.store.application import CasestoreApp
from casestore.store.audit import verify as verify_log
from casestore.store.integrity import GENESIS, chain_hash, event_hash
from tests.conftest import APPLICANT, CLERK, REVIEWER

ORIGIN = "casestore.test/log"


def rfc_root(hashes: list[bytes]) -> bytes:
    """RFC 9162 MTH over event hashes, written out again here."""
    if not hashes:
        return hashlib.sha256(b"").digest()
    if len(hashes) == 1:
        return hashlib.sha256(b"\x00" + hashes[0]).digest()
    k = 1
    while k * 2 < len(hashes):
        k *= 2
    return hashlib.sha256(b"\x01" + rfc_root(hashes[:k]) + rfc_root(hashes[k:])).digest()


class Ledger:
    """The write side's log plus its tree, signer and a witness's view of the HTTP API."""

    def __init__(self, app: CasestoreApp) -> None:
        self.app = app
        self.store = LedgerStore(app.db_url)
        self.key = SignerKey.generate(ORIGIN)
        self.tree = TreeWorker(self.store, batch=7)  # small batches: many commits
        self.signer = Signer(self.store, self.key, ORIGIN, Cadence(seconds=3600))

    def checkpoint(self) -> str:
        self.tree.catch_up()
        self.signer.sign_now()
        return proofs.latest_note(self.store)

    def http(self, method: str, url: str, body: bytes | None) -> bytes:
        """What the witness sees of ``/log/*`` (the same functions the routes call)."""
        parts = urlsplit(url)
        if method == "GET" and parts.path == "/log/checkpoint":
            return proofs.latest_note(self.store).encode()
        if method == "GET" and parts.path == "/log/consistency":
            q = {k: int(v[0]) for k, v in parse_qs(parts.query).items()}
            proof = proofs.consistency(self.store, q["from"], q["to"])
            return json.dumps({"proof": proofs.b64(proof)}).encode()
        if method == "POST" and parts.path == "/log/cosignatures":
            assert body is not None
            proofs.receive_cosignature(self.store, body.decode(), self.witness_key.verifier())
            return b""
        raise AssertionError(url)

    witness_key = SignerKey.generate("witness.test/city-bureau")


def history(service: CaseService, cases: int = 6) -> list[tuple[UUID, str]]:
    made = []
    for n in range(cases):
        sub = service.handle(SubmitCase(actor=CLERK, item_code="XK-003", applicant=APPLICANT))
        service.handle(Accept(case_id=sub.case_id, actor=CLERK))
        if n % 2:
            service.handle(
                Review(
                    case_id=sub.case_id,
                    actor=REVIEWER,
                    stage_name="审查",
                    opinion="pass",
                    comment=f"ok {n}",
                )
            )
        made.append((sub.case_id, sub.case_no))
    return made


def stored_hashes(app: CasestoreApp) -> list[bytes]:
    return [row.event_hash for row in app.log.iter_log()]


def test_tree_and_checkpoint_match_the_rfc_root(app: CasestoreApp, service: CaseService) -> None:
    ledger = Ledger(app)
    history(service, 8)
    note = ledger.checkpoint()
    hashes = stored_hashes(app)
    body = f"{ORIGIN}\n{len(hashes)}\n{base64.b64encode(rfc_root(hashes)).decode()}\n"
    assert note.startswith(body + "\n\u2014 " + ORIGIN + " ")
    history(service, 6)  # the tree keeps growing batch by batch, from a fresh worker too
    ledger.tree = TreeWorker(ledger.store, batch=5)
    ledger.tree.catch_up()
    hashes = stored_hashes(app)
    assert ledger.store.head() == (len(hashes), rfc_root(hashes))
    for size in (1, 2, 7, 16, 17, 33, len(hashes)):
        for position in {1, size // 2 or 1, size}:
            path = proofs.inclusion(ledger.store, position, size)
            leaf = hashlib.sha256(b"\x00" + hashes[position - 1]).digest()
            assert root_from_inclusion(position - 1, size, leaf, path) == rfc_root(hashes[:size])
    assert verify_checkpoint(ledger.store, note, ledger.key.verifier()).ok


def test_case_proof_verifies_offline_and_every_tampered_field_is_named(
    app: CasestoreApp, service: CaseService
) -> None:
    ledger = Ledger(app)
    cases = history(service, 4)
    ledger.checkpoint()
    case_id, case_no = cases[1]
    doc = json.loads(json.dumps(proofs.case_proof(ledger.store, case_id, case_no)))
    vkey = ledger.key.verifier()
    assert [e["version"] for e in doc["events"]] == [1, 2, 3]
    assert verify_proof(doc, vkey, []) == []

    def fields(mutate: Any) -> list[str]:
        bad = copy.deepcopy(doc)
        mutate(bad)
        return [p.field for p in verify_proof(bad, vkey, [])]

    def flip_b64(text: str) -> str:
        raw = bytearray(base64.b64decode(text))
        raw[len(raw) // 2] ^= 1
        return base64.b64encode(bytes(raw)).decode()

    def set_event(n: int, key: str, value: Any) -> Any:
        return lambda d: d["events"][n].__setitem__(key, value)

    first = doc["events"][1]
    assert fields(set_event(1, "stored_b64", flip_b64(first["stored_b64"]))) == [
        "events[1].stored_b64"
    ]
    assert "events[1].event_hash" in fields(set_event(1, "event_hash", "00" * 32))
    path = list(first["inclusion"])
    path[0] = flip_b64(path[0])
    assert fields(set_event(1, "inclusion", path)) == ["events[1].inclusion"]
    size_line = f"\n{doc['checkpoint'].split(chr(10))[1]}\n"
    assert "checkpoint.signature" in fields(
        lambda d: d.__setitem__("checkpoint", d["checkpoint"].replace(size_line, "\n999\n", 1))
    )
    sig_at = doc["checkpoint"].rindex(" ") + 10
    note = doc["checkpoint"]
    flipped = note[:sig_at] + ("A" if note[sig_at] != "A" else "B") + note[sig_at + 1 :]
    assert fields(lambda d: d.__setitem__("checkpoint", flipped)) == ["checkpoint.signature"]
    assert fields(
        lambda d: d.__setitem__("checkpoint", note.replace(ORIGIN + "\n", "other.example/log\n", 1))
    ) == ["checkpoint.origin", "checkpoint.signature"]
    witness = SignerKey.generate("witness.test/none").verifier()
    assert [p.field for p in verify_proof(doc, vkey, [witness])] == ["checkpoint.cosignature"]


def superuser_rewrite(app: CasestoreApp, position: int) -> None:
    """Change one event's stored bytes and recompute every hash after it, triggers off."""
    rows = list(app.log.iter_log())
    heads: dict[UUID, bytes] = {}
    chain = GENESIS
    changed = []
    for row in rows:
        state = row.state
        if row.position == position:
            state = state.replace(b"ok 1", b"OK 9")
            assert state != row.state
        ev = event_hash(
            heads.get(row.originator_id, GENESIS),
            row.originator_id, row.version, row.topic, state, row.recorded_at_us,
        )  # fmt: skip
        heads[row.originator_id] = ev
        chain = chain_hash(chain, ev)
        if (state, ev, chain) != (row.state, row.event_hash, row.chain_hash):
            changed.append((state, ev, chain, row.position))
    if app.backend == "sqlite":
        with sqlite3.connect(urlsplit(app.db_url).path) as conn:
            conn.execute("DROP TRIGGER casestore_events_no_update")
            conn.executemany(
                "UPDATE casestore_events SET state = ?, event_hash = ?, chain_hash = ? "
                "WHERE notification_id = ?",
                changed,
            )
            conn.execute("DELETE FROM casestore_merkle_nodes")
            conn.execute("DELETE FROM casestore_merkle_head")
    else:
        with psycopg.connect(app.db_url, autocommit=True) as conn:
            conn.execute("SET session_replication_role = replica")  # triggers off
            conn.cursor().executemany(
                "UPDATE casestore_events SET state = %s, event_hash = %s, chain_hash = %s "
                "WHERE notification_id = %s",
                changed,
            )
            conn.execute("DELETE FROM casestore_merkle_nodes")
            conn.execute("DELETE FROM casestore_merkle_head")
    assert len(changed) > 1


def test_superuser_rewrite_is_caught_by_a_witness_and_old_proofs(
    app: CasestoreApp, service: CaseService, tmp_path: Path
) -> None:
    ledger = Ledger(app)
    cases = history(service, 4)
    ledger.checkpoint()
    state = tmp_path / "witness"
    vlog = ledger.key.verifier()
    first = witness_once("http://log", vlog, ledger.witness_key, state, http=ledger.http)
    assert first.status == "cosigned"
    cosigned = (state / STATE_FILE).read_text()
    case_id, case_no = cases[1]
    before = proofs.case_proof(ledger.store, case_id, case_no)
    wkey = ledger.witness_key.verifier()
    assert verify_proof(before, vlog, [wkey]) == []
    history(service, 2)
    ledger.checkpoint()
    assert witness_once("http://log", vlog, ledger.witness_key, state, http=ledger.http).status == (
        "cosigned"
    )

    # case 1's review (its 3rd event) says "ok 1": rewrite it and everything after it
    position = next(
        r.position for r in app.log.iter_log() if r.originator_id == case_id and r.version == 3
    )
    superuser_rewrite(app, position)
    fresh = CasestoreApp(app.db_url)
    assert verify_log(fresh).ok  # the hash chains alone cannot see it
    assert verify_log(fresh, independent=True).ok
    fresh.close()

    ledger.tree = TreeWorker(ledger.store)  # the superuser regrows the tree ...
    ledger.tree.catch_up()
    old_size = int(cosigned.split("\n")[1])
    rewritten = proofs.consistency(ledger.store, old_size, ledger.store.head()[0])
    assert rewritten  # ... and the log serves proofs over it, but they prove nothing:

    # the log must sign a new, bigger checkpoint; the witness refuses and keeps evidence
    history(service, 1)
    ledger.checkpoint()
    outcome = witness_once("http://log", vlog, ledger.witness_key, state, http=ledger.http)
    assert outcome.status == "inconsistent" and outcome.evidence is not None
    kept = sorted(p.name for p in outcome.evidence.iterdir())
    assert kept == ["consistency.json", "cosigned.checkpoint", "latest.checkpoint"]
    assert (
        "does not extend"
        in json.loads((outcome.evidence / "consistency.json").read_text())["reason"]
    )
    # auditors bound to the cosigned checkpoint see it too
    assert not verify_checkpoint(ledger.store, cosigned, vlog).ok

    # the proof issued before the rewrite still verifies against its cosigned checkpoint
    assert verify_proof(before, vlog, [wkey]) == []
    # the same proof built now does not match that checkpoint
    after = proofs.case_proof(ledger.store, case_id, case_no)
    after["checkpoint"] = before["checkpoint"]
    after["events"] = [e for e in after["events"] if e["position"] <= old_size]
    problems = verify_proof(after, vlog, [wkey])
    assert [p.field for p in problems] == [f"events[{n}].inclusion" for n in range(3)]


def test_witness_keeps_evidence_of_a_shrunken_tree(
    app: CasestoreApp, service: CaseService, tmp_path: Path
) -> None:
    ledger = Ledger(app)
    history(service, 2)
    ledger.checkpoint()
    state = tmp_path / "w"
    vlog = ledger.key.verifier()
    assert witness_once("http://x", vlog, ledger.witness_key, state, http=ledger.http).status == (
        "cosigned"
    )
    assert witness_once("http://x", vlog, ledger.witness_key, state, http=ledger.http).status == (
        "unchanged"
    )
    forged = ledger.key.sign(f"{ORIGIN}\n1\n{base64.b64encode(bytes(32)).decode()}\n")

    def shrunk(method: str, url: str, body: bytes | None) -> bytes:
        return (
            forged.encode() if url.endswith("/log/checkpoint") else ledger.http(method, url, body)
        )

    outcome = witness_once("http://x", vlog, ledger.witness_key, state, http=shrunk)
    assert outcome.status == "inconsistent" and "shrank" in outcome.message


def test_checkpoints_are_append_only_in_the_database(
    app: CasestoreApp, service: CaseService
) -> None:
    """Both tables the README calls append-only by trigger, as their owner (who holds every
    right): UPDATE and DELETE on both backends, TRUNCATE too on PostgreSQL."""
    ledger = Ledger(app)
    history(service, 1)
    ledger.checkpoint()
    size = int(ledger.checkpoint().split("\n")[1])
    assert ledger.store.add_cosignature(size, "witness.example/w1", "— witness.example/w1 AAAA")
    refused = [
        "UPDATE casestore_checkpoints SET note = 'x'",
        "DELETE FROM casestore_checkpoints",
        "UPDATE casestore_cosignatures SET line = 'x'",
        "DELETE FROM casestore_cosignatures",
    ]
    if app.db_url.startswith("postgres"):
        refused += ["TRUNCATE casestore_checkpoints", "TRUNCATE casestore_cosignatures"]
    for statement in refused:
        with ledger.store.connection() as conn, pytest.raises(Exception, match="append-only"):
            conn.execute(statement)
    assert ledger.store.latest_checkpoint() is not None
    assert ledger.store.cosignature_lines(size) == ["— witness.example/w1 AAAA"]


@pytest.mark.pg
def test_the_app_role_grows_and_signs_but_cannot_rewrite_checkpoints(pg_db_url: str) -> None:
    from uuid import uuid4

    from casestore.store.roles import grant_app_role
    from tests.conftest import ADMIN, CATALOGUE, FakeClock

    CasestoreApp(pg_db_url).close()  # the owner creates the schema
    role = f"casestore_app_{uuid4().hex[:8]}"
    grant_app_role(pg_db_url, role)
    parts = urlsplit(pg_db_url)
    app_url = parts._replace(netloc=f"{role}@{parts.hostname}:{parts.port}").geturl()
    app = CasestoreApp(app_url)
    service = CaseService(app, clock=FakeClock())
    service.load_catalogue(CATALOGUE, ADMIN)
    history(service, 2)
    ledger = Ledger(app)
    assert ledger.checkpoint().split("\n")[1] == str(app.log.head()[0])
    refused = (
        "UPDATE casestore_checkpoints SET note = 'x'",
        "DELETE FROM casestore_cosignatures",
        "TRUNCATE casestore_checkpoints",
    )
    for statement in refused:
        with (
            psycopg.connect(app_url, autocommit=True) as conn,
            pytest.raises(psycopg.errors.InsufficientPrivilege),
        ):
            conn.execute(statement)  # type: ignore[arg-type]
    ledger.store.close()
    app.close()
    with psycopg.connect(pg_db_url, autocommit=True) as conn:
        conn.execute(f"DROP OWNED BY {role}")  # type: ignore[arg-type]
        conn.execute(f"DROP ROLE {role}")  # type: ignore[arg-type]
