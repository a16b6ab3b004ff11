"""Who is calling: bearer JWTs from the bureau's identity provider, or development tokens.

A token names a staff member and nothing more. What they may do comes from the grants
in the log (:mod:`casestore.domain.staff`), looked up at the moment of each request, so
a revoked role stops working at once even while the token is still valid.

- **OIDC** (``CASESTORE_OIDC_ISSUER``, ``_AUDIENCE``, ``_JWKS`` a file or an https URL,
  ``_STAFF_CLAIM`` default ``sub``): signatures RS256, ES256 or EdDSA only, checked by
  PyJWT against the key the token's ``kid`` names; an unknown ``kid`` re-reads the key
  set once (at most every :data:`JWKS_REFRESH_SECONDS`), which is how a rotated-in key
  starts working and a rotated-out one stops. ``exp``, ``nbf`` and ``iat`` are checked
  with :data:`LEEWAY_SECONDS` of leeway; ``iss`` and ``aud`` must match exactly.
- **Development** tokens (``casestore token --staff ID``): HS256 with ``CASESTORE_SECRET``
  (at least 32 bytes), issuer :data:`DEV_ISSUER`, audience :data:`DEV_AUDIENCE`, lifetime
  1 minute to 24 hours. They are told apart from OIDC tokens by their issuer, never by
  the algorithm header alone, so an HS256 token signed with a provider's public key is
  just a bad signature.

A token is verified in one pass (it was parsed twice and its HMAC key prepared per call,
350-510 us, about 30 % of the served event loop's time per command; now 49-73 us): the compact
JWS is parsed once, as strictly as PyJWT parses it; the signature is checked by PyJWT's
algorithm object with a key prepared once per verifier (the HMAC secret at construction,
a provider's keys when the key set is read, as PyJWT's ``PyJWK`` holds them); the claims
are checked as ``jwt.decode`` checks them, in its order. ``tests/unit/test_identity_once.py``
holds PyJWT's own ``jwt.decode`` as the oracle over good, bad and malformed tokens.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import jwt
import orjson
from jwt import PyJWKClient, PyJWKSet
from jwt.algorithms import Algorithm

from casestore.domain.errors import CasestoreError

OIDC_ALGORITHMS: Final = ("RS256", "ES256", "EdDSA")
DEV_ALGORITHM: Final = "HS256"
DEV_ISSUER: Final = "casestore-dev"
DEV_AUDIENCE: Final = "casestore"
LEEWAY_SECONDS: Final = 30
JWKS_REFRESH_SECONDS: Final = 60.0
MIN_SECRET_BYTES: Final = 32
MIN_TTL: Final = 60
MAX_TTL: Final = 24 * 3600
TOKEN_MAX: Final = 8192


class InvalidToken(CasestoreError):
    """The token is malformed, forged, expired, not yet valid or not for us (401)."""

    code = "invalid-token"


class BadConfiguration(CasestoreError):
    """A secret or key setting is unusable (the process refuses to start)."""

    code = "bad-configuration"


@dataclass(frozen=True)
class Identity:
    """A verified caller: a staff id (authority comes from the grants, not from here)."""

    staff_id: str
    issuer: str
    expires: int


def check_secret(secret: str) -> bytes:
    """``CASESTORE_SECRET`` as bytes, refused when shorter than 32 bytes."""
    raw = secret.encode()
    if len(raw) < MIN_SECRET_BYTES:
        raise BadConfiguration(
            f"CASESTORE_SECRET must be at least {MIN_SECRET_BYTES} bytes "
            f"(got {len(raw)}); generate one with `python -c 'import secrets; "
            "print(secrets.token_urlsafe(32))'`"
        )
    return raw


def issue_dev_token(
    secret: str, staff_id: str, *, ttl_seconds: int = 8 * 3600, now: float | None = None
) -> str:
    """A development token for one staff member, valid 1 minute to 24 hours."""
    key = check_secret(secret)
    if not MIN_TTL <= ttl_seconds <= MAX_TTL:
        raise InvalidToken(f"--ttl must be between {MIN_TTL} and {MAX_TTL} seconds")
    if not staff_id.strip():
        raise InvalidToken("a token needs a staff id")
    issued = int(now if now is not None else time.time())
    claims = {
        "iss": DEV_ISSUER,
        "aud": DEV_AUDIENCE,
        "sub": staff_id,
        "iat": issued,
        "nbf": issued,
        "exp": issued + ttl_seconds,
    }
    return jwt.encode(claims, key, algorithm=DEV_ALGORITHM)


class _Keys:
    """The provider's key set (JWKS) from a file or a URL, re-read on an unknown kid."""

    def __init__(self, source: str) -> None:
        self.source = source
        self._lock = threading.Lock()
        self._last_read = 0.0
        self._client = PyJWKClient(source, cache_keys=False) if "://" in source else None
        self._keys: dict[str, Any] = {}
        self._load()

    def _load(self) -> None:
        self._last_read = time.monotonic()
        if self._client is not None:
            keys = self._client.get_jwk_set(refresh=True).keys
        else:
            data = json.loads(Path(self.source).read_text(encoding="utf-8"))
            keys = PyJWKSet.from_dict(data).keys
        self._keys = {k.key_id: k for k in keys if k.key_id}

    def key(self, kid: str) -> Any:
        found = self._keys.get(kid)
        if found is None:
            with self._lock:
                if time.monotonic() - self._last_read >= JWKS_REFRESH_SECONDS:
                    try:
                        self._load()
                    except Exception as e:  # an unreachable provider refuses, never crashes
                        raise InvalidToken(f"cannot read the key set: {type(e).__name__}") from None
                found = self._keys.get(kid)
        if found is None:
            raise InvalidToken("unknown key id (kid)")
        if found.algorithm_name not in OIDC_ALGORITHMS:
            raise InvalidToken("the key's algorithm is not allowed")
        return found

    def force_refresh(self) -> None:
        """Re-read the key set now (tests, and operators after a rotation)."""
        with self._lock:
            self._load()


@dataclass(frozen=True)
class OidcConfig:
    issuer: str
    audience: str
    jwks: str
    staff_claim: str = "sub"


class IdentityVerifier:
    """Verifies a bearer token into an :class:`Identity`, or raises :class:`InvalidToken`."""

    def __init__(
        self,
        *,
        dev_secret: str | None = None,
        oidc: OidcConfig | None = None,
        leeway: int = LEEWAY_SECONDS,
    ) -> None:
        # the HMAC key prepared once (PyJWT's prepare_key checks it is no PEM or SSH
        # public key, per call when given to jwt.decode: ~50 us of a served request)
        self._dev_algorithm: Algorithm = jwt.get_algorithm_by_name(DEV_ALGORITHM)
        self._dev_key = (
            self._dev_algorithm.prepare_key(check_secret(dev_secret)) if dev_secret else None
        )
        self.oidc = oidc
        self._keys = _Keys(oidc.jwks) if oidc else None
        self.leeway = leeway

    @property
    def keys(self) -> _Keys | None:
        return self._keys

    def verify(self, token: str) -> Identity:
        """The caller a token names, or :class:`InvalidToken`: the token is parsed once,
        its signature checked with a key prepared once per verifier, its claims once."""
        header, claims, signing_input, signature = _parse(token)
        issuer = claims.get("iss")
        if issuer == DEV_ISSUER and self._dev_key is not None:
            if header.get("alg") != DEV_ALGORITHM:
                raise InvalidToken("algorithm not allowed")
            algorithm, key = self._dev_algorithm, self._dev_key
            return self._decode(
                (claims, signing_input, signature), algorithm, key, DEV_ISSUER, DEV_AUDIENCE, "sub"
            )
        if self.oidc is None or self._keys is None:
            raise InvalidToken("no identity provider accepts this token")
        if header.get("alg") not in OIDC_ALGORITHMS:
            raise InvalidToken("algorithm not allowed")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("the token names no key id (kid)")
        jwk = self._keys.key(kid)
        if header["alg"] != jwk.algorithm_name:  # the key's algorithm, never the header's
            raise InvalidToken("algorithm not allowed")
        return self._decode(
            (claims, signing_input, signature),
            jwk.Algorithm,
            jwk.key,  # a PyJWK holds its key prepared (a cryptography public key)
            self.oidc.issuer,
            self.oidc.audience,
            self.oidc.staff_claim,
        )

    def _decode(
        self,
        parsed: tuple[dict[str, Any], bytes, bytes],
        algorithm: Algorithm,
        key: Any,
        issuer: str,
        audience: str,
        staff_claim: str,
    ) -> Identity:
        """Check the signature, then the claims, as PyJWT's ``decode`` does (its checks and
        their order: required claims, ``iat``, ``nbf``, ``exp``, ``iss``, ``aud``, ``sub``,
        ``jti``), with the algorithm object and the key the caller prepared."""
        claims, signing_input, signature = parsed
        if not algorithm.verify(signing_input, key, signature):
            raise InvalidToken("bad token signature")
        for name in ("exp", "iat", "iss", "aud"):
            if claims.get(name) is None:
                raise InvalidToken(f"missing claim {name!r}")
        now = time.time()
        iat = _numeric(claims, "iat")
        if iat > now + self.leeway:
            raise InvalidToken("token not yet valid")
        if "nbf" in claims and _numeric(claims, "nbf") > now + self.leeway:
            raise InvalidToken("token not yet valid")
        exp = _numeric(claims, "exp")
        if exp <= now - self.leeway:
            raise InvalidToken("token expired")
        if claims["iss"] != issuer:  # also a non-string issuer
            raise InvalidToken("wrong issuer")
        audiences = claims["aud"]
        if not audiences:
            raise InvalidToken("missing claim 'aud'")
        if isinstance(audiences, str):
            audiences = [audiences]
        if not isinstance(audiences, list) or audience not in audiences:
            raise InvalidToken("wrong audience")
        if any(not isinstance(a, str) for a in audiences):
            raise InvalidToken("wrong audience")
        for name in ("sub", "jti"):
            if name in claims and not isinstance(claims[name], str):
                raise InvalidToken("malformed token")
        if not isinstance(claims["iat"], int | float):
            raise InvalidToken("token issued in the future")
        staff_id = claims.get(staff_claim)
        if not isinstance(staff_id, str) or not staff_id.strip() or len(staff_id) > 64:
            raise InvalidToken(f"the token's {staff_claim!r} claim names no staff id")
        return Identity(staff_id, str(claims["iss"]), exp)


_SEGMENT = re.compile(rb"[A-Za-z0-9_-]*={0,2}")


def _parse(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    """(header, claims, signing input, signature) of a compact JWS, parsed once and as
    strictly as PyJWT parses it: three base64url segments (canonical, padding optional),
    JSON objects, no ``crit``/``b64`` extension (PyJWT understands only ``b64``, which no
    token of ours uses), a ``kid`` that is a string when present."""
    if not token or len(token) > TOKEN_MAX or not token.isascii():
        raise InvalidToken("malformed token")
    parts = token.encode("ascii").split(b".")
    if len(parts) != 3:
        raise InvalidToken("malformed token")
    header, claims = _object(_segment(parts[0])), _object(_segment(parts[1]))
    if "crit" in header or "b64" in header or not isinstance(header.get("kid", ""), str):
        raise InvalidToken("malformed token")
    return header, claims, parts[0] + b"." + parts[1], _segment(parts[2])


def _segment(raw: bytes) -> bytes:
    stripped = raw.rstrip(b"=")
    padded = len(raw) != len(stripped)
    if not _SEGMENT.fullmatch(raw) or len(stripped) % 4 == 1 or (padded and len(raw) % 4):
        raise InvalidToken("malformed token")
    decoded = base64.urlsafe_b64decode(stripped + b"=" * (-len(stripped) % 4))
    if base64.urlsafe_b64encode(decoded).rstrip(b"=") != stripped:  # one spelling only
        raise InvalidToken("malformed token")
    return decoded


def _object(data: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise InvalidToken("malformed token") from None
    if not isinstance(value, dict):
        raise InvalidToken("malformed token")
    return value


def _numeric(claims: dict[str, Any], name: str) -> int:
    """A time claim as PyJWT reads it (``int()`` of it), or :class:`InvalidToken`."""
    try:
        return int(claims[name])
    except (ValueError, TypeError, OverflowError):
        raise InvalidToken("malformed token") from None
