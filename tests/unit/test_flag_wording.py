"""Flag details in Chinese and English from one place (issue 17): every finding's key
renders in both languages from its facts; the expectations are written by hand."""

from __future__ import annotations

import re
from datetime import date

import pytest
from casestore.projections.readmodels.supervision.rules import RULES
from casestore.projections.readmodels.supervision.wording import (
    RULE_TITLES_ZH,
    TEMPLATES,
    Detail,
    clock_detail,
    render,
)

CASES: list[tuple[Detail, str, str]] = [
    (
        clock_detail(
            "decision.promised", date(2025, 3, 6), 5, date(2025, 2, 27), today=date(2025, 3, 20)
        ),
        "decision.promised due 2025-03-06 (5 working days from 2025-02-27); "
        "still open on 2025-03-20",
        "承诺办结时限2025-03-06届满（自2025-02-27起5个工作日），截至2025-03-20仍未完成",
    ),
    (
        clock_detail(
            "delivery",
            date(2025, 4, 1),
            10,
            date(2025, 3, 18),
            stopped_by="Delivered",
            done_on=date(2025, 4, 3),
        ),
        "delivery due 2025-04-01 (10 working days from 2025-03-18); Delivered on 2025-04-03",
        "送达时限2025-04-01届满（自2025-03-18起10个工作日），2025-04-03才送达",
    ),
    (
        Detail("S04", notices=2, allowed=1),
        "2 supplement notices (allowed 1)",
        "补正告知2次（允许1次），未做到一次性告知",
    ),
    (
        Detail("S05", received="2025-04-18", due="2025-04-25", issued="2025-04-28"),
        "received 2025-04-18, notice due 2025-04-25, issued 2025-04-28",
        "2025-04-18收件，补正告知应于2025-04-25前发出，实际2025-04-28发出",
    ),
    (
        Detail(
            "S06",
            event="Accepted",
            legacy_at="2025-03-14T01:00:00+00:00",
            recorded_at="2025-03-20T02:00:00+00:00",
            claims="2025-03-10T01:00:00+00:00",
            hours="96.0",
            threshold="24.0",
        ),
        "Accepted entered 2025-03-14T01:00:00+00:00 in the legacy system (imported "
        "2025-03-20T02:00:00+00:00) claims 2025-03-10T01:00:00+00:00 "
        "(96.0 h earlier; threshold 24.0 h)",
        "“受理”在原系统中于2025-03-14 09:00:00录入（2025-03-20 10:00:00导入），"
        "所称业务时间为2025-03-10 09:00:00（早96.0小时；阈值24.0小时）",
    ),
    (
        Detail(
            "S07",
            event="Decided",
            claims="2025-03-13T06:00:00+00:00",
            previous="ReviewRecorded",
            previous_at="2025-03-13T07:00:00+00:00",
        ),
        "Decided claims 2025-03-13T06:00:00+00:00, "
        "before ReviewRecorded at 2025-03-13T07:00:00+00:00",
        "“作出决定”所称时间2025-03-13 14:00:00早于前一环节“审查意见”的2025-03-13 15:00:00",
    ),
    (
        Detail("S08", item="XK-008"),
        "item XK-008 needs a site survey; none concluded before the decision",
        "事项XK-008需现场踏勘，作出决定前没有踏勘结论",
    ),
    (
        Detail("S09", staff=1, missing=["regulator"]),
        "1 staff present, parties missing ['regulator']",
        "踏勘到场工作人员1名，缺少监管部门（应至少两名工作人员、审批局、监管部门和申请人三方到场）",
    ),
    (
        Detail("S10.no_clock"),
        "extension recorded while no decision clock runs",
        "延长审批登记时没有正在计算的办结时限",
    ),
    (
        Detail("S10.role", role="reviewer"),
        "granted by role 'reviewer', not an approver",
        "由“审查”角色批准延长，非签批人",
    ),
    (
        Detail("S10.late", granted="2025-04-11", due="2025-04-10"),
        "granted 2025-04-11 after the statutory due 2025-04-10",
        "2025-04-11批准延长，已过法定办结期限2025-04-10",
    ),
    (
        Detail("S10.second"),
        "a second extension (a case may be extended once)",
        "第二次延长（一件办件只能延长一次）",
    ),
    (
        Detail("S10.cap", days=12, cap=10),
        "12 working days exceeds the cap of 10",
        "延长12个工作日，超过上限10个工作日",
    ),
    (
        Detail("S11", kind="hearing", item="XK-009"),
        "pause kind 'hearing' is not allowed for XK-009",
        "事项XK-009不允许“听证”类暂停计时",
    ),
    (
        Detail("S14", promised=25, statutory=20),
        "promised 25 > statutory 20 working days",
        "承诺时限25个工作日超过法定时限20个工作日",
    ),
    (
        Detail(
            "S15",
            accepted="2025-03-27T08:33:52+00:00",
            decided="2025-03-27T08:34:28+00:00",
            gap="36",
            promised=10,
        ),
        "accepted 2025-03-27T08:33:52+00:00 and decided 2025-03-27T08:34:28+00:00: "
        "36 s apart on a 10-day item",
        "2025-03-27 16:33:52受理、2025-03-27 16:34:28作出决定，"
        "仅隔36秒（承诺时限10个工作日的事项）",
    ),
    (
        Detail("S16", due="2025-10-14", days=5, start="2025-09-30", today="2025-10-20"),
        "诉求/咨询 due 2025-10-14 (5 working days from 2025-09-30); still open on 2025-10-20",
        "群众诉求/咨询2025-10-14届满（自2025-09-30起5个工作日），截至2025-10-20仍未完成",
    ),
    (
        Detail(
            "S17",
            kind="inspection",
            start="2025-04-17",
            due="2025-04-22",
            days=3,
            given="2025-04-24T02:00:00+00:00",
        ),
        "inspection suspended 2025-04-17: written notice due 2025-04-22 "
        "(行政许可法第四十五条, 3 working days); "
        "given 2025-04-24T02:00:00+00:00",
        "2025-04-17开始检验程序，应于2025-04-22前书面告知申请人所需时间（行政许可法第四十五条，3个工作日）；"
        "实际于2025-04-24 10:00:00告知",
    ),
    (
        Detail("S19", service="copying", charged=501, units=10, price=50),
        "copying: charged 501 fen for 10 unit(s), declared at most 50 fen per unit",
        "复印10页收费501分，公布限价每页50分",
    ),
]


@pytest.mark.parametrize(("detail", "english", "chinese"), CASES, ids=[c[0].key for c in CASES])
def test_each_finding_reads_in_chinese_and_english(
    detail: Detail, english: str, chinese: str
) -> None:
    assert str(detail) == english
    assert detail.zh == chinese
    # stored as {key, facts}; read back into both languages and the machine-readable fields
    assert render(detail.to_json()) == {
        "detail": chinese,
        "detail_en": english,
        "detail_facts": {"key": detail.key, **detail.facts},
    }


def test_every_template_and_rule_has_chinese() -> None:
    assert {c[0].key for c in CASES} == set(TEMPLATES)  # every finding worked by hand
    assert set(RULE_TITLES_ZH) == set(RULES) | {"S16"}
    cjk = re.compile(r"[\u4e00-\u9fff]")
    assert all(cjk.search(zh) for _, zh in TEMPLATES.values())


def test_a_stored_text_that_is_not_a_detail_reads_as_it_is() -> None:
    assert render("free text") == {
        "detail": "free text",
        "detail_en": "free text",
        "detail_facts": {},
    }
    assert render(None)["detail"] == ""
