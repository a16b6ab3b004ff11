"""Commands run in a thread pool of their own (``api/commandthreads.py``), in a copy of
the request's context, and their errors reach the request as they were raised."""

from __future__ import annotations

import asyncio
import threading

import pytest
from casestore.api.commandthreads import in_command_thread
from casestore.api.logs import REQUEST_ID

from casestore.domain.errors import ConcurrencyConflict
from tests.api.support import Api, auth


def test_the_call_runs_in_a_command_thread_with_the_callers_context() -> None:
    def where(extra: int) -> tuple[str, str | None, int]:
        return threading.current_thread().name, REQUEST_ID.get(), extra

    async def call() -> tuple[str, str | None, int]:
        REQUEST_ID.set("req-7")
        return await in_command_thread(where, 3)

    name, request_id, extra = asyncio.run(call())
    assert name.startswith("casestore-command") and (request_id, extra) == ("req-7", 3)


def test_an_error_in_the_thread_reaches_the_caller() -> None:
    def conflict() -> None:
        raise ConcurrencyConflict("changed meanwhile")

    with pytest.raises(ConcurrencyConflict, match="changed meanwhile"):
        asyncio.run(in_command_thread(conflict))


def test_commands_through_the_api_run_in_command_threads(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []
    handle = api.state.service.handle

    def spy(command: object) -> object:
        seen.append(threading.current_thread().name)
        return handle(command)  # type: ignore[arg-type]

    monkeypatch.setattr(api.state.service, "handle", spy)
    case_id = api.submit()["case_id"]
    r = api.post(f"/cases/{case_id}/accept", headers=auth("clerk"), json={})
    assert r.status_code == 200, r.text
    assert len(seen) == 2 and all(n.startswith("casestore-command") for n in seen)
