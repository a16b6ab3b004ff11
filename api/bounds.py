"""Validity bounds for every time and position a request carries (issue 12 item 1).

A date or moment outside what the bureau's records can hold (year 1, year 9999), a
position beyond any log, or a ``Last-Event-ID`` that is not plain ASCII digits is
refused at the door with a 422 problem in English and Chinese — never a 500 from a
date overflow deep in a view, never a core spinning over centuries of working days.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Final

from pydantic import AfterValidator, AwareDatetime

from casestore.domain import values

from .problems import ApiProblem

#: Business days a query may ask about (``today``, as-of days): the working-day
#: calendar answers for all of them.
FIRST_QUERY_DAY: Final = date(1990, 1, 1)
LAST_QUERY_DAY: Final = date(2099, 12, 31)
#: The largest log position (a bigint a 64-bit database column holds with room).
MAX_POSITION: Final = 2**62
_DIGITS = re.compile(r"^[0-9]{1,19}$")  # ASCII only: "²" is a digit to str.isdigit()


def check_query_day(day: date) -> date:
    # An earlier configured business day (old paper records) widens the range.
    first = min(FIRST_QUERY_DAY, values.EARLIEST_BUSINESS_TIME.date())
    if not first <= day <= LAST_QUERY_DAY:
        raise ValueError(
            f"{day.isoformat()} is outside {first.isoformat()}..{LAST_QUERY_DAY} "
            f"(日期须在 {first} 至 {LAST_QUERY_DAY} 之间)"
        )
    return day


def check_query_moment(moment: datetime) -> datetime:
    earliest = values.EARLIEST_BUSINESS_TIME
    if not earliest <= moment <= datetime(2100, 1, 1, tzinfo=earliest.tzinfo):
        raise ValueError(
            f"{moment.isoformat()} is outside {earliest.date()}..{LAST_QUERY_DAY} "
            f"(时间须在 {earliest.date()} 至 {LAST_QUERY_DAY} 之间)"
        )
    return moment


QueryDay = Annotated[date, AfterValidator(check_query_day)]
QueryMoment = Annotated[AwareDatetime, AfterValidator(check_query_moment)]


def parse_last_event_id(value: str | None) -> int | None:
    """A ``Last-Event-ID`` header as a log position (None when absent or blank)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if not _DIGITS.match(text) or int(text) > MAX_POSITION:
        raise ApiProblem(
            "validation-error",
            "Last-Event-ID must be a log position: ASCII digits, at most 2^62 "
            "(Last-Event-ID 须为日志位置，即不超过 2^62 的 ASCII 数字)",
        )
    return int(text)
