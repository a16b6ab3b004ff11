"""The legal sources every clock cites (行政许可法, 民法典, 国办发〔2019〕51号), in one table.

Explanations quote these strings verbatim, so a reader of any due date sees the article
it applies; README "Legal time at the boundaries" lists the same sources per boundary.
"""

from __future__ import annotations

#: The article each clock kind applies, cited in every explanation.
ARTICLES: dict[str, str] = {
    "acceptance": "行政许可法第三十二条第一款",
    "decision.statutory": "行政许可法第四十二条第一款",
    "decision.statutory.joint": "行政许可法第四十二条第二款",
    "decision.promised": "服务承诺（不超过行政许可法第四十二条第一款的法定期限）",
    "delivery": "行政许可法第四十四条",
    "survey": "一次性告知的踏勘时限（行政许可法第三十四条第三款）",
    "bad_review": "国办发〔2019〕51号 差评核实整改（本地时限）",
    "follow_up": "国办发〔2019〕51号 差评回访（本地时限）",
    "notice": "行政许可法第四十五条（所需时间书面告知申请人）",
    "bundle": "行政许可法第四十二条第二款",
    "deadline": "行政许可法第八十二条",
}
COUNTING = "行政许可法第八十二条（工作日）; 民法典第二百零一条（开始的当日不计入）"
SUSPENSION_ARTICLE = "行政许可法第四十五条"
REST_DAY_ARTICLE = "民法典第二百零三条第一款"
CLOSE_OF_BUSINESS_ARTICLE = "民法典第二百零三条第二款"
LAST_DAY_RULE = (
    "a suspension begun on the last counted day: the period ends on the day the clock "
    "resumes (行政许可法第四十五条: the procedure's time is not counted)"
)


def article_for(kind: str, joint: bool = False) -> str:
    """The citation of a clock kind (the joint decision clock cites Art. 42 ¶2)."""
    if joint and kind == "decision.statutory":
        kind = "decision.statutory.joint"
    return ARTICLES.get(kind, ARTICLES["deadline"])


__all__ = [
    "ARTICLES",
    "CLOSE_OF_BUSINESS_ARTICLE",
    "COUNTING",
    "LAST_DAY_RULE",
    "REST_DAY_ARTICLE",
    "SUSPENSION_ARTICLE",
    "article_for",
]
