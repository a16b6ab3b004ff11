"""Web pages: the public hall status board (``/``), the applicant's page (``/query``) and
the staff dashboard (``/dashboard``).

Pages are plain HTML from ``api/templates`` with small hand-written scripts, styles and
SVG charts from ``api/static``: no build step, nothing fetched from elsewhere at run time.

The board is public (a big screen in the hall), so it holds no bearer token. It reads
``GET /board/cases`` (open cases: number, item, stage, remaining working days, yellow or
red) and ``GET /board/stream``, the ``/stream`` hub's Server-Sent Events (same ids: log
positions, same ``Last-Event-ID`` resumption) with the staff and case-id fields dropped.
Neither carries personal data: no applicant, agent, phone or staff identity.

The board's rows come from the ``hallboard`` read model
(:class:`~casestore.projections.readmodels.hallboard.HallBoard`: open cases folded from the
log into the shared case and item facts, clocks from the compliance rules as of the
server's today); this module holds one per process and renders its snapshot.

The dashboard is for staff: its script calls the token-protected query API (compliance,
supervision flags, evaluations, case timelines, audit verification) with a bearer token
pasted into its sign-in field and kept in ``sessionStorage`` (``/dashboard?token=...``
does the same once, for demos, and removes the token from the address bar).

Its "as of" date picker needs every view as it stood at the end of a past day. The
query API reads such views from named targets (``?target=``), so
``POST /dashboard/as-of?day=D`` builds them on demand with the projections' time-travel
rebuild (:func:`~casestore.projections.runtime.worker.rebuild_as_of`: the compliance,
evaluation, supervision, enquiries (S16 flags are the enquiries') and windows views from the
events recorded by the end of D, UTC+8) into the target
``asof_YYYYMMDD``. A finished day never changes, so a target is built once and reused;
the :data:`AS_OF_KEEP` most recent days are kept.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import AsyncIterator
from datetime import date, datetime, time, timedelta
from pathlib import Path
from string import Template
from typing import Annotated, Any, Final

import orjson
from casestore.projections.engine.base import physical  # type: ignore[import-not-found,unused-ignore]
from casestore.projections.engine.db import drop_target  # type: ignore[import-not-found,unused-ignore]
from casestore.projections.readmodels.hallboard import (  # type: ignore[import-not-found,unused-ignore]
    HallBoard,
)
from casestore.projections.runtime.registry import (  # type: ignore[import-not-found,unused-ignore]
    get_projection,
)
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import HTMLResponse, Response
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from casestore.domain.values import BUREAU_TZ

from ..bounds import parse_last_event_id
from ..deps import ApiState, StaffDep, StateDep
from ..problems import ApiProblem
from ..ratelimit import Slot

router = APIRouter(tags=["web"])

_HERE = Path(__file__).resolve().parent.parent
TEMPLATES: Final = _HERE / "templates"
STATIC: Final = _HERE / "static"
_STATIC_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,60}\.(css|js|svg)$")
_MEDIA = {
    "css": "text/css; charset=utf-8",
    "js": "text/javascript; charset=utf-8",
    "svg": "image/svg+xml",
}
#: Fields of a ``/stream`` item the public board may see (no case id, no staff).
PUBLIC_FIELDS: Final = (
    "position",
    "case_no",
    "item_code",
    "window",
    "event",
    "stage",
    "recorded_at",
)
_HEARTBEAT_S = 15.0
_PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Everything the pages need comes from this origin; nothing else may load or run.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
        "frame-ancestors 'none'; form-action 'self'"
    ),
}


# -- pages and static files ------------------------------------------------------------


def asset_version() -> str:
    """A short hash of every static file, so a changed script is never served stale."""
    digest = hashlib.sha256()
    for path in sorted(STATIC.iterdir()):
        if path.is_file():
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def render_page(name: str) -> str:
    """A page template with its ``$v`` (asset version) filled in."""
    text = (TEMPLATES / name).read_text(encoding="utf-8")
    return Template(text).substitute(v=asset_version())


@router.api_route(
    "/", methods=["GET", "HEAD"], response_class=HTMLResponse, include_in_schema=False
)
async def board_page() -> HTMLResponse:
    """大厅办件公示屏: the public hall status board."""
    return HTMLResponse(await run_in_threadpool(render_page, "board.html"), headers=_PAGE_HEADERS)


@router.api_route(
    "/dashboard", methods=["GET", "HEAD"], response_class=HTMLResponse, include_in_schema=False
)
async def dashboard_page(
    token: Annotated[str | None, Query(max_length=4096, include_in_schema=False)] = None,
) -> HTMLResponse:
    """监管看板: compliance, supervision flags, evaluations, as of any moment (staff only).

    ``?token=`` is declared only so the page loads for a link that carries one: the
    server never reads it (the page's script takes it out of the address bar)."""
    del token
    html = await run_in_threadpool(render_page, "dashboard.html")
    return HTMLResponse(html, headers=_PAGE_HEADERS)


@router.api_route(
    "/query", methods=["GET", "HEAD"], response_class=HTMLResponse, include_in_schema=False
)
async def query_page(
    case_no: Annotated[
        str | None,
        Query(max_length=64, pattern=r"^[0-9A-Za-z-]+$", include_in_schema=False),
    ] = None,
) -> HTMLResponse:
    """办件查询: the applicant's own page (mobile first). The notices' QR codes open it
    with ``?case_no=`` (never the query code); the page's script fills the number in and
    reads ``/public/cases/...`` with the code the applicant types."""
    del case_no
    return HTMLResponse(await run_in_threadpool(render_page, "query.html"), headers=_PAGE_HEADERS)


@router.get("/static/{name}", include_in_schema=False)
async def static_file(
    name: str,
    if_none_match: Annotated[str | None, Header()] = None,
    v: Annotated[str | None, Query(max_length=32, pattern=r"^[0-9a-f]+$")] = None,
) -> Response:
    """One file of ``api/static`` (flat directory; names checked against a pattern).

    ``?v=`` is the pages' cache-busting version (:func:`asset_version`); it is declared
    so the app-wide refusal of unknown query parameters lets the pages load."""
    match = _STATIC_NAME.match(name)
    path = STATIC / name
    if match is None or not path.is_file():
        raise ApiProblem("not-found", f"no static file {name[:80]!r}")
    body = await run_in_threadpool(path.read_bytes)
    etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
    headers = {"ETag": etag, "Cache-Control": "public, max-age=300", **_PAGE_HEADERS}
    if if_none_match == etag:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=_MEDIA[match.group(1)], headers=headers)


# -- the board's view of the log ----------------------------------------------------------

_BOARD_LOCK = threading.Lock()


def hall_board(request: Request, state: ApiState) -> HallBoard:
    """The app's one :class:`HallBoard` (created on first use)."""
    with _BOARD_LOCK:
        board: HallBoard | None = getattr(request.app.state, "casestore_hall_board", None)
        if board is None:
            board = HallBoard(state.service, state.calendar, state.clock_config)
            request.app.state.casestore_hall_board = board
        return board


@router.get("/board/cases", summary="Open cases for the hall status board (public)")
async def board_cases(
    request: Request,
    state: StateDep,
    window: Annotated[
        str | None, Query(max_length=64, pattern=r"^[0-9A-Za-z_-]+$", description="one window")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=5000, description="at most this many rows")] = 500,
) -> dict[str, Any]:
    """Case number, item, stage, the running clock's due date, remaining working days and
    yellow/red warning of every open case (no personal data); counts over all of them."""
    board = hall_board(request, state)

    def build() -> dict[str, Any]:
        return board.snapshot(state.today(), window, limit)

    result: dict[str, Any] = await run_in_threadpool(build)
    return result


def public_item(data: bytes) -> str:
    """A ``/stream`` item reduced to :data:`PUBLIC_FIELDS` (as JSON text)."""
    full = orjson.loads(data)
    return orjson.dumps({k: full.get(k) for k in PUBLIC_FIELDS}).decode()


#: How far back a public board stream may start: the board's feed shows recent history,
#: but an unauthenticated client never replays the log (a cursor further back starts
#: here and the stream says ``event: reset`` so the page reloads its rows).
BOARD_HISTORY: Final = 200
_STREAM_RETRY_AFTER = 30


async def _board_events(
    request: Request, state: ApiState, cursor: int, reset: bool, slot: Slot
) -> AsyncIterator[Any]:
    hub = state.hub
    try:
        yield ServerSentEvent(comment="casestore board", retry=2000)
        if reset:
            yield ServerSentEvent(data="{}", event="reset", id=str(cursor))
        while True:
            items, cursor = await hub.read_after(cursor)
            for item in items:
                yield ServerSentEvent(
                    data=public_item(item.data), event="status", id=str(item.position)
                )
            if not items:
                if await request.is_disconnected():
                    return
                await hub.wait_beyond(cursor, _HEARTBEAT_S)
    finally:
        slot.release()


# Not in the OpenAPI schema: a public, never-ending stream would hang schema fuzzers.
@router.get("/board/stream", response_class=EventSourceResponse, include_in_schema=False)
async def board_stream(
    request: Request,
    state: StateDep,
    after: Annotated[int | None, Query(ge=0, le=2**62, description="start after")] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=32)] = None,
) -> Any:
    """``/stream``'s events (``event: status``, ``id``: log position) with only case
    number, item, window, event name, stage and recorded time: the current state comes
    from ``/board/cases``, this stream brings the live changes and at most
    :data:`BOARD_HISTORY` events of recent history (resumable with ``Last-Event-ID``
    within that reach; further back it starts there with ``event: reset``). Each client
    address may hold ``CASESTORE_BOARD_STREAMS_PER_CLIENT`` streams, the process
    ``CASESTORE_BOARD_STREAMS_TOTAL``; over either: 429 ``too-many-streams``."""
    head = state.hub.position
    cursor = after if after is not None else head
    resumed = parse_last_event_id(last_event_id)  # a reconnect: it wins over ?after=
    if resumed is not None:
        cursor = resumed
    earliest = max(head - BOARD_HISTORY, 0)
    reset = cursor < earliest
    cursor = min(max(cursor, earliest), head)
    client = state.proxies.client(request)  # the real client (CASESTORE_TRUSTED_PROXIES)
    slot = state.board_slots.acquire(client)
    if slot is None:
        raise ApiProblem(
            "too-many-streams",
            "too many open board streams from this address (or in all); try again later "
            "(公示屏实时连接数已达上限，请稍后再试)",
            headers={"Retry-After": str(_STREAM_RETRY_AFTER)},
            retry_after=_STREAM_RETRY_AFTER,
        )
    return EventSourceResponse(
        _board_events(request, state, cursor, reset, slot),
        ping=int(_HEARTBEAT_S),
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        background=BackgroundTask(slot.release),  # also when the body never started
    )


# -- the dashboard's views as of a past day -----------------------------------------------

AS_OF_PROJECTIONS: Final = ("compliance", "evaluation", "supervision", "enquiries", "windows")
AS_OF_KEEP: Final = 12
EARLIEST_AS_OF: Final = date(2000, 1, 1)
_AS_OF_PREFIX = "asof_"
_AS_OF_LOCK = threading.Lock()


def as_of_target(day: date) -> str:
    """The target name of the views as of the end of ``day``."""
    return f"{_AS_OF_PREFIX}{day:%Y%m%d}"


def build_as_of(state: ApiState, day: date) -> list[str]:
    """Build the missing views as of the end of ``day``; returns the projections built."""

    target = as_of_target(day)
    end = datetime.combine(day + timedelta(days=1), time(0), BUREAU_TZ) - timedelta(microseconds=1)
    db = state.read.db
    built = []
    with _AS_OF_LOCK:
        for name in AS_OF_PROJECTIONS:
            row = db.tracking(physical(name, target))
            if row is None or row.version != get_projection(name).version:
                state.wiring.rebuild_as_of(name, until=end, target=target, db=db)
                built.append(name)
        _prune(db, keep=target)
    return built


def _prune(db: Any, keep: str) -> None:

    rows = [r for r in db.all_tracking() if r.target.startswith(_AS_OF_PREFIX)]
    created: dict[str, int] = {}
    for r in rows:
        created[r.target] = max(created.get(r.target, 0), r.created_at_us)
    old = sorted((t for t in created if t != keep), key=lambda t: created[t], reverse=True)
    for target in old[AS_OF_KEEP - 1 :]:
        for r in rows:
            if r.target == target:
                drop_target(db, get_projection(r.projection), target)


@router.post(
    "/dashboard/as-of",
    responses={
        401: {"description": "no valid bearer token"},
        403: {"description": "the caller's role may not read these views"},
    },
    summary="The dashboard's views as of the end of a past day",
)
async def dashboard_as_of(
    actor: StaffDep,
    state: StateDep,
    day: Annotated[date, Query(description="a past day (bureau time, UTC+8)")],
) -> dict[str, Any]:
    """Builds (once) the compliance, evaluation, supervision, enquiries and windows views
    from the events recorded by the end of ``day`` and names the target to pass as ``?target=`` with
    ``until``/``today`` = ``day`` to ``/compliance/summary``, ``/evaluations/summary`` and
    ``/supervision/flags``."""
    today = state.today()
    if day < EARLIEST_AS_OF:
        raise ApiProblem("validation-error", f"pick a day from {EARLIEST_AS_OF} on")
    if day >= today:
        raise ApiProblem(
            "validation-error", f"pick a day before today ({today}); today is the live view"
        )
    built = await run_in_threadpool(build_as_of, state, day)
    return {"day": day.isoformat(), "target": as_of_target(day), "built": built}
