"""A verifier that remembers accepted tokens (``IdentityVerifier(remember=N)``, as
``casestore serve`` runs it) answers every token as one that judges each afresh: a
remembered token stops working when it expires or the key set is re-read, a token that
differs by one character is judged whole, refused tokens are never remembered, and the
memory holds at most N tokens. PyJWT's ``jwt.decode`` is counted to see what was judged."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, tzinfo
from typing import Any

import jwt
import pytest

from casestore.identity import LEEWAY_SECONDS, IdentityVerifier, InvalidToken, issue_dev_token

SECRET = "s" * 32


@pytest.fixture
def judged(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The tokens PyJWT decoded, in order."""
    seen: list[str] = []
    real = jwt.decode

    def counting(token: str, *args: Any, **kwargs: Any) -> Any:
        seen.append(token)
        return real(token, *args, **kwargs)

    monkeypatch.setattr(jwt, "decode", counting)
    yield seen


def test_a_remembered_token_is_not_judged_again(judged: list[str]) -> None:
    token = issue_dev_token(SECRET, "clerk-1")
    remembering = IdentityVerifier(dev_secret=SECRET, remember=8)
    assert [remembering.verify(token).staff_id for _ in range(3)] == ["clerk-1"] * 3
    assert judged == [token]
    plain = IdentityVerifier(dev_secret=SECRET)
    assert [plain.verify(token).staff_id for _ in range(3)] == ["clerk-1"] * 3
    assert judged == [token] * 4


def _at(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """The clock of the verifier and of PyJWT's claim checks both read ``seconds``."""
    monkeypatch.setattr(time, "time", lambda: seconds)

    class Frozen(datetime):
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> Frozen:
            return cls.fromtimestamp(seconds, tz)

    monkeypatch.setattr(jwt.api_jwt, "datetime", Frozen)


def test_a_remembered_token_expires_as_a_judged_one_does(
    judged: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    issued = int(time.time())
    token = issue_dev_token(SECRET, "clerk-1", ttl_seconds=60, now=issued)
    verifier = IdentityVerifier(dev_secret=SECRET, remember=8)
    _at(monkeypatch, issued + 1)
    assert verifier.verify(token).staff_id == "clerk-1"
    # within the leeway after exp: still accepted, from memory
    _at(monkeypatch, issued + 60 + LEEWAY_SECONDS - 1)
    assert verifier.verify(token).staff_id == "clerk-1"
    assert judged == [token]
    # past it: judged again, and refused as PyJWT refuses it
    _at(monkeypatch, issued + 60 + LEEWAY_SECONDS + 1)
    with pytest.raises(InvalidToken, match="expired"):
        verifier.verify(token)
    assert judged == [token, token]
    with pytest.raises(InvalidToken, match="expired"):
        IdentityVerifier(dev_secret=SECRET).verify(token)


def test_a_token_one_character_off_a_remembered_one_is_judged(judged: list[str]) -> None:
    token = issue_dev_token(SECRET, "clerk-1")
    verifier = IdentityVerifier(dev_secret=SECRET, remember=8)
    verifier.verify(token)
    head, claims, signature = token.split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    with pytest.raises(InvalidToken, match="signature"):
        verifier.verify(f"{head}.{claims}.{flipped}")
    assert judged == [token, f"{head}.{claims}.{flipped}"]


def test_refused_tokens_are_never_remembered(judged: list[str]) -> None:
    forged = issue_dev_token("t" * 32, "clerk-1")
    verifier = IdentityVerifier(dev_secret=SECRET, remember=8)
    for _ in range(2):
        with pytest.raises(InvalidToken, match="signature"):
            verifier.verify(forged)
    assert judged == [forged, forged]


def test_the_memory_holds_at_most_n_tokens_the_oldest_leaving_first(judged: list[str]) -> None:
    tokens = [issue_dev_token(SECRET, f"clerk-{n}") for n in range(4)]
    verifier = IdentityVerifier(dev_secret=SECRET, remember=3)
    for token in tokens:
        verifier.verify(token)
    assert judged == tokens
    # the three latest are remembered, the first was let go and is judged again
    for token in tokens[1:]:
        verifier.verify(token)
    assert judged == tokens
    assert verifier.verify(tokens[0]).staff_id == "clerk-0"
    assert judged == [*tokens, tokens[0]]
