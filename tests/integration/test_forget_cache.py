"""The write side's remembered data keys stay exact after a forget (issue 18): a key
destroyed by another connection (another process) is never sealed under again — the
group commit checks the remembered keys inside its write transaction, refuses only the
requests sealed under a destroyed one, and their append is sealed anew from the key
table: a new case of the forgotten subject gets a new key, a command on the subject's
case is refused (``SubjectErased``). A subject this process has not seen gets a new key
without a read; the commit refuses it when the subject has a live key (made by another
process), and the append is sealed again under that one: one live key per subject.
SQLite, and PostgreSQL under ``-m pg``/CI."""

from __future__ import annotations

from dataclasses import replace

import pytest

from casestore.domain import Party
from casestore.domain.errors import SubjectErased
from casestore.service import CaseService, SubmitCase
from casestore.service.commands import Correct
from casestore.store.application import CasestoreApp
from casestore.store.audit import verify
from casestore.store.batch import AppendRequest
from casestore.store.subjectkeys import KeysGone, KeysTaken
from tests.conftest import CLERK
from tests.integration.test_forget import ERASED, forgetting, world
from tests.integration.test_forget_keys import NEW, keys_of, links_to

__all__ = ["world"]  # the fixture, shared with test_forget.py

OTHER_NEW = Party("孙七", "resident_id", "110101195505055555", phone="13444445555")


def tokens_under(app: CasestoreApp, key_id: str, after: int) -> int:
    """Stored events after position ``after`` holding a token sealed under ``key_id``."""
    marker = f'"enc1:{key_id}:'.encode()
    return sum(marker in bytes(r.state) for r in app.log.iter_log(after))


def forget_elsewhere(app: CasestoreApp, subject: Party) -> None:
    """Forget ``subject`` through another application on the same database (another
    connection, its own key cache), as a second process would."""
    other = CasestoreApp(app.db_url)
    try:
        forgetting(other).forget(
            subject.id_number,
            by="adm-1",
            approved_by="adm-2",
            reason="court",
            ignore_retention=True,
        )
    finally:
        other.close()


def correct_phone(case_id: object, value: str) -> Correct:
    return Correct(
        actor=CLERK,
        case_id=case_id,
        corrects_version=1,
        fact="applicant.phone",
        wrong_value=NEW.phone or "",
        correct_value=value,
        reason="typo at intake",
    )


def test_a_forget_by_another_connection_is_seen_by_the_next_command(
    world: tuple[CasestoreApp, CaseService],
) -> None:
    """This process remembers the subject's key from its intake and a correction; another
    application on the same database (its own connections and memory: another process)
    forgets the subject. The next correction on the subject's case is refused and
    appends nothing; the subject's next case is sealed under a new key, readable; no
    event after the forget is sealed under the destroyed key."""
    app, service = world
    first = service.handle(SubmitCase(actor=CLERK, item_code="XK-003", applicant=NEW))
    service.handle(correct_phone(first.case_id, "13600000001"))
    [old] = keys_of(app, NEW.id_number)
    assert app.subject_keys is not None
    assert app.subject_keys.by_owner and app.subject_keys.by_ref  # remembered, not re-read

    forget_elsewhere(app, NEW)
    after = app.log.head()[0]

    with pytest.raises(SubjectErased):
        service.handle(correct_phone(first.case_id, "13600000002"))
    assert app.log.head()[0] == after  # refused: nothing appended

    second = service.handle(SubmitCase(actor=CLERK, item_code="XK-003", applicant=NEW))
    [(_, new_key)] = links_to(app, second.case_id.hex)
    assert new_key != old
    assert sorted(keys_of(app, NEW.id_number)) == sorted([old, new_key])
    assert tokens_under(app, old, after) == 0
    assert app.domain_events(second.case_id)[0].applicant.name == "王五"
    assert app.domain_events(first.case_id)[0].applicant.name == ERASED
    assert verify(app, independent=True).ok


def test_a_new_case_after_a_forget_elsewhere_gets_a_new_key(
    world: tuple[CasestoreApp, CaseService],
) -> None:
    """This process remembers the subject's live key from a first case; another
    connection forgets the subject; the subject's next case here (sealed first under the
    remembered key, refused by the commit's check, sealed again) is under a new key."""
    app, service = world
    first = service.handle(SubmitCase(actor=CLERK, item_code="XK-003", applicant=NEW))
    [old] = keys_of(app, NEW.id_number)
    forget_elsewhere(app, NEW)
    after = app.log.head()[0]
    second = service.handle(SubmitCase(actor=CLERK, item_code="XK-003", applicant=NEW))
    [(_, new_key)] = links_to(app, second.case_id.hex)
    assert new_key != old and tokens_under(app, old, after) == 0
    assert app.log.head()[0] == after + 2  # the case and its number, once
    assert app.domain_events(second.case_id)[0].applicant.name == "王五"
    assert app.domain_events(first.case_id)[0].applicant.name == ERASED


def test_a_batch_fails_only_the_request_sealed_under_a_destroyed_key(
    world: tuple[CasestoreApp, CaseService],
) -> None:
    """One group-commit batch of two intakes, the first sealed under a key destroyed
    before the commit: it fails with ``KeysGone`` and nothing of it is written; the
    second commits."""
    app, service = world
    service.handle(SubmitCase(actor=CLERK, item_code="XK-003", applicant=NEW))
    [gone] = keys_of(app, NEW.id_number)
    forgetting(app).forget(
        NEW.id_number, by="adm-1", approved_by="adm-2", reason="court", ignore_retention=True
    )
    head = app.log.head()[0]
    requests = []
    for party in (NEW, OTHER_NEW):
        new = service.open_case(SubmitCase(actor=CLERK, item_code="XK-003", applicant=party))
        events = [*new.case.collect_events(), *new.index.collect_events()]
        stored = [app.mapper.to_stored_event(e) for e in events]
        app.subject_keys.end_append(committed=False)  # type: ignore[union-attr]
        if party is NEW:  # as if sealed under the key this process remembered
            stored = [replace(s, sealed_under=(gone,)) for s in stored]  # type: ignore[type-var]
        requests.append(AppendRequest(stored))
    app.recorder.committer._commit(requests)
    refused, written = requests
    assert isinstance(refused.error, KeysGone) and refused.error.key_ids == {gone}
    assert refused.positions is None
    assert written.error is None and written.positions == [head + 1, head + 2]
    assert app.log.head()[0] == head + 2
    assert keys_of(app, NEW.id_number) == [gone]  # the refused request's new key: not written
    assert len(keys_of(app, OTHER_NEW.id_number)) == 1
    assert app.domain_events(written.events[0].originator_id)[0].applicant.name == "孙七"


def intake_elsewhere(app: CasestoreApp, subject: Party) -> str:
    """A case of ``subject`` recorded through another application on the same database
    (another process, the same master key); the subject's one key."""
    other = CasestoreApp(app.db_url)
    try:
        service = CaseService(other)
        service.handle(SubmitCase(actor=CLERK, item_code="XK-003", applicant=subject))
        [key_id] = keys_of(other, subject.id_number)
    finally:
        other.close()
    return key_id


def test_a_subject_with_a_key_made_elsewhere_keeps_its_one_live_key(
    world: tuple[CasestoreApp, CaseService],
) -> None:
    """Another process made the subject's key; this one has not seen the subject, makes
    a new key without reading, and the commit refuses it (nothing written). The append
    is sealed again under the subject's live key: one key, the case linked to it, the
    case and its number appended once, readable; the next case needs no second try."""
    app, service = world
    elsewhere = intake_elsewhere(app, NEW)
    head = app.log.head()[0]
    case = service.handle(SubmitCase(actor=CLERK, item_code="XK-003", applicant=NEW))
    assert app.log.head()[0] == head + 2
    assert keys_of(app, NEW.id_number) == [elsewhere]
    assert links_to(app, case.case_id.hex) == [("applicant", elsewhere)]
    assert app.domain_events(case.case_id)[0].applicant.name == "王五"
    again = service.handle(SubmitCase(actor=CLERK, item_code="XK-003", applicant=NEW))
    assert links_to(app, again.case_id.hex) == [("applicant", elsewhere)]
    assert app.log.head()[0] == head + 4
    assert verify(app, independent=True).ok


def test_a_batch_fails_only_the_request_bringing_a_second_live_key(
    world: tuple[CasestoreApp, CaseService],
) -> None:
    """One group-commit batch of two intakes, the first bringing a new key for a subject
    that has a live key made elsewhere: it fails with ``KeysTaken`` and nothing of it is
    written (no second key); the second commits with its new key."""
    app, service = world
    elsewhere = intake_elsewhere(app, NEW)
    head = app.log.head()[0]
    requests = []
    for party in (NEW, OTHER_NEW):
        new = service.open_case(SubmitCase(actor=CLERK, item_code="XK-003", applicant=party))
        events = [*new.case.collect_events(), *new.index.collect_events()]
        requests.append(AppendRequest([app.mapper.to_stored_event(e) for e in events]))
        app.subject_keys.end_append(committed=False)  # type: ignore[union-attr]
    app.recorder.committer._commit(requests)
    refused, written = requests
    assert isinstance(refused.error, KeysTaken)
    assert refused.error.refs == {app.subject_keys.ref_of(NEW.id_number)}  # type: ignore[union-attr]
    assert refused.positions is None
    assert written.error is None and written.positions == [head + 1, head + 2]
    assert keys_of(app, NEW.id_number) == [elsewhere]
    assert len(keys_of(app, OTHER_NEW.id_number)) == 1
