"""Signed bearer tokens (HMAC-SHA256 over a compact JSON payload) for staff and roles.

Format: ``base64url(payload).base64url(signature)``; the payload holds ``sub`` (staff
id), ``name``, ``role``, ``window``, ``iat`` and ``exp``. The secret comes from
``CASESTORE_SECRET`` and never from the repository.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass

import orjson

from casestore.domain.errors import CasestoreError
from casestore.domain.values import ROLES, Actor


class InvalidToken(CasestoreError):
    """The token is malformed, forged or expired."""

    code = "invalid-token"


@dataclass(frozen=True)
class Claims:
    """Who a token speaks for."""

    staff_id: str
    name: str
    role: str
    window: str
    expires: int

    def actor(self) -> Actor:
        return Actor(self.staff_id, self.role, self.name, self.window)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue_token(
    secret: str,
    *,
    staff_id: str,
    name: str,
    role: str,
    window: str = "",
    ttl_seconds: int = 12 * 3600,
    now: float | None = None,
) -> str:
    """A token for one staff member (or a role) valid for ``ttl_seconds``."""
    if role not in ROLES - {"system"}:
        raise InvalidToken(f"unknown role {role!r}")
    if not secret:
        raise InvalidToken("no signing secret (set CASESTORE_SECRET)")
    issued = int(now if now is not None else time.time())
    payload = orjson.dumps(
        {
            "sub": staff_id,
            "name": name,
            "role": role,
            "window": window,
            "iat": issued,
            "exp": issued + ttl_seconds,
        }
    )
    body = _b64(payload)
    sig = hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(sig)}"


def verify_token(secret: str, token: str, *, now: float | None = None) -> Claims:
    """The claims of a genuine, unexpired token, or :class:`InvalidToken`."""
    try:
        body, sig = token.split(".")
        expected = hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, _unb64(sig)):
            raise InvalidToken("bad token signature")
        data = orjson.loads(_unb64(body))
        claims = Claims(
            str(data["sub"]),
            str(data.get("name", "")),
            str(data["role"]),
            str(data.get("window", "")),
            int(data["exp"]),
        )
    except InvalidToken:
        raise
    except (ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        raise InvalidToken("malformed token") from None
    if claims.role not in ROLES:
        raise InvalidToken("unknown role in token")
    if claims.expires < (now if now is not None else time.time()):
        raise InvalidToken("token expired")
    return claims
