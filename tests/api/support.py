"""Helpers for in-process API tests: an app over a fresh SQLite file, driven through
httpx's ASGI transport (no sockets), with a simulated clock and development tokens.

A token names a staff member only; authority comes from grants in the log. So every
token issued here is also remembered, and :meth:`Api.request` enrols its staff member
with the role the test named (by a test admin) before the request is sent."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from casestore.api.app import create_app
from casestore.api.deps import ApiState

import casestore
from casestore.authority import Authority
from casestore.domain import Actor
from casestore.domain.staff import GRANTABLE
from casestore.domain.values import APPROVAL_SEAL_ID
from casestore.identity import issue_dev_token

SECRET = "test-secret-not-for-production-0123456789"
TEST_ADMIN = "test-admin"
SECOND_ADMIN = "test-admin-2"
#: staff id -> {role: window} for every token issued by :func:`token`.
ISSUED: dict[str, dict[str, str]] = {}
CATALOGUE = Path(casestore.__file__).parent / "data" / "catalogue.json"
STAFF_ROLES = (
    "clerk",
    "reviewer",
    "approver",
    "surveyor",
    "sealer",
    "dispatcher",
    "auditor",
    "inspector",
    "admin",
)
APPLICANT = {
    "name": "李四",
    "id_type": "resident_id",
    "id_number": "110101199001011234",
    "phone": "13800001111",
}


class SimClock:
    """A server clock that starts on a working Monday morning and ticks a second per read."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2025, 9, 1, 1, 0, tzinfo=UTC)  # 09:00 in the bureau

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def token(role: str, staff: str | None = None, window: str = "W01") -> str:
    staff_id = staff or f"{role}-1"
    ISSUED.setdefault(staff_id, {})[role] = window
    return issue_dev_token(SECRET, staff_id)


def enrol_issued(authority: Authority, done: set[tuple[str, str]] | None = None) -> None:
    """Enrol every staff member a token was issued for, with the roles named for them."""
    done = done if done is not None else set()
    if (TEST_ADMIN, "admin") not in done:
        if authority.staff(TEST_ADMIN, fresh=True) is None:
            authority.enroll(TEST_ADMIN, name="test admin", first_admin=True)
            authority.enroll(SECOND_ADMIN, name="second test admin", by=TEST_ADMIN)
            authority.grant(SECOND_ADMIN, "admin", by=TEST_ADMIN, reason="second admin")
        done.add((TEST_ADMIN, "admin"))
    for staff_id, roles in list(ISSUED.items()):
        for role, window in list(roles.items()):
            if (staff_id, role) in done or role not in GRANTABLE:
                continue
            member = authority.staff(staff_id, fresh=True)
            if member is None:
                authority.enroll(staff_id, name=f"{role} {staff_id}", by=TEST_ADMIN)
                member = authority.staff(staff_id, fresh=True)
            if member is not None and role not in member.grants:
                second = SECOND_ADMIN if role == "admin" else ""
                authority.grant(
                    staff_id, role, by=TEST_ADMIN, window=window, reason="test", seconded_by=second
                )
            done.add((staff_id, role))


def auth(role: str, **kw: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(role, **kw)}"}


class Api:
    """A synchronous facade over an httpx AsyncClient bound to the app in-process."""

    def __init__(self, app: Any, clock: SimClock) -> None:
        self.app = app
        self.clock = clock
        self.state: ApiState = app.state.casestore
        self._enrolled: set[tuple[str, str]] = set()
        self._runner = asyncio.Runner()
        self._lifespan = app.router.lifespan_context(app)
        self._runner.run(self._lifespan.__aenter__())
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://casestore.test"
        )

    def request(self, method: str, url: str, role: str | None = None, **kw: Any) -> httpx.Response:
        headers = dict(kw.pop("headers", {}) or {})
        if role is not None:
            headers.update(auth(role))
        if role == "inspector" and "X-Purpose" not in headers:
            headers["X-Purpose"] = "test"
        enrol_issued(self.state.authority, self._enrolled)
        return self._runner.run(self.client.request(method, url, headers=headers, **kw))

    def get(self, url: str, role: str | None = None, **kw: Any) -> httpx.Response:
        return self.request("GET", url, role, **kw)

    def post(self, url: str, role: str | None = None, **kw: Any) -> httpx.Response:
        return self.request("POST", url, role, **kw)

    def run(self, coro: Any) -> Any:
        return self._runner.run(coro)

    def head(self) -> int:
        return self.state.service.head()[0]

    def submit(self, item_code: str = "XK-003", **fields: Any) -> dict[str, Any]:
        body = {"item_code": item_code, "applicant": APPLICANT, **fields}
        r = self.post("/cases", "clerk", json=body)
        assert r.status_code == 201, r.text
        data: dict[str, Any] = r.json()
        return data

    def command(self, case_id: str, action: str, role: str, body: dict[str, Any]) -> Any:
        r = self.post(f"/cases/{case_id}/{action}", role, json=body)
        assert r.status_code == 200, (action, r.text)
        return r.json()

    def sync(self, timeout: float = 20.0) -> None:
        """Wait until the embedded projection workers have applied the whole log."""
        workers = self.state.background[0]
        assert workers.wait_for(self.head(), timeout), workers.errors()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._runner.run(self.client.aclose())
        self._runner.run(self._lifespan.__aexit__(None, None, None))
        self._runner.close()


def make_api(
    db: Path | str,
    *,
    workers: bool = False,
    read_db_url: str | None = None,
    oidc: Any = None,
) -> Api:
    """An API over a SQLite file (a path) or any database URL, catalogue loaded."""
    clock = SimClock()
    url = db if isinstance(db, str) else f"sqlite:///{db}"
    app = create_app(
        url, secret=SECRET, oidc=oidc, workers=workers, clock=clock, read_db_url=read_db_url
    )
    state: ApiState = app.state.casestore
    state.service.load_catalogue(CATALOGUE, Actor("catalogue", "admin"))
    for role in STAFF_ROLES:  # every role's usual staff member, enrolled up front
        token(role)
    api = Api(app, clock)
    enrol_issued(state.authority, api._enrolled)
    return api


SURVEY_PARTICIPANTS = [
    {"name": "王五", "party": "approval_bureau", "staff_id": "S01"},
    {"name": "赵六", "party": "regulator", "staff_id": "S02"},
    {"name": "李四", "party": "applicant"},
]

#: One valid body per action, in an order that walks an XK-003 case through all of them.
LIFECYCLE: list[tuple[str, str, dict[str, Any]]] = [
    ("supplement-request", "clerk", {"missing": ["营业执照副本"]}),
    ("supplement", "clerk", {"materials": ["营业执照副本"]}),
    ("accept", "clerk", {}),
    ("review", "reviewer", {"stage_name": "审查", "opinion": "pass"}),
    ("survey-schedule", "surveyor", {"requirements": ["经营场所平面图"], "survey_days": 3}),
    ("survey-result", "surveyor", {"participants": SURVEY_PARTICIPANTS, "conclusion": "pass"}),
    ("suspend", "reviewer", {"kind": "expert_review", "legal_basis": "行政许可法第四十五条"}),
    ("resume", "reviewer", {"result": "专家评审通过"}),
    ("extend", "approver", {"days": 5, "reason": "情况复杂"}),
    ("decide", "approver", {"outcome": "approve"}),
    (
        "seal",
        "sealer",
        {
            "seal_id": APPROVAL_SEAL_ID,
            "document_no": "XK-2025-0001",
            "certificate_no": "JY13301000000001",
            "valid_until": "2030-08-31",
            "document_sha256": "a" * 64,
        },
    ),
    ("deliver", "dispatcher", {"method": "mail", "recipient": "李四", "tracking_no": "SF1001"}),
    ("evaluate", "clerk", {"level": 5, "channel": "window"}),
    ("bad-review", "admin", {"verification": "情况属实", "rectification": "已约谈整改"}),
    ("follow-up", "clerk", {"satisfied": True, "notes": "满意"}),
    (
        "correct",
        "clerk",
        {
            "corrects_version": 1,
            "fact": "materials",
            "wrong_value": "",
            "correct_value": "申请书",
            "reason": "录入遗漏",
        },
    ),
]
OTHER_BODIES: dict[str, dict[str, Any]] = {
    "reject": {"reasons": ["不属于本机关职权范围"], "legal_basis": "行政许可法第三十二条"},
    "withdraw": {"reason": "申请人主动撤回"},
}
BODIES: dict[str, dict[str, Any]] = {a: b for a, _, b in LIFECYCLE} | OTHER_BODIES


def walk(api: Api, case_id: str, upto: str | None = None) -> None:
    """Run the lifecycle on a case, stopping before ``upto``."""
    for action, role, body in LIFECYCLE:
        if action == upto:
            return
        api.command(case_id, action, role, body)
