"""Where per-subject keys are written (issue 18): a new data key and its link go into the
key table in the transaction of the event sealed under them, never on their own, and
the events of one append share them (SQLite, and PostgreSQL under ``-m pg``/CI)."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

import pytest
from eventsourcing.persistence import OperationalError

from casestore.domain import Case, Party
from casestore.service import CaseService, SubmitCase
from casestore.service.commands import SubmitBundle
from casestore.store.application import CasestoreApp
from casestore.store.audit import verify
from casestore.store.subjectkeys import KEYS, LINKS
from tests.conftest import CLERK
from tests.integration.test_forget import ERASED, forgetting, stored_states, world

__all__ = ["world"]  # the fixture, shared with test_forget.py

NEW = Party("王五", "resident_id", "110101197707077777", phone="13655556666")


def keys_of(app: CasestoreApp, subject: str) -> list[str]:
    assert app.subject_keys is not None
    ref = app.subject_keys.ref_of(subject)
    return [
        str(r[0])
        for r in app.subject_keys.table.read(f"SELECT key_id FROM {KEYS} WHERE ref = ?", (ref,))
    ]


def links_to(app: CasestoreApp, owner: str) -> list[tuple[str, str]]:
    """(party, key id) of every key protecting the aggregate: the keys made for it (their
    row names it: key-table layout 3) and those linked to it."""
    assert app.subject_keys is not None
    rows = app.subject_keys.table.read(
        f"SELECT party, key_id FROM {KEYS} WHERE owner_id = ? UNION ALL "
        f"SELECT party, key_id FROM {LINKS} WHERE owner_id = ? ORDER BY 1",
        (owner, owner),
    )
    return [(str(p), str(k)) for p, k in rows]


def test_a_new_subjects_key_is_written_with_its_event_or_not_at_all(
    world: tuple[CasestoreApp, CaseService], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The commit of a new subject's first case fails: no key and no link of it remain
    (its key would protect nothing). The retry creates one key, linked, readable."""
    app, service = world
    command = SubmitCase(actor=CLERK, item_code="XK-003", applicant=NEW)

    def down(batch: object) -> None:
        raise OperationalError("the database went away")

    with monkeypatch.context() as patch:
        patch.setattr(app.recorder.committer, "_commit", down)
        with pytest.raises(OperationalError):
            service.handle(command)
    assert keys_of(app, NEW.id_number) == []
    head = app.log.head()[0]
    sub = service.handle(command)
    assert app.log.head()[0] == head + 2  # the case and its number, nothing before
    [key_id] = keys_of(app, NEW.id_number)
    assert links_to(app, sub.case_id.hex) == [("applicant", key_id)]
    first = app.domain_events(sub.case_id)[0]
    assert (first.applicant.name, first.applicant.phone) == ("王五", "13655556666")
    assert not any(b"13655556666" in s for s in stored_states(app))


def test_one_append_shares_a_new_key_across_its_events(
    world: tuple[CasestoreApp, CaseService],
) -> None:
    """A bundle's intake (the bundle and a case per item, one append) seals everything of
    its applicant under one new key; a case appended with a later personal event (as an
    import appends a whole history) seals that event under the same key as its intake,
    before either is in the table. Both read back, and a forget erases both."""
    app, service = world
    bundle = service.handle(SubmitBundle(actor=CLERK, bundle_code="YJS-002", applicant=NEW))
    [key_id] = keys_of(app, NEW.id_number)
    children = [c.case_id for c in bundle.children.values()]
    owners = [bundle.bundle_id, *children]
    assert len(owners) >= 3
    for owner in owners:
        assert links_to(app, owner.hex) == [("applicant", key_id)]
    for child in children:
        assert app.domain_events(child)[0].applicant.name == "王五"

    other = Party("赵六", "resident_id", "110101196606066666", phone="13566667777")
    new = service.open_case(SubmitCase(actor=CLERK, item_code="XK-003", applicant=other))
    new.case.correct(
        corrects_version=1,
        fact="applicant.phone",
        wrong_value="13566667777",
        correct_value="13599990000",
        reason="typo at intake",
        actor=CLERK,
        at=datetime(2024, 3, 4, 10, tzinfo=UTC),
    )
    app.append(new.case, new.index)
    [other_key] = keys_of(app, other.id_number)
    submitted, corrected = app.domain_events(new.case.id)
    assert isinstance(corrected, Case.Corrected)
    assert (submitted.applicant.phone, corrected.correct_value) == ("13566667777", "13599990000")
    states = stored_states(app)
    assert not any(b"13599990000" in s or "王五".encode() in s for s in states)
    assert sum(f'"enc1:{other_key}:'.encode() in s for s in states) == 2

    forgetting(app).forget(
        other.id_number, by="adm-1", approved_by="adm-2", reason="court", ignore_retention=True
    )
    fresh = CasestoreApp(app.db_url)
    submitted, corrected = fresh.domain_events(new.case.id)
    assert (submitted.applicant.name, corrected.correct_value) == (ERASED, ERASED)
    assert fresh.domain_events(children[0])[0].applicant.name == "王五"
    assert verify(fresh, independent=True).ok


def test_after_a_forget_the_subjects_next_case_gets_a_new_key(
    world: tuple[CasestoreApp, CaseService],
) -> None:
    """Nothing of a destroyed key is reused by this process: the subject's next case is
    sealed under a new key, readable, while the first stays erased."""
    app, service = world
    first = service.handle(SubmitCase(actor=CLERK, item_code="XK-003", applicant=NEW))
    [old] = keys_of(app, NEW.id_number)
    forgetting(app).forget(
        NEW.id_number, by="adm-1", approved_by="adm-2", reason="court", ignore_retention=True
    )
    second = service.handle(SubmitCase(actor=CLERK, item_code="XK-003", applicant=NEW))
    [(_, new_key)] = links_to(app, second.case_id.hex)
    assert new_key != old and sorted(keys_of(app, NEW.id_number)) == sorted([old, new_key])
    assert app.domain_events(second.case_id)[0].applicant.name == "王五"
    assert app.domain_events(first.case_id)[0].applicant.name == ERASED


def test_a_reader_of_some_fields_opens_only_those(
    world: tuple[CasestoreApp, CaseService], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The case list reads the applicant's name, nothing else personal: a reader naming
    ``name`` gets the names in clear, every other personal field sealed (〔已加密〕), and
    fetches only the keys of the names' tokens."""
    app, service = world
    sub = service.handle(SubmitCase(actor=CLERK, item_code="XK-003", applicant=NEW))
    states = [s for s in stored_states(app) if b'"enc1:' in s]
    assert len(states) == 1
    keys = app.subject_keys
    assert keys is not None
    keys.keys.clear()
    fetched: list[set[str]] = []
    real = keys.prefetch
    monkeypatch.setattr(keys, "prefetch", lambda ids: fetched.append(set(ids)) or real(ids))
    names = app.unwrapper(personal=frozenset({"name"}))(states)
    assert names is not None
    text = names(states[0]).decode()
    assert "王五" in text and "enc1:" not in text
    assert "110101197707077777" not in text and "13655556666" not in text
    assert text.count("〔已加密〕") == 2  # the ID number and the phone
    assert fetched == [set(keys_of(app, NEW.id_number))]
    fetched.clear()
    none = app.unwrapper(personal=frozenset({"recipient"}))(states)
    assert none is not None
    assert "王五" not in none(states[0]).decode() and fetched == [set()]
    everything = app.unwrapper()(states)
    assert everything is not None and "13655556666" in everything(states[0]).decode()
    assert app.domain_events(sub.case_id)[0].applicant.phone == "13655556666"


def test_a_subjects_ref_is_hmac_sha256_of_its_normalised_id_under_the_ref_key(
    world: tuple[CasestoreApp, CaseService],
) -> None:
    """What the log names a subject by (SPEC §10): the first 32 hex digits of
    HMAC-SHA256(ref key, trimmed upper-case ID number), the same for every call."""
    app, _ = world
    keys = app.subject_keys
    assert keys is not None
    ref_key = keys._load_ref_key()
    for subject, normalised in (
        ("11010119900101123x", b"11010119900101123X"),
        (" 91110000100000000A ", b"91110000100000000A"),
    ):
        expected = hmac.new(ref_key, normalised, hashlib.sha256).hexdigest()[:32]
        assert [keys.ref_of(subject), keys.ref_of(subject)] == [expected, expected]


def test_the_keys_a_process_keeps_open_are_bounded(
    world: tuple[CasestoreApp, CaseService], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An open data key holds ~2.5 KB of cipher context, so neither the read side's open
    keys nor the write side's remembered ones grow with the number of subjects: past the
    bound they are let go and read again from the key table when next needed, and every
    event still reads in clear."""
    from casestore.store import subjectkeys

    app, service = world
    keys = app.subject_keys
    assert keys is not None
    monkeypatch.setattr(subjectkeys, "OPEN_KEYS_MAX", 3)
    monkeypatch.setattr(subjectkeys, "USED_MAX", 3)
    phones = [f"136{n:08d}" for n in range(7)]
    cases = [
        service.handle(
            SubmitCase(
                actor=CLERK,
                item_code="XK-003",
                applicant=Party(f"申请人{n}", "resident_id", f"1101011980010{n:05d}", phone=p),
            )
        ).case_id
        for n, p in enumerate(phones)
    ]
    assert len(keys.by_ref) <= 3 and len(keys.by_owner) <= 3
    keys.keys.clear()
    for case_id, phone in zip(cases, phones, strict=True):  # one at a time: cached()
        assert app.domain_events(case_id)[0].applicant.phone == phone
        assert len(keys.keys) <= 3
    states = [s for s in stored_states(app) if b'"enc1:' in s]
    opened = app.unwrapper()(states)  # all at once: prefetch()
    assert opened is not None
    text = "".join(opened(s).decode() for s in states)
    assert all(p in text for p in phones)
    assert len(keys.keys) <= len(states)
