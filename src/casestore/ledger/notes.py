"""Signed notes (C2SP ``signed-note``) and checkpoints (C2SP ``tlog-checkpoint``) with Ed25519.

Keys are written as Go's ``golang.org/x/mod/sumdb/note`` writes them: a verifier key
``NAME+KEYID+BASE64(0x01 ‖ public key)`` and a private key
``PRIVATE+KEY+NAME+KEYID+BASE64(0x01 ‖ seed)``. A checkpoint note is the body
(origin, tree size, base64 root, extension lines), a blank line, then one line per
signature ``— NAME BASE64(KEYID ‖ signature)``; a witness cosigns by adding its line.
Parsing and verification are shared with the stand-alone verifier.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from casestore.ledger.verify_proof import (
    ED25519,
    Checkpoint,
    VerifierKey,
    note_key_id,
    signed_by,
    split_note,
)

__all__ = [
    "Checkpoint",
    "SignerKey",
    "VerifierKey",
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
    """The note with one more signature line by ``key`` (a witness's cosignature)."""
    body, _ = split_note(note)
    return note + key.signature_line(body)


def signature_lines(note: str) -> list[str]:
    """The note's signature lines, each ending with a newline."""
    body, _ = split_note(note)
    return [line + "\n" for line in note[len(body) + 1 : -1].split("\n")]
