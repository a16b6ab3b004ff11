"""Every written notice renders with the legal dates of the clock rules, and its QR code
opens the applicant's page — for a case whose clocks cross the 2025 National Day holiday
(1–8 October off, Saturday 11 October worked) and a suspension.

By hand (行政许可法; the start day is not counted): received Mon 29 Sep, supplement notice
the same day, supplements complete Tue 30 Sep (Art. 32: acceptance is then due that day),
accepted Tue 30 Sep (XK-011: promised 5 → 14 Oct, statutory 20 → 4 Nov), expert review
suspended Mon 13 Oct and resumed Wed 15 Oct (14 and 15 Oct not counted: promised → 16 Oct,
statutory → 6 Nov), approved Thu 16 Oct (Art. 44 delivery due 10 working days → 30 Oct),
delivered Mon 20 Oct. A second case is refused on 30 Sep.
"""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from casestore.domain.values import APPROVAL_SEAL_ID
from tests.api.support import SURVEY_PARTICIPANTS, Api

assert SURVEY_PARTICIPANTS  # the support module's walk is not needed here


def local(day: str, hour: int = 10) -> datetime:
    return datetime.fromisoformat(f"2025-{day}T{hour:02d}:00:00+08:00").astimezone(UTC)


def test_every_notice_kind_with_its_legal_dates_and_qr(api_workers: Api, tmp_path: Path) -> None:
    if shutil.which("pdftoppm") is None or shutil.which("pdftotext") is None:
        pytest.skip("poppler-utils not installed: scripts/system-deps.sh")
    zxing = pytest.importorskip("zxingcpp")
    from PIL import Image

    api = api_workers
    api.clock.now = local("09-29")
    case = api.submit("XK-011")
    refused = api.submit("XK-011")
    cid = case["case_id"]
    api.command(cid, "supplement-request", "clerk", {"missing": ["营业执照副本", "场地证明"]})
    api.clock.now = local("09-30")
    api.command(cid, "supplement", "clerk", {"materials": ["营业执照副本", "场地证明"]})
    api.command(cid, "accept", "clerk", {})
    api.command(
        refused["case_id"],
        "reject",
        "clerk",
        {"reasons": ["不属于本机关职权范围"], "legal_basis": "行政许可法第三十二条"},
    )
    api.clock.now = local("10-13")
    api.command(cid, "suspend", "reviewer", {"kind": "expert_review", "legal_basis": "第四十五条"})
    api.clock.now = local("10-15")
    api.command(cid, "resume", "reviewer", {"result": "专家评审通过"})
    api.clock.now = local("10-16")
    api.command(cid, "decide", "approver", {"outcome": "approve"})
    seal = {"seal_id": APPROVAL_SEAL_ID, "document_no": "XK-2025-0099", "document_sha256": "a" * 64}
    api.command(cid, "seal", "sealer", seal)
    api.clock.now = local("10-20")
    api.command(
        cid,
        "deliver",
        "dispatcher",
        {"method": "mail", "recipient": "张三", "tracking_no": "SF2025"},
    )
    expected = {
        "acceptance": ["受理通知书", "2025-09-30", "2025-10-14", "SL-"],
        "supplement": [
            "一次性告知书",
            "2025-09-29",
            "营业执照副本；场地证明",
            "受理期限 2025-09-30",
        ],
        "decision": ["准予行政许可", "2025-10-16", "2025-11-06", "2025-10-30", "XK-2025-0099"],
        "delivery-receipt": ["送达回证", "2025-10-20", "SF2025", "2025-10-30", "邮寄"],
    }
    for kind, wanted in [*expected.items(), ("rejection", ["不予受理决定书", "2025-09-30"])]:
        target = refused if kind == "rejection" else case
        r = api.get(f"/cases/{target['case_id']}/documents/{kind}", "clerk")
        assert r.status_code == 200, (kind, r.text)
        pdf = tmp_path / f"{kind}.pdf"
        pdf.write_bytes(r.content)
        text = subprocess.run(
            ["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True
        ).stdout
        for piece in [*wanted, target["case_no"], APPROVAL_SEAL_ID]:
            assert piece in text, (kind, piece)
        subprocess.run(
            ["pdftoppm", "-r", "150", "-png", str(pdf), str(tmp_path / kind)], check=True
        )
        page = sorted(tmp_path.glob(f"{kind}*.png"))[0]
        with Image.open(page) as image:
            codes = [b.text for b in zxing.read_barcodes(image)]
        assert codes == [f"http://casestore.test/query?case_no={target['case_no']}"], kind
    missing = api.get(f"/cases/{refused['case_id']}/documents/decision", "clerk")
    assert missing.status_code == 404
    assert api.get(f"/cases/{cid}/documents/licence", "clerk").status_code == 422
