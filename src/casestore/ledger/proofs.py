"""Proofs served by the log: inclusion, consistency, checkpoints with cosignatures, case proofs.

A case proof (``casestore-proof/v1``, SPEC §9 and ``docs/proofs.md``) is built against the
latest signed checkpoint: it lists the case's events that checkpoint covers (an event
appended since is covered by the next one, within the signing cadence), each with its
stored bytes and inclusion path, so it can be checked offline with
:mod:`casestore.ledger.verify_proof` and the log's verifier key alone.
"""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from casestore.domain.errors import InvalidCommand, NotFound, RuleViolation
from casestore.ledger.merkle import (
    consistency_proof,
    inclusion_proof,
    inclusion_proofs,
)
from casestore.ledger.notes import split_note
from casestore.ledger.store import LedgerStore, StoredCheckpoint
from casestore.ledger.verify_proof import FORMAT, GENESIS, Checkpoint, VerifierKey, cosigned_by

#: How far ahead of the log's clock a cosignature's time may be (clock skew between hosts).
COSIGNATURE_SKEW_SECONDS = 600

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def b64(items: list[bytes]) -> list[str]:
    return [base64.b64encode(h).decode() for h in items]


def recorded_at_text(micros: int) -> str:
    """``YYYY-MM-DDTHH:MM:SS.ffffffZ``: the exact microsecond the event hash covers."""
    return (_EPOCH + timedelta(microseconds=micros)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def inclusion(store: LedgerStore, position: int, size: int) -> list[bytes]:
    """The inclusion path of the event at ``position`` in the tree of ``size`` leaves."""
    if not 1 <= position <= size:
        raise InvalidCommand("position must be 1..size")
    try:
        return inclusion_proof(position - 1, size, store.read_nodes)
    except LookupError:
        raise NotFound(f"the tree has not grown to {size} leaves yet") from None


def consistency(store: LedgerStore, first: int, second: int) -> list[bytes]:
    """The proof that the tree of ``first`` leaves is a prefix of the tree of ``second``."""
    if not 0 <= first <= second:
        raise InvalidCommand("from must be 0..to")
    if second > store.head()[0]:
        raise NotFound(f"the tree has not grown to {second} leaves yet")
    return consistency_proof(first, second, store.read_nodes)


def served_note(store: LedgerStore, checkpoint: StoredCheckpoint) -> str:
    """The checkpoint note with every witness cosignature received for it."""
    return checkpoint.note + "".join(store.cosignature_lines(checkpoint.tree_size))


def latest_note(store: LedgerStore) -> str:
    checkpoint = store.latest_checkpoint()
    if checkpoint is None:
        raise NotFound("no checkpoint has been signed yet (is CASESTORE_SIGNING_KEY set?)")
    return served_note(store, checkpoint)


def receive_cosignature(
    store: LedgerStore, note: str, witness: VerifierKey, *, now: float | None = None
) -> int:
    """Keep a witness's cosignature of one of our checkpoints; the tree size it covers.

    The posted note must be one of ours, byte for byte in its body, and carry a valid
    cosignature by ``witness`` (a key the bureau lists as its witnesses'): a C2SP
    ``cosignature/v1`` line whose time is not more than ``COSIGNATURE_SKEW_SECONDS``
    ahead of our clock, or, for a witness listed with a type 0x01 key, a plain
    signed-note line (what witnesses posted before ``cosignature/v1``; an older witness
    program still running elsewhere keeps working).
    """
    try:
        body, _ = split_note(note)
        size = Checkpoint.parse(body).size
    except ValueError:
        raise InvalidCommand("the body is not a signed checkpoint note") from None
    if size > 2**62:
        raise InvalidCommand("the tree size is out of range")
    ours = store.checkpoint(size)
    if ours is None or split_note(ours.note)[0] != body:
        raise RuleViolation(f"the log signed no such checkpoint at tree size {size}")
    found = cosigned_by(note, witness)
    if found is None:
        raise InvalidCommand(f"the note carries no valid cosignature by {witness.name}")
    clock = time.time() if now is None else now
    if found.timestamp is not None and found.timestamp > clock + COSIGNATURE_SKEW_SECONDS:
        raise RuleViolation(
            f"the cosignature by {witness.name} is dated {found.timestamp}, "
            f"more than {COSIGNATURE_SKEW_SECONDS} s ahead of this log's clock"
        )
    store.add_cosignature(size, f"{witness.name}+{found.raw[:4].hex()}", found.line())
    return size


def case_proof(store: LedgerStore, case_id: UUID, case_no: str) -> dict[str, Any]:
    """The ``casestore-proof/v1`` document of one case against the latest checkpoint."""
    checkpoint, cosignatures, rows = store.case_at_latest(str(case_id))
    if checkpoint is None:
        raise NotFound("no checkpoint has been signed yet: a case proof needs one")
    size = checkpoint.tree_size
    if not rows:
        raise RuleViolation(
            "the latest checkpoint does not cover this case yet; try again after the next one"
        )
    paths = inclusion_proofs([row.position - 1 for row in rows], size, store.read_nodes)
    events, prev = [], GENESIS
    for row, path in zip(rows, paths, strict=True):
        events.append(
            {
                "position": row.position,
                "leaf_index": row.position - 1,
                "version": row.version,
                "type": row.topic,
                "recorded_at": recorded_at_text(row.recorded_at_us),
                "stored_b64": base64.b64encode(row.state).decode(),
                "event_hash": row.event_hash.hex(),
                "prev_case_hash": prev.hex(),
                "inclusion": b64(path),
            }
        )
        prev = row.event_hash
    return {
        "format": FORMAT,
        "checkpoint": checkpoint.note + cosignatures,
        "case_id": str(case_id),
        "case_no": case_no,
        "events": events,
    }
