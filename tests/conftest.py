"""Shared fixtures: a controllable clock, store URLs for both backends, app and service."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import settings

from casestore.domain import Actor, Party
from casestore.domain.values import BUREAU_TZ
from casestore.service import CaseService
from casestore.store.application import CasestoreApp

# No wall-clock limits on examples: the test machine is shared and its timings are noise
# (a property's example that once took 267 ms instead of 11 ms is not a failure).
settings.register_profile("casestore", deadline=None)
settings.load_profile("casestore")

CATALOGUE = Path(__file__).resolve().parents[1] / "src" / "casestore" / "data" / "catalogue.json"

CLERK = Actor("c-001", "clerk", "王窗口", "W01")
REVIEWER = Actor("r-001", "reviewer", "李审查")
APPROVER = Actor("p-001", "approver", "赵签批")
SURVEYOR = Actor("s-001", "surveyor", "孙踏勘")
SEALER = Actor("k-001", "sealer", "钱印章")
DISPATCHER = Actor("d-001", "dispatcher", "周送达")
ADMIN = Actor("a-001", "admin", "吴管理")
AUDITOR = Actor("u-001", "auditor", "郑审计")
APPLICANT = Party("张三", "resident_id", "110101199001011234", phone="13800000000")


class FakeClock:
    """A server clock the test moves by hand (aware, bureau local time)."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2025, 3, 3, 9, 0, tzinfo=BUREAU_TZ)

    def __call__(self) -> datetime:
        self.now += timedelta(microseconds=1)
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'casestore.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.pg)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'casestore.db'}"
    from tests.pgharness import app_role_wanted

    # CASESTORE_TEST_PG_AS=app: as the application role, on a database the owner migrated
    url: str = request.getfixturevalue("pg_app_db_url" if app_role_wanted() else "pg_db_url")
    return url


@pytest.fixture
def app(store_url: str) -> Iterator[CasestoreApp]:
    application = CasestoreApp(store_url)
    yield application
    application.close()


@pytest.fixture
def service(app: CasestoreApp, clock: FakeClock) -> CaseService:
    svc = CaseService(app, clock=clock)
    svc.load_catalogue(CATALOGUE, ADMIN)
    return svc
