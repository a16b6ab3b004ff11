"""Staff and authority, for inspection (纪检监察): who held which role when, who looked.

- ``GET /staff/{id}?as_of=`` — one member as the log had them then: status and the
  grants in force, with every grant and revocation up to that moment (from the log).
- ``GET /staff?role=approver&as_of=2026-06-30`` — who could approve on that day: every
  member who held the role at some moment of it (a date is a whole bureau day; a
  time with offset is one instant; no ``as_of`` is now).
- ``GET /audit/access?case=&staff=&from=&to=`` — the access trail (``AccessRecorded``).

Auditors, inspectors and admins only (inspectors with ``X-Purpose``).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Query
from pydantic import AwareDatetime
from starlette.concurrency import run_in_threadpool

from casestore.domain.staff import GRANTABLE
from casestore.domain.values import BUREAU_TZ
from casestore.plain import to_plain
from casestore.timeutil import to_micros

from ..bounds import check_query_day, check_query_moment
from ..deps import ApiState, AuditDep, StateDep
from ..problems import ApiProblem

router = APIRouter(tags=["staff"])
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "no valid bearer token"},
    403: {"description": "auditor, inspector or admin only"},
}
StaffId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[!-~]+$")]
AsOf = Annotated[
    str | None,
    Query(
        max_length=40,
        description="a bureau date (YYYY-MM-DD: the whole day) or an instant with offset",
    ),
]


def _window(as_of: str | None, now: datetime) -> tuple[datetime, datetime]:
    """The instants ``as_of`` spans: a whole local day for a date, else one instant."""
    if as_of is None:
        return now, now
    try:
        if len(as_of) == 10:
            day = check_query_day(date.fromisoformat(as_of))
            start = datetime.combine(day, time.min, BUREAU_TZ)
            return start, start + timedelta(days=1) - timedelta(microseconds=1)
        moment = datetime.fromisoformat(as_of)
        if moment.tzinfo is not None:
            moment = check_query_moment(moment)
    except ValueError as error:
        # A date outside the bounds (year 9999 overflows the day's end) is refused here
        # with the bounds' own message, not a 500 from the date arithmetic.
        raise ApiProblem(
            "validation-error", f"as_of is not a date or an instant in range: {as_of!r}: {error}"
        ) from None
    if moment.tzinfo is None:
        raise ApiProblem("validation-error", "as_of needs a UTC offset (or give a date)")
    return moment, moment


#: What a member's history shows of each staff event (besides type, version, time, by).
_HISTORY_FIELDS = frozenset(
    {"role", "window", "unit", "reason", "granted_by", "seconded_by", "proposed_by", "roles"}
)


def _member(state: ApiState, staff_id: str, end: datetime) -> dict[str, Any]:
    staff, events = state.authority.as_of(staff_id, end)
    history = [
        {
            "type": type(e).__name__,
            "version": e.originator_version,
            "recorded_at": e.timestamp.isoformat(),
            "by": e.actor.staff_id,
            **{k: to_plain(v) for k, v in vars(e).items() if k in _HISTORY_FIELDS},
        }
        for e in events
    ]
    return {
        "staff_id": staff.staff_id,
        "name": staff.name,
        "unit": staff.unit,
        "status": staff.status,
        "as_of": end.isoformat(),
        "roles": {
            role: {
                "window": g.window,
                "unit": g.unit,
                "granted_at": g.granted_at.isoformat(),
                "granted_by": g.granted_by,
                "seconded_by": g.seconded_by or None,
                "reason": g.reason,
            }
            for role, g in sorted(staff.roles_in_force().items())
        },
        "history": history,
    }


@router.get(
    "/staff/{staff_id}",
    responses={**_ERRORS, 404: {"description": "no such member of staff (then)"}},
    summary="One member of staff (as of)",
)
async def get_staff(
    staff_id: StaffId, actor: AuditDep, state: StateDep, as_of: AsOf = None
) -> dict[str, Any]:
    """Status and grants in force at the end of ``as_of`` (now without it), and every
    staff event up to then."""
    _, end = _window(as_of, state.now())
    result: dict[str, Any] = await run_in_threadpool(_member, state, staff_id, end)
    return result


@router.get("/staff", responses=_ERRORS, summary="Who held a role (on a day, at a moment)")
async def list_staff(
    actor: AuditDep,
    state: StateDep,
    role: Annotated[str | None, Query(max_length=32)] = None,
    as_of: AsOf = None,
) -> dict[str, Any]:
    """Every grant in force at some moment of ``as_of`` (for ``role``, or every role)."""
    if role is not None and role not in GRANTABLE:
        raise ApiProblem("validation-error", f"role must be one of {sorted(GRANTABLE)}")
    start, end = _window(as_of, state.now())

    def holders() -> list[dict[str, Any]]:
        view = state.read.access()
        roles = [role] if role else sorted(GRANTABLE)
        rows = []
        for r in roles:
            rows.extend(view.holders(r, to_micros(start), to_micros(end)))
        return rows

    rows = await run_in_threadpool(holders)
    return {
        "role": role,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "staff": sorted({r["staff_id"] for r in rows}),
        "grants": rows,
    }


@router.get("/audit/access", responses=_ERRORS, summary="The access trail (who looked)")
async def audit_access(
    actor: AuditDep,
    state: StateDep,
    case: UUID | None = None,
    staff: Annotated[str | None, Query(max_length=64)] = None,
    from_: Annotated[AwareDatetime | None, Query(alias="from")] = None,
    to: AwareDatetime | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> dict[str, Any]:
    """Every ``AccessRecorded`` matching the filters, oldest first."""

    def trail() -> list[dict[str, Any]]:
        return state.read.access().trail(
            case_id=str(case) if case else None,
            staff_id=staff,
            from_us=to_micros(from_) if from_ else None,
            to_us=to_micros(to) if to else None,
            limit=limit,
        )

    return {"items": await run_in_threadpool(trail)}
