"""The case command routes' quick path: a plain request decided without FastAPI's
per-request dependency resolution, anything else by FastAPI exactly as declared.

``POST /cases/{case_id}/{action}`` declares its inputs the FastAPI way (path, body model,
the bearer token and ``X-Act-As``/``X-Purpose`` through ``CallerDep``, ``If-Match``,
``Idempotency-Key``, the app-wide unknown-query check), and that declaration is what
the OpenAPI document shows and what answers every request it would refuse. Resolving it
costs the event loop more than the anchor's whole endpoint: a served command spent ~22 %
of the loop's GIL samples in ``solve_dependencies`` (eight parameters, three
sub-dependencies, a pydantic validation per header) under ``casestore.bench.edge``.

:class:`CaseCommandRoute` first tries the quick path, which takes only a request that
FastAPI would accept as it is: no query string, a JSON body the action's model
validates, a canonical UUID in the path, header values within their declared lengths.
It parses them the same way FastAPI does (``json.loads``, ``model_validate`` in Python
mode, the ``Authorization`` scheme split of ``HTTPBearer``) and runs the same endpoint
work (:data:`QuickCommand.run`). Any other request (which may be refused, or whose errors
FastAPI reports together) goes the declared way, over the same ``Request`` (its body is
read once). Errors raised by the work itself are the same exceptions either way.
``tests/api/test_quick_commands.py`` checks both paths answer alike.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from fastapi import Request, Response
from fastapi.routing import APIRoute
from fastapi.security.utils import get_authorization_scheme_param
from pydantic import ValidationError

from ..deps import ACT_AS_MAX, PURPOSE_HEADER_MAX, ApiState, Caller, caller_of
from ..schemas import Strict

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

#: (state, action, case id, caller, body, If-Match, Idempotency-Key) -> the response
Run = Callable[[ApiState, str, UUID, Caller, Strict, str | None, str | None], Awaitable[Response]]


@dataclass(frozen=True)
class QuickCommand:
    """What the quick path needs of a command endpoint (set on it as ``quick_command``)."""

    action: str
    model: type[Strict]
    run: Run


class CaseCommandRoute(APIRoute):
    """An API route that answers plain requests on the quick path (see the module)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        declared = super().get_route_handler()
        command: QuickCommand | None = getattr(self.endpoint, "quick_command", None)
        if command is None:
            return declared

        async def handler(request: Request) -> Response:
            response = await _quick(request, command)
            return response if response is not None else await declared(request)

        return handler


async def _quick(request: Request, command: QuickCommand) -> Response | None:
    """The command's response, or None when the request must go the declared way."""
    if request.scope.get("query_string"):
        return None  # unknown parameters are refused by the app-wide dependency
    headers = request.headers
    act_as, purpose = headers.get("x-act-as"), headers.get("x-purpose")
    if (act_as is not None and len(act_as) > ACT_AS_MAX) or (
        purpose is not None and len(purpose) > PURPOSE_HEADER_MAX
    ):
        return None
    content_type = headers.get("content-type", "")
    if content_type.partition(";")[0].strip().lower() != "application/json":
        return None
    raw_id = request.path_params.get("case_id")
    if not isinstance(raw_id, str) or not _UUID.match(raw_id):
        return None
    try:
        body = command.model.model_validate(json.loads(await request.body()))
    except (ValueError, ValidationError):  # JSONDecodeError is a ValueError
        return None
    scheme, credentials = get_authorization_scheme_param(headers.get("authorization"))
    token = credentials if scheme.lower() == "bearer" and credentials else None
    state: ApiState = request.app.state.casestore
    caller = caller_of(state, request, token, act_as, purpose)
    return await command.run(
        state,
        command.action,
        UUID(raw_id),
        caller,
        body,
        headers.get("if-match"),
        headers.get("idempotency-key"),
    )
