"""Per-subject keys and forgetting (issue 18): erased everywhere, proofs intact."""

from __future__ import annotations

import base64
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from casestore.authority import Authority
from casestore.domain import Case, Party
from casestore.domain.errors import InvalidCommand, RuleViolation, SubjectErased
from casestore.service import CaseService, SubmitCase
from casestore.service.commands import Correct, Withdraw
from casestore.service.forgetting import Forgetting
from casestore.store.application import CasestoreApp
from casestore.store.audit import verify
from tests.conftest import ADMIN, APPLICANT, CATALOGUE, CLERK, FakeClock
from tests.integration.test_backup_restore import _cli

OTHER = Party("李四", "resident_id", "110101198505054321", phone="13911112222")
ERASED = "〔已删除〕"  # SPEC §10 / issue 18, written by hand


def new_master() -> str:
    return base64.b64encode(os.urandom(32)).decode()


@pytest.fixture
def world(store_url: str, monkeypatch: pytest.MonkeyPatch) -> tuple[CasestoreApp, CaseService]:
    """A store with a master key (SQLite, and PostgreSQL under ``-m pg``/CI)."""
    monkeypatch.setenv("CASESTORE_CIPHER_KEY", new_master())
    app = CasestoreApp(store_url)
    clock = FakeClock(datetime(2024, 3, 4, 9, tzinfo=UTC))
    service = CaseService(app, clock=clock)
    service.load_catalogue(CATALOGUE, ADMIN)
    authority = Authority(app, clock)
    authority.enroll("adm-1", name="局长", first_admin=True)
    authority.enroll("adm-2", name="副局长", by="adm-1")
    authority.grant("adm-2", "admin", by="adm-1", reason="second admin")
    return app, service


def stored_states(app: CasestoreApp) -> list[bytes]:
    return [bytes(r.state) for r in app.log.iter_log(0)]


def log_rows(app: CasestoreApp) -> list[tuple[int, bytes, bytes, bytes]]:
    """Every stored byte and hash, as the store holds them (no decoding)."""
    return [
        (r.position, bytes(r.state), bytes(r.event_hash), bytes(r.chain_hash))
        for r in app.log.iter_log(0)
    ]


def submit_and_close(service: CaseService, applicant: Party) -> Case:
    sub = service.handle(SubmitCase(actor=CLERK, item_code="XK-003", applicant=applicant))
    service.handle(
        Correct(
            actor=CLERK,
            case_id=sub.case_id,
            corrects_version=1,
            fact="applicant.phone",
            wrong_value=applicant.phone,
            correct_value="13700001111",
            reason="typo at intake",
        )
    )
    service.handle(Withdraw(actor=CLERK, case_id=sub.case_id, reason="applicant withdrew"))
    return service.app.get(Case, sub.case_id)


def forgetting(app: CasestoreApp, year: int = 2060) -> Forgetting:
    return Forgetting(app, lambda: datetime(year, 1, 1, tzinfo=UTC))


def test_personal_fields_are_sealed_per_subject_and_read_back(
    world: tuple[CasestoreApp, CaseService],
) -> None:
    app, service = world
    case = submit_and_close(service, APPLICANT)
    states = stored_states(app)
    for secret in (APPLICANT.id_number, APPLICANT.phone, "张三", "13700001111"):
        assert not any(secret.encode() in s for s in states), secret
    assert any(b'"enc1:' in s for s in states)
    assert any(b'"XK-003"' in s for s in states)  # non-personal fields stay in clear
    first = app.domain_events(case.id)[0]
    assert (first.applicant.name, first.applicant.id_number) == ("张三", "110101199001011234")
    correction = app.domain_events(case.id)[1]
    assert (correction.wrong_value, correction.correct_value) == ("13800000000", "13700001111")


def test_forget_erases_one_subject_and_keeps_the_log_intact(
    world: tuple[CasestoreApp, CaseService],
) -> None:
    app, service = world
    gone = submit_and_close(service, APPLICANT)
    kept = submit_and_close(service, OTHER)
    before = log_rows(app)
    done = forgetting(app).forget(
        "110101199001011234", by="adm-1", approved_by="adm-2", reason="retention over"
    )
    assert done.case_ids == [gone.id]
    after = log_rows(app)
    assert after[: len(before)] == before  # no stored byte or hash changed
    assert len(after) == len(before) + 1
    assert verify(app, independent=True).ok
    first = app.domain_events(gone.id)[0]
    assert (first.applicant.name, first.applicant.id_number, first.applicant.phone) == (
        ERASED,
        ERASED,
        ERASED,
    )
    assert app.domain_events(gone.id)[1].correct_value == ERASED
    assert first.case_no == gone.case_no and first.item_code == "XK-003"  # clear fields stay
    other = app.domain_events(kept.id)[0]
    assert (other.applicant.name, other.applicant.id_number) == ("李四", "110101198505054321")
    # a fresh process with the same key table sees the same
    fresh = CasestoreApp(app.db_url)
    assert fresh.domain_events(gone.id)[0].applicant.name == ERASED
    assert fresh.domain_events(kept.id)[0].applicant.name == "李四"


def test_forget_refused_inside_retention_and_without_a_second_admin(
    world: tuple[CasestoreApp, CaseService],
) -> None:
    app, service = world
    submit_and_close(service, APPLICANT)
    early = forgetting(app, year=2030)  # XK-003 keeps 30 years from 2024
    with pytest.raises(RuleViolation, match="retention not over"):
        early.forget(APPLICANT.id_number, by="adm-1", approved_by="adm-2", reason="asked")
    with pytest.raises(InvalidCommand, match="someone other"):
        early.forget(APPLICANT.id_number, by="adm-1", approved_by="adm-1", reason="asked")
    assert app.domain_events(app.log.iter_log(0).__next__().originator_id)  # log still reads
    done = early.forget(
        APPLICANT.id_number,
        by="adm-1",
        approved_by="adm-2",
        reason="court order (2030) 民初 1 号",
        ignore_retention=True,
    )
    assert done.key_ids


def test_retention_due_lists_subjects_whose_every_case_is_past_retention(
    world: tuple[CasestoreApp, CaseService],
) -> None:
    app, service = world
    submit_and_close(service, APPLICANT)
    service.handle(SubmitCase(actor=CLERK, item_code="XK-003", applicant=OTHER))  # stays open
    assert app.subject_keys is not None
    refs = {s.subject_ref for s in forgetting(app, 2055).retention_due()}
    assert refs == {app.subject_keys.ref_of(APPLICANT.id_number)}
    assert forgetting(app, 2053).retention_due() == []  # closed 2024-03-04 + 30 years


def test_master_key_rotation_rewraps_without_touching_the_log(
    world: tuple[CasestoreApp, CaseService], monkeypatch: pytest.MonkeyPatch
) -> None:
    app, service = world
    case = submit_and_close(service, APPLICANT)
    before = log_rows(app)
    new = new_master()
    assert app.subject_keys is not None
    assert app.subject_keys.rotate(base64.b64decode(new)) == 2  # the ref key and one data key
    assert log_rows(app) == before
    monkeypatch.setenv("CASESTORE_CIPHER_KEY", new)
    rotated = CasestoreApp(app.db_url)
    events = rotated.domain_events(case.id)
    assert events[0].applicant.id_number == "110101199001011234"
    assert events[1].correct_value == "13700001111"
    assert verify(rotated, independent=True).ok


def test_no_new_personal_data_on_a_forgotten_subjects_case(
    world: tuple[CasestoreApp, CaseService],
) -> None:
    app, service = world
    case = submit_and_close(service, APPLICANT)
    forgetting(app).forget(APPLICANT.id_number, by="adm-1", approved_by="adm-2", reason="due")
    positions = app.log.head()[0]
    with pytest.raises(SubjectErased):
        service.handle(
            Correct(
                actor=CLERK,
                case_id=case.id,
                corrects_version=1,
                fact="applicant.phone",
                wrong_value="x",
                correct_value="13600000000",
                reason="late",
            )
        )
    assert app.log.head()[0] == positions  # refused: nothing appended


def test_a_forget_racing_commands_is_never_half_applied(
    world: tuple[CasestoreApp, CaseService], tmp_path: Path
) -> None:
    """Corrections with personal data race a forget (retention overridden, case open):
    each correction is either refused or sealed under the destroyed key; none is readable
    afterwards, and the log verifies."""
    app, service = world
    sub = service.handle(SubmitCase(actor=CLERK, item_code="XK-003", applicant=APPLICANT))
    outcomes: list[str] = []
    start = threading.Barrier(2)

    def correct() -> None:
        start.wait()
        for i in range(30):
            try:
                service.handle(
                    Correct(
                        actor=CLERK,
                        case_id=sub.case_id,
                        corrects_version=1,
                        fact="applicant.phone",
                        wrong_value="13800000000",
                        correct_value=f"1370000{i:04d}",
                        reason="race",
                    )
                )
                outcomes.append("appended")
            except SubjectErased:
                outcomes.append("refused")
            except Exception as e:  # anything else is a failure of the test
                outcomes.append(f"error: {e!r}")

    worker = threading.Thread(target=correct)
    worker.start()
    start.wait()
    forgetting(app).forget(
        APPLICANT.id_number,
        by="adm-1",
        approved_by="adm-2",
        reason="court order",
        ignore_retention=True,
    )
    worker.join()
    assert len(outcomes) == 30 and set(outcomes) <= {"refused", "appended"}, outcomes
    fresh = CasestoreApp(app.db_url)
    for event in fresh.domain_events(sub.case_id):
        if isinstance(event, Case.Corrected):
            assert event.correct_value == ERASED
    assert fresh.domain_events(sub.case_id)[0].applicant.phone == ERASED
    assert verify(fresh, independent=True).ok


def test_projections_erase_on_forget_and_rebuild_to_the_same(
    world: tuple[CasestoreApp, CaseService],
) -> None:
    """The live views after the forget equal a rebuild from zero; against the views before
    it, the case_status rows differ only in the forgotten applicant's masked name."""
    from casestore.projections.engine.db import ViewDB, snapshot
    from casestore.projections.runtime.live import EmbeddedWorkers
    from casestore.projections.runtime.logsource import LogSource
    from casestore.projections.runtime.registry import all_projections
    from casestore.projections.runtime.worker import rebuild_into

    app, service = world
    names = [p.name for p in all_projections()]
    db = ViewDB(app.db_url)
    with EmbeddedWorkers(app, names, db=db, poll_interval=0.05, batch=50) as workers:
        gone = submit_and_close(service, APPLICANT)
        kept = submit_and_close(service, OTHER)
        assert workers.wait_for(app.log.head()[0])
        before = snapshot(db, next(p for p in all_projections() if p.name == "case_status"))
        forgetting(app).forget(APPLICANT.id_number, by="adm-1", approved_by="adm-2", reason="r")
        assert workers.wait_for(app.log.head()[0])
    source = LogSource(app)
    for projection in all_projections():
        live = snapshot(db, projection)
        rebuild_into(source, db, projection, target="again", upto=app.log.head()[0])
        assert snapshot(db, projection, "again") == live, projection.name
    status = next(p for p in all_projections() if p.name == "case_status")
    after = snapshot(db, status)
    columns = [c.name for c in status.tables[0].columns]
    masked = columns.index("applicant_masked")
    rows_before = {r[0]: r for r in before["case_status"]}
    rows_after = {r[0]: r for r in after["case_status"]}
    assert rows_before[str(kept.id)] == rows_after[str(kept.id)]
    was, now = rows_before[str(gone.id)], rows_after[str(gone.id)]
    assert (was[masked], now[masked]) == ("张*", ERASED)
    assert [i for i, (x, y) in enumerate(zip(was, now, strict=True)) if x != y] == [masked]
    source.close()
    db.close()


@pytest.fixture
def restore_target(store_url: str, tmp_path: Path) -> Iterator[str]:
    """An empty database of the same backend to restore into."""
    if store_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'restored.db'}"
        return
    from tests.pgharness import create_database, drop_database, server_info

    server = server_info()
    assert server is not None
    url = create_database(server.admin_url)
    try:
        yield url
    finally:
        drop_database(server.admin_url, url)


def test_a_backup_carries_the_subjects_keys(
    world: tuple[CasestoreApp, CaseService], restore_target: str, tmp_path: Path
) -> None:
    """``casestore backup``/``restore`` keep the key table with the log: the restored store
    reads the personal fields with the same master key (and nothing else changed)."""
    app, service = world
    case = submit_and_close(service, APPLICANT)
    taken = _cli("backup", "--db", app.db_url, "-o", str(tmp_path / "bk"))
    assert taken.returncode == 0, taken.stderr
    restored = _cli("restore", str(tmp_path / "bk"), "--db", restore_target)
    assert restored.returncode == 0, restored.stdout + restored.stderr
    back = CasestoreApp(restore_target)
    try:
        first = back.domain_events(case.id)[0]
        assert (first.applicant.name, first.applicant.id_number) == ("张三", APPLICANT.id_number)
        assert log_rows(back) == log_rows(app)
    finally:
        back.close()


def test_a_forget_reason_over_2000_characters_is_refused_and_changes_nothing(
    world: tuple[CasestoreApp, CaseService],
) -> None:
    """``casestore forget`` with a 2001-character reason (kept in the log forever, so
    bounded like the API's texts): refused, exit 1 (README: a refused forget), no event
    appended, no key destroyed; 2000 characters are taken."""
    app, service = world
    case = submit_and_close(service, APPLICANT)
    before = log_rows(app)
    args = ("forget", APPLICANT.id_number, "--approved-by", "adm-2", "--by", "adm-1")
    refused = _cli(*args, "--reason", "因" * 2001, "--ignore-retention", "--db", app.db_url)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "refused" in refused.stderr and "2000" in refused.stderr
    assert log_rows(app) == before
    fresh = CasestoreApp(app.db_url)  # another process's view: the key is still there
    try:
        assert fresh.domain_events(case.id)[0].applicant.name == "张三"
    finally:
        fresh.close()
    taken = _cli(*args, "--reason", "因" * 2000, "--ignore-retention", "--db", app.db_url)
    assert taken.returncode == 0, taken.stdout + taken.stderr
    assert len(log_rows(app)) == len(before) + 1
    assert app.domain_events(case.id)[0].applicant.name == ERASED
