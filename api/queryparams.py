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

#: The attribute a route keeps its declared names in. Kept on the route itself: a table keyed
#: by ``id(route)`` handed a dead route's names to a new route at the same address (a
#: process that builds more than one app: the tests); routes are not hashable.
_DECLARED = "_casestore_query_names"


def _declared(dependant: Any) -> set[str]:
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _declared(sub)
    return names


def declared_query(route: APIRoute) -> frozenset[str]:
    """The query parameter names a route takes (cached per route)."""
    names: frozenset[str] | None = getattr(route, _DECLARED, None)
    if names is None:
        names = frozenset(_declared(route.dependant))
        setattr(route, _DECLARED, names)
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
