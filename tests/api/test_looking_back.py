"""Every way of looking back agrees with a fold of the log up to that point (SPEC §11).

``?version=N``, ``?at_position=P`` and ``?as_of=T`` on ``/cases/{id}``, ``/events``,
``/timeline`` and ``/clock``: the expected state is folded here from the global log
(``iter_events`` filtered by case and bound), not read back through the routes' own path
(``Repository.get(version=…)`` and the log's version look-ups).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from casestore.api.masking import mask_personal
from casestore.api.views import case_view, event_view
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from casestore.domain.values import local_date
from casestore.timeutil import from_micros
from tests.api.support import LIFECYCLE, Api, make_api

ROLE = "auditor"


def folded(api: Api, case_id: str, keep: Any) -> tuple[Any, list[Any]]:
    """The case folded from the global log's events of ``case_id`` that ``keep`` admits."""
    events = [
        event
        for row, event in api.state.service.app.iter_events()
        if str(row.originator_id) == case_id and keep(row, event)
    ]
    aggregate = None
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate, events


def expect(api: Api, case_id: str, query: str, keep: Any) -> None:
    case, events = folded(api, case_id, keep)
    got = api.get(f"/cases/{case_id}?{query}", ROLE)
    assert got.status_code == 200, (query, got.text)
    assert got.json() == mask_personal(case_view(case, events), ROLE), query
    assert got.headers["ETag"] == f'"{case.version}"'
    listed = api.get(f"/cases/{case_id}/events?{query}", ROLE).json()
    assert listed == mask_personal([event_view(e) for e in events], ROLE), query
    timeline = api.get(f"/cases/{case_id}/timeline?{query}", ROLE).json()
    assert [r["version"] for r in timeline] == [e.originator_version for e in events], query
    clock = api.get(f"/cases/{case_id}/clock?{query}", ROLE)
    assert clock.status_code == 200, (query, clock.text)
    today = local_date(events[-1].timestamp) if "version" in query else None
    if today is not None:
        assert clock.json() == api.state.read.clocks(case, events, today)


@settings(
    max_examples=4,
    deadline=None,
    phases=(Phase.explicit, Phase.generate),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    steps=st.integers(min_value=1, max_value=len(LIFECYCLE)),
    gaps=st.lists(st.integers(min_value=0, max_value=3 * 24 * 60), min_size=len(LIFECYCLE)),
)
def test_version_position_and_as_of_reads_agree_with_a_fold_of_the_log(
    tmp_path_factory: pytest.TempPathFactory, steps: int, gaps: list[int]
) -> None:
    api = make_api(tmp_path_factory.mktemp("back") / "api.db", workers=True)
    try:
        case_id = api.submit()["case_id"]
        for (action, role, body), minutes in zip(LIFECYCLE[:steps], gaps, strict=False):
            api.clock.advance(minutes=minutes)
            api.command(case_id, action, role, body)
            if minutes % 2:  # interleaved: log positions are not case versions
                api.submit()
        api.sync()
        rows = [r for r in api.state.service.app.log.iter_log() if str(r.originator_id) == case_id]
        for row in rows:
            n, p = row.version, row.position
            expect(api, case_id, f"version={n}", lambda r, e, n=n: r.version <= n)
            expect(api, case_id, f"at_position={p}", lambda r, e, p=p: r.position <= p)
            t = from_micros(row.recorded_at_us)
            expect(
                api,
                case_id,
                f"as_of={t.isoformat().replace('+', '%2B')}",
                lambda r, e, t=t: r.recorded_at_us <= row_us(t),
            )
        later = from_micros(rows[-1].recorded_at_us) + timedelta(days=1)
        at = later.isoformat().replace("+", "%2B")
        assert api.get(f"/cases/{case_id}?as_of={at}", ROLE).json()["version"] == len(rows)
    finally:
        api.close()


def row_us(moment: Any) -> int:
    from casestore.timeutil import to_micros

    return to_micros(moment)


@pytest.fixture
def one_case(tmp_path: Path) -> Any:
    api = make_api(tmp_path / "api.db")
    case_id = api.submit()["case_id"]
    api.command(case_id, "accept", "clerk", {})
    yield api, case_id
    api.close()


@pytest.mark.parametrize("route", ["", "/events", "/timeline", "/clock"])
def test_an_unknown_query_parameter_is_a_400_not_ignored(one_case: Any, route: str) -> None:
    api, case_id = one_case
    r = api.get(f"/cases/{case_id}{route}?verison=1", ROLE)
    assert r.status_code == 400, r.text
    assert r.json()["type"].endswith("/unknown-parameter")
    assert "verison" in r.json()["detail"]


def test_every_route_refuses_an_unknown_query_parameter(one_case: Any) -> None:
    api, _ = one_case
    for url in ("/items?colour=red", "/cases?colour=red", "/health?colour=red"):
        r = api.get(url, ROLE)
        assert r.status_code == 400, (url, r.text)
    assert api.get("/items", ROLE).status_code == 200


def test_a_version_beyond_the_case_and_two_ways_at_once_are_refused(one_case: Any) -> None:
    api, case_id = one_case
    assert api.get(f"/cases/{case_id}?version=3", ROLE).status_code == 404
    assert api.get(f"/cases/{case_id}?version=0", ROLE).status_code == 422
    both = api.get(f"/cases/{case_id}?version=1&at_position=1", ROLE)
    assert both.status_code == 422 and "one of" in both.json()["detail"]
    assert api.get(f"/cases/{case_id}?version=1", ROLE).json()["stage"] == "received"
    assert api.get(f"/cases/{case_id}?version=2", ROLE).json()["stage"] == "accepted"
