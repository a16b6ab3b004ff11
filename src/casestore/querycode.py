"""The applicant's query code (查询码), stored as a peppered HMAC, never as itself.

A six-digit code has a million values: a plain hash of it falls to brute force in
seconds. The stored form is ``hmac-sha256:KID:HEX`` = HMAC-SHA256 keyed with a
server-side pepper (``CASESTORE_QUERY_PEPPER``), so a copy of the log, an export or a
proof file without the pepper reveals nothing about the code.

``CASESTORE_QUERY_PEPPER`` is ``KID:BASE64`` (a key of at least 32 bytes), or several
separated by commas to rotate: the first digests new codes, all of them check old
ones. Cases submitted before peppers existed keep their ``sha256(case_id ‖ code)``
(64 hex digits) and still verify; those digests are never shown anywhere.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import threading
from dataclasses import dataclass
from typing import Final
from uuid import UUID

from casestore.identity import BadConfiguration

PREFIX: Final = "hmac-sha256"
MIN_PEPPER_BYTES: Final = 32
_KID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_LEGACY = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Pepper:
    kid: str
    key: bytes


def legacy_hash(case_id: UUID, code: str) -> str:
    """The wave-1 stored form (kept only to verify cases already in the log)."""
    return hashlib.sha256(case_id.bytes + code.encode()).hexdigest()


class QueryPeppers:
    """The pepper that digests new codes, and every pepper that may check an old one."""

    def __init__(self, peppers: list[Pepper]) -> None:
        if not peppers:
            raise BadConfiguration("no query-code pepper")
        self.current = peppers[0]
        self._by_kid = {p.kid: p for p in reversed(peppers)}

    @classmethod
    def parse(cls, value: str) -> QueryPeppers:
        """``KID:BASE64[,KID:BASE64...]`` (``CASESTORE_QUERY_PEPPER``)."""
        peppers = []
        for part in value.split(","):
            kid, _, b64 = part.strip().partition(":")
            if not _KID.match(kid):
                raise BadConfiguration("CASESTORE_QUERY_PEPPER: each entry is KID:BASE64")
            try:
                key = base64.b64decode(b64 + "=" * (-len(b64) % 4), altchars=b"-_", validate=True)
            except (binascii.Error, ValueError):
                raise BadConfiguration(
                    f"CASESTORE_QUERY_PEPPER: key {kid!r} is not base64"
                ) from None
            if len(key) < MIN_PEPPER_BYTES:
                raise BadConfiguration(
                    f"CASESTORE_QUERY_PEPPER: key {kid!r} must be at least {MIN_PEPPER_BYTES} bytes"
                )
            peppers.append(Pepper(kid, key))
        return cls(peppers)

    @classmethod
    def generate(cls, kid: str = "k1") -> QueryPeppers:
        """A fresh random pepper (``casestore demo``, ``casestore keygen --pepper``)."""
        return cls([Pepper(kid, secrets.token_bytes(MIN_PEPPER_BYTES))])

    def setting(self) -> str:
        """This set as a ``CASESTORE_QUERY_PEPPER`` value."""
        parts = [self.current, *(p for k, p in self._by_kid.items() if k != self.current.kid)]
        return ",".join(f"{p.kid}:{base64.urlsafe_b64encode(p.key).decode()}" for p in parts)

    def digest(self, case_id: UUID, code: str) -> str:
        """The stored form of a new case's query code."""
        return _digest(self.current, case_id, code)

    def matches(self, stored: str, case_id: UUID, code: str) -> bool:
        """Whether ``code`` is the case's query code (constant-time compare)."""
        if stored.startswith(PREFIX + ":"):
            _, kid, _ = stored.split(":", 2)
            pepper = self._by_kid.get(kid)
            if pepper is None:
                return False
            return secrets.compare_digest(stored, _digest(pepper, case_id, code))
        if _LEGACY.match(stored):
            return secrets.compare_digest(stored, legacy_hash(case_id, code))
        return False  # an imported legacy case without a code


_PROCESS: list[QueryPeppers] = []
_PROCESS_LOCK = threading.Lock()


def process_peppers() -> QueryPeppers:
    """One random pepper for this process (when none is configured): every service in
    the process digests and checks codes alike; they stop verifying when it exits."""
    with _PROCESS_LOCK:
        if not _PROCESS:
            _PROCESS.append(QueryPeppers.generate("ephemeral"))
        return _PROCESS[0]


def _digest(pepper: Pepper, case_id: UUID, code: str) -> str:
    mac = hmac.new(pepper.key, case_id.bytes + code.encode(), hashlib.sha256).hexdigest()
    return f"{PREFIX}:{pepper.kid}:{mac}"
