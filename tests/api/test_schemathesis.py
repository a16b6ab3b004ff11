"""Schemathesis against ``/openapi.json`` of a live server: no input yields a 5xx, and
every answer conforms to the schema it documents (status code declared, body valid
against the declared response model, problem bodies as ``application/problem+json``).

Bounded (``max_examples`` per operation) so the run stays well under a minute. The
two endless streams are left out (a generated request would wait for events forever);
they have their own tests in ``test_stream.py``.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import schemathesis
import uvicorn
from casestore.api.app import create_app
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from casestore.domain import Actor
from casestore.domain.values import Party
from casestore.service import SubmitCase
from tests.api.support import APPLICANT, CATALOGUE, SECRET, auth, enrol_issued


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    db = tmp_path_factory.mktemp("schemathesis") / "api.db"
    app = create_app(f"sqlite:///{db}", secret=SECRET, workers=True)
    service = app.state.casestore.service
    service.load_catalogue(CATALOGUE, Actor("catalogue", "admin"))
    service.handle(
        SubmitCase(
            actor=Actor("clerk-1", "clerk", window="W01"),
            item_code="XK-003",
            applicant=Party(**APPLICANT),
        )
    )
    for role in ("admin", "approver"):
        auth(role)
    enrol_issued(app.state.casestore.authority)
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(30)


def _openapi() -> dict[str, object]:
    """The app's OpenAPI document (no server, no lifespan: only the routes are read)."""
    app = create_app("sqlite:///:memory:", secret=SECRET)
    try:
        return app.openapi()
    finally:
        app.state.casestore.service.close()


schema = schemathesis.openapi.from_dict(_openapi()).exclude(path_regex=r"^/(stream|board/stream)$")


@schema.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,  # the same examples on every run: CI stays reproducible
    suppress_health_check=list(HealthCheck),
)
def test_no_input_yields_a_server_error(case: schemathesis.Case, live: str) -> None:
    for role in ("admin", "approver"):
        response = case.call(base_url=live, headers=auth(role), timeout=30)
        assert response.status_code < 500, (response.status_code, response.text[:500])
        case.validate_response(
            response,
            checks=[
                not_a_server_error,
                status_code_conformance,
                content_type_conformance,
                response_schema_conformance,
            ],
        )
