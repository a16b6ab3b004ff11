"""``casestore document CASE KIND -o FILE``: what a clerk runs to print a notice."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from pathlib import Path

from casestore.service import CaseService, SubmitCase
from casestore.service.commands import Accept, Correct
from casestore.store.application import CasestoreApp
from tests.conftest import ADMIN, APPLICANT, CATALOGUE, CLERK, FakeClock


def test_the_cli_prints_an_acceptance_notice_and_refuses_a_missing_one(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    app = CasestoreApp(url)
    try:
        svc = CaseService(app, clock=FakeClock(datetime.fromisoformat("2025-09-30T10:00+08:00")))
        svc.load_catalogue(CATALOGUE, ADMIN)
        case = svc.handle(SubmitCase(actor=CLERK, item_code="XK-011", applicant=APPLICANT))
        svc.handle(Accept(actor=CLERK, case_id=case.case_id))
    finally:
        app.close()
    cli = str(Path(sys.executable).parent / "casestore")
    out = tmp_path / "acceptance.pdf"
    done = subprocess.run(
        [cli, "document", case.case_no, "acceptance", "-o", str(out), "--db", url],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert out.read_bytes()[:5] == b"%PDF-"
    text = subprocess.run(["pdftotext", str(out), "-"], capture_output=True, text=True).stdout
    assert "受理通知书" in text and "2025-10-14" in text  # promised: 5 working days, holiday
    missing = subprocess.run(
        [
            cli,
            "document",
            str(case.case_id),
            "decision",
            "-o",
            str(tmp_path / "d.pdf"),
            "--db",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert missing.returncode == 2 and "no Decided event" in missing.stderr
    assert not (tmp_path / "d.pdf").exists()


def test_a_notice_printed_after_a_correction_names_the_corrected_applicant(
    tmp_path: Path,
) -> None:
    """Issue 15 item 5: the clerk corrects the applicant's name (event 3 corrects event 1);
    the acceptance notice printed afterwards names the corrected applicant, marked, and the
    misspelt name is gone from it."""
    url = f"sqlite:///{tmp_path / 'log.db'}"
    app = CasestoreApp(url)
    try:
        svc = CaseService(app, clock=FakeClock(datetime.fromisoformat("2025-09-30T10:00+08:00")))
        svc.load_catalogue(CATALOGUE, ADMIN)
        case = svc.handle(SubmitCase(actor=CLERK, item_code="XK-011", applicant=APPLICANT))
        svc.handle(Accept(actor=CLERK, case_id=case.case_id))
        svc.handle(
            Correct(
                actor=CLERK,
                case_id=case.case_id,
                corrects_version=1,
                fact="applicant.name",
                wrong_value="张三",
                correct_value="张叁",
                reason="申请人姓名登记错误",
            )
        )
    finally:
        app.close()
    cli = str(Path(sys.executable).parent / "casestore")
    out = tmp_path / "acceptance.pdf"
    done = subprocess.run(
        [cli, "document", case.case_no, "acceptance", "-o", str(out), "--db", url],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    text = subprocess.run(["pdftotext", str(out), "-"], capture_output=True, text=True).stdout
    assert "受理通知书" in text
    assert "张叁（已更正，第 3 版）" in text
    assert "张三" not in text
