"""Value objects and vocabularies shared by the case, catalogue and bundle aggregates."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, Final

from casestore.domain.errors import InvalidCommand

ROLES: Final = frozenset(
    {
        "clerk",
        "reviewer",
        "approver",
        "surveyor",
        "sealer",
        "dispatcher",
        "auditor",
        "inspector",
        "admin",
        "system",
        "applicant",
    }
)
CHANNELS: Final = frozenset(
    {"window", "online", "mobile", "mail", "appointment", "home_visit", "cross_province"}
)
ID_TYPES: Final = frozenset({"resident_id", "passport", "uscc", "other"})
OPINIONS: Final = frozenset({"pass", "return", "other"})
SURVEY_CONCLUSIONS: Final = frozenset({"pass", "fail", "rectify"})
#: The three parties of a joint site survey (三方联合踏勘).
SURVEY_PARTIES: Final = frozenset({"approval_bureau", "regulator", "applicant"})
#: 行政许可法 Art. 45: special procedures whose time is not counted.
ART45_PAUSE_KINDS: Final = frozenset(
    {
        "hearing",
        "tender",
        "auction",
        "inspection",
        "testing",
        "quarantine",
        "appraisal",
        "expert_review",
    }
)
OUTCOMES: Final = frozenset({"approve", "deny"})
#: How a written notice reaches the applicant (书面告知: handed over, mailed, served
#: electronically).
NOTICE_METHODS: Final = frozenset({"in_person", "mail", "electronic"})
DELIVERY_METHODS: Final = frozenset({"window_pickup", "mail", "electronic"})
#: 惠民服务 the bureau offers beside a case (免费刻章, 免费邮寄, 限价复印): what each
#: costs the applicant and the bureau is recorded per case (``Case.ServiceProvided``);
#: supervision rule S19 compares the charge with the bureau's declared price cap.
CASE_SERVICES: Final = frozenset({"seal_engraving", "mailing", "copying"})
#: Bounds of a service record: units (seals, parcels, pages) and amounts in fen (分).
MAX_SERVICE_UNITS: Final = 10_000
MAX_SERVICE_FEN: Final = 100_000_000
#: GB/T 39046 A.8: 1 非常满意, 2 满意, 3 基本满意, 4 不满意, 5 非常不满意.
EVALUATION_LEVELS: Final = range(1, 6)
BAD_REVIEW_LEVELS: Final = frozenset({4, 5})
#: The bureau's civil time zone (China Standard Time); working days are local dates.
BUREAU_TZ: Final = timezone(timedelta(hours=8), "CST")


#: The earliest business time (``occurred_at``) any command or import may claim: nothing
#: the bureau records predates it, and every date computation (working-day calendar,
#: local dates at any UTC offset) is safe from it on. Configurable once at start
#: (:func:`configure_earliest`, e.g. from the settings), never per request.
EARLIEST_BUSINESS_TIME: datetime = datetime(1990, 1, 1, tzinfo=BUREAU_TZ)


def configure_earliest(moment: datetime) -> None:
    """Set the earliest claimable business time (an aware moment from 1949 on)."""
    global EARLIEST_BUSINESS_TIME
    if moment.tzinfo is None or moment < datetime(1949, 10, 1, tzinfo=BUREAU_TZ):
        raise ValueError("the earliest business time must be aware and from 1949-10-01 on")
    EARLIEST_BUSINESS_TIME = moment


def check_business_time(moment: datetime, now: datetime, name: str = "occurred_at") -> datetime:
    """A claimed business time between the configured earliest time and ``now``.

    Refused with a message in Chinese and English, before anything is appended (a
    year-1 or year-9999 claim once poisoned every projection that read it).
    """
    if not isinstance(moment, datetime) or moment.tzinfo is None:
        raise InvalidCommand(f"{name} must be a timezone-aware time ({name} 须带时区)")
    earliest = EARLIEST_BUSINESS_TIME
    if moment < earliest:
        raise InvalidCommand(
            f"{name} {moment.isoformat()} is before {earliest.date().isoformat()}, the earliest "
            f"business time accepted ({name} 早于系统受理的最早业务时间 {earliest.date()})"
        )
    if moment > now:
        raise InvalidCommand(
            f"{name} {moment.isoformat()} is later than the time it is recorded "
            f"({name} 不得晚于登记时间)"
        )
    return moment


#: The last day a licence's ``valid_until`` may name: the end of the working-day
#: calendar's range (a bad value in an append-only log is forever).
LAST_VALID_UNTIL: date = date(2299, 12, 31)


def check_valid_until(valid_until: date, sealed_on: date) -> date:
    """A licence's expiry: not before the day it is sealed, not after ``LAST_VALID_UNTIL``
    (a licence without expiry, 长期有效, has none: ``None``)."""
    if not isinstance(valid_until, date) or isinstance(valid_until, datetime):
        raise InvalidCommand("valid_until must be a date (有效期至须为日期)")
    if valid_until < sealed_on:
        raise InvalidCommand(
            f"valid_until {valid_until.isoformat()} is before the sealing day "
            f"{sealed_on.isoformat()} (有效期至不得早于盖章日期)"
        )
    if valid_until > LAST_VALID_UNTIL:
        raise InvalidCommand(
            f"valid_until {valid_until.isoformat()} is after {LAST_VALID_UNTIL.isoformat()} "
            f"(有效期至不得晚于 {LAST_VALID_UNTIL}；长期有效请不填)"
        )
    return valid_until


def local_date(moment: datetime) -> date:
    """The bureau's calendar date of an aware instant."""
    if moment.tzinfo is UTC:  # the log's times: a fixed offset, no DST to ask
        return (moment + _BUREAU_OFFSET).date()  # the same date, ~6x cheaper than astimezone
    return moment.astimezone(BUREAU_TZ).date()


def local_time(moment: datetime) -> datetime:
    """An aware instant in the bureau's zone (``moment.astimezone(BUREAU_TZ)``)."""
    if moment.tzinfo is UTC:
        return (moment + _BUREAU_OFFSET).replace(tzinfo=BUREAU_TZ)
    return moment.astimezone(BUREAU_TZ)


_BUREAU_OFFSET: Final = timedelta(hours=8)
assert BUREAU_TZ.utcoffset(None) == _BUREAU_OFFSET


#: The one approval seal (行政审批专用章) a bureau applies to every approving decision.
APPROVAL_SEAL_ID: Final = "XZSP-SEAL-001"


def require(condition: bool, message: str, **context: object) -> None:
    """Raise :class:`InvalidCommand` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise InvalidCommand(message, **context)


def require_text(value: str, name: str) -> str:
    """A non-blank string, stripped."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidCommand(f"{name} must not be blank")
    return value.strip()


def require_choice(value: str, choices: frozenset[str], name: str) -> str:
    """One of a closed vocabulary."""
    if value not in choices:  # the message is built only when it is needed
        raise InvalidCommand(f"{name} must be one of {sorted(choices)}, got {value!r}")
    return value


@dataclass(frozen=True)
class Actor:
    """Who did it: a staff member with a role, at a window (窗口) or desk."""

    staff_id: str
    role: str
    name: str = ""
    window: str = ""

    def __post_init__(self) -> None:
        require_text(self.staff_id, "actor.staff_id")
        require_choice(self.role, ROLES, "actor.role")


@dataclass(frozen=True)
class Party:
    """An applicant (person or organisation) or a delegated agent (委托代办)."""

    name: str
    id_type: str
    id_number: str
    phone: str = ""
    kind: str = "person"  # person | organisation
    mandate: str = ""  # an agent's power of attorney reference (授权委托书)

    def __post_init__(self) -> None:
        require_text(self.name, "party.name")
        require_choice(self.id_type, ID_TYPES, "party.id_type")
        require_text(self.id_number, "party.id_number")
        require(self.kind in ("person", "organisation"), "party.kind must be person|organisation")


@dataclass(frozen=True)
class SurveyParticipant:
    """One person at a joint site survey and the party they stand for."""

    name: str
    party: str
    staff_id: str = ""  # empty for non-staff (the applicant's representative)

    def __post_init__(self) -> None:
        require_text(self.name, "participant.name")
        require_choice(self.party, SURVEY_PARTIES, "participant.party")


@dataclass(frozen=True)
class ItemLimits:
    """The time limits of an item in force when a case was accepted (copied, never re-read)."""

    statutory_days: int
    promised_days: int
    case_type: str = "promised"
    needs_survey: bool = False
    survey_days: int = 0
    joint: bool = False
    pause_kinds: tuple[str, ...] = field(default_factory=tuple)
    catalogue_version: int = 0

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any], catalogue_version: int) -> ItemLimits:
        """The limits a catalogue item's spec sets (what an acceptance copies)."""
        return cls(
            statutory_days=int(spec["statutory_days"]),
            promised_days=int(spec["promised_days"]),
            case_type=str(spec["case_type"]),
            needs_survey=bool(spec["needs_survey"]),
            survey_days=int(spec["survey_days"]),
            joint=bool(spec["joint"]),
            pause_kinds=tuple(spec["pause_kinds"]),
            catalogue_version=catalogue_version,
        )


VALUE_TYPES: Final = (Actor, Party, SurveyParticipant, ItemLimits)
