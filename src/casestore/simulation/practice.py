"""The hall's practice beside cases (issue 17), planned as steps in time order so a
simulated history (and ``casestore demo``) shows every practice panel:

- windows (窗口) with their types: the six 综合受理 windows cases go to, 招商引资绿色通道
  (G01), 领导带班窗口 (L01), 志愿者服务站 (V01), 项目建设综合窗口 (P01); 党员示范岗 at W01
  and W03; the duty rota: an approver leads the hall (领导带班) each working day;
- 群众诉求/咨询 at the windows: 0–3 a working day, most answered within a day or two,
  some referred (转办) and a seeded few answered after the handling clock (S16);
- awards: 服务标兵 and 红旗窗口 selected for each finished month, 感谢信 and 锦旗 now and then.

Each thread (one enquiry, one day's rota, one month's selections) is a list of
:class:`~casestore.simulation.lifecycle.Step` whose ``action`` starts with ``practice:``;
the runner issues them through :meth:`CaseService.handle` after writing what came before.
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from typing import Any

from casestore.domain.values import Actor
from casestore.service import Command
from casestore.service.practice import (
    AnswerEnquiry,
    AssignDuty,
    CloseEnquiry,
    GrantAward,
    MarkPartyPost,
    ReceiveEnquiry,
    ReferEnquiry,
    RegisterWindow,
)

from .lifecycle import Step
from .world import Roster, WorkTime

#: Windows beside the six 综合受理 windows (code, name, type).
EXTRA_WINDOWS = (
    ("G01", "招商引资绿色通道", "green_channel"),
    ("L01", "领导带班窗口", "leader"),
    ("V01", "志愿者服务站", "volunteer"),
    ("P01", "项目建设综合窗口", "project"),
)
TOPICS = (
    ("consultation", "营业执照办理所需材料"),
    ("consultation", "食品经营许可办理流程"),
    ("consultation", "社保卡补办地点"),
    ("request", "希望增加周末延时服务窗口"),
    ("request", "网上申报系统无法上传材料"),
    ("request", "项目用地审批进度催办"),
    ("consultation", "跨省通办事项范围"),
    ("request", "停车位不足，办事不便"),
)
CHANNELS = ("window", "window", "window", "phone", "hotline", "online")
GIVERS = ("某餐饮有限公司", "某建筑工程公司", "申请人家属", "某农业合作社", "外地客商")
#: Share of enquiries answered after the 5-working-day clock (S16), and referred (转办).
LATE, REFERRED = 0.05, 0.08
#: Key space of practice threads (case keys are (intake number, child index)).
KEY = -1


def practice_threads(
    roster: Roster, work: WorkTime, seed: int, first_day: date, horizon: datetime
) -> list[list[Step]]:
    """Every practice thread of the period, each a time-ordered list of steps."""
    rng = random.Random(f"{seed}:practice")
    threads = [_windows(roster, work, first_day)]
    day, n = first_day, 0
    while WorkTime.at(day, 0) < horizon:
        if work.working(day):
            threads.append(_duty(roster, work, day, n))
            for _ in range(rng.choice((0, 1, 1, 2, 2, 3))):
                n += 1
                threads.append(_enquiry(roster, work, random.Random(f"{seed}:enquiry:{n}"), day, n))
        if day.day == 1 and day > first_day:
            threads.append(_awards(roster, work, random.Random(f"{seed}:awards:{day}"), day))
        day += timedelta(days=1)
    return [[s for s in t if s.at < horizon] for t in threads if t and t[0].at < horizon]


def _step(at: datetime, n: int, what: str, actor: Actor, **payload: Any) -> Step:
    return Step(at, (KEY, n), f"practice:{what}", actor, payload)


def _windows(roster: Roster, work: WorkTime, first_day: date) -> list[Step]:
    """Registered the day before the period, with the 党员示范岗 marked."""
    at = WorkTime.at(first_day - timedelta(days=1), 8 * 60)
    admin = roster.admin
    steps = [
        _step(
            at + timedelta(seconds=i),
            0,
            "window",
            admin,
            code=w.code,
            name=w.name,
            window_type="general",
        )
        for i, w in enumerate(roster.windows)
    ]
    for i, (code, name, kind) in enumerate(EXTRA_WINDOWS, len(steps)):
        steps.append(
            _step(
                at + timedelta(seconds=i),
                0,
                "window",
                admin,
                code=code,
                name=name,
                window_type=kind,
            )
        )
    for i, w in enumerate((roster.windows[0], roster.windows[2]), len(steps)):
        clerk = w.clerks[0]
        steps.append(
            _step(
                at + timedelta(seconds=i),
                0,
                "party-post",
                admin,
                window_code=w.code,
                staff_id=clerk.staff_id,
                staff_name=clerk.name,
            )
        )
    return steps


def _duty(roster: Roster, work: WorkTime, day: date, n: int) -> list[Step]:
    leader = roster.approvers[day.toordinal() % len(roster.approvers)]
    at = WorkTime.at(day, 8 * 60 + 15)
    return [
        _step(
            at,
            0,
            "duty",
            roster.admin,
            window_code="L01",
            day=day,
            staff_id=leader.staff_id,
            staff_name=leader.name,
        )
    ]


def _enquiry(roster: Roster, work: WorkTime, rng: random.Random, day: date, n: int) -> list[Step]:
    window = rng.choice([*roster.windows, None, None])
    if window is not None:
        code, clerk = window.code, rng.choice(window.clerks)
    elif rng.random() < 0.5:  # the leader on duty takes it (领导带班)
        code, clerk = "L01", roster.approvers[day.toordinal() % len(roster.approvers)]
    else:  # the volunteer station, staffed from the windows
        code, clerk = "V01", roster.windows[0].clerks[-1]
    kind, topic = rng.choice(TOPICS)
    received = work.office_on(rng, day, WorkTime.at(day, 8 * 60 + 30))
    steps = [
        _step(
            received,
            n,
            "enquiry",
            clerk,
            kind=kind,
            channel=rng.choice(CHANNELS),
            service_window=code,
            topic=topic,
            requester="群众",
            content=topic,
        )
    ]
    if rng.random() < REFERRED:
        at = work.office_between(rng, received, 0, 1)
        steps.append(_step(at, n, "refer", clerk, to_unit="县自然资源局", reason="属该局职责"))
        at = work.office_between(rng, at, 2, 4)
        steps.append(_step(at, n, "close", clerk, outcome="resolved", note="承办单位已办结"))
        return steps
    late = rng.random() < LATE
    at = (
        work.office_between(rng, received, 7, 9)
        if late
        else work.office_between(rng, received, 0, 2)
    )
    steps.append(_step(at, n, "answer", clerk, answer="已当面/电话答复并告知办理方式"))
    at = work.office_between(rng, at, 0, 1)
    steps.append(_step(at, n, "close", clerk, outcome=rng.choice(("resolved", "explained"))))
    return steps


def _awards(roster: Roster, work: WorkTime, rng: random.Random, day: date) -> list[Step]:
    """The finished month's 服务标兵 and 红旗窗口, and some thanks received."""
    month = (day - timedelta(days=1)).strftime("%Y-%m")
    at = work.office_on(rng, day, WorkTime.at(day, 9 * 60))
    window = rng.choice(roster.windows)
    star = rng.choice(window.clerks)
    steps = [
        _step(
            at,
            0,
            "award",
            roster.admin,
            kind="service_star",
            recipient_kind="staff",
            recipient=star.staff_id,
            recipient_name=star.name,
            period=month,
            reason="当月好评率高、零差评",
        ),
        _step(
            at + timedelta(seconds=1),
            0,
            "award",
            roster.admin,
            kind="red_flag_window",
            recipient_kind="window",
            recipient=window.code,
            recipient_name=window.name,
            period=month,
            reason="当月窗口综合评议第一",
        ),
    ]
    t = at + timedelta(seconds=1)
    for _ in range(rng.choice((1, 2, 3))):
        t = work.office_between(rng, t, 0, 3)
        w = rng.choice(roster.windows)
        kind = rng.choice(("thanks_letter", "thanks_letter", "silk_banner"))
        steps.append(
            _step(
                t,
                0,
                "award",
                w.clerks[0],
                kind=kind,
                recipient_kind="window",
                recipient=w.code,
                recipient_name=w.name,
                giver=rng.choice(GIVERS),
            )
        )
    return steps


#: The role-matrix action (``casestore.domain.roles``) each practice step is authorised as.
ROLE_ACTIONS = {
    "window": "window-register",
    "party-post": "window-party-post",
    "duty": "window-duty",
    "award": "award-grant",
    "enquiry": "enquiry-receive",
    "answer": "enquiry-answer",
    "refer": "enquiry-refer",
    "close": "enquiry-close",
}


def role_action(step: Step) -> str:
    """The action a practice step's actor must be granted (as the API checks it)."""
    return ROLE_ACTIONS[step.action.removeprefix("practice:")]


def command(step: Step, enquiries: dict[Any, Any], actor: Actor) -> Command:
    """The practice command a step names, by the actor the grants admit (enquiry ids
    from earlier steps of its thread)."""
    kind, p = step.action.removeprefix("practice:"), step.payload
    if kind == "window":
        return RegisterWindow(actor=actor, **p)
    if kind == "party-post":
        return MarkPartyPost(actor=actor, **p)
    if kind == "duty":
        return AssignDuty(actor=actor, **p)
    if kind == "award":
        return GrantAward(actor=actor, **p)
    if kind == "enquiry":
        return ReceiveEnquiry(actor=actor, **p)
    enquiry_id = enquiries[step.key]
    if kind == "answer":
        return AnswerEnquiry(actor=actor, enquiry_id=enquiry_id, **p)
    if kind == "refer":
        return ReferEnquiry(actor=actor, enquiry_id=enquiry_id, **p)
    if kind == "close":
        return CloseEnquiry(actor=actor, enquiry_id=enquiry_id, **p)
    raise ValueError(f"unknown practice step {kind!r}")
