"""Encryption at rest: stored state is ciphertext, reads decrypt, verify needs no key."""

from __future__ import annotations

import sqlite3
from urllib.parse import urlsplit

import pytest
from eventsourcing.cryptography import AESCipher

from casestore.domain import Case
from casestore.service import CaseService, SubmitCase
from casestore.store.application import CasestoreApp
from casestore.store.audit import verify
from tests.conftest import ADMIN, APPLICANT, CATALOGUE, CLERK, FakeClock


def test_events_are_encrypted_at_rest(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASESTORE_CIPHER_KEY", AESCipher.create_key(32))
    app = CasestoreApp(sqlite_url)
    service = CaseService(app, clock=FakeClock())
    service.load_catalogue(CATALOGUE, ADMIN)
    sub = service.handle(SubmitCase(actor=CLERK, item_code="XK-003", applicant=APPLICANT))
    with sqlite3.connect(urlsplit(sqlite_url).path) as conn:
        states = [bytes(r[0]) for r in conn.execute("SELECT state FROM casestore_events")]
    assert states and not any(APPLICANT.id_number.encode() in s for s in states)
    assert not any("张三".encode() in s for s in states)
    assert app.get(Case, sub.case_id).case_no == sub.case_no
    monkeypatch.delenv("CASESTORE_CIPHER_KEY")
    assert verify(CasestoreApp(sqlite_url), independent=True).ok  # no key needed
