"""The write side's application service: typed commands, one handler each, one loop.

- :mod:`~casestore.service.commands`: every command as a frozen dataclass
- :mod:`~casestore.service.handlers`: one handler per command on an existing aggregate
- :mod:`~casestore.service.intake`: new cases and bundles (ids, numbers, query codes)
- :mod:`~casestore.service.catalogue`: items and bundle definitions, in the log
- :mod:`~casestore.service.reads`: what callers read through the service
- :mod:`~casestore.service.bus`: :class:`CaseService` and its ``handle(command)`` loop
"""

from casestore.service.bus import CaseService, Clock
from casestore.service.commands import (
    CASE_COMMANDS,
    Accept,
    CaseCommand,
    Command,
    Correct,
    Decide,
    Deliver,
    Evaluate,
    Extend,
    ExtendBundle,
    HandleBadReview,
    LoadCatalogue,
    ProvideService,
    ReceiveSupplement,
    RecordFollowUp,
    RecordSurvey,
    Reject,
    RequestSupplement,
    Resume,
    Review,
    ScheduleSurvey,
    Seal,
    SubmitBundle,
    SubmitCase,
    Suspend,
    TimedCommand,
    Update,
    Withdraw,
)
from casestore.service.intake import CROCKFORD, Draws, query_code_hash
from casestore.service.results import (
    BundleSubmission,
    ChildCase,
    CommandResult,
    NewBundle,
    NewCase,
    Submission,
)
from casestore.store.audit import parse_digest
from casestore.store.batch import CommitQueueTimeout
from casestore.store.denied import exception_chain
from casestore.store.integrity import LogRow
from casestore.store.logbase import CommittedBatch
from casestore.timeutil import utc_now

__all__ = [
    "CASE_COMMANDS",
    "CROCKFORD",
    "Accept",
    "BundleSubmission",
    "CaseCommand",
    "CaseService",
    "ChildCase",
    "Clock",
    "Command",
    "CommandResult",
    "CommitQueueTimeout",
    "CommittedBatch",
    "Correct",
    "Decide",
    "Deliver",
    "Draws",
    "Evaluate",
    "Extend",
    "ExtendBundle",
    "HandleBadReview",
    "LoadCatalogue",
    "LogRow",
    "NewBundle",
    "NewCase",
    "ProvideService",
    "ReceiveSupplement",
    "RecordFollowUp",
    "RecordSurvey",
    "Reject",
    "RequestSupplement",
    "Resume",
    "Review",
    "ScheduleSurvey",
    "Seal",
    "Submission",
    "SubmitBundle",
    "SubmitCase",
    "Suspend",
    "TimedCommand",
    "Update",
    "Withdraw",
    "exception_chain",
    "parse_digest",
    "query_code_hash",
    "utc_now",
]
