"""A witness: cosigns the log's checkpoints only while each extends the last one it cosigned.

Run by a supervising body on its own machine (``casestore witness --url URL --log-key VKEY
--key SKEY --state DIR``). Each run fetches the latest checkpoint, checks the log's
signature, and, if it cosigned before, fetches and checks a consistency proof from that
checkpoint (RFC 9162 §2.1.4.2). Only then does it add its own C2SP ``cosignature/v1``
line (timestamped: "as of this time, this is the largest consistent tree I have seen")
and post the note back (``POST /log/cosignatures``). When the log is not an extension of what the
witness saw (a rewrite, a fork, a shrunken tree), it cosigns nothing, keeps both
checkpoints and the failed proof under ``DIR/evidence-<time>/`` and reports it.

The state is one file, ``DIR/cosigned.checkpoint``: the last note this witness cosigned.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from casestore.ledger.merkle import verify_consistency
from casestore.ledger.notes import SignerKey, add_cosignature
from casestore.ledger.verify_proof import Checkpoint, VerifierKey, signed_by, split_note

STATE_FILE = "cosigned.checkpoint"
Http = Callable[[str, str, bytes | None], bytes]  # (method, url, body) -> response body


class WitnessError(Exception):
    """The log could not be reached or answered something unreadable (exit 3)."""


@dataclass(frozen=True)
class Outcome:
    """What one witness run did: ``cosigned``, ``unchanged`` or ``inconsistent``."""

    status: str
    size: int
    message: str
    evidence: Path | None = None


def urllib_http(method: str, url: str, body: bytes | None) -> bytes:
    request = urllib.request.Request(url, data=body, method=method)
    if body is not None:
        request.add_header("Content-Type", "text/plain; charset=utf-8")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return bytes(response.read())
    except urllib.error.HTTPError as e:
        detail = e.read().decode(errors="replace")[:500]
        raise WitnessError(f"{method} {url}: HTTP {e.code} {detail}") from None
    except (urllib.error.URLError, OSError) as e:
        raise WitnessError(f"{method} {url}: {e}") from None


def witness_once(
    url: str,
    log_key: VerifierKey,
    key: SignerKey,
    state: Path,
    *,
    http: Http = urllib_http,
    clock: Callable[[], float] = time.time,
) -> Outcome:
    """One round: fetch, check, cosign and post, or keep evidence of a rewrite."""
    base = url.rstrip("/")
    state.mkdir(parents=True, exist_ok=True)
    note = http("GET", f"{base}/log/checkpoint", None).decode()
    latest = _checked(note, log_key)
    previous_path = state / STATE_FILE
    if previous_path.exists():
        previous_note = previous_path.read_text(encoding="utf-8")
        previous = Checkpoint.parse(split_note(previous_note)[0])
        reason, proof = _extends(base, previous, latest, http)
        if reason:
            evidence = _keep_evidence(state, previous_note, note, previous, latest, proof, reason)
            return Outcome("inconsistent", latest.size, reason, evidence)
        if latest.size == previous.size:
            return Outcome("unchanged", latest.size, "already cosigned this tree size")
    cosigned = add_cosignature(_log_signed_only(note, log_key), key, int(clock()))
    http("POST", f"{base}/log/cosignatures", cosigned.encode())
    tmp = previous_path.with_suffix(".tmp")
    tmp.write_text(cosigned, encoding="utf-8")
    os.replace(tmp, previous_path)
    return Outcome("cosigned", latest.size, f"cosigned tree size {latest.size}")


def _checked(note: str, log_key: VerifierKey) -> Checkpoint:
    try:
        checkpoint = Checkpoint.parse(split_note(note)[0])
    except ValueError as e:
        raise WitnessError(f"the log served no readable checkpoint: {e}") from None
    if checkpoint.origin != log_key.name or not signed_by(note, log_key):
        raise WitnessError(f"the checkpoint is not signed by the log key {log_key.name}")
    return checkpoint


def _log_signed_only(note: str, log_key: VerifierKey) -> str:
    """The note with only the log's own signature line (others' cosignatures dropped)."""
    body, _ = split_note(note)
    lines = note[len(body) + 1 :].splitlines(keepends=True)
    own = [ln for ln in lines if ln.startswith(f"\u2014 {log_key.name} ")]
    return body + "\n" + "".join(own)


def _extends(
    base: str, previous: Checkpoint, latest: Checkpoint, http: Http
) -> tuple[str, list[str]]:
    """('', proof) when ``latest`` extends ``previous``; else (why not, the proof given)."""
    if latest.size < previous.size:
        return (f"the tree shrank from {previous.size} to {latest.size} leaves", [])
    if latest.size == previous.size:
        if latest.root != previous.root:
            return (f"two different roots for tree size {latest.size}", [])
        return ("", [])
    query = urllib.parse.urlencode({"from": previous.size, "to": latest.size})
    body = http("GET", f"{base}/log/consistency?{query}", None)
    try:
        proof_text = list(json.loads(body)["proof"])
        proof = [base64.b64decode(p, validate=True) for p in proof_text]
    except (ValueError, KeyError, TypeError, binascii.Error) as e:
        raise WitnessError(f"the log served no readable consistency proof: {e}") from None
    if not verify_consistency(previous.size, latest.size, previous.root, latest.root, proof):
        return (
            f"the tree of {latest.size} leaves does not extend the tree of {previous.size} "
            "leaves this witness cosigned: the consistency proof fails (log rewritten?)",
            proof_text,
        )
    return ("", proof_text)


def _keep_evidence(
    state: Path,
    previous_note: str,
    latest_note: str,
    previous: Checkpoint,
    latest: Checkpoint,
    proof: list[str],
    reason: str,
) -> Path:
    folder = state / time.strftime("evidence-%Y%m%dT%H%M%SZ", time.gmtime())
    n = 1
    while folder.exists():
        folder = folder.with_name(f"{folder.name.split('.')[0]}.{n}")
        n += 1
    folder.mkdir(parents=True)
    (folder / "cosigned.checkpoint").write_text(previous_note, encoding="utf-8")
    (folder / "latest.checkpoint").write_text(latest_note, encoding="utf-8")
    record = {"from": previous.size, "to": latest.size, "proof": proof, "reason": reason}
    (folder / "consistency.json").write_text(json.dumps(record, indent=1), encoding="utf-8")
    return folder
