"""Bearer tokens: OIDC JWTs against a JWKS file, and development tokens (SPEC §10)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from casestore.identity import (
    REMEMBERED_TOKENS,
    BadConfiguration,
    IdentityVerifier,
    InvalidToken,
    OidcConfig,
    issue_dev_token,
)

ISSUER = "https://idp.bureau.test/realms/staff"
AUDIENCE = "casestore"
SECRET = "s" * 32


def _jwk(private: Any, kid: str, alg: str) -> dict[str, Any]:
    public = private.public_key()
    if alg == "RS256":
        data = json.loads(RSAAlgorithm.to_jwk(public))
    elif alg == "ES256":
        data = json.loads(ECAlgorithm.to_jwk(public))
    else:
        data = json.loads(OKPAlgorithm.to_jwk(public))
    return {**data, "kid": kid, "alg": alg, "use": "sig"}


@pytest.fixture(scope="module")
def keys() -> dict[str, Any]:
    return {
        "rsa1": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "rsa2": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "ec": ec.generate_private_key(ec.SECP256R1()),
        "ed": ed25519.Ed25519PrivateKey.generate(),
    }


def _write_jwks(path: Path, entries: list[dict[str, Any]]) -> None:
    path.write_text(json.dumps({"keys": entries}))


@pytest.fixture(params=[0, REMEMBERED_TOKENS], ids=["judged", "remembering"])
def setup(
    request: pytest.FixtureRequest, tmp_path: Path, keys: dict[str, Any]
) -> tuple[IdentityVerifier, Path]:
    """A verifier that judges every token, and one that remembers accepted tokens (as
    ``casestore serve`` runs it): every test below holds for both."""
    jwks = tmp_path / "jwks.json"
    _write_jwks(
        jwks,
        [
            _jwk(keys["rsa1"], "rsa-2026-1", "RS256"),
            _jwk(keys["ec"], "ec-1", "ES256"),
            _jwk(keys["ed"], "ed-1", "EdDSA"),
        ],
    )
    oidc = OidcConfig(ISSUER, AUDIENCE, str(jwks), staff_claim="preferred_username")
    return IdentityVerifier(dev_secret=SECRET, oidc=oidc, remember=request.param), jwks


def _claims(**over: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "0b6c1f0e",
        "preferred_username": "approver-1",
        "iat": now,
        "nbf": now,
        "exp": now + 300,
    }
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def _sign(key: Any, alg: str, kid: str, **over: Any) -> str:
    return jwt.encode(_claims(**over), key, algorithm=alg, headers={"kid": kid})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_valid_tokens_of_each_allowed_algorithm_name_the_staff_member(setup, keys) -> None:
    verifier, _ = setup
    for key, alg, kid in (
        (keys["rsa1"], "RS256", "rsa-2026-1"),
        (keys["ec"], "ES256", "ec-1"),
        (keys["ed"], "EdDSA", "ed-1"),
    ):
        assert verifier.verify(_sign(key, alg, kid)).staff_id == "approver-1"


@pytest.mark.parametrize(
    ("over", "reason"),
    [
        ({"iss": "https://evil.test/"}, "wrong issuer"),
        ({"aud": "another-app"}, "wrong audience"),
        ({"exp": int(time.time()) - 3600}, "token expired"),
        ({"nbf": int(time.time()) + 3600}, "token not yet valid"),
        ({"iat": int(time.time()) + 3600}, "not yet valid|future"),
        ({"preferred_username": None}, "names no staff id"),
    ],
)
def test_bad_claims_are_refused(setup, keys, over, reason) -> None:
    verifier, _ = setup
    with pytest.raises(InvalidToken, match=reason):
        verifier.verify(_sign(keys["rsa1"], "RS256", "rsa-2026-1", **over))


def test_leeway_accepts_a_token_just_expired(setup, keys) -> None:
    verifier, _ = setup
    token = _sign(keys["rsa1"], "RS256", "rsa-2026-1", exp=int(time.time()) - 5)
    assert verifier.verify(token).staff_id == "approver-1"


def test_alg_none_is_refused(setup) -> None:
    verifier, _ = setup
    header = _b64(json.dumps({"alg": "none", "typ": "JWT", "kid": "rsa-2026-1"}).encode())
    body = _b64(json.dumps(_claims()).encode())
    with pytest.raises(InvalidToken):
        verifier.verify(f"{header}.{body}.")


def test_hs256_signed_with_the_public_key_is_refused(setup, keys) -> None:
    verifier, _ = setup
    pem = (
        keys["rsa1"]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "rsa-2026-1"}).encode())
    body = _b64(json.dumps(_claims()).encode())
    sig = hmac.new(pem, f"{header}.{body}".encode(), hashlib.sha256).digest()
    with pytest.raises(InvalidToken, match="algorithm not allowed"):
        verifier.verify(f"{header}.{body}.{_b64(sig)}")
    # ... and claiming the development issuer does not help: the secret is not the key.
    dev_body = _b64(json.dumps(_claims(iss="casestore-dev", aud="casestore")).encode())
    sig = hmac.new(pem, f"{header}.{dev_body}".encode(), hashlib.sha256).digest()
    with pytest.raises(InvalidToken, match="signature"):
        verifier.verify(f"{header}.{dev_body}.{_b64(sig)}")


def test_unknown_kid_is_refused(setup, keys) -> None:
    verifier, _ = setup
    with pytest.raises(InvalidToken, match="unknown key id"):
        verifier.verify(_sign(keys["rsa2"], "RS256", "rsa-2027-1"))


def test_key_rotation(setup, keys) -> None:
    """The provider rotates rsa-2026-1 out and rsa-2027-1 in: old tokens stop working,
    new ones work once the key set is re-read."""
    verifier, jwks = setup
    old = _sign(keys["rsa1"], "RS256", "rsa-2026-1")
    assert verifier.verify(old).staff_id == "approver-1"
    _write_jwks(jwks, [_jwk(keys["rsa2"], "rsa-2027-1", "RS256")])
    assert verifier.keys is not None
    verifier.keys.force_refresh()
    with pytest.raises(InvalidToken, match="unknown key id"):
        verifier.verify(old)
    assert verifier.verify(_sign(keys["rsa2"], "RS256", "rsa-2027-1")).staff_id == "approver-1"


def test_a_key_signed_under_another_kid_is_a_bad_signature(setup, keys) -> None:
    verifier, _ = setup
    with pytest.raises(InvalidToken, match="signature"):
        verifier.verify(_sign(keys["rsa2"], "RS256", "rsa-2026-1"))


def test_development_tokens() -> None:
    verifier = IdentityVerifier(dev_secret=SECRET)
    token = issue_dev_token(SECRET, "clerk-7", ttl_seconds=120)
    assert verifier.verify(token).staff_id == "clerk-7"
    claims = jwt.decode(token, options={"verify_signature": False})
    assert (claims["iss"], claims["aud"], claims["exp"] - claims["iat"]) == (
        "casestore-dev",
        "casestore",
        120,
    )
    with pytest.raises(InvalidToken):
        IdentityVerifier(dev_secret="t" * 32).verify(token)
    stale = issue_dev_token(SECRET, "clerk-7", ttl_seconds=60, now=time.time() - 3600)
    with pytest.raises(InvalidToken, match="expired"):
        verifier.verify(stale)
    wrong_aud = jwt.encode(
        {**jwt.decode(token, options={"verify_signature": False}), "aud": "x"},
        SECRET.encode(),
        algorithm="HS256",
    )
    with pytest.raises(InvalidToken, match="audience"):
        verifier.verify(wrong_aud)


@pytest.mark.parametrize("ttl", [-100, 0, 59, 24 * 3600 + 1, 1_000_000_000])
def test_development_token_lifetime_is_bounded(ttl: int) -> None:
    with pytest.raises(InvalidToken, match="between 60 and 86400"):
        issue_dev_token(SECRET, "clerk-7", ttl_seconds=ttl)


@pytest.mark.parametrize("secret", ["x", "s" * 31])
def test_short_secrets_are_refused(secret: str) -> None:
    with pytest.raises(BadConfiguration, match="at least 32 bytes"):
        issue_dev_token(secret, "clerk-7")
    with pytest.raises(BadConfiguration):
        IdentityVerifier(dev_secret=secret)


def test_oidc_tokens_are_not_accepted_without_a_provider(keys) -> None:
    with pytest.raises(InvalidToken, match="no identity provider"):
        IdentityVerifier(dev_secret=SECRET).verify(_sign(keys["rsa1"], "RS256", "rsa-2026-1"))


def test_through_the_api_bad_oidc_tokens_are_401_and_a_good_one_acts_on_its_grants(
    tmp_path: Path, keys: dict[str, Any]
) -> None:
    """The edge maps every refusal to 401; authority still comes from the grants."""
    from tests.api.support import make_api

    jwks = tmp_path / "jwks.json"
    _write_jwks(jwks, [_jwk(keys["ec"], "ec-1", "ES256")])
    oidc = OidcConfig(ISSUER, AUDIENCE, str(jwks), staff_claim="preferred_username")
    api = make_api(tmp_path / "oidc.db", oidc=oidc)
    try:
        good = _sign(keys["ec"], "ES256", "ec-1")
        bad = [
            _sign(keys["ec"], "ES256", "ec-1", iss="https://evil.test/"),
            _sign(keys["ec"], "ES256", "ec-1", aud="x"),
            _sign(keys["ec"], "ES256", "ec-1", exp=int(time.time()) - 3600),
            _sign(keys["ec"], "ES256", "ec-1", nbf=int(time.time()) + 3600),
            _sign(keys["rsa2"], "RS256", "rsa-2027-1"),
        ]
        for token in bad:
            r = api.get("/cases", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 401 and r.json()["type"].endswith("/unauthorized")
        case_id = api.submit()["case_id"]  # by clerk-1, with a development token
        ok = api.get(f"/cases/{case_id}", headers={"Authorization": f"Bearer {good}"})
        assert ok.status_code == 200, ok.text  # approver-1 is enrolled with the approver role
        refused = api.post(
            f"/cases/{case_id}/accept", json={}, headers={"Authorization": f"Bearer {good}"}
        )
        assert refused.status_code == 403, refused.text  # accepting needs a clerk's grant
    finally:
        api.close()
