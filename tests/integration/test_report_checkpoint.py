"""The signed checkpoint on reports (issue 17): a month's report carries the first signed
checkpoint whose tree holds every event its figures were drawn from, and a reader checks
it with the CLI users run. Positions are read from the log, the rest written by hand."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import orjson
import pytest

from casestore.domain.values import BUREAU_TZ
from casestore.service import CaseService, SubmitCase
from casestore.store.application import CasestoreApp
from tests.conftest import APPLICANT, CLERK, FakeClock
from tests.integration.test_monthly_report import CASES, ENQUIRIES
from tests.property.test_report_direct_count import write

CASESTORE = str(Path(sys.executable).parent / "casestore")


def cli(*args: str, key: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASESTORE_")}
    if key:
        env["CASESTORE_SIGNING_KEY"] = key
    return subprocess.run(
        [CASESTORE, *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


def report(url: str, out: Path, *extra: str) -> dict[str, object]:
    done = cli("report", "monthly", "--month", "2025-10", "-o", str(out), "--db", url, *extra)
    assert done.returncode == 0, done.stderr
    # an operator's terminal shows the figures, not the PDF font subsetter's working notes
    assert "fontTools" not in done.stderr, done.stderr[:500]
    if out.suffix == ".json":
        data: dict[str, object] = orjson.loads(out.read_bytes())
        return data
    return {}


def head(url: str) -> int:
    app = CasestoreApp(url)
    try:
        return int(app.log.head()[0])
    finally:
        app.close()


def test_a_report_carries_the_checkpoint_that_signs_its_figures(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    write(url, CASES, ENQUIRIES)
    unsigned = report(url, tmp_path / "unsigned.json")
    assert unsigned["checkpoint"] is None and unsigned["checkpoint_covers_position"] is False

    private, verifier = cli("keygen", "--signing", "casestore.local/log").stdout.split()
    signed = cli("checkpoint", "--db", url, key=private)
    assert signed.returncode == 0, signed.stderr
    first, first_size = signed.stdout, head(url)
    assert first.splitlines()[1] == str(first_size)

    # December: more events after the month, then the October report
    app = CasestoreApp(url)
    december = FakeClock(datetime(2025, 12, 1, 9, 0, tzinfo=BUREAU_TZ))
    CaseService(app, clock=december).handle(
        SubmitCase(actor=CLERK, item_code="XK-001", applicant=APPLICANT)
    )
    app.close()
    later = head(url)
    assert later > first_size

    october = report(url, tmp_path / "oct.json")
    position = october["position"]
    assert isinstance(position, int) and position <= first_size
    assert october["checkpoint"] == first
    assert october["checkpoint_tree_size"] == first_size
    assert october["checkpoint_covers_position"] is True
    assert october["checkpoint_check"] == "casestore verify --checkpoint FILE --key VKEY"

    # the reader's check: the note against the bureau's log and its verifier key
    note = tmp_path / "note.txt"
    note.write_text(str(october["checkpoint"]), encoding="utf-8")
    check = cli("verify", "--checkpoint", str(note), "--key", verifier, "--db", url)
    assert check.returncode == 0 and "CHECKPOINT OK" in check.stdout, check.stdout + check.stderr
    _, other = cli("keygen", "--signing", "casestore.local/log").stdout.split()
    forged = cli("verify", "--checkpoint", str(note), "--key", other, "--db", url)
    assert forged.returncode == 1 and "CHECKPOINT MISMATCH" in forged.stdout, forged.stdout

    # figures drawn past the last signature say so, and name the latest checkpoint
    beyond = report(url, tmp_path / "beyond.json", "--at-position", str(later))
    assert beyond["checkpoint"] == first and beyond["checkpoint_covers_position"] is False
    again = cli("checkpoint", "--db", url, key=private)
    assert again.returncode == 0, again.stderr
    beyond = report(url, tmp_path / "beyond2.json", "--at-position", str(later))
    assert beyond["checkpoint_tree_size"] == later and beyond["checkpoint_covers_position"]
    # the October report keeps the first checkpoint that covered it
    assert report(url, tmp_path / "oct2.json")["checkpoint"] == first

    if shutil.which("pdftotext") is None:
        pytest.skip("poppler-utils (pdftotext) not installed: scripts/system-deps.sh")
    pdf = tmp_path / "oct.pdf"
    report(url, pdf)
    text = subprocess.run(
        ["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert f"签名检查点：树大小 {first_size}，覆盖本报告的日志位置 {position}" in text
    assert "casestore verify --checkpoint FILE --key VKEY" in text
    assert first.splitlines()[2] in text  # the signed root hash, printed verbatim
