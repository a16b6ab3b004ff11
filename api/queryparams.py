"""An unknown query parameter is a 400 on every route, never silently ignored (SPEC §11).

One app-wide dependency: after routing it compares the request's query parameters with
the ones the matched route (and its dependencies) declare. ``?verison=3`` on
``/cases/{id}`` used to return the latest state as if nothing was asked.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.routing import APIRoute

from .problems import ApiProblem

_DECLARED: dict[int, frozenset[str]] = {}


def _declared(dependant: Any) -> set[str]:
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _declared(sub)
    return names


def declared_query(route: APIRoute) -> frozenset[str]:
    """The query parameter names a route takes (cached per route)."""
    names = _DECLARED.get(id(route))
    if names is None:
        names = _DECLARED[id(route)] = frozenset(_declared(route.dependant))
    return names


async def reject_unknown_query(request: Request) -> None:
    """Refuse (400 ``unknown-parameter``) a query parameter the route does not declare.

    ``async`` though it awaits nothing: FastAPI runs a plain ``def`` dependency in the
    thread pool, a thread hand-off on every request of every route for a dictionary
    look-up (seen in a profile of served commands)."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not request.query_params:
        return
    allowed = declared_query(route)
    unknown = sorted(set(request.query_params.keys()) - allowed)
    if unknown:
        takes = ", ".join(sorted(allowed)) or "none"
        raise ApiProblem(
            "unknown-parameter",
            f"unknown query parameter {', '.join(repr(u[:40]) for u in unknown[:5])} "
            f"(this route takes: {takes})",
        )
