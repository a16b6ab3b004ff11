"""Value objects and vocabularies shared by the case, catalogue and bundle aggregates."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
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
DELIVERY_METHODS: Final = frozenset({"window_pickup", "mail", "electronic"})
#: GB/T 39046 A.8: 1 非常满意, 2 满意, 3 基本满意, 4 不满意, 5 非常不满意.
EVALUATION_LEVELS: Final = range(1, 6)
BAD_REVIEW_LEVELS: Final = frozenset({4, 5})
#: The bureau's civil time zone (China Standard Time); working days are local dates.
BUREAU_TZ: Final = timezone(timedelta(hours=8), "CST")


def local_date(moment: datetime) -> date:
    """The bureau's calendar date of an aware instant."""
    return moment.astimezone(BUREAU_TZ).date()


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
