"""The app's routes are added flat (``api/flatroutes.py``) with everything a nested
``include_router`` gives them: the OpenAPI document, the dependency trees and the app-wide
refusal of unknown query parameters are those of the nested include."""

from __future__ import annotations

from typing import Any

from casestore.api.app import create_app
from casestore.api.flatroutes import include_flat
from casestore.api.queryparams import reject_unknown_query
from casestore.api.routes import cases, commands, docs, public, stream, web
from fastapi import Depends, FastAPI
from fastapi.routing import APIRoute

from tests.api.support import SECRET, Api

ROUTERS = (commands, cases, public, stream, web, docs)


def _app(flat: bool) -> FastAPI:
    app = FastAPI(title="t", dependencies=[Depends(reject_unknown_query)])
    for module in ROUTERS:
        if flat:
            include_flat(app, module.router)
        else:
            app.include_router(module.router)
    return app


def _tree(dependant: Any) -> list[Any]:
    return [
        getattr(dependant.call, "__name__", type(dependant.call).__name__),
        sorted(p.alias for p in dependant.query_params),
        sorted(p.alias for p in dependant.header_params),
        sorted(p.alias for p in dependant.path_params),
        sorted(p.alias for p in dependant.body_params),
        [_tree(sub) for sub in dependant.dependencies],
    ]


def test_flat_routes_document_what_nested_routes_document() -> None:
    nested, flat = _app(flat=False), _app(flat=True)
    assert flat.openapi() == nested.openapi()
    assert len(nested.openapi()["paths"]) > 20  # the comparison covers real routes


def test_flat_routes_keep_the_apps_dependencies_and_order(tmp_path: Any) -> None:
    flat = _app(flat=True)
    routes = [r for r in flat.router.routes if isinstance(r, APIRoute)]
    expected = [r for m in ROUTERS for r in m.router.routes if isinstance(r, APIRoute)]
    assert [(r.path, r.methods, r.name) for r in routes] == [
        (r.path, r.methods, r.name) for r in expected
    ]
    for route in routes:  # the app's dependency comes first, then the route's own tree
        tree = _tree(route.dependant)
        assert tree[5][0][0] == "reject_unknown_query", route.path
    served = create_app(f"sqlite:///{tmp_path / 'flat.db'}", secret=SECRET)
    try:
        paths = {getattr(r, "path", ""): r for r in served.router.routes}
        review = paths["/cases/{case_id}/review"]
        assert isinstance(review, APIRoute)  # matched directly, not through a nested branch
        assert "HTTPBearer" in str(_tree(review.dependant))
    finally:
        served.state.casestore.service.close()


def test_an_unknown_query_parameter_is_still_refused_on_a_command_route(api: Api) -> None:
    case_id = api.submit()["case_id"]
    r = api.post(f"/cases/{case_id}/accept?verison=3", json={}, role="clerk")
    assert r.status_code == 400, r.text
    assert r.json()["type"].endswith("/unknown-parameter")
