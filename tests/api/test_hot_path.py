"""The served request path does no work twice and hands off to threads only for I/O.

Found by profiling a served command under load (py-spy --gil, 8 clients): the token's
signature was checked twice per write (middleware and route), and an app-wide ``def``
dependency sent every request through the thread pool for a dictionary look-up.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from casestore.identity import Identity, IdentityVerifier
from tests.api.support import Api, token

REVIEW = {"stage_name": "审查", "opinion": "pass"}


def test_a_write_checks_its_token_signature_once(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """The 401-before-body middleware verifies the token; the route reuses that identity
    instead of checking the same signature again. A read (no middleware check) checks once.
    A token the served process has accepted before is remembered: not checked again."""
    case_id = api.submit()["case_id"]
    checks: list[str] = []
    real = IdentityVerifier._decode

    def counted(self: IdentityVerifier, token: str, *args: Any) -> Identity:
        checks.append(token)
        return real(self, token, *args)

    monkeypatch.setattr(IdentityVerifier, "_decode", counted)
    writer = {"Authorization": f"Bearer {token('clerk', staff='clerk-hot-write')}"}
    reader = {"Authorization": f"Bearer {token('clerk', staff='clerk-hot-read')}"}
    r = api.post(f"/cases/{case_id}/accept", headers=writer, json={})
    assert r.status_code == 200, r.text
    assert len(checks) == 1
    r = api.get(f"/cases/{case_id}", headers=reader)
    assert r.status_code == 200 and len(checks) == 2
    reviewer = {"Authorization": f"Bearer {token('reviewer', staff='reviewer-hot')}"}
    r = api.post(f"/cases/{case_id}/review", headers=reviewer, json=REVIEW)
    assert r.status_code == 200 and len(checks) == 3, r.text
    r = api.post(f"/cases/{case_id}/review", headers=reviewer, json=REVIEW)
    assert r.status_code == 200, r.text
    r = api.get(f"/cases/{case_id}", headers=reader)
    assert r.status_code == 200 and len(checks) == 3


def _is_async(call: Any) -> bool:
    method = type(call).__call__ if not inspect.isfunction(call) else None
    return inspect.iscoroutinefunction(call) or inspect.iscoroutinefunction(method)


def _sync_dependencies(dependant: Dependant) -> list[str]:
    found = []
    for sub in dependant.dependencies:
        if sub.call is not None and not _is_async(sub.call):
            found.append(getattr(sub.call, "__qualname__", repr(sub.call)))
        found += _sync_dependencies(sub)
    return found


def test_no_route_runs_a_dependency_in_the_thread_pool(api: Api) -> None:
    """FastAPI runs a plain ``def`` dependency in the thread pool (a thread hand-off per
    request); every dependency of the app, app-wide and per route, is ``async`` and does
    its blocking work, if any, in an explicit ``run_in_threadpool``."""
    app_wide = [d.dependency for d in api.app.router.dependencies]
    assert app_wide and [d for d in app_wide if not _is_async(d)] == []
    routes = [c.route for c in iter_route_contexts(api.app.routes)]
    routes = [r for r in routes if isinstance(r, APIRoute)]
    assert len(routes) > 40
    sync = {r.path: _sync_dependencies(r.dependant) for r in routes}
    assert {path: deps for path, deps in sync.items() if deps} == {}
