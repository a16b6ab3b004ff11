"""The app's routes in one flat list: each request is matched once, by one regex per route.

FastAPI 0.165's ``include_router`` keeps each router as a nested branch
(``_IncludedRouter``) and resolves its routes' effective settings per request: a request
was matched twice in its branch (once to find the branch, once more to select the route),
with a lookup of the branch's route version and a context swap per candidate, about 7 % of
the event loop's time on a served command (a ``py-spy --gil`` profile under
``casestore.bench.edge``; the anchor's single flat route pays a tenth of it).
:func:`include_flat` adds a router's routes to the app itself, as ``include_router`` did
up to FastAPI 0.115: the same path, endpoint, models, OpenAPI text and the app's own
dependencies (``reject_unknown_query``), so the document and every behaviour are those of
the nested include (``tests/api/test_flat_routes.py`` compares them).
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute


def include_flat(app: FastAPI, router: APIRouter) -> None:
    """Add ``router``'s routes to ``app``'s own route list, in order (API routes only:
    a router holding anything else is included the nested way)."""
    if not all(isinstance(route, APIRoute) for route in router.routes):
        app.include_router(router)
        return
    for route in router.routes:
        assert isinstance(route, APIRoute)
        app.router.add_api_route(
            route.path,  # the router's prefix is already in it
            route.endpoint,
            response_model=route.response_model,
            status_code=route.status_code,
            tags=list(route.tags),
            dependencies=list(route.dependencies),
            summary=route.summary,
            description=route.description,
            response_description=route.response_description,
            responses=dict(route.responses),
            deprecated=route.deprecated,
            methods=set(route.methods or ()),
            operation_id=route.operation_id,
            response_model_include=route.response_model_include,
            response_model_exclude=route.response_model_exclude,
            response_model_by_alias=route.response_model_by_alias,
            response_model_exclude_unset=route.response_model_exclude_unset,
            response_model_exclude_defaults=route.response_model_exclude_defaults,
            response_model_exclude_none=route.response_model_exclude_none,
            include_in_schema=route.include_in_schema,
            response_class=route.response_class,
            name=route.name,
            route_class_override=type(route),
            callbacks=route.callbacks,
            openapi_extra=route.openapi_extra,
            generate_unique_id_function=route.generate_unique_id_function,
            strict_content_type=route.strict_content_type,
            max_body_size=route.max_body_size,
            form_limits=route.form_limits or None,
        )
