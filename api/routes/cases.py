"""Case queries: one case now or as it stood (``as_of`` / ``at_position``), its events,
audit timeline and legal clocks, and the searchable list of cases."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from casestore.projections.facts.corrections import corrections
from casestore.projections.readmodels.case_status.projection import CaseStatusView, Page
from fastapi import APIRouter, Depends, Query, Response
from pydantic import AwareDatetime
from starlette.concurrency import run_in_threadpool

from casestore.domain import Case
from casestore.domain.errors import NotFound
from casestore.domain.values import Actor, local_date
from casestore.timeutil import from_micros, to_micros
from casestore.trail import RECONSTRUCTING_ROLES

from ..bounds import QueryMoment
from ..caselist_asof import case_list_at
from ..deps import ApiState, PurposeDep, StaffDep, StateDep
from ..masking import Masking
from ..problems import ApiProblem
from ..views import case_view, event_view

router = APIRouter(tags=["cases"])

AsOf = Annotated[
    QueryMoment | None,
    Query(description="the case as it stood at this moment (ISO 8601 with offset)"),
]
AtPosition = Annotated[
    int | None,
    Query(ge=0, le=2**62, description="the case as it stood at this log position"),
]
Version = Annotated[
    int | None,
    Query(ge=1, le=2**31 - 1, description="the case as it stood after its Nth event"),
]
Target = Annotated[
    str,
    Query(
        max_length=40,
        description="a named copy of the view built beside the live one "
        "(`casestore project rebuild NAME --until TIME --target T`)",
    ),
]
_READ_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "no valid bearer token"},
    403: {"description": "the caller's role may not read this"},
    404: {"description": "no such case (or it did not exist yet then)"},
}


@dataclass(frozen=True)
class LookBack:
    """At most one way of looking back: a case version, a moment, or a log position."""

    version: int | None = None
    as_of: datetime | None = None
    at_position: int | None = None

    @property
    def looking_back(self) -> bool:
        """Whether a past state is asked for (an auditor's or inspector's is recorded)."""
        return any(v is not None for v in (self.version, self.as_of, self.at_position))


async def look_back(
    version: Version = None, as_of: AsOf = None, at_position: AtPosition = None
) -> LookBack:
    if sum(v is not None for v in (version, as_of, at_position)) > 1:
        raise ApiProblem("validation-error", "give one of version, as_of or at_position")
    return LookBack(version, as_of, at_position)


LookBackDep = Annotated[LookBack, Depends(look_back)]


def _load(state: ApiState, case_id: UUID, back: LookBack) -> tuple[Case, list[Any]]:
    """The case as it stood (its events up to then): the same fold whichever way is asked."""
    if back.version is not None:
        case = state.service.case(case_id)
        if back.version > case.version:
            raise NotFound(f"case {case_id} has {case.version} events, not {back.version}")
        case = state.service.case(case_id, version=back.version)
    else:
        case = state.service.case(case_id, as_of=back.as_of, at_position=back.at_position)
    return case, state.service.events(case_id, upto_version=case.version)


def recorded(
    state: ApiState,
    actor: Actor,
    route: str,
    purpose: str,
    case_ids: list[UUID],
    *,
    masking: Masking | None = None,
    reconstruction: bool = False,
    always: bool = False,
) -> None:
    """Append the read's ``AccessRecorded`` when it showed personal data in full, was an
    as-of reconstruction by an auditor or inspector, or is always accountable."""
    if (
        always
        or (masking is not None and masking.revealed)
        or (reconstruction and actor.role in RECONSTRUCTING_ROLES)
    ):
        state.trail.record(actor, route, purpose, case_ids)


def _masked(
    state: ApiState,
    actor: Actor,
    purpose: str,
    route: str,
    case_id: UUID,
    data: Any,
    reconstruction: bool,
) -> Any:
    masking = Masking(actor.role)
    view = masking.walk(data)
    recorded(
        state, actor, route, purpose, [case_id], masking=masking, reconstruction=reconstruction
    )
    return view


@router.get("/cases/{case_id}", responses=_READ_ERRORS, summary="One case (now or as it stood)")
async def get_case(
    case_id: UUID,
    actor: StaffDep,
    state: StateDep,
    response: Response,
    back: LookBackDep,
    purpose: PurposeDep,
) -> dict[str, Any]:
    """The case's current stage, limits and facts (or as it stood: ``version``, ``as_of``,
    ``at_position``); ``ETag`` is its version. A view with personal data in full (by
    role) leaves an ``AccessRecorded`` in the log, as does any look back by an auditor or
    inspector."""

    def read() -> tuple[int, dict[str, Any]]:
        case, events = _load(state, case_id, back)
        view = _masked(
            state,
            actor,
            purpose,
            "GET /cases/{case_id}",
            case_id,
            case_view(case, events),
            back.looking_back,
        )
        return case.version, view

    version, view = await run_in_threadpool(read)
    response.headers["ETag"] = f'"{version}"'
    return view


@router.get("/cases/{case_id}/events", responses=_READ_ERRORS, summary="Every event of a case")
async def get_case_events(
    case_id: UUID,
    actor: StaffDep,
    state: StateDep,
    back: LookBackDep,
    purpose: PurposeDep,
) -> list[dict[str, Any]]:
    """Every event in version order, with actor, ``recorded_at`` and ``occurred_at`` (up to
    ``version``, ``as_of`` or ``at_position`` when given)."""

    def read() -> list[dict[str, Any]]:
        _, events = _load(state, case_id, back)
        views: list[dict[str, Any]] = _masked(
            state,
            actor,
            purpose,
            "GET /cases/{case_id}/events",
            case_id,
            [event_view(e) for e in events],
            back.looking_back,
        )
        return views

    result: list[dict[str, Any]] = await run_in_threadpool(read)
    return result


@router.get(
    "/cases/{case_id}/timeline", responses=_READ_ERRORS, summary="The case's audit timeline"
)
async def get_case_timeline(
    case_id: UUID,
    actor: StaffDep,
    state: StateDep,
    back: LookBackDep,
    purpose: PurposeDep,
    target: Target = "",
) -> list[dict[str, Any]]:
    """Every event with its log position, actor, ``recorded_at``, ``occurred_at``, how far
    it was back-dated, and its hashes (from the audit projection); up to ``version``,
    ``as_of`` or ``at_position`` when given. Every timeline read leaves an
    ``AccessRecorded`` in the log."""

    def timeline() -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = state.read.audit(target).timeline(str(case_id), limit=10_000)
        case, events = _load(state, case_id, back)  # 404 for an unknown case
        rows = [r for r in rows if r["version"] <= case.version]
        masked: list[dict[str, Any]] = Masking(actor.role).walk(with_corrections(rows, events))
        recorded(state, actor, "GET /cases/{case_id}/timeline", purpose, [case_id], always=True)
        return masked

    rows: list[dict[str, Any]] = await run_in_threadpool(timeline)
    return rows


def with_corrections(rows: list[dict[str, Any]], events: list[Any]) -> list[dict[str, Any]]:
    """Timeline rows with both sides of every correction among ``events``: the correction's
    row says who corrected which fact from what to what and why; the corrected event's row
    links to each correction of it."""
    fixes = corrections(events)
    by_version = {f["version"]: f for f in fixes}
    out = []
    for row in rows:
        extra: dict[str, Any] = {}
        if row["version"] in by_version:
            extra["correction"] = by_version[row["version"]]
        later = [
            {"version": f["version"], "fact": f["fact"], "link": f["link"]}
            for f in fixes
            if f["corrects_version"] == row["version"]
        ]
        if later:
            extra["corrected_by"] = later
        out.append({**row, **extra})
    return out


@router.get("/cases/{case_id}/clock", responses=_READ_ERRORS, summary="The case's legal clocks")
async def get_case_clock(
    case_id: UUID,
    actor: StaffDep,
    state: StateDep,
    back: LookBackDep,
    purpose: PurposeDep,
) -> dict[str, Any]:
    """Every clock (acceptance, decision promised/statutory, surveys, delivery, bad review)
    with its due date explained: start, counted and excluded days, calendar source. With
    ``version``/``as_of``/``at_position``: the clocks as they stood then, on that day."""

    def compute() -> dict[str, Any]:
        case, events = _load(state, case_id, back)
        if back.as_of is not None:
            today = local_date(back.as_of)
        elif back.at_position is not None:
            today = local_date(_moment_of(state, back.at_position))
        elif back.version is not None:
            today = local_date(events[-1].timestamp)
        else:
            today = state.today()
        result = state.read.clocks(case, events, today)
        recorded(
            state,
            actor,
            "GET /cases/{case_id}/clock",
            purpose,
            [case_id],
            reconstruction=back.looking_back,
        )
        return result

    result: dict[str, Any] = await run_in_threadpool(compute)
    return result


def _moment_of(state: ApiState, position: int) -> datetime:
    rows = list(state.service.log_rows(max(position - 1, 0), upto=position))
    if not rows:
        raise NotFound(f"no event at position {position}")
    return from_micros(rows[0].recorded_at_us)


@router.get("/cases", responses=_READ_ERRORS, summary="Search cases (newest first)")
async def list_cases(
    actor: StaffDep,
    state: StateDep,
    stage: Annotated[str | None, Query(max_length=32)] = None,
    status: Annotated[str | None, Query(max_length=32)] = None,
    item_code: Annotated[str | None, Query(max_length=64)] = None,
    window: Annotated[str | None, Query(max_length=64)] = None,
    actor_staff: Annotated[str | None, Query(max_length=64)] = None,
    bundle_id: UUID | None = None,
    channel: Annotated[str | None, Query(max_length=32)] = None,
    submitted_from: Annotated[AwareDatetime | None, Query()] = None,
    submitted_to: Annotated[AwareDatetime | None, Query()] = None,
    cursor: Annotated[str | None, Query(max_length=200, description="next_cursor")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    target: Target = "",
    as_of: Annotated[
        QueryMoment | None,
        Query(description="the list as it stood at this moment (ISO 8601 with offset)"),
    ] = None,
    at_position: Annotated[
        int | None, Query(ge=0, le=2**62, description="the list as it stood at this log position")
    ] = None,
    purpose: PurposeDep = "",
) -> dict[str, Any]:
    """Filters combine (exact match); ``next_cursor`` pages on. Each case carries its
    running deadline, remaining working days and warning level as of today. With
    ``as_of`` or ``at_position`` the list as it stood then (``position``: the last log
    position it includes), rebuilt from the log on first use; an auditor's or inspector's
    look back is recorded in the access trail."""
    if sum(v is not None and v != "" for v in (target, as_of, at_position)) > 1:
        raise ApiProblem("validation-error", "give one of target, as_of or at_position")

    def search() -> dict[str, Any]:
        position = at_position
        if as_of is not None:
            position = state.service.position_at(to_micros(as_of))

        def find(view: CaseStatusView) -> Page:
            return view.search(
                cursor=cursor,
                limit=limit,
                submitted_from=submitted_from,
                submitted_to=submitted_to,
                stage=stage,
                status=status,
                item_code=item_code,
                window=window,
                actor_staff=actor_staff,
                bundle_id=str(bundle_id) if bundle_id else None,
                channel=channel,
            )

        page = (
            find(state.read.case_status(target))
            if position is None
            else case_list_at(state, position, find)
        )
        ids = [str(r["case_id"]) for r in page.items]
        deadlines: dict[str, Any] = {}
        if position is not None:
            recorded(
                state, actor, "GET /cases", purpose, [UUID(i) for i in ids], reconstruction=True
            )
            items = [{**r, "deadline": None} for r in page.items]  # no clocks of then
            return {"items": items, "next_cursor": page.next_cursor, "position": position}
        if ids and not target:
            try:
                deadlines = state.read.compliance().deadlines(ids, state.today())
            except ApiProblem:
                deadlines = {}  # the compliance view is not built yet: rows without clocks
        items = [{**r, "deadline": deadlines.get(str(r["case_id"]))} for r in page.items]
        return {"items": items, "next_cursor": page.next_cursor}

    result: dict[str, Any] = await run_in_threadpool(search)
    return result
