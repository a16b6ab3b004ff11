"""Signed notes (C2SP ``signed-note``) and checkpoints (C2SP ``tlog-checkpoint``) with Ed25519.

Keys are written as Go's ``golang.org/x/mod/sumdb/note`` writes them: a verifier key
``NAME+KEYID+BASE64(0x01 ‖ public key)`` and a private key
``PRIVATE+KEY+NAME+KEYID+BASE64(0x01 ‖ seed)``. A checkpoint note is the body
(origin, tree size, base64 root, extension lines), a blank line, then one line per
signature ``— NAME BASE64(KEYID ‖ signature)``. A witness cosigns by adding its line in
the C2SP ``tlog-cosignature`` ``cosignature/v1`` form: ``— NAME BASE64(KEYID ‖ time ‖
signature)`` where KEYID is derived with type 0x04, time is 8 bytes big-endian (POSIX
seconds) and the signature covers ``"cosignature/v1\ntime T\n" + body``; a witness's
verifier key is written ``NAME+KEYID+BASE64(0x04 ‖ public key)``
(:meth:`SignerKey.cosigner_text`). Parsing and verification are shared with the
stand-alone verifier.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from casestore.ledger.verify_proof import (
    COSIGNATURE_V1,
    ED25519,
    MAX_TIMESTAMP,
    Checkpoint,
    VerifierKey,
    cosignature_message,
    note_key_id,
    signed_by,
    split_note,
)

__all__ = [
    "Checkpoint",
    "SignerKey",
    "VerifierKey",
    "add_cosignature",
    "add_signature",
    "checkpoint_body",
    "signature_lines",
    "signed_by",
    "split_note",
]

_NAME = re.compile(r"^[^\s+\u2014]{1,200}$")


@dataclass(frozen=True)
class SignerKey:
    """An Ed25519 signing key with its note name."""

    name: str
    private: Ed25519PrivateKey

    @classmethod
    def generate(cls, name: str) -> SignerKey:
        _check_name(name)
        return cls(name, Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, name: str, seed: bytes) -> SignerKey:
        _check_name(name)
        return cls(name, Ed25519PrivateKey.from_private_bytes(seed))

    @classmethod
    def parse(cls, text: str) -> SignerKey:
        parts = text.strip().split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise ValueError("a private key is PRIVATE+KEY+NAME+KEYID+BASE64")
        try:
            raw = base64.b64decode(parts[4], validate=True)
        except binascii.Error:
            raise ValueError("the private key's last part is not base64") from None
        if len(raw) != 33 or raw[0] != ED25519:
            raise ValueError("the private key is not an Ed25519 seed (0x01 and 32 bytes)")
        key = cls.from_seed(parts[2], raw[1:])
        if parts[3] != key.key_id.hex():
            raise ValueError("the private key's KEYID does not match its name and key")
        return key

    @property
    def public_bytes(self) -> bytes:
        return self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @property
    def key_id(self) -> bytes:
        return note_key_id(self.name, self.public_bytes)

    def private_text(self) -> str:
        seed = self.private.private_bytes_raw()
        encoded = base64.b64encode(bytes([ED25519]) + seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.key_id.hex()}+{encoded}"

    def verifier_text(self) -> str:
        encoded = base64.b64encode(bytes([ED25519]) + self.public_bytes).decode()
        return f"{self.name}+{self.key_id.hex()}+{encoded}"

    def verifier(self) -> VerifierKey:
        return VerifierKey.parse(self.verifier_text())

    @property
    def cosignature_key_id(self) -> bytes:
        return note_key_id(self.name, self.public_bytes, COSIGNATURE_V1)

    def cosigner_text(self) -> str:
        """This key as a C2SP cosigner verifier key: ``NAME+KEYID+BASE64(0x04 ‖ key)``."""
        encoded = base64.b64encode(bytes([COSIGNATURE_V1]) + self.public_bytes).decode()
        return f"{self.name}+{self.cosignature_key_id.hex()}+{encoded}"

    def cosigner(self) -> VerifierKey:
        return VerifierKey.parse(self.cosigner_text())

    def cosignature_line(self, body: str, timestamp: int) -> str:
        """A ``cosignature/v1`` signature line over the checkpoint ``body`` at ``timestamp``."""
        if not 0 <= timestamp <= MAX_TIMESTAMP:
            raise ValueError("a cosignature time is 0..2^63-1 seconds since 1970")
        signature = self.private.sign(cosignature_message(body, timestamp))
        raw = self.cosignature_key_id + timestamp.to_bytes(8, "big") + signature
        return f"\u2014 {self.name} {base64.b64encode(raw).decode()}\n"

    def signature_line(self, body: str) -> str:
        signature = self.private.sign(body.encode())
        return f"\u2014 {self.name} {base64.b64encode(self.key_id + signature).decode()}\n"

    def sign(self, body: str) -> str:
        """A signed note of ``body`` carrying this key's signature only."""
        if not body.endswith("\n") or "\n\n" in body:
            raise ValueError("a note body ends with a newline and has no blank line")
        return body + "\n" + self.signature_line(body)


def _check_name(name: str) -> None:
    if not _NAME.match(name):
        raise ValueError("a key name is 1-200 characters without spaces, '+' or '\u2014'")


def checkpoint_body(origin: str, size: int, root: bytes, extensions: tuple[str, ...] = ()) -> str:
    """The C2SP tlog-checkpoint body: origin, size, base64 root, extension lines."""
    lines = [origin, str(size), base64.b64encode(root).decode(), *extensions]
    return "\n".join(lines) + "\n"


def add_signature(note: str, key: SignerKey) -> str:
    """The note with one more plain signature line by ``key`` (the untimed cosignature
    witnesses made before ``cosignature/v1``; still accepted, see ``docs/proofs.md``)."""
    body, _ = split_note(note)
    return note + key.signature_line(body)


def add_cosignature(note: str, key: SignerKey, timestamp: int) -> str:
    """The note with one more ``cosignature/v1`` line by the witness ``key``."""
    body, _ = split_note(note)
    return note + key.cosignature_line(body, timestamp)


def signature_lines(note: str) -> list[str]:
    """The note's signature lines, each ending with a newline."""
    body, _ = split_note(note)
    return [line + "\n" for line in note[len(body) + 1 : -1].split("\n")]
