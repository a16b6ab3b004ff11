"""Forgetting as an operator runs it (issue 18), through the real ``casestore`` command on
both backends: ``retention due`` and ``keys rotate``, a printed notice (PDF) after a
forget, and forgetting a 委托代办 agent without touching the applicant. Expected values
are written by hand from SPEC §10 and the README."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from casestore.authority import Authority
from casestore.domain import Party
from casestore.service import CaseService, SubmitCase
from casestore.service.commands import Accept, LoadCatalogue, Withdraw
from casestore.store.application import CasestoreApp
from tests.conftest import ADMIN, APPLICANT, CATALOGUE, CLERK, FakeClock

CASESTORE = str(Path(sys.executable).with_name("casestore"))
ERASED = "〔已删除〕"
AGENT = Party(
    "王五", "resident_id", "110101197003037777", phone="13655556666", mandate="委托书 2024-017"
)
OPEN = Party("李四", "resident_id", "110101198505054321", phone="13911112222")


def new_master() -> str:
    return base64.b64encode(os.urandom(32)).decode()


class Bureau:
    """A store with a master key, two admins and a clerk, and the CLI to run on it."""

    def __init__(self, url: str, master: str) -> None:
        self.url, self.master = url, master
        self.app = CasestoreApp(url)
        clock = FakeClock(datetime(2024, 3, 4, 9, tzinfo=UTC))
        self.service = CaseService(self.app, clock=clock)
        self.service.load_catalogue(CATALOGUE, ADMIN)
        authority = Authority(self.app, clock)
        authority.enroll("adm-1", name="局长", first_admin=True)
        authority.enroll("adm-2", name="副局长", by="adm-1")
        authority.grant("adm-2", "admin", by="adm-1", reason="second admin")

    def run(self, *args: str, master: str | None = None) -> subprocess.CompletedProcess[str]:
        keep = {k: v for k, v in os.environ.items() if not k.startswith("CASESTORE_")}
        env = {**keep, "CASESTORE_CIPHER_KEY": master or self.master}
        return subprocess.run(
            [CASESTORE, *args, "--db", self.url],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    def forget(self, subject: str) -> str:
        done = self.run(
            "forget", subject, "--reason", "法院判决 (2026) 民初 7 号", "--by", "adm-1",
            "--approved-by", "adm-2", "--ignore-retention",
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout


@pytest.fixture
def bureau(store_url: str, monkeypatch: pytest.MonkeyPatch) -> Bureau:
    master = new_master()
    monkeypatch.setenv("CASESTORE_CIPHER_KEY", master)
    return Bureau(store_url, master)


def test_retention_due_through_the_cli_names_only_subjects_past_retention(
    bureau: Bureau,
) -> None:
    """XK-003 kept one year: a case closed on 2024-03-04 is due (today is later); a
    subject with an open case is not."""
    svc = bureau.service
    svc.handle(
        LoadCatalogue(
            actor=ADMIN, items=[{"code": "XK-003", "retention_years": 1}], reason="档案期限调整"
        )
    )
    closed = svc.handle(SubmitCase(actor=CLERK, item_code="XK-003", applicant=APPLICANT))
    svc.handle(Withdraw(actor=CLERK, case_id=closed.case_id, reason="申请人撤回"))
    svc.handle(SubmitCase(actor=CLERK, item_code="XK-003", applicant=OPEN))
    done = bureau.run("retention", "due", "--json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert bureau.app.subject_keys is not None
    assert [r["subject_ref"] for r in rows] == [bureau.app.subject_keys.ref_of(APPLICANT.id_number)]
    (case,) = rows[0]["cases"]
    assert case["case_no"] == closed.case_no and case["item_code"] == "XK-003"
    assert case["keep_until"].startswith("2025-03-04")  # closed 2024-03-04 + 1 year
    plain = bureau.run("retention", "due")
    assert plain.returncode == 0 and plain.stdout.rstrip().endswith("1 subject(s) due")


def test_keys_rotate_through_the_cli_rewraps_and_the_new_key_reads(
    bureau: Bureau, tmp_path: Path
) -> None:
    svc = bureau.service
    svc.handle(SubmitCase(actor=CLERK, item_code="XK-003", applicant=APPLICANT))
    before = [(bytes(r.state), bytes(r.chain_hash)) for r in bureau.app.log.iter_log(0)]
    new = new_master()
    key_file = tmp_path / "new.key"
    key_file.write_text(new + "\n")
    bad = tmp_path / "bad.key"
    bad.write_text(base64.b64encode(b"short").decode())
    refused = bureau.run("keys", "rotate", "--new-key-file", str(bad))
    assert refused.returncode == 2 and "16, 24 or 32 bytes" in refused.stderr
    done = bureau.run("keys", "rotate", "--new-key-file", str(key_file))
    assert done.returncode == 0, done.stderr
    assert "re-wrapped 2 key(s)" in done.stdout  # the subject ref key and one data key
    after = [(bytes(r.state), bytes(r.chain_hash)) for r in bureau.app.log.iter_log(0)]
    assert after == before  # the log is not touched
    exported = bureau.run("export", master=new)
    assert exported.returncode == 0, exported.stderr
    assert "张三" in exported.stdout and "110101199001011234" in exported.stdout
    verified = bureau.run("verify", master=new)
    assert verified.returncode == 0 and "INTACT" in verified.stdout


def _pdf_text(path: Path) -> str:
    return subprocess.run(
        ["pdftotext", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def test_a_printed_notice_after_a_forget_shows_the_erasure(bureau: Bureau, tmp_path: Path) -> None:
    svc = bureau.service
    case = svc.handle(SubmitCase(actor=CLERK, item_code="XK-003", applicant=APPLICANT))
    svc.handle(Accept(actor=CLERK, case_id=case.case_id))
    before, after = tmp_path / "before.pdf", tmp_path / "after.pdf"
    printed = bureau.run("document", case.case_no, "acceptance", "-o", str(before))
    assert printed.returncode == 0, printed.stderr
    assert "张三" in _pdf_text(before)
    assert "SubjectForgotten at position" in bureau.forget(APPLICANT.id_number)
    printed = bureau.run("document", case.case_no, "acceptance", "-o", str(after))
    assert printed.returncode == 0, printed.stderr
    text = _pdf_text(after)
    assert "受理通知书" in text and ERASED in text
    for secret in ("张三", "110101199001011234", "13800000000"):
        assert secret not in text, secret


def test_forgetting_an_agent_keeps_the_applicant(bureau: Bureau) -> None:
    """委托代办: the agent is a subject of their own; forgetting them erases the agent's
    fields on the case and leaves the applicant's, and the other way round."""
    svc = bureau.service
    case = svc.handle(SubmitCase(actor=CLERK, item_code="XK-003", applicant=APPLICANT, agent=AGENT))
    out = bureau.forget(AGENT.id_number)
    assert "1 case(s)" in out
    fresh = CasestoreApp(bureau.url)
    try:
        submitted = fresh.domain_events(case.case_id)[0]
        assert submitted.agent is not None
        assert (submitted.agent.name, submitted.agent.id_number, submitted.agent.phone) == (
            ERASED,
            ERASED,
            ERASED,
        )
        assert (submitted.applicant.name, submitted.applicant.id_number) == (
            "张三",
            "110101199001011234",
        )
    finally:
        fresh.close()
    exported = bureau.run("export")
    assert exported.returncode == 0, exported.stderr
    assert "王五" not in exported.stdout and "110101197003037777" not in exported.stdout
    assert "张三" in exported.stdout
    verified = bureau.run("verify")
    assert verified.returncode == 0 and "INTACT" in verified.stdout
