"""The simulated bureau: windows and staff, applicants, item popularity and office hours.

Everything random is drawn from a :class:`random.Random` the caller passes in, so a
seed fixes the people and the times. Staff work in office hours (08:30–12:00,
14:00–17:30 local time) on working days of the official calendar; on rest days only
the extended-hours service (延时/错时服务, 09:00–12:00) takes in applications, while
online and mobile applications and applicants' evaluations arrive at any hour.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from casestore.domain.values import BUREAU_TZ, Actor, Party, local_date
from casestore.timelimits.calendar import WorkingCalendar

#: Office hours in minutes after local midnight.
OFFICE_HOURS = ((8 * 60 + 30, 12 * 60), (14 * 60, 17 * 60 + 30))
#: The rest-day extended-hours intake (延时服务).
EXTENDED_HOURS = ((9 * 60, 12 * 60),)
#: Online and mobile applicants: any time from 07:00 to 23:30.
APPLICANT_HOURS = ((7 * 60, 23 * 60 + 30),)

_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾萧田董潘袁蔡蒋余于杜叶程"
)
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰建国志红文斌宇浩凯鑫欣怡晨阳雪梅春"
_TRADES = ("商贸", "餐饮", "建材", "农业科技", "物流", "文化传媒", "电子", "食品", "旅游", "茶业")
_REGIONS = (
    "湖北省十堰市",
    "四川省达州市",
    "重庆市城口县",
    "河南省南阳市",
    "甘肃省天水市",
    "广东省东莞市",
)
HOME_REGION = "陕西省安康市旬阳市"
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_USCC = "0123456789ABCDEFGHJKLMNPQRTUWXY"


@dataclass(frozen=True)
class Window:
    """A service window (窗口) with its clerks and how error-prone it is (1.0 = average)."""

    code: str
    name: str
    clerks: tuple[Actor, ...]
    trouble: float


def _staff(prefix: str, role: str, count: int, rng: random.Random, window: str = "") -> list[Actor]:
    return [
        Actor(f"{prefix}-{n:02d}", role, name=person_name(rng), window=window)
        for n in range(1, count + 1)
    ]


class Roster:
    """The bureau's staff, fixed by its own seed so names are stable across runs."""

    def __init__(self, seed: int) -> None:
        rng = random.Random(f"roster:{seed}")
        troubles = (0.6, 0.8, 1.0, 1.0, 1.2, 2.5)  # one window fares clearly worse
        self.windows = [
            Window(
                f"W{n:02d}",
                f"综合受理{n}号窗口",
                tuple(_staff(f"clerk-{n:02d}", "clerk", 2, rng, window=f"W{n:02d}")),
                troubles[n - 1],
            )
            for n in range(1, 7)
        ]
        self.reviewers = _staff("reviewer", "reviewer", 6, rng)
        self.approvers = _staff("approver", "approver", 3, rng)
        self.surveyors = _staff("surveyor", "surveyor", 4, rng)
        self.regulators = _staff("regulator", "reviewer", 3, rng)  # staff of the regulator
        self.sealers = _staff("sealer", "sealer", 1, rng)
        self.dispatchers = _staff("dispatcher", "dispatcher", 2, rng)
        self.admin = Actor("admin-01", "admin", name="系统管理员")
        self.portal = Actor("portal", "clerk", name="一网通办平台", window="online")

    def everyone(self) -> list[Actor]:
        """Every member of staff but the admin (each with the one role they act in)."""
        clerks = [c for w in self.windows for c in w.clerks]
        return [
            *clerks,
            *self.reviewers,
            *self.approvers,
            *self.surveyors,
            *self.regulators,
            *self.sealers,
            *self.dispatchers,
            self.portal,
        ]

    def window_for(self, item_index: int) -> Window:
        """Items are served at fixed windows."""
        return self.windows[item_index % len(self.windows)]


def person_name(rng: random.Random) -> str:
    """A plausible Chinese personal name."""
    return rng.choice(_SURNAMES) + "".join(rng.choice(_GIVEN) for _ in range(rng.randint(1, 2)))


def resident_id(rng: random.Random) -> str:
    """An 18-digit resident id with a valid check digit (fictitious)."""
    birth = date(1950, 1, 1) + timedelta(days=rng.randrange(0, 365 * 55))
    body = f"610928{birth:%Y%m%d}{rng.randrange(1000):03d}"
    check = "10X98765432"[sum(int(c) * w for c, w in zip(body, _ID_WEIGHTS, strict=True)) % 11]
    return body + check


def applicant(rng: random.Random) -> Party:
    """A person (three in four) or an organisation applying."""
    phone = "1" + rng.choice("35789") + "".join(rng.choice("0123456789") for _ in range(9))
    if rng.random() < 0.75:
        return Party(person_name(rng), "resident_id", resident_id(rng), phone=phone)
    uscc = "91610928" + "".join(rng.choice(_USCC) for _ in range(10))
    name = f"旬阳县{rng.choice(_SURNAMES)}{rng.choice(_GIVEN)}{rng.choice(_TRADES)}有限公司"
    return Party(name, "uscc", uscc, phone=phone, kind="organisation")


def agent(rng: random.Random) -> Party:
    """A delegated agent (委托代办) with a power of attorney."""
    return Party(
        person_name(rng),
        "resident_id",
        resident_id(rng),
        mandate=f"授权委托书 WT{rng.randrange(10**8):08d}",
    )


def other_region(rng: random.Random) -> str:
    """Where a cross-province (跨省通办) application was taken in."""
    return rng.choice(_REGIONS)


def popularity(codes: list[str], exponent: float = 1.1) -> list[float]:
    """Zipf-like weights: the first item in the catalogue is the most asked for."""
    return [1.0 / (rank**exponent) for rank in range(1, len(codes) + 1)]


class WorkTime:
    """Times on the official calendar: office hours for staff, any hour for applicants."""

    def __init__(self, calendar: WorkingCalendar) -> None:
        self.calendar = calendar

    @staticmethod
    def at(day: date, minute: int, second: int = 0) -> datetime:
        """A local wall-clock time as an aware UTC instant."""
        local = datetime.combine(day, time(0), tzinfo=BUREAU_TZ)
        return (local + timedelta(minutes=minute, seconds=second)).astimezone(UTC)

    def working(self, day: date) -> bool:
        return self.calendar.is_working_day(day)

    def in_hours(
        self,
        rng: random.Random,
        day: date,
        hours: tuple[tuple[int, int], ...],
        not_before: datetime | None = None,
    ) -> datetime | None:
        """A random moment of ``day`` within ``hours`` after ``not_before``; None if none left."""
        floor = -1
        if not_before is not None and local_date(not_before) == day:
            local = not_before.astimezone(BUREAU_TZ)
            floor = local.hour * 60 + local.minute
        spans = [(max(a, floor + 1), b) for a, b in hours if b > floor + 1]
        total = sum(b - a for a, b in spans)
        if total <= 0:
            return None
        pick = rng.randrange(total)
        for a, b in spans:
            if pick < b - a:
                return self.at(day, a + pick, rng.randrange(60))
            pick -= b - a
        return None  # pragma: no cover - the loop always returns

    def next_working(self, day: date) -> date:
        """The first working day after ``day``."""
        return self.calendar.add_working_days(day, 1)

    def office(self, rng: random.Random, after: datetime, days: int = 0) -> datetime:
        """Office hours ``days`` working days after ``after`` (0: later the same working day,
        or the next working day when the office has closed or it is a rest day)."""
        start = local_date(after)
        day = self.calendar.add_working_days(start, days) if days else start
        while True:
            if self.working(day):
                moment = self.in_hours(rng, day, OFFICE_HOURS, after)
                if moment is not None:
                    return moment
            day = self.next_working(day)

    def office_between(self, rng: random.Random, after: datetime, lo: int, hi: int) -> datetime:
        """Office hours between ``lo`` and ``hi`` working days after ``after``."""
        return self.office(rng, after, rng.randint(lo, max(lo, hi)))

    def office_on(self, rng: random.Random, day: date, after: datetime) -> datetime:
        """Office hours on ``day`` (or the next working day) and after ``after``."""
        return self.office(rng, max(after, self.at(day, 0)), 0)

    def soon(
        self, rng: random.Random, after: datetime, lo: int, hi: int, *, anytime: bool = False
    ) -> datetime:
        """``lo``..``hi`` seconds later (the same sitting at a window); when that falls out of
        office hours, the next office time instead (unless ``anytime``: extended hours)."""
        moment = after + timedelta(seconds=rng.randint(lo, hi))
        if anytime or self.in_office(moment):
            return moment
        return self.office(rng, moment)

    def in_office(self, moment: datetime) -> bool:
        """Whether staff are at work at ``moment``."""
        local = moment.astimezone(BUREAU_TZ)
        minute = local.hour * 60 + local.minute
        return self.working(local.date()) and any(a <= minute < b for a, b in OFFICE_HOURS)

    def applicant_time(self, rng: random.Random, after: datetime, days: int) -> datetime:
        """An applicant's own action, ``days`` calendar days later at any waking hour."""
        day = local_date(after) + timedelta(days=days)
        moment = self.in_hours(rng, day, APPLICANT_HOURS, after)
        if moment is None:
            moment = self.in_hours(rng, day + timedelta(days=1), APPLICANT_HOURS)
        assert moment is not None
        return moment


def pick(rng: random.Random, weights: dict[str, float]) -> str:
    """One key, drawn with the given weights (a fixed key order keeps draws reproducible)."""
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


def maybe(rng: random.Random, probability: float) -> bool:
    """True with ``probability``."""
    return rng.random() < probability


def plain(values: dict[str, Any]) -> dict[str, Any]:
    """Drop None values from a payload."""
    return {k: v for k, v in values.items() if v is not None}
