"""Flag details in Chinese and English, from one place (issue 17: the inspector reads them).

A rule states a finding as a :class:`Detail`: a ``key`` (the rule, or the rule and a
variant such as ``clock.open``) and its ``facts`` (dates as ISO strings, numbers, codes:
the machine-readable fields). The English sentence is the detail's own text (a ``Detail``
is a ``str``, so rule code and tests read it as before); :attr:`Detail.zh` renders the
Chinese one from the same facts. The projection stores only ``{key, facts}``
(:meth:`Detail.to_json`) and the views render both languages at read time
(:func:`render`), so a wording fix never needs a rebuild.

Codes inside facts (clock kinds, event names, survey parties, pause kinds, services) are
put into Chinese by the maps below; an unknown code is shown as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import orjson

from casestore.domain.values import BUREAU_TZ

#: Supervision rules' titles in Chinese (the dashboard's ``api/static/labels.js`` uses the
#: same words; exports read them here).
RULE_TITLES_ZH: dict[str, str] = {
    "S01": "超承诺办结时限",
    "S02": "超法定办结时限",
    "S03": "5个工作日内未作受理决定（视为受理）",
    "S04": "多次补正告知（一次性告知未落实）",
    "S05": "补正告知超过5个工作日",
    "S06": "事后补录（录入时间远晚于业务时间）",
    "S07": "时间倒置（后一环节早于前一环节）",
    "S08": "应踏勘未踏勘即作决定",
    "S09": "踏勘结论缺少三方或两名工作人员",
    "S10": "超期延长、重复延长或非签批人延长",
    "S11": "不允许的暂停计时类型",
    "S12": "准予决定后超过10个工作日送达",
    "S13": "差评未按时核实整改",
    "S14": "目录承诺时限超过法定时限",
    "S15": "受理与办结仅隔数秒（非即办件）",
    "S16": "群众诉求/咨询超过办理时限",
    "S17": "特别程序未按时书面告知申请人所需时间",
    "S18": "差评未按时回访",
    "S19": "免费或限价惠民服务超标准收费",
}

#: Clock kinds (``Clock.kind``) in Chinese.
CLOCK_ZH = {
    "acceptance": "受理时限",
    "decision.promised": "承诺办结时限",
    "decision.statutory": "法定办结时限",
    "delivery": "送达时限",
    "bad_review": "差评核实整改时限",
    "follow_up": "差评回访时限",
    "notice": "书面告知时限",
    "survey": "踏勘时限",
    "bundle": "一件事联办时限",
    "enquiry": "诉求/咨询办理时限",
}
#: Event names (SPEC §3.2) in Chinese, as the hall board labels them.
EVENT_ZH = {
    "Submitted": "收件",
    "SupplementRequested": "一次性补正告知",
    "SupplementReceived": "补正材料收齐",
    "Accepted": "受理",
    "Rejected": "不予受理",
    "Withdrawn": "撤回",
    "ReviewRecorded": "审查意见",
    "SurveyScheduled": "踏勘安排",
    "SurveyConducted": "联合踏勘结论",
    "ClockSuspended": "特别程序开始",
    "ClockResumed": "特别程序结束",
    "ExtensionGranted": "延长审批",
    "Decided": "作出决定",
    "Sealed": "盖章",
    "Delivered": "送达",
    "Evaluated": "好差评",
    "BadReviewHandled": "差评核实整改",
    "FollowUpRecorded": "回访",
    "Corrected": "更正",
    "ServiceProvided": "惠民服务",
    "Answered": "答复",
    "Referred": "转办",
    "Closed": "办结",
}
PARTY_ZH = {"approval_bureau": "审批局", "regulator": "监管部门", "applicant": "申请人"}
PAUSE_ZH = {
    "hearing": "听证",
    "tender": "招标",
    "auction": "拍卖",
    "inspection": "检验",
    "testing": "检测",
    "quarantine": "检疫",
    "appraisal": "鉴定",
    "expert_review": "专家评审",
    "supplement_after_acceptance": "受理后补正",
}
ROLE_ZH = {
    "clerk": "窗口人员",
    "reviewer": "审查",
    "approver": "签批",
    "surveyor": "踏勘",
    "sealer": "印章管理",
    "dispatcher": "送达",
    "auditor": "审计",
    "inspector": "纪检监察",
    "admin": "管理员",
}
SERVICE_ZH = {"seal_engraving": "刻章", "mailing": "邮寄", "copying": "复印"}
SERVICE_UNIT_ZH = {"seal_engraving": "枚", "mailing": "件", "copying": "页"}

#: key -> (English, Chinese) templates over the facts (``str.format`` fields; ``_zh``
#: fields are derived by :func:`_chinese_fields`).
TEMPLATES: dict[str, tuple[str, str]] = {
    "clock.open": (
        "{kind} due {due} ({days} working days from {start}); still open on {today}",
        "{kind_zh}{due}届满（自{start}起{days}个工作日），截至{today}仍未完成",
    ),
    "clock.done": (
        "{kind} due {due} ({days} working days from {start}); {stopped_by} on {done_on}",
        "{kind_zh}{due}届满（自{start}起{days}个工作日），{done_on}才{stopped_by_zh}",
    ),
    "S04": (
        "{notices} supplement notices (allowed {allowed})",
        "补正告知{notices}次（允许{allowed}次），未做到一次性告知",
    ),
    "S05": (
        "received {received}, notice due {due}, issued {issued}",
        "{received}收件，补正告知应于{due}前发出，实际{issued}发出",
    ),
    "S06": (
        "{event} {entered_en} claims {claims} ({hours} h earlier; threshold {threshold} h)",
        "“{event_zh}”{entered_zh}，所称业务时间为{claims}（早{hours}小时；阈值{threshold}小时）",
    ),
    "S07": (
        "{event} claims {claims}, before {previous} at {previous_at}",
        "“{event_zh}”所称时间{claims}早于前一环节“{previous_zh}”的{previous_at}",
    ),
    "S08": (
        "item {item} needs a site survey; none concluded before the decision",
        "事项{item}需现场踏勘，作出决定前没有踏勘结论",
    ),
    "S09": (
        "{staff} staff present{missing_en}",
        "踏勘到场工作人员{staff}名{missing_zh}（应至少两名工作人员、审批局、监管部门和申请人三方到场）",
    ),
    "S10.no_clock": (
        "extension recorded while no decision clock runs",
        "延长审批登记时没有正在计算的办结时限",
    ),
    "S10.role": (
        "granted by role {role!r}, not an approver",
        "由“{role_zh}”角色批准延长，非签批人",
    ),
    "S10.late": (
        "granted {granted} after the statutory due {due}",
        "{granted}批准延长，已过法定办结期限{due}",
    ),
    "S10.second": (
        "a second extension (a case may be extended once)",
        "第二次延长（一件办件只能延长一次）",
    ),
    "S10.cap": (
        "{days} working days exceeds the cap of {cap}",
        "延长{days}个工作日，超过上限{cap}个工作日",
    ),
    "S11": (
        "pause kind {kind!r} is not allowed for {item}",
        "事项{item}不允许“{kind_zh}”类暂停计时",
    ),
    "S14": (
        "promised {promised} > statutory {statutory} working days",
        "承诺时限{promised}个工作日超过法定时限{statutory}个工作日",
    ),
    "S15": (
        "accepted {accepted} and decided {decided}: {gap} s apart on a {promised}-day item",
        "{accepted}受理、{decided}作出决定，仅隔{gap}秒（承诺时限{promised}个工作日的事项）",
    ),
    "S16": (
        "诉求/咨询 due {due} ({days} working days from {start}); {how_en}",
        "群众诉求/咨询{due}届满（自{start}起{days}个工作日），{how_zh}",
    ),
    "S17": (
        "{kind} suspended {start}: written notice due {due} "
        "(行政许可法第四十五条, {days} working days); {how_en}",
        "{start}开始{kind_zh}程序，应于{due}前书面告知申请人所需时间"
        "（行政许可法第四十五条，{days}个工作日）；{how_zh}",
    ),
    "S19": (
        "{service}: charged {charged} fen for {units} unit(s), declared {declared_en}",
        "{service_zh}{units}{unit_zh}收费{charged}分，{declared_zh}",
    ),
}


class Detail(str):
    """A flag's detail: its English text, with the ``key`` and ``facts`` it came from."""

    key: str
    facts: dict[str, Any]

    def __new__(cls, key: str, **facts: Any) -> Detail:
        en, _ = TEMPLATES[key]
        detail = super().__new__(cls, en.format_map(_english_fields(facts)))
        detail.key, detail.facts = key, facts
        return detail

    @property
    def zh(self) -> str:
        """The Chinese sentence."""
        return TEMPLATES[self.key][1].format_map(_chinese_fields(self.facts))

    def to_json(self) -> str:
        """What the projection stores: ``{"key", "facts"}``."""
        return orjson.dumps({"key": self.key, "facts": self.facts}).decode()


def clock_detail(
    kind: str,
    due: date,
    days: int,
    start: date,
    *,
    today: date | None = None,
    stopped_by: str = "",
    done_on: date | None = None,
) -> Detail:
    """The detail of a late clock: still open on ``today``, or stopped late on ``done_on``."""
    base = {"kind": kind, "due": due.isoformat(), "days": days, "start": start.isoformat()}
    if done_on is not None:
        return Detail("clock.done", **base, stopped_by=stopped_by, done_on=done_on.isoformat())
    return Detail("clock.open", **base, today=(today or due).isoformat())


def render(stored: str | None) -> dict[str, Any]:
    """A stored detail as the views answer it: ``detail`` (Chinese), ``detail_en`` and
    ``detail_facts`` (``{"key": ..., **facts}``). A stored text that is not a detail's
    JSON is answered as it is in both languages."""
    if not stored:
        return {"detail": "", "detail_en": "", "detail_facts": {}}
    try:
        data = orjson.loads(stored)
        detail = Detail(str(data["key"]), **dict(data["facts"]))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return {"detail": stored, "detail_en": stored, "detail_facts": {}}
    return detail_fields(detail)


def detail_fields(detail: Detail) -> dict[str, Any]:
    """``detail`` (Chinese), ``detail_en`` and ``detail_facts`` of one detail."""
    return {
        "detail": detail.zh,
        "detail_en": str(detail),
        "detail_facts": {"key": detail.key, **detail.facts},
    }


def _english_fields(facts: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(facts)
    if "recorded_at" in facts:
        out["entered_en"] = (
            f"entered {facts['legacy_at']} in the legacy system (imported {facts['recorded_at']})"
            if facts.get("legacy_at")
            else f"recorded {facts['recorded_at']}"
        )
    missing = facts.get("missing")
    out["missing_en"] = f", parties missing {list(missing)}" if missing else ""
    if "today" in facts:
        out["how_en"] = f"still open on {facts['today']}"
    elif "stopped_on" in facts:
        out["how_en"] = f"stopped on {facts['stopped_on']}"
    elif "given" in facts:
        out["how_en"] = f"given {facts['given']}"
    elif "none_by" in facts:
        out["how_en"] = f"none recorded by {facts['none_by']}"
    price = facts.get("price")
    if price is not None:
        out["declared_en"] = "free" if price == 0 else f"at most {price} fen per unit"
    return out


def _local(value: Any) -> Any:
    """An ISO instant as bureau-local ``YYYY-MM-DD HH:MM:SS`` (other values as they are)."""
    if isinstance(value, str) and len(value) > 10 and value[10:11] == "T":
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
        if moment.tzinfo is not None:
            return moment.astimezone(BUREAU_TZ).strftime("%Y-%m-%d %H:%M:%S")
    return value


def _chinese_fields(facts: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: _local(v) for k, v in facts.items()}
    if "role" in facts:
        out["role_zh"] = ROLE_ZH.get(str(facts["role"]), str(facts["role"]))
    kind = str(facts.get("kind", ""))
    out["kind_zh"] = CLOCK_ZH.get(kind) or PAUSE_ZH.get(kind) or kind
    for name in ("stopped_by", "event", "previous"):
        if name in facts:
            out[f"{name}_zh"] = EVENT_ZH.get(str(facts[name]), str(facts[name]))
    missing = [PARTY_ZH.get(str(p), str(p)) for p in facts.get("missing") or ()]
    out["missing_zh"] = f"，缺少{'、'.join(missing)}" if missing else ""
    if "recorded_at" in facts:
        out["entered_zh"] = (
            f"在原系统中于{out['legacy_at']}录入（{out['recorded_at']}导入）"
            if facts.get("legacy_at")
            else f"于{out['recorded_at']}录入"
        )
    if "today" in facts:
        out["how_zh"] = f"截至{facts['today']}仍未完成"
    elif "stopped_on" in facts:
        out["how_zh"] = f"{facts['stopped_on']}才办结"
    elif "given" in facts:
        out["how_zh"] = f"实际于{out['given']}告知"
    elif "none_by" in facts:
        out["how_zh"] = f"截至{facts['none_by']}未见书面告知记录"
    if "service" in facts:
        out["service_zh"] = SERVICE_ZH.get(str(facts["service"]), str(facts["service"]))
        out["unit_zh"] = SERVICE_UNIT_ZH.get(str(facts["service"]), "件")
    price = facts.get("price")
    if price is not None:
        unit = SERVICE_UNIT_ZH.get(str(facts.get("service")), "件")
        out["declared_zh"] = "该服务已公布为免费" if price == 0 else f"公布限价每{unit}{price}分"
    return out
