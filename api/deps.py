"""Request dependencies as ``Annotated`` aliases: state, caller, role gates, headers.

They are ``async def`` on purpose: FastAPI would run a plain ``def`` dependency in the
thread pool, a hop per dependency per request. The one that may block (looking up a
staff member's grants when the cached copy is older than half a second) hops itself.

Who is calling comes from the bearer token (:mod:`casestore.identity`); what they may
do comes from the grants they hold now in the log (:mod:`casestore.authority`), never
from the token. A member holding several roles acts in the first that fits the
endpoint (``authority.ROLE_ORDER``) unless ``X-Act-As: ROLE`` names one. Inspectors
state the purpose of every request in ``X-Purpose`` (percent-encoded UTF-8 allowed).

Read access (commands are gated by ``casestore.domain.roles``, against the grants):

| endpoints                                              | roles                       |
|--------------------------------------------------------|-----------------------------|
| ``/cases*``, ``/stream``, ``/compliance``, ``/evaluations``, ``/bundles`` | every staff role |
| ``/supervision/flags``                                 | inspector, auditor, admin   |
| ``/audit/*``, ``/staff*``                              | auditor, inspector, admin   |
| ``/items``, ``/public/*``, ``/health``, ``/metrics``   | no token                    |
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any, Final
from urllib.parse import unquote

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from casestore.authority import Authority
from casestore.domain.values import Actor, local_date
from casestore.identity import IdentityVerifier
from casestore.ledger.store import LedgerStore
from casestore.ledger.verify_proof import VerifierKey
from casestore.service import CaseService
from casestore.timelimits import ClockConfig, WorkingCalendar
from casestore.trail import AccessTrail

from .clientaddr import TrustedProxies
from .problems import VERIFIED, ApiProblem
from .ratelimit import PublicLimits, StreamSlots

if TYPE_CHECKING:
    from casestore.bootstrap import WriteSide

    from .metrics import ApiMetrics
    from .readside import ReadSide
    from .stream import StreamHub
    from .tickets import StreamTickets

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
    identity: IdentityVerifier
    authority: Authority
    trail: AccessTrail
    tickets: StreamTickets
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
    proxies: TrustedProxies = field(default_factory=TrustedProxies)
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

_bearer = HTTPBearer(
    auto_error=False, description="an OIDC token, or `casestore token --staff STAFF_ID`"
)
_PURPOSE_MAX = 500


@dataclass(frozen=True)
class Caller:
    """A verified caller before authority: staff id, the role asked for, the purpose."""

    staff_id: str
    act_as: str | None = None
    purpose: str = ""


def parse_purpose(value: str | None) -> str:
    """``X-Purpose`` as text: percent-decoded, stripped, 1-500 printable characters."""
    if value is None:
        return ""
    text = unquote(value).strip()
    if len(text) > _PURPOSE_MAX or not text.isprintable():
        raise ApiProblem("validation-error", "X-Purpose must be 1-500 printable characters")
    return text


def caller_of(
    state: ApiState, request: Request, token: str | None, act_as: str | None, purpose: str | None
) -> Caller:
    """The staff member a token names (401 when there is no valid token)."""
    if not token:
        raise ApiProblem("unauthorized", "a bearer token is required")
    verified = getattr(request.state, VERIFIED, None)  # checked by TokenBeforeBody already
    if verified is not None and verified[0] == token:
        identity = verified[1]
    else:
        identity = state.identity.verify(token)
    request.state.staff_id = identity.staff_id
    role = act_as.strip() if act_as and act_as.strip() else None
    return Caller(identity.staff_id, role, parse_purpose(purpose))


#: The longest ``X-Act-As`` and ``X-Purpose`` values taken (longer: a 422 from FastAPI).
ACT_AS_MAX: Final = 32
PURPOSE_HEADER_MAX: Final = 2000
ActAsHeader = Annotated[
    str | None,
    Header(alias="X-Act-As", max_length=ACT_AS_MAX, description="act in this one of your roles"),
]
PurposeHeader = Annotated[
    str | None,
    Header(
        alias="X-Purpose", max_length=PURPOSE_HEADER_MAX, description="why (required of inspectors)"
    ),
]


async def current_caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    act_as: ActAsHeader = None,
    purpose: PurposeHeader = None,
) -> Caller:
    """The caller named by a valid ``Authorization: Bearer`` token (else 401)."""
    state: ApiState = request.app.state.casestore
    token = credentials.credentials if credentials else None
    return caller_of(state, request, token, act_as, purpose)


CallerDep = Annotated[Caller, Depends(current_caller)]


async def authorise(
    state: ApiState, request: Request, caller: Caller, roles: frozenset[str], what: str
) -> Actor:
    """The caller acting in a role they hold now that ``roles`` admits (else 403)."""
    authority = state.authority

    def resolve() -> Actor:
        return authority.actor(caller.staff_id, allowed=roles, act_as=caller.act_as, what=what)

    actor = resolve() if authority.is_fresh(caller.staff_id) else await run_in_threadpool(resolve)
    request.state.actor = actor
    if actor.role == "inspector" and not caller.purpose:
        raise ApiProblem(
            "purpose-required", "inspectors state the purpose of each request in X-Purpose"
        )
    return actor


def role_gate(roles: frozenset[str], what: str) -> Callable[..., Awaitable[Actor]]:
    """A dependency admitting only callers holding one of ``roles`` now (403 otherwise)."""

    async def gate(request: Request, caller: CallerDep) -> Actor:
        state: ApiState = request.app.state.casestore
        return await authorise(state, request, caller, roles, what)

    return gate


StaffDep = Annotated[Actor, Depends(role_gate(STAFF_READERS, "staff views"))]
SupervisionDep = Annotated[Actor, Depends(role_gate(SUPERVISION_READERS, "supervision flags"))]
AuditDep = Annotated[Actor, Depends(role_gate(AUDIT_READERS, "the audit trail"))]


async def purpose_of(purpose: PurposeHeader = None) -> str:
    return parse_purpose(purpose)


PurposeDep = Annotated[str, Depends(purpose_of)]

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


def parse_idempotency_key(actor: Actor | Caller, value: str | None) -> str | None:
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
