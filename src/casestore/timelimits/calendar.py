"""Working-day calendar: official holidays and 调休 from chinese_calendar plus local overrides.

Precedence, for one date (first match wins):

1. local closure from the overrides file (e.g. a typhoon day): not a working day;
2. extra working day from the overrides file: a working day;
3. extra holiday from the overrides file: not a working day;
4. ``chinese_calendar`` (the State Council notices, 2004–2026 in 1.11.0);
5. a year the overrides file declares complete (``complete_years``): Monday–Friday;
6. any other year: an **estimate**, marked ``provisional``: Monday–Friday minus the
   statutory holidays of 全国年节及纪念日放假办法 (2025 revision) that can be derived —
   元旦 1-1, 劳动节 5-1..5-2, 国庆节 10-1..10-3, 清明节 on the 清明 solar term (from
   ``chinese_calendar.get_solar_terms``, 1900–2100), and 春节 (除夕 + 初一..初三), 端午节,
   中秋节 from a lunar converter (``lunardate``, a dependency, 1900–2099; ``lunar_python``
   is preferred when installed) — plus 补假: a holiday that falls on a Saturday or
   Sunday is made up on the next free weekday, as the 办法 requires. 调休 Saturdays and
   Sundays cannot be predicted. Years before 2008 use the 1999 rules (春节 初一..初三,
   劳动节 5-1..5-3, no 清明/端午/中秋).

An unknown year inside the supported range (:data:`FIRST_DAY` .. :data:`LAST_DAY`) never
raises; a date outside it raises :class:`CalendarRangeError` (a bureau's business dates lie
nowhere near year 1 or 9999, and answering for them would only cost time and memory).
Answers are kept per year in a small bounded cache (a working-day flag per day and the
running count), so counting across decades is a few additions, not a walk per day.

Once a year's schedule is added to the overrides file (with the year in
``complete_years``) a rebuild makes every figure exact; the calendar ``version``
changes with the overrides content, so stale results can be detected.

(A little over 400 lines: the day rules, their provenance and the per-year cache answer
one question — is this a working day, and why — and are read together.)
"""

from __future__ import annotations

import hashlib
import importlib
import json
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import chinese_calendar

OVERRIDES_ENV = "CASESTORE_CALENDAR_OVERRIDES"  # read by casestore.settings
"""Environment variable naming a local overrides JSON file (else the packaged one)."""

LunarConverter = Callable[[int, int, int], date]
"""Converts (lunar year, lunar month, lunar day) to a Gregorian date."""

DaySource = Literal["override", "chinese_calendar", "complete_year", "estimate"]

_PACKAGED_OVERRIDES = Path(__file__).with_name("overrides.json")
_ENTRY_KEYS = ("holidays", "working_days", "closures")
_OVERRIDE_KEYS = {"version", "description", "complete_years", *_ENTRY_KEYS}
_CC_NAMES = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "National Day": "国庆节",
    "Mid-autumn Festival": "中秋节",
}
_CC_YEARS = sorted({d.year for d in chinese_calendar.holidays})
CC_FIRST_YEAR, CC_LAST_YEAR = _CC_YEARS[0], _CC_YEARS[-1]


#: The calendar answers for these dates and refuses others (CalendarRangeError).
FIRST_DAY = date(1900, 1, 1)
LAST_DAY = date(2299, 12, 31)
_YEARS_CACHED = 32
_DAYS_CACHED = 4096


class CalendarRangeError(ValueError):
    """A date, or a count of days, that leaves the range the calendar answers for."""

    def __init__(self, day: object) -> None:
        super().__init__(
            f"{day} is outside the working-day calendar's range "
            f"{FIRST_DAY.isoformat()}..{LAST_DAY.isoformat()} "
            f"(日期超出工作日历支持的范围)"
        )


def check_in_range(day: date) -> date:
    """The date itself when the calendar answers for it, else :class:`CalendarRangeError`."""
    if not FIRST_DAY <= day <= LAST_DAY:
        raise CalendarRangeError(day.isoformat())
    return day


class OverridesError(ValueError):
    """The local overrides file is malformed; the message names the bad entry."""


def _as_date(value: date) -> date:
    return value.date() if isinstance(value, datetime) else value


def _cc_name(english: str) -> str:
    if english in _CC_NAMES:
        return _CC_NAMES[english]
    try:
        return str(chinese_calendar.Holiday(english).chinese)
    except ValueError:
        return english


@dataclass(frozen=True)
class DayInfo:
    """Why a date is or is not a working day, and whether that is only an estimate."""

    day: date
    working: bool
    reason: str
    source: DaySource
    provisional: bool


@dataclass(frozen=True)
class Overrides:
    """Local calendar overrides: extra holidays, extra working days, local closures."""

    version: str = "none"
    complete_years: frozenset[int] = frozenset()
    holidays: Mapping[date, str] = field(default_factory=dict)
    working_days: Mapping[date, str] = field(default_factory=dict)
    closures: Mapping[date, str] = field(default_factory=dict)
    digest: str = ""

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Overrides:
        """Validate and build from parsed JSON; unknown keys are refused (typos matter)."""
        if not isinstance(data, Mapping):
            raise OverridesError("overrides must be a JSON object")
        unknown = set(data) - _OVERRIDE_KEYS
        if unknown:
            raise OverridesError(f"unknown overrides keys: {sorted(unknown)}")
        version = data.get("version")
        if not isinstance(version, str) or not version:
            raise OverridesError("overrides need a non-empty string 'version'")
        years = data.get("complete_years", [])
        if not isinstance(years, list) or not all(
            isinstance(y, int) and not isinstance(y, bool) for y in years
        ):
            raise OverridesError("'complete_years' must be a list of integers")
        lists = {k: _parse_entries(k, data.get(k, [])) for k in _ENTRY_KEYS}
        both = set(lists["holidays"]) & set(lists["working_days"])
        if both:
            days = ", ".join(sorted(d.isoformat() for d in both))
            raise OverridesError(f"dates both holiday and working day: {days}")
        canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, default=str)
        return cls(
            version=version,
            complete_years=frozenset(years),
            holidays=lists["holidays"],
            working_days=lists["working_days"],
            closures=lists["closures"],
            digest=hashlib.sha256(canonical.encode()).hexdigest(),
        )

    @classmethod
    def load(cls, path: str | Path) -> Overrides:
        """Read an overrides JSON file."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise OverridesError(f"cannot read calendar overrides {path}: {exc}") from exc
        return cls.from_mapping(data)

    @classmethod
    def packaged(cls) -> Overrides:
        """The overrides shipped with casestore, else none."""
        if _PACKAGED_OVERRIDES.is_file():
            return cls.load(_PACKAGED_OVERRIDES)
        return cls()

    @classmethod
    def default(cls) -> Overrides:
        """The configured overrides: the file named by ``CASESTORE_CALENDAR_OVERRIDES``,
        else the packaged one (read through the process's settings)."""
        from casestore.settings import load_settings  # the settings build on this module

        return load_settings().overrides()


def _parse_entries(key: str, raw: object) -> dict[date, str]:
    if not isinstance(raw, list):
        raise OverridesError(f"'{key}' must be a list of {{date, reason}} objects")
    out: dict[date, str] = {}
    for i, entry in enumerate(raw):
        where = f"{key}[{i}]"
        if not isinstance(entry, Mapping):
            raise OverridesError(f"{where} must be an object with 'date' and 'reason'")
        reason = entry.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            raise OverridesError(f"{where} needs a non-empty 'reason'")
        try:
            day = date.fromisoformat(str(entry.get("date")))
        except ValueError as exc:
            raise OverridesError(f"{where}: bad date {entry.get('date')!r}") from exc
        if day in out:
            raise OverridesError(f"{where}: {day.isoformat()} listed twice")
        out[day] = reason.strip()
    return out


def detect_lunar() -> tuple[LunarConverter | None, str]:
    """Find an installed, maintained lunar-calendar library; (None, "") when there is none."""
    try:
        lunar_python: Any = importlib.import_module("lunar_python")
    except ImportError:
        pass
    else:

        def from_lunar_python(year: int, month: int, day: int) -> date:
            solar = lunar_python.Lunar.fromYmd(year, month, day).getSolar()
            return date(solar.getYear(), solar.getMonth(), solar.getDay())

        return from_lunar_python, "lunar_python"
    try:
        lunardate: Any = importlib.import_module("lunardate")
    except ImportError:
        return None, ""

    def from_lunardate(year: int, month: int, day: int) -> date:
        return _as_date(lunardate.LunarDate(year, month, day).to_solar_date())

    return from_lunardate, "lunardate"


def estimated_holidays(year: int, lunar: LunarConverter | None = None) -> dict[date, str]:
    """Statutory holidays of a year derived from 全国年节及纪念日放假办法, with 补假.

    Only for years nobody has published a schedule for; see the module docstring. A
    holiday falling on a Saturday or Sunday, or on another holiday (e.g. 中秋 on 10-01),
    is made up on the next weekday that is not already a holiday.
    """
    modern = year >= 2008
    entries: list[tuple[date, str]] = [(date(year, 1, 1), "元旦")]
    entries += [(date(year, 5, d), "劳动节") for d in ((1, 2) if modern else (1, 2, 3))]
    entries += [(date(year, 10, d), "国庆节") for d in (1, 2, 3)]
    if modern and 1900 <= year <= 2100:
        terms = chinese_calendar.get_solar_terms(date(year, 4, 1), date(year, 4, 30))
        entries += [(day, "清明节") for day, term in terms if term == "清明"]
    lunar_days = [(1, 1, "春节"), (5, 5, "端午节"), (8, 15, "中秋节")]
    for month, day_of_month, name in lunar_days if modern else lunar_days[:1]:
        if lunar is None:
            break
        try:
            first = lunar(year, month, day_of_month)
        except Exception:  # a converter outside its range must not break counting
            continue
        # 春节: 除夕 + 初一..初三 since the 2025 revision; 初一..初三 under the 1999 rules.
        span = (range(-1, 3) if modern else range(3)) if name == "春节" else range(1)
        entries += [(first + timedelta(days=offset), name) for offset in span]
    days: dict[date, str] = {}
    owed: list[tuple[date, str]] = []
    for day, name in entries:
        if day.year != year:
            continue
        if day in days or day.weekday() >= 5:
            owed.append((day, name))
        days.setdefault(day, name)
    for day, name in sorted(owed):
        makeup = day + timedelta(days=1)
        while makeup.weekday() >= 5 or makeup in days:
            makeup += timedelta(days=1)
        days[makeup] = f"{name}补假"
    return days


class WorkingCalendar:
    """Answers "is this a working day, and why" for any date, never raising on a year.

    Build it once and reuse it: answers are cached per instance.
    """

    def __init__(
        self,
        overrides: Overrides | None = None,
        *,
        lunar: LunarConverter | Literal["auto"] | None = "auto",
    ) -> None:
        self.overrides = overrides if overrides is not None else Overrides()
        if lunar == "auto":
            self._lunar, lunar_name = detect_lunar()
        else:
            self._lunar, lunar_name = lunar, ("custom lunar" if lunar is not None else "")
        cc_version = str(getattr(chinese_calendar, "__version__", "unknown"))
        ov = self.overrides
        self.source = f"chinesecalendar {cc_version} + overrides v{ov.version}" + (
            f" + {lunar_name}" if lunar_name else ""
        )
        """Human-readable provenance, e.g. ``chinesecalendar 1.11.0 + overrides v1``."""
        self.version = f"{cc_version}+ov.{ov.version}.{ov.digest[:12] or 'empty'}"
        """Compact token that changes whenever the package or the overrides content does."""
        self._cache: OrderedDict[date, DayInfo] = OrderedDict()
        self._years: OrderedDict[int, tuple[bytes, list[int]]] = OrderedDict()
        self._estimates: OrderedDict[int, dict[date, str]] = OrderedDict()
        self.memo: dict[Any, Any] = {}
        """Answers of the clock rules over this calendar (:mod:`.memo`, bounded there)."""

    def __repr__(self) -> str:
        return f"WorkingCalendar({self.source!r})"

    def is_provisional_year(self, year: int) -> bool:
        """True when nobody has published this year's schedule to the calendar."""
        return not (CC_FIRST_YEAR <= year <= CC_LAST_YEAR or year in self.overrides.complete_years)

    def is_provisional(self, day: date) -> bool:
        """True when the answer for this date is an estimate."""
        return self.is_provisional_year(_as_date(day).year)

    def is_working_day(self, day: date) -> bool:
        """Whether the bureau works on this date."""
        day = check_in_range(_as_date(day))
        flags, _ = self._year(day.year)
        return bool(flags[day.timetuple().tm_yday - 1])

    def day_info(self, day: date) -> DayInfo:
        """The working status of a date with its reason (周末, 国庆节, 调休上班 …)."""
        day = check_in_range(_as_date(day))
        info = self._cache.get(day)
        if info is None:
            info = self._cache[day] = self._compute(day)
            if len(self._cache) > _DAYS_CACHED:
                self._cache.popitem(last=False)
        return info

    def _year(self, year: int) -> tuple[bytes, list[int]]:
        """(a working flag per day of the year, working days up to and including each day)."""
        table = self._years.get(year)
        if table is not None:
            self._years.move_to_end(year)
            return table
        first = date(year, 1, 1)
        flags = bytes(
            self._compute(first + timedelta(days=i)).working
            for i in range((date(year, 12, 31) - first).days + 1)
        )
        running, total = [], 0
        for flag in flags:
            total += flag
            running.append(total)
        table = self._years[year] = (flags, running)
        if len(self._years) > _YEARS_CACHED:
            self._years.popitem(last=False)
        return table

    def _count_to(self, day: date) -> int:
        """Working days in (day's year start - 1, day]: within its year."""
        return self._year(day.year)[1][day.timetuple().tm_yday - 1]

    def _compute(self, day: date) -> DayInfo:
        ov = self.overrides
        provisional = self.is_provisional_year(day.year)
        if day in ov.closures:
            return DayInfo(
                day, False, f"local closure: {ov.closures[day]}", "override", provisional
            )
        if day in ov.working_days:
            return DayInfo(day, True, ov.working_days[day], "override", provisional)
        if day in ov.holidays:
            return DayInfo(day, False, ov.holidays[day], "override", provisional)
        weekend = day.weekday() >= 5
        if CC_FIRST_YEAR <= day.year <= CC_LAST_YEAR:
            try:
                working = bool(chinese_calendar.is_workday(day))
            except NotImplementedError:
                pass  # data gap inside the range: fall through to the estimate
            else:
                if day in chinese_calendar.workdays:
                    reason = f"调休上班 ({_cc_name(chinese_calendar.workdays[day])})"
                elif day in chinese_calendar.holidays:
                    reason = _cc_name(chinese_calendar.holidays[day])
                else:
                    reason = "周末" if weekend else "工作日"
                return DayInfo(day, working, reason, "chinese_calendar", False)
        if day.year in ov.complete_years:
            return DayInfo(
                day, not weekend, "周末" if weekend else "工作日", "complete_year", False
            )
        estimate = self._estimates.get(day.year)
        if estimate is None:
            estimate = self._estimates[day.year] = estimated_holidays(day.year, self._lunar)
            if len(self._estimates) > _YEARS_CACHED:
                self._estimates.popitem(last=False)
        if day in estimate:
            return DayInfo(day, False, estimate[day], "estimate", True)
        return DayInfo(day, not weekend, "周末" if weekend else "工作日", "estimate", True)

    def add_working_days(self, start: date, n: int) -> date:
        """End of the n-th working day after ``start`` (start itself not counted; n=0 → start)."""
        if n < 0:
            raise ValueError(f"working-day count must be >= 0, got {n}")
        day = check_in_range(_as_date(start))
        if n == 0:
            return day
        # Whole years by their totals, then one binary search in the year the count ends in.
        year, target = day.year, self._count_to(day) + n
        while True:
            running = self._year(year)[1]
            if target <= running[-1]:
                return date(year, 1, 1) + timedelta(days=bisect_left(running, target))
            target -= running[-1]
            year += 1
            if year > LAST_DAY.year:
                raise CalendarRangeError(f"{n} working days after {day.isoformat()}")

    def working_days_between(self, a: date, b: date) -> int:
        """Working days in (a, b]; negative (minus those in (b, a]) when b is before a."""
        a, b = check_in_range(_as_date(a)), check_in_range(_as_date(b))
        if b < a:
            return -self.working_days_between(b, a)
        if a.year == b.year:
            return self._count_to(b) - self._count_to(a)
        count = self._year(a.year)[1][-1] - self._count_to(a) + self._count_to(b)
        return count + sum(self._year(y)[1][-1] for y in range(a.year + 1, b.year))


def default_calendar() -> WorkingCalendar:
    """``chinese_calendar`` plus the default overrides (see ``Overrides.default``)."""
    return WorkingCalendar(Overrides.default())
