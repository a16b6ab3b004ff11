"""Every problem answers in Chinese and English (issue 12's "clear Chinese and English
message", issue 17): ``title_zh`` per problem type, ``detail_zh`` per response, from one
place (``api/messages.py``). Expectations written by hand."""

from __future__ import annotations

import re

from casestore.api.messages import TITLES_ZH, detail_zh, validation_zh
from casestore.api.problems import PROBLEM_TYPES

from tests.api.support import APPLICANT, Api

CJK = re.compile(r"[\u4e00-\u9fff]")


def test_every_problem_type_has_a_chinese_title() -> None:
    assert set(TITLES_ZH) == set(PROBLEM_TYPES)
    assert all(CJK.search(t) for t in TITLES_ZH.values())


def test_the_chinese_detail_is_chosen_by_one_rule() -> None:
    # a message with its Chinese in a trailing parenthesis answers that Chinese
    assert detail_zh("already-done", "this visit is already rated (一次一评：本次办事已评价)") == (
        "一次一评：本次办事已评价"
    )
    # Chinese elsewhere in the message: the message as it is
    assert detail_zh("invalid-command", "诉求/咨询 due 2025-10-14") == "诉求/咨询 due 2025-10-14"
    # English only: the type's Chinese title, then the English specifics
    assert detail_zh("out-of-order", "decision before acceptance") == (
        "办件当前环节不允许此操作：decision before acceptance"
    )
    assert validation_zh(
        {"loc": ("body", "level"), "type": "less_than_equal", "ctx": {"le": 5}, "msg": "x"}
    ) == ("level：不得大于 5")
    assert validation_zh({"loc": ("query", "today"), "type": "date_parsing", "msg": "x"}) == (
        "today：应为日期（YYYY-MM-DD）"
    )
    assert validation_zh({"loc": ("body",), "type": "no_such_type", "msg": "x"}) == "取值无效"


def test_served_problems_carry_both_languages(api: Api) -> None:
    before = api.head()
    case = api.submit()
    head = api.head()
    # a schema error: where and what, in Chinese, from the structured error
    r = api.post(f"/cases/{case['case_id']}/evaluate", "clerk", json={"level": 9, "channel": "w"})
    body = r.json()
    assert r.status_code == 422 and body["title_zh"] == "请求格式不符合接口要求"
    assert body["detail_zh"] == "level：不得大于 5", body
    r = api.post("/cases", "clerk", json={"applicant": APPLICANT})
    assert r.status_code == 422 and r.json()["detail_zh"] == "item_code：缺少必填项"
    # a domain refusal written in English only: the Chinese kind, then the specifics
    r = api.post(f"/cases/{case['case_id']}/decide", "approver", json={"outcome": "approve"})
    body = r.json()
    assert r.status_code == 409 and body["title_zh"] == "办件当前环节不允许此操作"
    assert body["detail_zh"] == f"办件当前环节不允许此操作：{body['detail']}"
    # a refusal that carries its Chinese: that Chinese
    r = api.post(
        "/cases",
        "clerk",
        json={"item_code": "XK-003", "applicant": APPLICANT, "occurred_at": "9999-12-31T23:59:59Z"},
    )
    assert r.status_code == 422 and r.json()["detail_zh"] == "occurred_at 不得晚于登记时间", r.text
    # the edge's own problems
    r = api.get("/no-such-route", "clerk")
    assert r.status_code == 404 and r.json()["title_zh"] == "未找到"
    r = api.post("/cases", None, json={})
    assert r.status_code == 401 and r.json()["title_zh"] == "需要有效的身份令牌"
    assert r.headers["content-type"].startswith("application/problem+json")
    r = api.get("/cases", "clerk", params={"nonsense": "1"})
    assert r.status_code == 400 and r.json()["title_zh"] == "接口不接受该查询参数"
    assert api.head() == head > before  # only the submission appended
