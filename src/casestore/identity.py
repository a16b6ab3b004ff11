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

PyJWT judges every token (one ``jwt.decode`` with the checks above); the only thing read
before it is the unverified ``iss``, to choose between the development secret and the
provider's keys (:func:`_unverified_issuer`), and for a provider's token PyJWT's own
unverified header for its ``kid``. A malformed token is refused the same way whichever
step finds it. ``tests/unit/test_identity_once.py`` holds the verifier to a plain
``jwt.decode`` with the same checks over good, bad and malformed tokens.
"""

from __future__ import annotations

import binascii
import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import jwt
from jwt import PyJWKClient, PyJWKSet
from jwt.types import Options
from jwt.utils import base64url_decode

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
REMEMBERED_TOKENS: Final = 1024
"""How many accepted tokens ``casestore serve`` remembers (see :class:`IdentityVerifier`)."""


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
        self.generation = 0
        """Counts the reads of the key set: a verdict remembered under another generation
        is judged again (a key rotated out stops working for remembered tokens too)."""
        self._load()

    def _load(self) -> None:
        self._last_read = time.monotonic()
        self.generation += 1
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
        remember: int = 0,
    ) -> None:
        self._dev_key = check_secret(dev_secret) if dev_secret else None
        self.oidc = oidc
        self._keys = _Keys(oidc.jwks) if oidc else None
        self.leeway = leeway
        self._remember = remember
        self._verdicts: dict[str, tuple[Identity, int]] = {}
        self._verdicts_lock = threading.Lock()

    @property
    def keys(self) -> _Keys | None:
        return self._keys

    @property
    def _keyset(self) -> int:
        """Which reading of the provider's key set is current (0: no provider)."""
        return self._keys.generation if self._keys is not None else 0

    def verify(self, token: str) -> Identity:
        """The caller a token names, or :class:`InvalidToken`.

        With ``remember=N`` the verifier keeps the verdicts of the last N distinct tokens
        it accepted (as an API gateway's JWT filter does, Envoy's ``jwt_cache_config`` for
        one): a verdict is a function of the token's exact text, the keys and the time, so a
        remembered token is accepted again without PyJWT only while it has not expired
        (``exp`` with the same leeway) and the key set is the one it was judged under; any
        other token, a refused one included, is judged whole. ``casestore serve`` remembers
        :data:`REMEMBERED_TOKENS` (a bearer token is sent with every request of a session;
        judging it is ~0.1 ms, about a tenth of a served command's CPU); what a staff
        member may do is still looked up in the grants at every request.
        """
        if self._remember:
            known = self._verdicts.get(token)
            if known is not None:
                identity, generation = known
                if identity.expires > time.time() - self.leeway and generation == self._keyset:
                    return identity
                with self._verdicts_lock:
                    self._verdicts.pop(token, None)
        # the key set's generation before judging: a reload during the judgement leaves the
        # verdict remembered under the older one, to be judged again on its next use
        generation = self._keyset
        identity = self._judge(token)
        if self._remember:
            with self._verdicts_lock:
                while len(self._verdicts) >= self._remember:  # the oldest goes first
                    del self._verdicts[next(iter(self._verdicts))]
                self._verdicts[token] = (identity, generation)
        return identity

    def _judge(self, token: str) -> Identity:
        if not token or len(token) > TOKEN_MAX:
            raise InvalidToken("malformed token")
        if _unverified_issuer(token) == DEV_ISSUER and self._dev_key is not None:
            return self._decode(
                token, self._dev_key, [DEV_ALGORITHM], DEV_ISSUER, DEV_AUDIENCE, "sub"
            )
        if self.oidc is None or self._keys is None:
            raise InvalidToken("no identity provider accepts this token")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken("malformed token") from None
        if header.get("alg") not in OIDC_ALGORITHMS:
            raise InvalidToken("algorithm not allowed")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("the token names no key id (kid)")
        key = self._keys.key(kid)
        return self._decode(
            token,
            key,  # a PyJWK: PyJWT checks the header's alg against the key's own
            [key.algorithm_name],
            self.oidc.issuer,
            self.oidc.audience,
            self.oidc.staff_claim,
        )

    def _decode(
        self,
        token: str,
        key: Any,
        algorithms: list[str],
        issuer: str,
        audience: str,
        staff_claim: str,
    ) -> Identity:
        options: Options = {"require": ["exp", "iat", "iss", "aud"]}
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                issuer=issuer,
                audience=audience,
                leeway=self.leeway,
                options=options,
            )
        except jwt.PyJWTError as e:
            raise InvalidToken(_reason(e)) from None
        iat = claims.get("iat")
        if not isinstance(iat, int | float) or iat > time.time() + self.leeway:
            raise InvalidToken("token issued in the future")
        staff_id = claims.get(staff_claim)
        if not isinstance(staff_id, str) or not staff_id.strip() or len(staff_id) > 64:
            raise InvalidToken(f"the token's {staff_claim!r} claim names no staff id")
        return Identity(staff_id, str(claims["iss"]), int(claims["exp"]))


def _unverified_issuer(token: str) -> Any:
    """The ``iss`` a token claims, unverified: only which key to try depends on it (PyJWT
    then judges the whole token with that key). Anything unreadable is a malformed token,
    refused here as PyJWT would refuse it, never an exception of another kind."""
    try:
        claims = json.loads(base64url_decode(token.split(".")[1]))
    except (ValueError, TypeError, IndexError, binascii.Error, RecursionError):
        raise InvalidToken("malformed token") from None
    return claims.get("iss") if isinstance(claims, dict) else None


#: PyJWT's refusals as the problem's detail says them (first match; else malformed).
_REASONS: Final[tuple[tuple[type[jwt.PyJWTError], str], ...]] = (
    (jwt.ExpiredSignatureError, "token expired"),
    (jwt.ImmatureSignatureError, "token not yet valid"),
    (jwt.InvalidIssuerError, "wrong issuer"),
    (jwt.InvalidAudienceError, "wrong audience"),
    (jwt.InvalidAlgorithmError, "algorithm not allowed"),
    (jwt.InvalidSignatureError, "bad token signature"),
)


def _reason(error: jwt.PyJWTError) -> str:
    if isinstance(error, jwt.MissingRequiredClaimError):
        return f"missing claim {error.claim!r}"
    return next((text for kind, text in _REASONS if isinstance(error, kind)), "malformed token")
