"""``casestore verify --checkpoint``: the log's first N events are exactly the signed tree.

The root is recomputed from the events table itself (each stored ``event_hash`` in
position order), not from the stored tree nodes, so neither a rewritten tree nor a
rewritten event with recomputed hashes after it can pass: ``casestore verify`` shows
each stored hash follows from its content, this shows those hashes are the signed ones.
"""

from __future__ import annotations

from dataclasses import dataclass

from casestore.ledger.merkle import Frontier
from casestore.ledger.store import LedgerStore
from casestore.ledger.verify_proof import Checkpoint, VerifierKey, signed_by, split_note


@dataclass(frozen=True)
class CheckpointCheck:
    ok: bool
    size: int
    message: str


def verify_checkpoint(store: LedgerStore, note: str, key: VerifierKey) -> CheckpointCheck:
    """Whether the log prefix of the checkpoint's size has the signed root."""
    try:
        checkpoint = Checkpoint.parse(split_note(note)[0])
    except ValueError as e:
        return CheckpointCheck(False, 0, f"not a checkpoint note: {e}")
    if checkpoint.origin != key.name or not signed_by(note, key):
        return CheckpointCheck(
            False, checkpoint.size, f"the checkpoint carries no valid signature by {key.name}"
        )
    frontier, after = Frontier(), 0
    while frontier.size < checkpoint.size:
        rows = store.event_hashes(after, min(10_000, checkpoint.size - frontier.size))
        if not rows:
            break
        for position, event_hash in rows:
            if position != frontier.size + 1:
                return CheckpointCheck(
                    False, checkpoint.size, f"position {frontier.size + 1} is missing from the log"
                )
            frontier.append(event_hash)
        after = rows[-1][0]
    if frontier.size < checkpoint.size:
        return CheckpointCheck(
            False,
            checkpoint.size,
            f"the log has {frontier.size} events, fewer than the {checkpoint.size} signed",
        )
    if frontier.root() != checkpoint.root:
        return CheckpointCheck(
            False,
            checkpoint.size,
            f"the first {checkpoint.size} events do not have the signed root hash: "
            "the log was changed after it was signed",
        )
    return CheckpointCheck(
        True, checkpoint.size, f"the first {checkpoint.size} events are the signed tree"
    )
