"""A monthly report or year summary as PDF (fpdf2, a CJK font) and XLSX (openpyxl),
figures with evidence.

The PDF is set in Noto Sans CJK SC (Debian ``fonts-noto-cjk``, which ``make test``
installs); other CJK fonts are tried after it, and without any the PDF is refused with a
message naming the package — never rendered with boxes instead of characters.
"""

from __future__ import annotations

import io
from pathlib import Path

from casestore.domain import InvalidCommand

from .monthly import MonthlyReport

#: (path, face index in a collection) tried in order.
CJK_FONTS: tuple[tuple[str, int], ...] = (
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),  # face 2: SC
    ("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc", 2),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
    ("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf", 0),
)
BUREAU = "行政审批服务局"


def cjk_font() -> tuple[str, int]:
    """The first CJK font found, or an error naming the package to install."""
    for path, face in CJK_FONTS:
        if Path(path).is_file():
            return path, face
    raise InvalidCommand(
        "no CJK font found for the PDF (install fonts-noto-cjk); XLSX and JSON need none"
    )


def report_pdf(report: MonthlyReport, bureau: str = BUREAU) -> bytes:
    """The 通报 as a PDF: headline figures, breakdowns by window, and how to recompute each."""
    from fpdf import FPDF

    path, face = cjk_font()
    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_font("cjk", fname=path, collection_font_number=face)
    pdf.set_title(report.month.title)
    pdf.add_page()
    month = report.month
    pdf.set_font("cjk", size=18)
    pdf.cell(0, 12, f"{bureau}", new_x="LMARGIN", new_y="NEXT", align="C")
    pdf.cell(
        0,
        12,
        month.title,
        new_x="LMARGIN",
        new_y="NEXT",
        align="C",
    )
    pdf.set_font("cjk", size=9)
    pdf.cell(
        0,
        6,
        f"数据截至日志位置 {report.position}（{month.last} 日终）· 生成于 "
        f"{report.generated_at.isoformat(timespec='seconds')}",
        new_x="LMARGIN",
        new_y="NEXT",
        align="C",
    )
    pdf.cell(0, 6, checkpoint_line(report), new_x="LMARGIN", new_y="NEXT", align="C")
    pdf.ln(4)
    pdf.set_font("cjk", size=11)
    widths = (80, 40, 40)
    for text, width in zip(("指标", "数值", "日志位置"), widths, strict=True):
        pdf.cell(width, 8, text, border=1, align="C")
    pdf.ln()
    for f in report.figures:
        pdf.cell(widths[0], 8, f.label, border=1)
        unit = "" if f.unit == "%" or f.value is None else f" {f.unit}"
        pdf.cell(widths[1], 8, f"{f.text}{unit}", border=1, align="R")
        pdf.cell(widths[2], 8, str(f.position), border=1, align="R")
        pdf.ln()
    for f in report.figures:
        if not f.breakdown:
            continue
        pdf.ln(3)
        pdf.set_font("cjk", size=12)
        pdf.cell(0, 8, f.label, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("cjk", size=10)
        for window, count in f.breakdown.items():
            pdf.cell(80, 7, window, border=1)
            pdf.cell(40, 7, str(count), border=1, align="R")
            pdf.ln()
    pdf.add_page()
    pdf.set_font("cjk", size=12)
    pdf.cell(
        0, 8, "复核方法：每项数据可由下列命令在同一日志位置重新计算", new_x="LMARGIN", new_y="NEXT"
    )
    pdf.set_font("cjk", size=8)
    for f in report.figures:
        pdf.multi_cell(0, 5, f"{f.label}: {f.command}", new_x="LMARGIN", new_y="NEXT")
    if report.checkpoint:
        pdf.ln(4)
        pdf.set_font("cjk", size=12)
        pdf.cell(
            0, 8, "签名检查点（本局签署的日志树，C2SP signed note）", new_x="LMARGIN", new_y="NEXT"
        )
        pdf.set_font("cjk", size=8)
        for line in CHECK_STEPS:
            pdf.multi_cell(0, 5, line, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
        for line in report.checkpoint.splitlines():
            pdf.cell(0, 5, line, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


#: How a reader checks the figures against the bureau's signature (the README says more).
CHECK_STEPS = (
    "1. 将下方签名检查点原文（含空行与签名行）保存为文件 FILE；",
    "2. 用本局公布的验证公钥 VKEY 在本局日志库（或其备份）上运行："
    "casestore verify --checkpoint FILE --key VKEY，"
    "输出 CHECKPOINT OK 即日志前 N 条与本局签名一致；",
    "3. 检查点树大小 N 不小于本报告的日志位置时，"
    "上列各项复核命令重新计算所用的日志均在签名范围内。",
)


def checkpoint_line(report: MonthlyReport) -> str:
    """One line on the report's first page: which signed checkpoint covers it."""
    size = report.checkpoint_tree_size
    if size is None:
        return "签名检查点：尚无（运行 casestore checkpoint 签署后重新生成本报告）"
    if report.checkpoint_covers:
        return f"签名检查点：树大小 {size}，覆盖本报告的日志位置 {report.position}（原文见复核页）"
    return (
        f"签名检查点：树大小 {size}，仅覆盖至日志位置 {size}，"
        f"位置 {size + 1}–{report.position} 尚未签署"
    )


def report_xlsx(report: MonthlyReport, bureau: str = BUREAU) -> bytes:
    """The 通报 as a workbook: sheet 通报 (one row per figure), sheet 按窗口 (breakdowns)."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "通报"
    sheet.append([f"{bureau} {report.month.title}"])
    sheet.append(["日志位置", report.position, "生成于", report.generated_at.isoformat()])
    sheet.append(["key", "指标", "数值", "单位", "日志位置", "复核命令"])
    for f in report.figures:
        sheet.append([f.key, f.label, f.value, f.unit, f.position, f.command])
    windows = book.create_sheet("按窗口")
    windows.append(["key", "指标", "窗口", "数值", "日志位置"])
    for f in report.figures:
        for window, count in f.breakdown.items():
            windows.append([f.key, f.label, window, count, f.position])
    for column, width in (("A", 30), ("B", 28), ("C", 12), ("F", 90)):
        sheet.column_dimensions[column].width = width
    signed = book.create_sheet("签名检查点")
    signed.append([checkpoint_line(report)])
    signed.append(["树大小", report.checkpoint_tree_size, "报告日志位置", report.position])
    for line in CHECK_STEPS:
        signed.append([line])
    signed.append(["签名检查点原文（每行一格）"])
    for line in report.checkpoint.splitlines():
        signed.append([line])
    signed.column_dimensions["A"].width = 100
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
