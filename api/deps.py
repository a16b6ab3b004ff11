"""Request dependencies as ``Annotated`` aliases: state, caller, role gates, headers.

They are ``async def`` on purpose: none of them blocks, and FastAPI would run a plain
``def`` dependency in the thread pool, a hop per dependency per request.

Read access (commands are gated by ``casestore.domain.roles`` in the service):

| endpoints                                              | roles                       |
|--------------------------------------------------------|-----------------------------|
| ``/cases*``, ``/stream``, ``/compliance``, ``/evaluations``, ``/bundles`` | every staff role |
| ``/supervision/flags``                                 | inspector, auditor, admin   |
| ``/audit/*``                                           | auditor, inspector, admin   |
| ``/items``, ``/public/*``, ``/health``, ``/metrics``   | no token                    |
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any, Final

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from casestore.auth import verify_token
from casestore.domain.errors import Forbidden
from casestore.domain.values import Actor, local_date
from casestore.ledger.store import LedgerStore
from casestore.ledger.verify_proof import VerifierKey
from casestore.service import CaseService
from casestore.timelimits import ClockConfig, WorkingCalendar

from .problems import ApiProblem
from .ratelimit import PublicLimits, StreamSlots

if TYPE_CHECKING:
    from casestore.bootstrap import WriteSide

    from .metrics import ApiMetrics
    from .readside import ReadSide
    from .stream import StreamHub

STAFF_READERS: Final = frozenset(
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
    }
)
SUPERVISION_READERS: Final = frozenset({"inspector", "auditor", "admin"})
AUDIT_READERS: Final = frozenset({"auditor", "inspector", "admin"})


@dataclass
class ApiState:
    """Everything one API instance shares between requests."""

    db_url: str
    secret: str
    service: CaseService
    #: The composition root's wiring: starts the embedded runners and as-of rebuilds,
    #: which follow the log itself (the edge never reaches past the service).
    wiring: WriteSide
    calendar: WorkingCalendar
    clock_config: ClockConfig
    metrics: ApiMetrics
    hub: StreamHub
    read: ReadSide
    workers: bool = False
    background: list[Any] = field(default_factory=list)
    public_limits: PublicLimits = field(default_factory=PublicLimits)
    #: Open public board streams, per client address and in all (``/board/stream``).
    board_slots: StreamSlots = field(default_factory=StreamSlots)
    #: The verifiable log's store (opened on first use) and the witnesses it accepts.
    ledger: LedgerStore | None = None
    witnesses: list[VerifierKey] = field(default_factory=list)

    def now(self) -> datetime:
        """The server's clock (the injected one in tests and simulations)."""
        return self.service.clock()

    def today(self) -> date:
        """The bureau's local date now."""
        return local_date(self.now())


async def get_state(request: Request) -> ApiState:
    state: ApiState = request.app.state.casestore
    return state


StateDep = Annotated[ApiState, Depends(get_state)]


async def get_service(state: StateDep) -> CaseService:
    return state.service


ServiceDep = Annotated[CaseService, Depends(get_service)]

_bearer = HTTPBearer(auto_error=False, description="`casestore token --staff ID --role ROLE`")


def _actor_of(state: ApiState, request: Request, token: str | None) -> Actor:
    if not token:
        raise ApiProblem("unauthorized", "a bearer token is required")
    actor = verify_token(state.secret, token).actor()
    request.state.actor = actor
    if actor.role == "applicant":
        # An applicant is identified by case number + query code, never by a token.
        raise Forbidden("applicants use /public/cases/{case_no}?code=", role=actor.role)
    return actor


async def current_actor(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    """The caller named by a valid ``Authorization: Bearer`` token (else 401)."""
    state: ApiState = request.app.state.casestore
    return _actor_of(state, request, credentials.credentials if credentials else None)


ActorDep = Annotated[Actor, Depends(current_actor)]


def role_gate(roles: frozenset[str], what: str) -> Callable[[Actor], Awaitable[Actor]]:
    """A dependency admitting only ``roles`` (403 problem otherwise)."""

    async def gate(actor: ActorDep) -> Actor:
        if actor.role not in roles:
            raise Forbidden(
                f"role {actor.role!r} may not read {what} (allowed: {sorted(roles)})",
                role=actor.role,
            )
        return actor

    return gate


StaffDep = Annotated[Actor, Depends(role_gate(STAFF_READERS, "staff views"))]
SupervisionDep = Annotated[Actor, Depends(role_gate(SUPERVISION_READERS, "supervision flags"))]
AuditDep = Annotated[Actor, Depends(role_gate(AUDIT_READERS, "the audit trail"))]


async def stream_actor(
    request: Request,
    state: StateDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    access_token: str | None = None,
) -> Actor:
    """Like :func:`current_actor`, also accepting ``?access_token=`` (EventSource cannot
    send headers)."""
    token = credentials.credentials if credentials else access_token
    actor = _actor_of(state, request, token)
    if actor.role not in STAFF_READERS:
        raise Forbidden(f"role {actor.role!r} may not read the stream", role=actor.role)
    return actor


StreamActorDep = Annotated[Actor, Depends(stream_actor)]

_IF_MATCH = re.compile(r'^\s*"?([0-9]{1,18})"?\s*$')

IfMatchHeader = Annotated[
    str | None,
    Header(alias="If-Match", description='the case version the command was based on: `"3"`'),
]
IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="a retried command with the same key appends once (1-200 printable "
        "ASCII characters; scoped to the caller's staff id)",
    ),
]


def parse_if_match(value: str | None) -> int | None:
    """The expected version from ``If-Match: "<version>"`` (400 problem when malformed)."""
    if value is None:
        return None
    if value.strip().startswith("W/") and _IF_MATCH.match(value.strip()[2:]):
        # RFC 9110 §13.1.1: If-Match compares strongly; a weak tag never matches.
        raise ApiProblem(
            "precondition-failed",
            "If-Match needs a strong entity tag: a weak one (W/) never matches "
            "(If-Match 须为强实体标签)",
        )
    match = _IF_MATCH.match(value)
    if match is None:
        raise ApiProblem("bad-precondition", f'If-Match must be "<version>", got {value[:40]!r}')
    return int(match.group(1))


_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")


def parse_idempotency_key(actor: Actor, value: str | None) -> str | None:
    """The caller-scoped key (422 problem when not 1-200 printable ASCII characters).

    Keys are scoped per caller, so one client can never replay another's result.
    """
    if value is None:
        return None
    if not _KEY.match(value):
        raise ApiProblem(
            "validation-error", "Idempotency-Key must be 1-200 printable ASCII characters"
        )
    return f"{len(actor.staff_id)}:{actor.staff_id}:{value}"
