"""Query codes are stored as a peppered HMAC with a key id; old sha256 forms still verify."""

from __future__ import annotations

import base64
import hashlib
import hmac
from uuid import UUID

import pytest

from casestore.identity import BadConfiguration
from casestore.querycode import QueryPeppers

CASE = UUID("12345678-1234-5678-1234-567812345678")
K1 = base64.urlsafe_b64encode(b"1" * 32).decode()
K2 = base64.urlsafe_b64encode(b"2" * 32).decode()


def test_digest_is_hmac_sha256_with_key_id() -> None:
    stored = QueryPeppers.parse(f"k1:{K1}").digest(CASE, "042137")
    expected = hmac.new(b"1" * 32, CASE.bytes + b"042137", hashlib.sha256).hexdigest()
    assert stored == f"hmac-sha256:k1:{expected}"


def test_rotation_checks_old_codes_and_digests_new_ones_with_the_first_key() -> None:
    old = QueryPeppers.parse(f"k1:{K1}").digest(CASE, "042137")
    rotated = QueryPeppers.parse(f"k2:{K2},k1:{K1}")
    assert rotated.matches(old, CASE, "042137")
    assert not rotated.matches(old, CASE, "042138")
    assert rotated.digest(CASE, "042137").startswith("hmac-sha256:k2:")
    assert not QueryPeppers.parse(f"k2:{K2}").matches(old, CASE, "042137")  # k1 retired


def test_legacy_sha256_digests_still_verify() -> None:
    legacy = hashlib.sha256(CASE.bytes + b"042137").hexdigest()
    peppers = QueryPeppers.parse(f"k1:{K1}")
    assert peppers.matches(legacy, CASE, "042137")
    assert not peppers.matches(legacy, CASE, "000000")
    assert not peppers.matches("", CASE, "")  # an imported case has no code


@pytest.mark.parametrize(
    "value", ["", "k1", f"bad kid!:{K1}", "k1:" + base64.b64encode(b"short").decode(), "k1:***"]
)
def test_bad_settings_are_refused(value: str) -> None:
    with pytest.raises(BadConfiguration):
        QueryPeppers.parse(value)


def test_setting_round_trips() -> None:
    peppers = QueryPeppers.parse(f"k2:{K2},k1:{K1}")
    again = QueryPeppers.parse(peppers.setting())
    assert again.digest(CASE, "1") == peppers.digest(CASE, "1")
    assert again.matches(QueryPeppers.parse(f"k1:{K1}").digest(CASE, "1"), CASE, "1")
