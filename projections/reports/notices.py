"""The written notices 行政许可法 requires (Art. 32, 38, 40, 44), as PDFs from the events.

Kinds (SPEC §13): ``acceptance`` 受理通知书 (from ``Accepted``), ``rejection`` 不予受理决定书
(``Rejected``), ``supplement`` 一次性告知书 (the first ``SupplementRequested``: every
missing material at once), ``decision`` 行政许可决定书 (``Decided``, with ``Sealed``'s
document number when sealed) and ``delivery-receipt`` 送达回证 (``Delivered``). Each
carries the case number, the legal dates of the case's clocks (computed by the clock
rules the compliance view uses: holidays, 调休 and suspensions), the approval seal's
identifier and a QR code that opens the applicant's page (``/query?case_no=…``; the
query code is never printed in it). The applicant is named as the events given know them:
a ``Corrected`` event among them amends the name (the same rule as the case page,
:mod:`projections.facts.corrections`), so a notice printed after a correction shows the
corrected name, and one from the events up to an earlier version what was known then.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any, Final
from urllib.parse import quote

from casestore.domain import NotFound
from casestore.domain.values import APPROVAL_SEAL_ID, local_date
from casestore.plain import to_plain

from ..facts.corrections import apply_corrections
from .render import BUREAU, cjk_font

KINDS: Final[dict[str, tuple[str, str]]] = {
    "acceptance": ("受理通知书", "Accepted"),
    "rejection": ("不予受理决定书", "Rejected"),
    "supplement": ("补正材料一次性告知书", "SupplementRequested"),
    "decision": ("行政许可决定书", "Decided"),
    "delivery-receipt": ("送达回证", "Delivered"),
}


def applicant_url(base_url: str, case_no: str) -> str:
    """The applicant's page for a case (the QR code's content)."""
    return f"{base_url.rstrip('/')}/query?case_no={quote(case_no)}"


def _first(events: Sequence[Any], name: str) -> Any | None:
    return next((e for e in events if type(e).__name__ == name), None)


def _day(event: Any) -> str:
    return local_date(event.occurred_at or event.timestamp).isoformat()


def _due(clocks: Mapping[str, Any], name: str) -> str:
    clock = clocks.get(name)
    return str(clock["due"]) if clock else "—"


def _marked(known: Mapping[str, Any], fact: str) -> str:
    """A fact as known, marked 已更正 (with the correction's version) when it was corrected."""
    *parents, leaf = fact.split(".")
    node: Any = known
    for part in parents:
        node = node[part]
    fix = known["corrected"].get(fact)
    return f"{node[leaf]}（已更正，第 {fix['version']} 版）" if fix else str(node[leaf])


def notice_lines(
    kind: str, case: Any, events: Sequence[Any], clocks: Mapping[str, Any]
) -> tuple[str, list[tuple[str, str]]]:
    """(title, [(label, value)…]) of one notice, or :class:`NotFound` when its event is
    missing (no acceptance, no decision …)."""
    if kind not in KINDS:
        raise NotFound(f"no document kind {kind!r} (kinds: {', '.join(KINDS)})")
    title, event_name = KINDS[kind]
    event = _first(events, event_name)
    if event is None:
        raise NotFound(f"case {case.case_no} has no {event_name} event: no {title}")
    submitted = events[0]
    known = apply_corrections({"applicant": to_plain(submitted.applicant)}, events)
    rows: list[tuple[str, str]] = [
        ("办件编号", case.case_no),
        ("事项编码", case.item_code),
        ("申请人", _marked(known, "applicant.name")),
        ("收件日期", _day(submitted)),
    ]
    if kind == "acceptance":
        rows += [
            ("受理通知书编号", event.notice_no),
            ("受理日期", _day(event)),
            ("承诺办结日期", event.promised_completion.isoformat()),
            ("法定办结期限", _due(clocks, "statutory")),
            ("法定时限", f"{event.limits.statutory_days} 个工作日（行政许可法第四十二条）"),
        ]
    elif kind == "rejection":
        rows += [
            ("决定日期", _day(event)),
            ("不予受理理由", "；".join(event.reasons)),
            ("法律依据", event.legal_basis),
            ("可向以下机关申请", event.apply_instead or "—"),
            ("救济途径", "可依法申请行政复议或者提起行政诉讼"),
        ]
    elif kind == "supplement":
        rows += [
            ("告知日期", _day(event)),
            ("需补正的全部材料", "；".join(event.missing)),
            # Art. 32: after the notice, acceptance is due when the supplements are complete
            ("受理期限", f"补正材料收齐之日起受理（受理期限 {_due(clocks, 'acceptance')}）"),
        ]
    elif kind == "decision":
        sealed = _first(events, "Sealed")
        rows += [
            ("决定日期", _day(event)),
            ("决定", "准予行政许可" if event.outcome == "approve" else "不予行政许可"),
            ("承诺办结期限", _due(clocks, "promised")),
            ("法定办结期限", _due(clocks, "statutory")),
        ]
        if event.outcome == "deny":
            rows += [("理由", "；".join(event.reasons)), ("救济途径", event.remedies)]
        if sealed is not None:
            rows += [("文书编号", sealed.document_no), ("证书编号", sealed.certificate_no or "—")]
        rows.append(("送达期限", _due(clocks, "delivery")))
    else:
        rows += [
            ("送达日期", _day(event)),
            (
                "送达方式",
                {"window_pickup": "窗口领取", "mail": "邮寄（免费）", "electronic": "电子送达"}.get(
                    event.method, event.method
                ),
            ),
            ("受送达人", event.recipient),
            ("邮件号", event.tracking_no or "—"),
            ("送达期限", _due(clocks, "delivery")),
        ]
    rows.append(("审批专用章", APPROVAL_SEAL_ID))
    return title, rows


def notice_pdf(
    kind: str,
    case: Any,
    events: Sequence[Any],
    clocks: Mapping[str, Any],
    base_url: str,
    bureau: str = BUREAU,
) -> bytes:
    """One notice as a PDF with a QR code to the applicant's page."""
    import segno
    from fpdf import FPDF

    title, rows = notice_lines(kind, case, events, clocks)
    path, face = cjk_font()
    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.add_font("cjk", fname=path, collection_font_number=face)
    pdf.set_title(f"{title} {case.case_no}")
    pdf.add_page()
    pdf.set_font("cjk", size=18)
    pdf.cell(0, 12, bureau, new_x="LMARGIN", new_y="NEXT", align="C")
    pdf.cell(0, 12, title, new_x="LMARGIN", new_y="NEXT", align="C")
    pdf.ln(4)
    pdf.set_font("cjk", size=11)
    for label, value in rows:
        pdf.cell(45, 9, label, border=1)
        pdf.multi_cell(0, 9, value, border=1, new_x="LMARGIN", new_y="NEXT")
    url = applicant_url(base_url, case.case_no)
    qr = io.BytesIO()
    segno.make(url, error="m").save(qr, kind="png", scale=6, border=2)
    qr.seek(0)
    pdf.ln(6)
    top = pdf.get_y()
    pdf.image(qr, x=pdf.l_margin, y=top, w=40, h=40)
    pdf.set_xy(pdf.l_margin + 45, top + 5)
    pdf.set_font("cjk", size=10)
    pdf.multi_cell(0, 6, f"扫码查询办理进度（需查询码）：\n{url}")
    pdf.set_xy(pdf.l_margin + 45, top + 25)
    pdf.multi_cell(0, 6, f"{bureau}（{APPROVAL_SEAL_ID}）")
    return bytes(pdf.output())
