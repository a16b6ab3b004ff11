"""Clock thresholds as configuration, never hard-coded.

Read from a JSON file (``CASESTORE_CLOCK_CONFIG``) and ``CASESTORE_CLOCK_<FIELD>`` variables
by :class:`casestore.settings.Settings` (``settings.clock()``); this module reads no environment.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import time
from pathlib import Path
from typing import Any

MAX_CLOCK_DAYS = 366
"""Upper bound of every working-day setting (a year of working days is already absurd)."""
_HHMM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


class ClockConfigError(ValueError):
    """A clock setting is unknown or out of its range."""


@dataclass(frozen=True)
class ClockConfig:
    """Configurable clock settings (SPEC §4). Legal limits fixed by statute live in rules.py.

    - ``yellow_threshold``: a clock is ``yellow`` when its remaining promised working days
      are at or below this (default 1), ``red`` when overdue.
    - ``acceptance_days``: Art. 32 window to accept / reject / issue a 补正 notice (5).
    - ``delivery_days``: Art. 44 window from an approving decision to delivery (10).
    - ``bad_review_days``: working days to verify and rectify a 差评 (5). 国办发〔2019〕51号
      requires every 差评 to be verified, rectified and answered and leaves the days to
      local rules (5 or 15 working days are both in use); this bureau's choice is 5.
    - ``follow_up_days``: working days from a 差评 to the 回访 (call back) the same policy
      requires (local rules: 1 working day; default 1).
    - ``enquiry_days``: working days to answer a 群众诉求/咨询 taken at a window (5; the
      12345 hotline practice of 5 working days for 一般诉求). Copied into each enquiry
      when it is received; supervision rule S16 flags one past it.
    - ``default_statutory_days`` / ``joint_statutory_days``: Art. 42 defaults (20 / 45)
      used when an item does not state its own statutory limit.
    - ``after_hours_next_day`` (off by default): an application or supplement received on a
      rest day, or on a working day at or after ``office_closes``, is deemed received on
      the next working day (local rule 非工作时间收件顺延); that day is then the start day,
      not counted (民法典第二百零一条).
    - ``close_of_business`` (off by default): a period ends at ``office_closes`` on its
      last day instead of at 24:00 (民法典第二百零三条第二款: 有业务时间的，停止业务活动的
      时间为截止时间).
    - ``office_closes``: the bureau's closing time, ``HH:MM`` local time (default 17:30).

    Every working-day setting is an integer 0..366.
    """

    yellow_threshold: int = 1
    acceptance_days: int = 5
    delivery_days: int = 10
    bad_review_days: int = 5
    follow_up_days: int = 1
    enquiry_days: int = 5
    default_statutory_days: int = 20
    joint_statutory_days: int = 45
    after_hours_next_day: bool = False
    close_of_business: bool = False
    office_closes: str = "17:30"

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type in ("bool", bool):
                if not isinstance(value, bool):
                    raise ClockConfigError(f"clock setting {f.name} must be true or false")
            elif f.type in ("str", str):
                if not isinstance(value, str) or not _HHMM.match(value):
                    raise ClockConfigError(f"clock setting {f.name} must be HH:MM (00:00-23:59)")
            elif (
                not isinstance(value, int)
                or isinstance(value, bool)
                or not 0 <= value <= MAX_CLOCK_DAYS
            ):
                raise ClockConfigError(
                    f"clock setting {f.name} must be an integer 0..{MAX_CLOCK_DAYS}"
                )

    @property
    def closes(self) -> time:
        """``office_closes`` as a time of day (bureau local time)."""
        hours, minutes = self.office_closes.split(":")
        return time(int(hours), int(minutes))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> ClockConfig:
        """Build from a mapping of field names; unknown names are refused."""
        return cls().with_values(data)

    def with_values(self, data: Mapping[str, Any]) -> ClockConfig:
        """A copy with some settings replaced; unknown names are refused."""
        known = {f.name for f in fields(self)}
        unknown = set(data) - known
        if unknown:
            raise ClockConfigError(
                f"unknown clock settings {sorted(unknown)}; known: {sorted(known)}"
            )
        return replace(self, **dict(data))

    @classmethod
    def from_json(cls, path: str | Path) -> ClockConfig:
        """Read settings from a JSON object file."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ClockConfigError(f"cannot read clock config {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise ClockConfigError(f"clock config {path} must be a JSON object")
        return cls.from_mapping(data)

    def to_dict(self) -> dict[str, int | bool | str]:
        """The settings as a plain dict (for /health or audit output)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}
