"""One command route shape for the practice aggregates (enquiries, windows, awards).

Each of them had the same ~35 lines per route: parse ``Idempotency-Key`` (and
``If-Match``), run the command in the thread pool under the command metric, turn a
version conflict into a 412 naming the current version, answer ``ETag`` (and
``Idempotent-Replayed``) and a body naming the aggregate's id. :class:`CommandRoute`
holds that once; each route keeps its own path, signature, status code and OpenAPI text,
and its body is one call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from uuid import UUID

from fastapi import Response
from pydantic import BaseModel

from casestore.service import CommandResult

from ..commandthreads import in_command_thread
from ..deps import ApiState, Caller, parse_idempotency_key, parse_if_match
from ..schemas import Strict
from .commands import _issue, _precondition, _timed

P = TypeVar("P", bound=BaseModel)


@dataclass(frozen=True)
class CommandRoute(Generic[P]):
    """The command routes of one aggregate kind: ``noun`` (in 412 problems), the public
    answer model and the name of its id field (``award_id``, ``enquiry_id``, ...)."""

    noun: str
    public: type[P]
    id_field: str

    def answer(self, result: CommandResult, response: Response) -> P:
        """The body and headers of a command's outcome (first or replayed)."""
        response.headers["ETag"] = f'"{result.version}"'
        if result.duplicate:
            response.headers["Idempotent-Replayed"] = "true"
        return self.public(
            **{self.id_field: result.case_id},
            version=result.version,
            position=result.position,
            duplicate=result.duplicate,
        )

    async def create(
        self,
        state: ApiState,
        caller: Caller,
        body: Strict,
        response: Response,
        idempotency_key: str | None,
        location: Callable[[CommandResult], str],
    ) -> P:
        """A command that makes a new aggregate: 201 (the route says so) with ``Location``."""
        key = parse_idempotency_key(caller, idempotency_key)
        result: CommandResult = await in_command_thread(
            _timed,
            state,
            body.command.action,
            lambda: _issue(state, caller, body, idempotency_key=key),
        )
        response.headers["Location"] = location(result)
        return self.answer(result, response)

    async def update(
        self,
        state: ApiState,
        caller: Caller,
        body: Strict,
        response: Response,
        if_match: str | None,
        idempotency_key: str | None,
        *,
        aggregate_id: UUID,
        load: Callable[[], Any],
        **target: Any,
    ) -> P:
        """A command on an existing aggregate (``target``: the command's id field, e.g.
        ``award_id=...``); a stale ``If-Match`` is a 412 naming ``load()``'s version."""
        expected = parse_if_match(if_match)
        key = parse_idempotency_key(caller, idempotency_key)

        def execute() -> CommandResult:
            with _precondition(expected, self.noun, aggregate_id, load):
                result: CommandResult = _issue(
                    state, caller, body, expected_version=expected, idempotency_key=key, **target
                )
                return result

        result: CommandResult = await in_command_thread(_timed, state, body.command.action, execute)
        return self.answer(result, response)
