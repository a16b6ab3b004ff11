"""The query parameters a route declares are remembered per route object, never per
``id()``: CPython hands a freed object's address to a new one, so in a process that builds
more than one app (the test suite does, one per test) a route keyed by its id could get a
dead route's parameters and refuse its own (seen in CI: ``/cases/{id}?version=1`` answered
400 "this route takes: case_no, code")."""

from __future__ import annotations

import pytest
from casestore.api import queryparams
from casestore.api.queryparams import declared_query
from fastapi.routing import APIRoute


def _takes_x(x: int = 0) -> None: ...


def _takes_y(y: int = 0) -> None: ...


def test_a_route_at_a_dead_routes_address_gets_its_own_parameters(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # every route at one address, as two routes a collection apart can be
    monkeypatch.setattr(queryparams, "id", lambda _: 7, raising=False)
    first = APIRoute("/first", _takes_x)
    assert declared_query(first) == {"x"}
    second = APIRoute("/second", _takes_y)
    assert declared_query(second) == {"y"}
    assert declared_query(first) == {"x"}
