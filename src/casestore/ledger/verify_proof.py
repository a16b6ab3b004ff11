"""Check a casestore case proof (``casestore-proof/v1``) offline, trusting nothing of casestore.

(Over 400 lines on purpose: the whole check is one file an expert can copy out and read.)

Written to be read by an outside expert (for example one appointed by a court): this one
file depends only on Python's standard library and the ``cryptography`` package, imports
nothing of casestore, and can be copied out and run on its own::

    python verify_proof.py PROOF.json --key 'casestore.local/log+1a2b3c4d+AX...' \\
        [--witness 'city-bureau+5e6f7a8b+AY...']...

It prints one line per problem found, naming the field of the file that is wrong, and
exits 0 when the proof holds, 1 when it does not, 2 when the command line is wrong.
``docs/proofs.md`` describes the file format and every check in words.

What is checked, and which published standard each step follows:

1. The ``checkpoint`` is a signed note (C2SP ``signed-note``, the format of Go's
   ``golang.org/x/mod/sumdb/note``) whose body is a C2SP ``tlog-checkpoint``: origin,
   tree size, root hash. It must carry a valid Ed25519 signature by the log's key
   (``--key``), and its origin must be the log key's name.
1a. Every witness key given (``--witness``) must have cosigned it (C2SP
   ``tlog-cosignature``, ``cosignature/v1``): an Ed25519 signature over
   ``"cosignature/v1\ntime " + T + "\n" + checkpoint body``, the line carrying the 8-byte
   big-endian time T before the 64-byte signature, its key ID derived with type 0x04.
   A witness key written with type 0x01 (the plain signed-note form) also accepts a
   plain signed-note signature line by that key: cosignatures made before casestore
   adopted ``cosignature/v1`` carry no time, and stay valid forever.
2. Each event's hash is recomputed from the stored bytes and the event's identity
   (case id, version, ``recorded_at``, type), chained to the previous event of the case.
3. Each event's leaf hash, ``SHA-256(0x00 || event_hash)``, is carried up its inclusion
   path (RFC 9162 section 2.1.3.2) and must arrive at the checkpoint's root hash.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import re
import struct
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

FORMAT = "casestore-proof/v1"
ED25519 = 0x01  # the signed-note algorithm byte for Ed25519
COSIGNATURE_V1 = 0x04  # the signed-note algorithm byte of a C2SP timestamped cosignature
COSIGNATURE_HEADER = "cosignature/v1"
MAX_TIMESTAMP = 2**63 - 1  # C2SP tlog-cosignature: a timestamp MUST NOT exceed 2^63 - 1
GENESIS = bytes(32)  # the "previous hash" of a case's first event
#: An event's hashed identity: case id (16 bytes), version, recorded_at in microseconds
#: since 1970-01-01 UTC, length of the type text; all big-endian.
EVENT_LAYOUT = struct.Struct(">16sqqI")
_RECORDED_AT = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{6})Z$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# --- RFC 9162 section 2.1: the Merkle tree hashes -------------------------------------


def leaf_hash(data: bytes) -> bytes:
    """RFC 9162 2.1.1: the hash of a leaf is SHA-256(0x00 || data)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 2.1.1: an interior node is SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_inclusion(index: int, size: int, leaf: bytes, path: list[bytes]) -> bytes | None:
    """RFC 9162 2.1.3.2: the root an inclusion path leads to, or None if it cannot fit."""
    if index < 0 or index >= size:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return None  # the path is longer than the tree is deep
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return r if sn == 0 else None


# --- C2SP signed-note and tlog-checkpoint ---------------------------------------------


@dataclass(frozen=True)
class VerifierKey:
    """A signed-note verifier key: ``NAME+KEYID+BASE64(TYPE || Ed25519 public key)``.

    TYPE 0x01 is a plain Ed25519 note signer (the log's key); TYPE 0x04 a C2SP
    ``cosignature/v1`` cosigner (a witness's key). The KEYID is derived with the TYPE.
    """

    name: str
    key_id: bytes  # 4 bytes
    public: Ed25519PublicKey
    alg: int = ED25519

    @property
    def public_bytes(self) -> bytes:
        return self.public.public_bytes_raw()

    @property
    def cosignature_key_id(self) -> bytes:
        """The key ID a ``cosignature/v1`` line by this public key carries."""
        return note_key_id(self.name, self.public_bytes, COSIGNATURE_V1)

    @classmethod
    def parse(cls, text: str) -> VerifierKey:
        parts = text.strip().split("+", 2)
        if len(parts) != 3 or not parts[0] or re.fullmatch(r"[0-9a-f]{8}", parts[1]) is None:
            raise ValueError("a verifier key is NAME+KEYID+BASE64")
        try:
            raw = base64.b64decode(parts[2], validate=True)
        except binascii.Error:
            raise ValueError("the verifier key's last part is not base64") from None
        if len(raw) != 33 or raw[0] not in (ED25519, COSIGNATURE_V1):
            raise ValueError("the verifier key is not an Ed25519 key (0x01 or 0x04, then 32 bytes)")
        key_id = bytes.fromhex(parts[1])
        if key_id != note_key_id(parts[0], raw[1:], raw[0]):
            raise ValueError("the verifier key's KEYID does not match its name and key")
        return cls(parts[0], key_id, Ed25519PublicKey.from_public_bytes(raw[1:]), raw[0])


def note_key_id(name: str, public: bytes, alg: int = ED25519) -> bytes:
    """The first 4 bytes of SHA-256(name || "\\n" || alg || public key)."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + public).digest()[:4]


def split_note(text: str) -> tuple[str, list[tuple[str, bytes]]]:
    """(body, [(signer name, key id + signature)]) of a signed note.

    The body is everything up to and including the last newline before the blank line;
    each signature line is ``— NAME BASE64`` (an em dash, U+2014).
    """
    cut = text.rfind("\n\n")
    if cut < 0 or not text.endswith("\n"):
        raise ValueError("a signed note is a body, a blank line and signature lines")
    body, lines = text[: cut + 1], text[cut + 2 : -1].split("\n")
    signatures = []
    for line in lines:
        match = re.fullmatch(r"\u2014 (\S+) ([A-Za-z0-9+/=]+)", line)
        if match is None:
            raise ValueError(f"malformed signature line {line!r}")
        raw = base64.b64decode(match.group(2))
        if len(raw) < 5:
            raise ValueError(f"signature line {line!r} is too short")
        signatures.append((match.group(1), raw))
    return body, signatures


def signed_by(text: str, key: VerifierKey) -> bool:
    """Whether the note carries a valid plain signature by ``key`` over its body."""
    body, signatures = split_note(text)
    plain_id = note_key_id(key.name, key.public_bytes, ED25519)
    for name, raw in signatures:
        if name == key.name and raw[:4] == plain_id:
            try:
                key.public.verify(raw[4:], body.encode())
                return True
            except InvalidSignature:
                return False
    return False


def cosignature_message(body: str, timestamp: int) -> bytes:
    """C2SP tlog-cosignature: what a ``cosignature/v1`` signs, for a checkpoint body."""
    return f"{COSIGNATURE_HEADER}\ntime {timestamp}\n{body}".encode()


@dataclass(frozen=True)
class Cosignature:
    """A valid witness cosignature on a note: its signature bytes (key ID first) and
    its time (None for a plain, untimed signed-note cosignature)."""

    witness: str
    raw: bytes
    timestamp: int | None

    def line(self) -> str:
        return f"\u2014 {self.witness} {base64.b64encode(self.raw).decode()}\n"


def cosigned_by(text: str, key: VerifierKey) -> Cosignature | None:
    """The note's valid cosignature by the witness ``key``, or None.

    A ``cosignature/v1`` line is ``KEYID(0x04) || u64 time (big-endian) || signature``
    over :func:`cosignature_message`. A key written with type 0x01 also accepts a plain
    signed-note signature line (the untimed cosignatures made before ``cosignature/v1``);
    a ``cosignature/v1`` line is preferred when the note carries both.
    """
    body, signatures = split_note(text)
    v1_id, plain_id = key.cosignature_key_id, note_key_id(key.name, key.public_bytes)
    plain = None
    for name, raw in signatures:
        if name != key.name:
            continue
        if raw[:4] == v1_id and len(raw) == 4 + 8 + 64:
            timestamp = int.from_bytes(raw[4:12], "big")
            message = cosignature_message(body, timestamp)
            if timestamp <= MAX_TIMESTAMP and _valid(key, raw[12:], message):
                return Cosignature(name, raw, timestamp)
        elif raw[:4] == plain_id and key.alg == ED25519 and plain is None:
            plain = Cosignature(name, raw, None) if _valid(key, raw[4:], body.encode()) else None
    return plain


def _valid(key: VerifierKey, signature: bytes, message: bytes) -> bool:
    try:
        key.public.verify(signature, message)
        return True
    except InvalidSignature:
        return False


@dataclass(frozen=True)
class Checkpoint:
    """A C2SP tlog-checkpoint body: origin, tree size, root hash, extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    @classmethod
    def parse(cls, body: str) -> Checkpoint:
        lines = body.split("\n")
        if len(lines) < 4 or lines[-1] != "" or not lines[0]:
            raise ValueError("a checkpoint body is origin, size and root hash lines")
        if re.fullmatch(r"0|[1-9][0-9]{0,19}", lines[1]) is None:
            raise ValueError(f"tree size {lines[1]!r} is not a decimal number")
        try:
            root = base64.b64decode(lines[2], validate=True)
        except binascii.Error:
            raise ValueError("the root hash is not base64") from None
        if len(root) != 32:
            raise ValueError("the root hash is not 32 bytes")
        return cls(lines[0], int(lines[1]), root, tuple(lines[3:-1]))


# --- casestore events -----------------------------------------------------------------


def recorded_at_micros(text: str) -> int:
    """``YYYY-MM-DDTHH:MM:SS.ffffffZ`` as whole microseconds since 1970-01-01 UTC."""
    match = _RECORDED_AT.fullmatch(text)
    if match is None:
        raise ValueError(f"recorded_at {text!r} is not YYYY-MM-DDTHH:MM:SS.ffffffZ")
    y, mo, d, h, mi, s, us = (int(g) for g in match.groups())
    whole = datetime(y, mo, d, h, mi, s, tzinfo=UTC) - _EPOCH
    return whole // timedelta(microseconds=1) + us


def event_hash(
    prev: bytes, case_id: bytes, version: int, recorded_at_us: int, topic: str, stored: bytes
) -> bytes:
    """SHA-256(prev || case id || version || recorded_at µs || len(type) || type || stored)."""
    topic_bytes = topic.encode()
    head = EVENT_LAYOUT.pack(case_id, version, recorded_at_us, len(topic_bytes))
    return hashlib.sha256(prev + head + topic_bytes + stored).digest()


# --- the proof file -------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a proof file, naming the field where it shows."""

    field: str
    message: str

    def line(self) -> str:
        return f"{self.field}: {self.message}"


def verify_proof(doc: Any, log_key: VerifierKey, witnesses: list[VerifierKey]) -> list[Problem]:
    """Every problem with a parsed ``casestore-proof/v1`` document (empty: it holds)."""
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        return [Problem("format", f"not a {FORMAT} document")]
    problems: list[Problem] = []
    checkpoint = _check_checkpoint(doc.get("checkpoint"), log_key, witnesses, problems)
    try:
        case_id = _uuid_bytes(doc.get("case_id"))
    except ValueError as e:
        return [*problems, Problem("case_id", str(e))]
    events = doc.get("events")
    if not isinstance(events, list) or not events:
        return [*problems, Problem("events", "no events")]
    prev, version = GENESIS, 0
    for n, event in enumerate(events):
        where = f"events[{n}]"
        if not isinstance(event, dict):
            problems.append(Problem(where, "not an object"))
            continue
        try:
            prev, version = _check_event(where, event, case_id, prev, version, checkpoint, problems)
        except (ValueError, TypeError, KeyError, binascii.Error) as e:
            problems.append(Problem(where, f"unreadable: {e}"))
            return problems
    return problems


def _check_checkpoint(
    text: Any, log_key: VerifierKey, witnesses: list[VerifierKey], problems: list[Problem]
) -> Checkpoint | None:
    if not isinstance(text, str):
        problems.append(Problem("checkpoint", "missing"))
        return None
    try:
        body, _ = split_note(text)
        checkpoint = Checkpoint.parse(body)
    except ValueError as e:
        problems.append(Problem("checkpoint", str(e)))
        return None
    if checkpoint.origin != log_key.name:
        problems.append(
            Problem("checkpoint.origin", f"{checkpoint.origin!r} is not the log {log_key.name!r}")
        )
    if not signed_by(text, log_key):
        problems.append(
            Problem(
                "checkpoint.signature",
                f"no valid signature by the log key {log_key.name}: the origin, tree size or "
                "root hash, or the signature itself, is not what the log signed",
            )
        )
    for witness in witnesses:
        if cosigned_by(text, witness) is None:
            problems.append(
                Problem("checkpoint.cosignature", f"no valid cosignature by witness {witness.name}")
            )
    return checkpoint


def _check_event(
    where: str,
    event: dict[str, Any],
    case_id: bytes,
    prev: bytes,
    last_version: int,
    checkpoint: Checkpoint | None,
    problems: list[Problem],
) -> tuple[bytes, int]:
    version = int(event["version"])
    if version != last_version + 1:
        problems.append(Problem(f"{where}.version", f"{version} does not follow {last_version}"))
    stated_prev = bytes.fromhex(event["prev_case_hash"])
    if stated_prev != prev:
        problems.append(
            Problem(f"{where}.prev_case_hash", "is not the previous event's hash in this case")
        )
    stated = bytes.fromhex(event["event_hash"])
    stored = base64.b64decode(event["stored_b64"], validate=True)
    micros = recorded_at_micros(event["recorded_at"])
    computed = event_hash(stated_prev, case_id, version, micros, event["type"], stored)
    index, position = int(event["leaf_index"]), int(event["position"])
    if index != position - 1:
        problems.append(Problem(f"{where}.leaf_index", "is not position - 1"))
    path = [base64.b64decode(p, validate=True) for p in event["inclusion"]]
    reaches: dict[bytes, bool] = {}
    if checkpoint is not None:
        for candidate in (stated, computed):
            root = root_from_inclusion(index, checkpoint.size, leaf_hash(candidate), path)
            reaches[candidate] = root == checkpoint.root
    if computed != stated:
        # Which side is genuine? The one whose leaf the signed tree contains.
        if reaches.get(stated):
            problems.append(
                Problem(
                    f"{where}.stored_b64",
                    "the stored bytes (with version, type, recorded_at) do not hash to "
                    "event_hash, which the signed tree does contain",
                )
            )
        else:
            problems.append(
                Problem(f"{where}.event_hash", "does not match the hash of the stored bytes")
            )
    elif checkpoint is not None and not reaches.get(stated):
        problems.append(
            Problem(
                f"{where}.inclusion",
                f"the path does not lead from this event's leaf to the checkpoint's root "
                f"(tree size {checkpoint.size})",
            )
        )
    return stated, version


def _uuid_bytes(text: Any) -> bytes:
    if not isinstance(text, str):
        raise ValueError("missing")
    digits = text.replace("-", "")
    if re.fullmatch(r"[0-9a-f]{32}", digits) is None:
        raise ValueError(f"{text!r} is not a UUID")
    return bytes.fromhex(digits)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Verify a casestore-proof/v1 file offline.")
    parser.add_argument("file")
    parser.add_argument("--key", required=True, help="the log's verifier key NAME+KEYID+BASE64")
    parser.add_argument("--witness", action="append", default=[], help="a witness's key")
    args = parser.parse_args(argv)
    try:
        log_key = VerifierKey.parse(args.key)
        witnesses = [VerifierKey.parse(w) for w in args.witness]
    except ValueError as e:
        print(f"bad key: {e}", file=sys.stderr)
        return 2
    if log_key.alg != ED25519:
        print("bad key: --key is the log's signed-note key (type 0x01)", file=sys.stderr)
        return 2
    try:
        with open(args.file, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        print(f"cannot read {args.file}: {e}", file=sys.stderr)
        return 1
    problems = verify_proof(doc, log_key, witnesses)
    for problem in problems:
        print(problem.line())
    if problems:
        print(f"INVALID: {len(problems)} problem(s)")
        return 1
    body, _ = split_note(doc["checkpoint"])
    checkpoint = Checkpoint.parse(body)
    print(
        f"VALID: {len(doc['events'])} event(s) of case {doc.get('case_no') or doc['case_id']} "
        f"are in the log {checkpoint.origin} at tree size {checkpoint.size}, signed by "
        f"{log_key.name}" + "".join(_cosigned_text(doc["checkpoint"], w) for w in witnesses)
    )
    return 0


def _cosigned_text(note: str, witness: VerifierKey) -> str:
    found = cosigned_by(note, witness)
    if found is None or found.timestamp is None:
        return f", cosigned by {witness.name} (plain signed-note cosignature, no time)"
    try:
        when = (_EPOCH + timedelta(seconds=found.timestamp)).strftime("%Y-%m-%dT%H:%M:%SZ")
    except OverflowError:  # a valid signature on a time past the year 9999
        when = f"time {found.timestamp}"
    return f", cosigned by {witness.name} at {when} (cosignature/v1)"


if __name__ == "__main__":
    sys.exit(main())
