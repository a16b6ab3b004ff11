"""What a command did, and the unsaved aggregates an intake builds."""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from casestore.domain import Bundle, Case
from casestore.domain.index import CaseNumber


@dataclass(frozen=True)
class CommandResult:
    """What a command did: the aggregate, its new version and the last log position."""

    case_id: UUID
    version: int
    position: int
    duplicate: bool = False


@dataclass(frozen=True)
class Submission(CommandResult):
    """A new case: its number and the applicant's query code (shown once, stored hashed)."""

    case_no: str = ""
    query_code: str = ""


@dataclass(frozen=True)
class ChildCase:
    """One child case of a bundle; ``query_code`` is None on a replay (stored hashed)."""

    case_id: UUID
    case_no: str
    query_code: str | None = None


@dataclass(frozen=True)
class BundleSubmission:
    """A new bundle: its id, the log position of the intake and each child by item code."""

    bundle_id: UUID
    position: int
    duplicate: bool = False
    children: dict[str, ChildCase] = field(default_factory=dict)


@dataclass(frozen=True)
class NewCase:
    """A case taken in but not saved: the case, its number index and its query code."""

    case: Case
    index: CaseNumber
    query_code: str


@dataclass(frozen=True)
class NewBundle:
    """A bundle taken in but not saved, with its child cases."""

    bundle: Bundle
    children: list[NewCase]
