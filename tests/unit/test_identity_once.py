"""``IdentityVerifier.verify`` accepts exactly the tokens a plain ``jwt.decode`` with the
same checks accepts (PyJWT is the oracle here) and refuses every other token, however
malformed, with :class:`InvalidToken` (a 401), never another exception (a 500)."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt
import pytest
from jwt.algorithms import HMACAlgorithm

from casestore.identity import (
    DEV_AUDIENCE,
    DEV_ISSUER,
    LEEWAY_SECONDS,
    IdentityVerifier,
    InvalidToken,
    issue_dev_token,
)

SECRET = "s" * 32


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(**over: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"iss": DEV_ISSUER, "aud": DEV_AUDIENCE, "sub": "clerk-1", "iat": now, "exp": now + 300}
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def _pyjwt_accepts(token: str) -> bool:
    """What the verifier did before (one PyJWT decode with these checks)."""
    try:
        jwt.decode(
            token,
            SECRET.encode(),
            algorithms=["HS256"],
            issuer=DEV_ISSUER,
            audience=DEV_AUDIENCE,
            leeway=LEEWAY_SECONDS,
            options={"require": ["exp", "iat", "iss", "aud"]},
        )
    except jwt.PyJWTError:
        return False
    return True


def _accepts(verifier: IdentityVerifier, token: str) -> bool:
    try:
        verifier.verify(token)
    except InvalidToken:
        return False
    return True


NOW = int(time.time())
CLAIMS = [
    {},
    {"exp": NOW - LEEWAY_SECONDS - 5},
    {"exp": NOW - 5},
    {"exp": str(NOW + 300)},
    {"exp": "soon"},
    {"exp": None},
    {"iat": None},
    {"iat": "x"},
    {"iat": NOW + LEEWAY_SECONDS + 60},
    {"nbf": NOW + LEEWAY_SECONDS + 60},
    {"nbf": NOW + 5},
    {"nbf": "later"},
    {"aud": "other"},
    {"aud": ["other", DEV_AUDIENCE]},
    {"aud": ["other"]},
    {"aud": [DEV_AUDIENCE, 7]},
    {"aud": ""},
    {"aud": []},
    {"aud": {"a": DEV_AUDIENCE}},
    {"aud": 7},
    {"aud": None},
    {"iss": None},
    {"sub": 7},
    {"jti": 7},
    {"jti": "j-1"},
]


@pytest.mark.parametrize("over", CLAIMS, ids=[json.dumps(c) for c in CLAIMS])
def test_claims_are_judged_as_pyjwt_judges_them(over: dict[str, Any]) -> None:
    token = jwt.encode(_claims(**over), SECRET.encode(), algorithm="HS256")
    assert _accepts(IdentityVerifier(dev_secret=SECRET), token) == _pyjwt_accepts(token)


def _forge(header: dict[str, Any] | str, claims: dict[str, Any] | str, key: bytes) -> str:
    h = header if isinstance(header, str) else _b64(json.dumps(header).encode())
    c = claims if isinstance(claims, str) else _b64(json.dumps(claims).encode())
    sig = HMACAlgorithm(HMACAlgorithm.SHA256).sign(f"{h}.{c}".encode(), key)
    return f"{h}.{c}.{_b64(sig)}"


def _malformed() -> list[str]:
    good = issue_dev_token(SECRET, "clerk-1")
    h, c, s = good.split(".")
    key = SECRET.encode()
    return [
        "",
        "x",
        f"{h}.{c}",
        f"{h}.{c}.{s}.{s}",
        f"{h}.{c}.{s}!",
        f"{h}.{c}.{s}===",
        f"{h}.{c}.{s[:-1]}",  # a signature one character short
        f"{h}.{c}é.{s}",
        _forge({"alg": "HS256", "kid": 7}, _claims(), key),
        _forge({"alg": "HS256", "crit": ["exp"]}, _claims(), key),
        _forge({"alg": "none"}, _claims(), key),
        _forge({"alg": "HS512"}, _claims(), key),
        _forge({"typ": "JWT"}, _claims(), key),
        _forge({"alg": "HS256"}, _b64(b"[1, 2]"), key),
        _forge({"alg": "HS256"}, _b64(b"{not json"), key),
        _forge(_b64(b'"HS256"'), _claims(), key),
        _forge({"alg": "HS256"}, _claims(), b"t" * 32),
    ]


@pytest.mark.parametrize("token", _malformed())
def test_malformed_or_forged_tokens_are_refused_as_pyjwt_refuses_them(token: str) -> None:
    verifier = IdentityVerifier(dev_secret=SECRET)
    assert not _pyjwt_accepts(token)
    with pytest.raises(InvalidToken):
        verifier.verify(token)


def test_padding_pyjwt_accepts_is_accepted() -> None:
    """Some issuers pad their segments with '='; PyJWT takes that, and so do we."""
    h, c, s = issue_dev_token(SECRET, "clerk-1").split(".")
    padded = ".".join(part + "=" * (-len(part) % 4) for part in (h, c, s))
    assert _pyjwt_accepts(padded)
    assert IdentityVerifier(dev_secret=SECRET).verify(padded).staff_id == "clerk-1"


def _nested(depth: int, shape: str) -> bytes:
    if shape == "array":
        return b"[" * depth + b"]" * depth
    return b'{"a":' * depth + b"1" + b"}" * depth


@pytest.mark.parametrize(
    ("where", "payload"),
    [
        ("claims", _nested(2500, "array")),
        ("claims", _nested(1000, "object")),
        ("header", _nested(2500, "array")),
    ],
    ids=["claims-array", "claims-object", "header-array"],
)
def test_deeply_nested_segments_are_malformed_tokens(where: str, payload: bytes) -> None:
    """JSON nested deeper than the parser's recursion limit (within the token size bound),
    validly signed: refused as malformed, not raised as a RecursionError."""
    key = SECRET.encode()
    if where == "claims":
        token = _forge({"alg": "HS256", "typ": "JWT"}, _b64(payload), key)
    else:
        token = _forge(_b64(payload), _claims(), key)
    assert len(token) <= 8192
    with pytest.raises(InvalidToken):
        IdentityVerifier(dev_secret=SECRET).verify(token)
